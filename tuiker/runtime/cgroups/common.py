"""What the v1 and v2 drivers share: the limit/stat records, docker's swap arithmetic, kernel-file I/O that
fails with one readable line, and the create/add/freeze/kill/remove sequences, which are the same in both
versions once each driver says which directories it owns and how it writes its limits."""

from __future__ import annotations

import errno
import os
import re
import signal
import time
from abc import ABC, abstractmethod
from collections import namedtuple
from collections.abc import Callable, Iterator

from tuiker.base.errors import TuikerError

MOUNTINFO = "/proc/self/mountinfo"

# How long freeze waits for the kernel to report the group frozen, and remove waits for dying tasks to leave.
# Both are normally milliseconds; the bounds only stop a stuck task (uninterruptible sleep) hanging the engine.
FREEZE_TIMEOUT = 5.0
REMOVE_TIMEOUT = 3.0


class CgroupError(TuikerError):
    """A container cgroup could not be created, limited, joined, frozen or removed."""


# Records as namedtuples, not dataclasses: `tuiker stats` imports this, and dataclasses (with inspect) costs
# ~15 ms to import.
class Limits(namedtuple("Limits", "cpu_quota_us cpu_period_us cpu_shares memory_bytes memory_swap_bytes pids_max "
                                  "all_devices", defaults=(None, 100_000, None, None, None, None, False))):
    cpu_quota_us: int | None  # --cpus 1.5 → 150000 with the default period
    cpu_period_us: int
    cpu_shares: int | None  # v1 cpu.shares; v2 cpu.weight via shares_to_weight
    memory_bytes: int | None  # -m
    memory_swap_bytes: int | None  # --memory-swap: memory+swap total, -1 unlimited, None/0 = 2x memory
    pids_max: int | None  # --pids-limit
    # --privileged: every device. Otherwise docker's allow-list (devices.py); a config.json written before
    # the field existed gets the list too.
    all_devices: bool
    __slots__ = ()


class Pressure(namedtuple("Pressure", "some_avg10 some_total_us full_avg10 full_total_us")):
    """One PSI file (cpu.pressure, memory.pressure, io.pressure): the share of the last 10 s in which some (or
    all, "full") of the group's tasks stalled on that resource, in %, and the stalled time in total."""

    some_avg10: float
    some_total_us: int
    full_avg10: float
    full_total_us: int
    __slots__ = ()


class Stats(namedtuple("Stats", "cpu_usage_ns memory_usage memory_limit pids_current pids_limit io_read_bytes "
                                "io_write_bytes oom_kills cpu_user_ns cpu_system_ns cpu_periods cpu_throttled_periods "
                                "cpu_throttled_ns psi_cpu psi_memory psi_io",
                       defaults=(0, 0, 0, 0, 0, None, None, None))):
    cpu_usage_ns: int
    memory_usage: int  # without inactive page cache, as docker stats shows it
    memory_limit: int  # host RAM when the cgroup has no (smaller) limit
    pids_current: int
    pids_limit: int | None
    io_read_bytes: int
    io_write_bytes: int
    oom_kills: int
    cpu_user_ns: int  # of cpu_usage_ns, the time in user and in kernel mode (docker's usage_in_usermode ...)
    cpu_system_ns: int
    cpu_periods: int  # CFS periods with a CPU limit in force (0 without --cpus), those that ran out of quota,
    cpu_throttled_periods: int
    cpu_throttled_ns: int  # and the time the group's tasks then waited
    psi_cpu: Pressure | None  # None on cgroup v1, or when the kernel has no PSI
    psi_memory: Pressure | None
    psi_io: Pressure | None
    __slots__ = ()


def host_memory() -> int:
    """Physical RAM in bytes, what docker stats reports as the limit of an unlimited container."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def memory_limit(limit: int | None) -> int:
    """The limit docker stats shows: host RAM when unlimited (v1 reports unlimited as a huge number)."""
    return host_memory() if limit is None else min(limit, host_memory())


def memsw_total(limits: Limits) -> int | None:
    """Memory+swap in bytes with docker's defaults: None = leave the kernel's, -1 = unlimited.

    Validated before anything is created, so a bad combination never leaves a half-made cgroup."""
    memory, swap = limits.memory_bytes, limits.memory_swap_bytes
    if memory is None:
        if swap:
            raise CgroupError(f"cannot set memory+swap limit {swap}: it needs a memory limit too")
        return None
    if not swap:  # docker treats --memory-swap 0 like unset: swap may use as much again as memory
        return 2 * memory
    if swap != -1 and swap < memory:
        raise CgroupError(f"cannot set memory+swap limit {swap}: it is below the memory limit {memory}")
    return swap


def shares_to_weight(shares: int) -> int:
    """v1 cpu.shares (2..262144) → v2 cpu.weight (1..10000), runc's linear mapping."""
    return min(10_000, max(1, 1 + (shares - 2) * 9999 // 262_142))


def mountinfo(path: str = MOUNTINFO) -> Iterator[tuple[str, str, list[str]]]:
    """(mount point, fstype, super options) of every mount, mount point unescaped (\\040 is a space)."""
    with open(path) as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fstype, _source, options = tail.split()[:3]
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), head.split()[4])
            yield point, fstype, options.split(",")


def check_name(name: str) -> str:
    """The relative cgroup path, refused when it could climb out of the hierarchy (ids come from users)."""
    parts = name.strip("/").split("/")
    if not name.strip("/") or any(p in ("", ".", "..") for p in parts):
        raise CgroupError(f"invalid cgroup name {name!r}")
    return "/".join(parts)


def _read_file(path: str) -> str:
    # os.read, not open().read(): no buffered text wrapper is built for these tiny files, which takes a third of
    # the time, and the TUI reads about ten of them a second for each running container it shows.
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def read(path: str) -> str:
    try:
        return _read_file(path)
    except OSError as e:
        raise CgroupError(f"cannot read {path}: {e.strerror}") from None


def read_optional(path: str) -> str:
    """A stat file that is absent when its controller is not mounted/enabled: "" then, so stats degrade to 0."""
    try:
        return _read_file(path)
    except FileNotFoundError:
        return ""


def write(path: str, value: str, what: str) -> None:
    # One write() of the whole value: the kernel parses each write as a full value. No O_CREAT, so a file
    # missing because its controller is off fails with ENOENT instead of a puzzling permission error.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise CgroupError(f"cannot set {what} {value}: {path}: {e.strerror} (cgroup write refused)") from None


def keyed(text: str) -> dict[str, int]:
    """The "key value" lines of memory.stat, cpu.stat, memory.events, memory.oom_control, cgroup.events."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def pressure(path: str) -> Pressure | None:
    """A PSI file; None when it is absent (no PSI in the kernel, psi=0) or switched off (cgroup.pressure 0:
    reading fails with EOPNOTSUPP)."""
    try:
        text = _read_file(path)
    except OSError:
        return None
    lines = {}
    for line in text.splitlines():
        kind, *fields = line.split()
        lines[kind] = dict(f.split("=", 1) for f in fields if "=" in f)
    if "some" not in lines:
        return None
    some, full = lines["some"], lines.get("full", {})
    return Pressure(float(some.get("avg10", 0)), int(some.get("total", 0)), float(full.get("avg10", 0)),
                    int(full.get("total", 0)))


def int_or_zero(text: str) -> int:
    return int(text) if text.strip() else 0


def limit_value(text: str) -> int | None:
    """pids.max / memory.max: "max" (or an absent file) means no limit."""
    text = text.strip()
    return None if text in ("", "max") else int(text)


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


class Cgroup(ABC):
    """One container's cgroup: a single directory on v2, one per mounted controller on v1."""

    def __init__(self, name: str) -> None:
        self.name = check_name(name)

    @abstractmethod
    def _dirs(self) -> list[tuple[str, str]]:
        """(hierarchy root, container dir) pairs, each dir once (v1 combined mounts share one)."""

    @abstractmethod
    def _apply(self, limits: Limits, memsw: int | None, devices: bool = True) -> None:
        """Write the limits into dirs that now exist (with `devices`, the device allow-list too)."""

    @abstractmethod
    def _request_freeze(self, frozen: bool) -> None: ...

    @abstractmethod
    def _can_freeze(self) -> bool: ...

    @abstractmethod
    def frozen(self) -> bool: ...

    @abstractmethod
    def stats(self) -> Stats: ...

    @abstractmethod
    def _oom_kills(self) -> int: ...

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer has killed a task in this cgroup (v1 needs kernel >= 4.13)."""
        return self._oom_kills() > 0

    def create(self, limits: Limits) -> None:
        """Make the directories (parents too) and write the limits; on failure remove only what was made here,
        so a shared parent that existed before, or a leftover dir being reused, survives."""
        memsw = memsw_total(limits)
        if not self._dirs():
            raise CgroupError("cannot create a cgroup: no cgroup controller is mounted")
        made: list[str] = []
        try:
            for root, leaf in self._dirs():
                made += _mkdirs(root, leaf)
            self._apply(limits, memsw)
        except BaseException:
            for path in reversed(made):  # children before parents
                try:
                    os.rmdir(path)
                except OSError:
                    pass  # best effort: the original error is the one to report
            raise

    def update(self, limits: Limits) -> None:
        """New limits on a live cgroup (docker update). The device list stays: rewriting it denies every device
        for a moment, which a running container would notice."""
        self._apply(limits, memsw_total(limits), devices=False)

    # Whether join_self() is quick: see V1Cgroup. Where it is not, the monitor's add() of a starting container
    # overlaps the wait with the container's own setup instead.
    quick_self_join = False

    def add(self, pid: int) -> None:
        """Move a process into every hierarchy (cgroup.procs moves the whole thread group). The kernel makes
        such a write wait for an RCU grace period (cgroup_threadgroup_rwsem): 7-30 ms here."""
        for _, leaf in self._dirs():
            write(os.path.join(leaf, "cgroup.procs"), str(pid), "cgroup membership of pid")

    def join_self(self) -> None:
        """Move the calling (single-threaded) process into every hierarchy."""
        self.add(0)

    def pids(self) -> list[int]:
        # add() puts a process in every hierarchy, so the first one lists them all.
        return [int(p) for p in read(os.path.join(self._dirs()[0][1], "cgroup.procs")).split()]

    def freeze(self) -> None:
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def _set_frozen(self, frozen: bool) -> None:
        if not self._can_freeze():
            raise CgroupError(f"cannot {'freeze' if frozen else 'thaw'} cgroup {self.name}: no freezer available")
        # The request is repeated while waiting: a v1 freeze can stall in FREEZING when a task was mid-fork or
        # in a vfork wait, and writing FROZEN again retries it (runc does the same); on v2 it is a no-op.
        deadline = time.monotonic() + FREEZE_TIMEOUT
        while time.monotonic() < deadline:
            self._request_freeze(frozen)
            if wait_until(lambda: self.frozen() == frozen, 0.1):
                return
        if frozen:
            self._request_freeze(False)  # a half-frozen container is worse than a running one
        raise CgroupError(f"cannot {'freeze' if frozen else 'thaw'} cgroup {self.name}: "
                          f"no change after {FREEZE_TIMEOUT:.0f} s (a task stuck in uninterruptible sleep?)")

    def kill_all(self) -> None:
        """SIGKILL every process. Frozen first so nothing can fork between reading the list and the kill
        (a fork bomb would otherwise outrun us); the kills land when thawed. Without a freezer: one pass.
        Nothing to do when the cgroup is gone: callers kill before every remove, whatever state they find."""
        if not any(os.path.isdir(leaf) for _, leaf in self._dirs()) or not self.pids():
            return  # usually empty: when a container's pid 1 exits, the kernel kills the rest of its pid namespace
        freezer = self._can_freeze()
        try:
            if freezer:
                self.freeze()
            try:
                for pid in self.pids():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            finally:
                if freezer:
                    self.thaw()
        except CgroupError:
            # Its last process exited and its owner (the monitor) removed it meanwhile: ENODEV/ENOENT on its
            # files. Nothing is left to kill; any other failure is real.
            if any(os.path.isdir(leaf) for _, leaf in self._dirs()):
                raise

    def remove(self) -> None:
        """rmdir each container dir, then the shared parents if that left them empty (so no empty
        `tuiker` cgroup outlives the last container); a dir already gone is fine, so a repeated remove,
        or one after a failed create, is safe."""
        for root, leaf in self._dirs():
            rmdir_when_empty(leaf)
            parent = os.path.dirname(leaf)
            while parent != root and parent.startswith(root):
                try:
                    os.rmdir(parent)  # fails harmlessly while another container's cgroup is in it
                except OSError:
                    break
                parent = os.path.dirname(parent)


def _mkdirs(root: str, leaf: str) -> list[str]:
    """mkdir -p below `root`, returning what was made. A parent may vanish between two mkdirs (another
    container's remove() took it as empty): walk again from the root, a few times."""
    for _attempt in range(5):
        made, path = [], root
        try:
            for part in os.path.relpath(leaf, root).split("/"):
                path = os.path.join(path, part)
                try:
                    os.mkdir(path, 0o755)
                    made.append(path)
                except FileExistsError:
                    pass
            return made
        except FileNotFoundError:
            continue
        except OSError as e:
            raise CgroupError(f"cannot create cgroup {path}: {e.strerror}") from None
    raise CgroupError(f"cannot create cgroup {leaf}: its parent keeps disappearing")


def rmdir_when_empty(path: str) -> None:
    # EBUSY while killed tasks are still exiting (they leave the cgroup at the end of do_exit): retry briefly.
    deadline = time.monotonic() + REMOVE_TIMEOUT
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise CgroupError(f"cannot remove cgroup {path}: {e.strerror}") from None
        time.sleep(0.02)
