"""cgroup v1: one directory per controller hierarchy, each hierarchy found in /proc/self/mountinfo (controllers
may be mounted alone, as on this project's hosts, or combined like "cpu,cpuacct"; some may be missing)."""

from __future__ import annotations

import os

from .common import (
    MOUNTINFO,
    Cgroup,
    CgroupError,
    Limits,
    Stats,
    int_or_zero,
    keyed,
    limit_value,
    memory_limit,
    mountinfo,
    read,
    read_optional,
    write,
)

CONTROLLERS = ("freezer", "cpu", "cpuacct", "memory", "pids", "blkio", "devices")


def v1_mounts(path: str = MOUNTINFO) -> dict[str, str]:
    """Controller → mount point of its v1 hierarchy (first mount wins: later ones are bind mounts of it)."""
    found: dict[str, str] = {}
    for point, fstype, options in mountinfo(path):
        if fstype == "cgroup":
            for controller in set(options) & set(CONTROLLERS):
                found.setdefault(controller, point)
    return found


class V1Cgroup(Cgroup):
    def __init__(self, name: str, mounts: dict[str, str] | None = None) -> None:
        super().__init__(name)
        self.mounts = v1_mounts() if mounts is None else mounts
        self.paths = {c: os.path.join(m, self.name) for c, m in self.mounts.items() if c in CONTROLLERS}

    # A thread writing "0" to v1's `tasks` moves only itself, and the kernel then skips the threadgroup lock
    # and its RCU grace period (cgroup_procs_write_start): microseconds instead of the 7-30 ms of cgroup.procs.
    # For a single-threaded process, as every process of ours that joins a container is, it is the same move.
    quick_self_join = True

    def join_self(self) -> None:
        for _, leaf in self._dirs():
            write(os.path.join(leaf, "tasks"), "0", "cgroup membership")

    def _dirs(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((self.mounts[c], p) for c, p in self.paths.items()))

    def _file(self, controller: str, name: str) -> str:
        return os.path.join(self.paths[controller], name)

    def _need(self, controller: str, what: str) -> None:
        if controller not in self.paths:
            raise CgroupError(f"cannot set {what}: the cgroup v1 {controller} controller is not mounted")

    def _apply(self, limits: Limits, memsw: int | None, devices: bool = True) -> None:
        if limits.cpu_quota_us is not None:
            self._need("cpu", "cpu quota")
            # Period first: the quota is validated against it.
            write(self._file("cpu", "cpu.cfs_period_us"), str(limits.cpu_period_us), "cpu period")
            write(self._file("cpu", "cpu.cfs_quota_us"), str(limits.cpu_quota_us), "cpu quota")
        if limits.cpu_shares is not None:
            self._need("cpu", "cpu shares")
            write(self._file("cpu", "cpu.shares"), str(limits.cpu_shares), "cpu shares")
        if limits.memory_bytes is not None:
            self._need("memory", "memory limit")
            self._set_memory(limits.memory_bytes, memsw)
        if limits.pids_max is not None:
            self._need("pids", "pids limit")
            write(self._file("pids", "pids.max"), str(limits.pids_max), "pids limit")
        if not devices:
            return
        # Always, and refused when missing: without it a container opens any host device it can mknod.
        self._need("devices", "the device allow-list")
        from .devices import v1_lines  # not for `tuiker stats`, which imports this module too

        for name, line in v1_lines(limits.all_devices):
            write(self._file("devices", name), line, "device rule")

    def _set_memory(self, memory: int, memsw: int | None) -> None:
        mem_file = self._file("memory", "memory.limit_in_bytes")
        sw_file = self._file("memory", "memory.memsw.limit_in_bytes")
        # memsw files exist only with swap accounting (CONFIG_MEMCG_SWAP, swapaccount=1); without it docker
        # also drops --memory-swap, so skip it rather than fail.
        if memsw is None or not os.path.exists(sw_file):
            write(mem_file, str(memory), "memory limit")
            return
        # The kernel refuses (EINVAL) any write that would leave memory.limit > memsw.limit. Raising: memsw must
        # move first; lowering: memory first. As runc's setMemoryAndSwap, compare the new memsw with the current
        # memory limit (a reused dir may hold lower limits than a fresh one, which is unlimited).
        current = int(read(mem_file))
        order = [(sw_file, memsw, "memory+swap limit"), (mem_file, memory, "memory limit")]
        if memsw != -1 and memsw < current:
            order.reverse()
        for path, value, what in order:
            write(path, str(value), what)

    def _can_freeze(self) -> bool:
        return "freezer" in self.paths

    def _request_freeze(self, frozen: bool) -> None:
        state = "FROZEN" if frozen else "THAWED"
        write(self._file("freezer", "freezer.state"), state, "freezer state")

    def frozen(self) -> bool:
        # FREEZING (in progress, or stuck) is not frozen: pause must not report success before every task stops.
        return "freezer" in self.paths and read(self._file("freezer", "freezer.state")).strip() == "FROZEN"

    def _optional(self, controller: str, name: str) -> str:
        return read_optional(self._file(controller, name)) if controller in self.paths else ""

    def stats(self) -> Stats:
        """9 file reads: cpuacct.usage and .stat, cpu.stat (throttling), memory.usage_in_bytes, memory.stat
        (inactive file cache, and in hierarchical_memory_limit the tightest limit of this cgroup and its ancestors,
        the one that bites, so no read of memory.limit_in_bytes), pids.current, pids.max,
        blkio.throttle.io_service_bytes_recursive, memory.oom_control. No PSI: pressure files are a cgroup v2
        interface, so the figures are None here."""
        memory_stat = keyed(self._optional("memory", "memory.stat"))
        usage = int_or_zero(self._optional("memory", "memory.usage_in_bytes"))
        read_bytes = write_bytes = 0
        # The _recursive file, as docker's IoServiceBytesRecursive: it also counts cgroups a container nests.
        for line in self._optional("blkio", "blkio.throttle.io_service_bytes_recursive").splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[1] == "Read":
                read_bytes += int(fields[2])
            elif len(fields) == 3 and fields[1] == "Write":
                write_bytes += int(fields[2])
        ticks = keyed(self._optional("cpuacct", "cpuacct.stat"))  # user and system, in USER_HZ
        throttling = keyed(self._optional("cpu", "cpu.stat"))  # throttled_time in ns (v2's is in µs)
        tick_ns = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        return Stats(
            cpu_usage_ns=int_or_zero(self._optional("cpuacct", "cpuacct.usage")),
            cpu_user_ns=ticks.get("user", 0) * tick_ns, cpu_system_ns=ticks.get("system", 0) * tick_ns,
            memory_usage=max(0, usage - memory_stat.get("total_inactive_file", 0)),
            memory_limit=memory_limit(memory_stat.get("hierarchical_memory_limit")),
            pids_current=int_or_zero(self._optional("pids", "pids.current")),
            pids_limit=limit_value(self._optional("pids", "pids.max")),
            io_read_bytes=read_bytes,
            io_write_bytes=write_bytes,
            oom_kills=self._oom_kills(),
            cpu_periods=throttling.get("nr_periods", 0), cpu_throttled_periods=throttling.get("nr_throttled", 0),
            cpu_throttled_ns=throttling.get("throttled_time", 0),
        )

    def _oom_kills(self) -> int:
        # The oom_kill counter in memory.oom_control exists since kernel 4.13; older kernels report 0.
        return keyed(self._optional("memory", "memory.oom_control")).get("oom_kill", 0)
