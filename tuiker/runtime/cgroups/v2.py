"""cgroup v2: one directory in the unified hierarchy; controllers are per-subtree switches, not mounts."""

from __future__ import annotations

import os

from .common import (
    Cgroup,
    CgroupError,
    Limits,
    Stats,
    int_or_zero,
    keyed,
    limit_value,
    memory_limit,
    pressure,
    read,
    read_optional,
    shares_to_weight,
    write,
)

ROOT = "/sys/fs/cgroup"


class V2Cgroup(Cgroup):
    """`root` is the cgroup2 mount: /sys/fs/cgroup on a pure v2 host, /sys/fs/cgroup/unified on a hybrid one."""

    def __init__(self, name: str, root: str = ROOT) -> None:
        super().__init__(name)
        self.root = root
        self.path = os.path.join(root, self.name)

    def _dirs(self) -> list[tuple[str, str]]:
        return [(self.root, self.path)]

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def _enable_controllers(self) -> None:
        # A child sees a controller only if every ancestor lists it in cgroup.subtree_control. Like runc, enable
        # everything each ancestor offers, one at a time, ignoring refusals: one controller that cannot be
        # enabled must not block the rest, and _apply reports the ones a limit needs. The "no internal
        # processes" rule (a non-root cgroup holding processes cannot enable domain controllers for its
        # children) is why processes only ever go into the leaf, never the shared parent, and why the leaf's
        # own subtree_control is left alone.
        parts = self.name.split("/")
        for depth in range(len(parts)):  # the root, then each ancestor down to the leaf's parent
            self._enable_in(os.path.join(self.root, *parts[:depth]))

    @staticmethod
    def _enable_in(path: str) -> None:
        enabled = set(read(os.path.join(path, "cgroup.subtree_control")).split())
        for controller in read(os.path.join(path, "cgroup.controllers")).split():
            if controller not in enabled:
                try:
                    write(os.path.join(path, "cgroup.subtree_control"), "+" + controller, "controller")
                except CgroupError:
                    pass

    def _apply(self, limits: Limits, memsw: int | None, devices: bool = True) -> None:
        self._enable_controllers()
        needed = {
            "cpu": limits.cpu_quota_us is not None or limits.cpu_shares is not None,
            "memory": limits.memory_bytes is not None,
            "pids": limits.pids_max is not None,
        }
        available = read(self._file("cgroup.controllers")).split()
        for controller, need in needed.items():
            if need and controller not in available:
                raise CgroupError(f"cannot apply the {controller} limit: the cgroup v2 {controller} controller is "
                                  f"not available in {self.path} (it offers: {' '.join(available) or 'none'})")
        if limits.cpu_quota_us is not None:
            value = f"{limits.cpu_quota_us} {limits.cpu_period_us}"
            write(self._file("cpu.max"), value, "cpu quota")
        if limits.cpu_shares is not None:
            write(self._file("cpu.weight"), str(shares_to_weight(limits.cpu_shares)), "cpu weight")
        if limits.memory_bytes is not None:
            write(self._file("memory.max"), str(limits.memory_bytes), "memory limit")
            # memory.swap.max is swap alone (v1's memsw is memory+swap), and independent of memory.max, so no
            # write order applies. Absent without swap accounting: skipped as on v1.
            if memsw is not None and os.path.exists(self._file("memory.swap.max")):
                swap = "max" if memsw == -1 else str(memsw - limits.memory_bytes)
                write(self._file("memory.swap.max"), swap, "swap limit")
        if limits.pids_max is not None:
            write(self._file("pids.max"), str(limits.pids_max), "pids limit")
        if devices and not limits.all_devices:
            # Lazily: ctypes and the program builder are not for `tuiker stats`, which imports this module too.
            # --privileged attaches nothing: this dir (the container's own) never held another list.
            from .devices import attach_allow_list

            attach_allow_list(self.path)

    def _can_freeze(self) -> bool:
        return os.path.exists(self._file("cgroup.freeze"))  # kernel >= 5.2

    def _request_freeze(self, frozen: bool) -> None:
        write(self._file("cgroup.freeze"), "1" if frozen else "0", "freeze state")

    def frozen(self) -> bool:
        # cgroup.freeze is the request; cgroup.events "frozen 1" is the kernel saying every task has stopped.
        return keyed(read_optional(self._file("cgroup.events"))).get("frozen") == 1

    def kill_all(self) -> None:
        # cgroup.kill (kernel >= 5.14) kills the whole subtree atomically, forks included: no freeze needed.
        if os.path.exists(self._file("cgroup.kill")):
            write(self._file("cgroup.kill"), "1", "kill")
        else:
            super().kill_all()

    def stats(self) -> Stats:
        """11 file reads: cpu.stat, memory.current, memory.stat, memory.max, pids.current, pids.max, io.stat,
        memory.events, and the PSI files cpu/memory/io.pressure. Files of a controller that is not enabled read
        as absent, so their figures are 0."""
        usage = int_or_zero(read_optional(self._file("memory.current")))
        inactive = keyed(read_optional(self._file("memory.stat"))).get("inactive_file", 0)
        limit = limit_value(read_optional(self._file("memory.max")))
        read_bytes = write_bytes = 0
        for line in read_optional(self._file("io.stat")).splitlines():
            fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
            read_bytes += int(fields.get("rbytes", 0))
            write_bytes += int(fields.get("wbytes", 0))
        cpu = keyed(read_optional(self._file("cpu.stat")))
        return Stats(
            cpu_usage_ns=cpu.get("usage_usec", 0) * 1000,
            cpu_user_ns=cpu.get("user_usec", 0) * 1000, cpu_system_ns=cpu.get("system_usec", 0) * 1000,
            memory_usage=max(0, usage - inactive),
            memory_limit=memory_limit(limit),
            pids_current=int_or_zero(read_optional(self._file("pids.current"))),
            pids_limit=limit_value(read_optional(self._file("pids.max"))),
            io_read_bytes=read_bytes,
            io_write_bytes=write_bytes,
            oom_kills=self._oom_kills(),
            cpu_periods=cpu.get("nr_periods", 0), cpu_throttled_periods=cpu.get("nr_throttled", 0),
            cpu_throttled_ns=cpu.get("throttled_usec", 0) * 1000,
            psi_cpu=pressure(self._file("cpu.pressure")), psi_memory=pressure(self._file("memory.pressure")),
            psi_io=pressure(self._file("io.pressure")),
        )

    def _oom_kills(self) -> int:
        return keyed(read_optional(self._file("memory.events"))).get("oom_kill", 0)
