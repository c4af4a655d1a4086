"""The container side of a start or an exec: what runs between fork and execve, in the order it runs.

These functions run in a child the monitor forks. The monitor is single-threaded, so the child is
too: unshare/setns in a process with threads is what runc avoids by doing it in C before Go starts.

Start (the monitor forks `intermediate`, namespaces.py):
    intermediate: unshare mnt/uts/ipc/net/pid, fork again, report the pid, exit
    container (pid 1 of the new pid namespace, re-parented to the monitor, a child subreaper):
        stdio → rootfs (rootfs.py: overlay, /proc, /dev, /sys, the user's mounts (mounts.py), masks) → pivot_root →
        hostname → wait for the monitor's "go" (it moves us into our cgroup) → unshare cgroup ns → finish_and_exec
Exec (the monitor forks `intermediate_exec`, namespaces.py):
    intermediate: not dumpable, join the cgroup, setns into each namespace (mnt last), fork, report, exit
    process: stdio → finish_and_exec
finish_and_exec (init.py, the common tail): close every fd but stdio, bounding set, seccomp, capabilities cut to
    the container's, then only the image's files (user, workdir, command lookup), setuid, final capabilities,
    no_new_privs, execve. A failure before execve is written to `errpipe` as "<exit code> <message>" and the
    child exits with that code (docker's 125/126/127).
Every process forked here is non-dumpable until its execve, and starts with none of the monitor's fds (see
monitor/setup.py): nothing inside a container can ptrace it or reach the host through its /proc files.

The split follows runc's: rootfs.py is its rootfs_linux.go, init.py its standard/setns init's common tail.
"""

from tuiker.runtime.spawn.init import (
    Process,
    SetupError,
    default_signals,
    finish_and_exec,
    lookup,
    report_and_exit,
    setup_stdio,
)
from tuiker.runtime.spawn.mounts import Mount, mount_all, mounts_from_config
from tuiker.runtime.spawn.namespaces import NAMESPACES, fork_and_exec, intermediate, intermediate_exec
from tuiker.runtime.spawn.rootfs import (
    DEVICES,
    ENGINE_PATHS,
    MASKED_PATHS,
    READONLY_PATHS,
    Rootfs,
    mount_overlay,
    setup_rootfs,
)

__all__ = ["DEVICES", "ENGINE_PATHS", "MASKED_PATHS", "Mount", "NAMESPACES", "READONLY_PATHS", "Process", "Rootfs",
           "SetupError", "default_signals", "finish_and_exec", "fork_and_exec", "intermediate", "intermediate_exec",
           "lookup", "mount_all", "mount_overlay", "mounts_from_config", "report_and_exit", "setup_rootfs",
           "setup_stdio"]
