"""A seccomp filter with the effect of docker's default profile, as a classic BPF program built by hand.

Docker's profile (moby profiles/seccomp/default.json) allows ~350 syscalls by name and answers EPERM to the rest;
some more are allowed only when the container holds a capability (mount with CAP_SYS_ADMIN, reboot with
CAP_SYS_BOOT...), and a few are checked by argument. Here the same effect is built as a deny list: every syscall of
the Linux 6.1 table that the profile does not allow gets EPERM, the rest pass. The one difference: syscalls newer
than the table (fchmodat2, cachestat, statmount...) pass here, where docker refuses them until its profile lists
them. No libseccomp: the program is ~150 instructions assembled with struct in well under a millisecond, cached.

Install it last, right before execve: the filter binds the Python code that still runs, and without
no_new_privs installing it needs CAP_SYS_ADMIN (so then it must come before capabilities are dropped).
"""

from __future__ import annotations

import ctypes
import os
import struct

from tuiker.runtime import linux
from tuiker.runtime.capabilities import DEFAULT_CAPS, NAMES

_ADMIN = NAMES["CAP_SYS_ADMIN"]
_PTRACE = NAMES["CAP_SYS_PTRACE"]
_NICE = NAMES["CAP_SYS_NICE"]

# name: (x86_64 number, aarch64 number, capabilities any of which makes docker allow it; () = never allowed).
# Numbers are checked against the kernel headers by tests/runtime/test_seccomp.py. None = no such syscall there.
_RULES: dict[str, tuple[int | None, int | None, tuple[int, ...]]] = {
    "syslog": (103, 116, (_ADMIN, NAMES["CAP_SYSLOG"])),
    "uselib": (134, None, ()),
    "ustat": (136, None, ()),
    "sysfs": (139, None, ()),
    "vhangup": (153, 58, (NAMES["CAP_SYS_TTY_CONFIG"],)),
    "pivot_root": (155, 41, ()),
    "_sysctl": (156, None, ()),
    "acct": (163, 89, (NAMES["CAP_SYS_PACCT"],)),
    "settimeofday": (164, 170, (NAMES["CAP_SYS_TIME"],)),
    "mount": (165, 40, (_ADMIN,)),
    "umount2": (166, 39, (_ADMIN,)),
    "swapon": (167, 224, ()),
    "swapoff": (168, 225, ()),
    "reboot": (169, 142, (NAMES["CAP_SYS_BOOT"],)),
    "sethostname": (170, 161, (_ADMIN,)),
    "setdomainname": (171, 162, (_ADMIN,)),
    "iopl": (172, None, (NAMES["CAP_SYS_RAWIO"],)),
    "ioperm": (173, None, (NAMES["CAP_SYS_RAWIO"],)),
    "create_module": (174, None, ()),
    "init_module": (175, 105, (NAMES["CAP_SYS_MODULE"],)),
    "delete_module": (176, 106, (NAMES["CAP_SYS_MODULE"],)),
    "get_kernel_syms": (177, None, ()),
    "query_module": (178, None, ()),
    "quotactl": (179, 60, (_ADMIN,)),
    "nfsservctl": (180, 42, ()),
    "getpmsg": (181, None, ()),
    "putpmsg": (182, None, ()),
    "afs_syscall": (183, None, ()),
    "tuxcall": (184, None, ()),
    "security": (185, None, ()),
    "lookup_dcookie": (212, 18, (_ADMIN,)),
    "clock_settime": (227, 112, (NAMES["CAP_SYS_TIME"],)),
    "vserver": (236, None, ()),
    "mbind": (237, 235, (_NICE,)),
    "set_mempolicy": (238, 237, (_NICE,)),
    "get_mempolicy": (239, 236, (_NICE,)),
    "kexec_load": (246, 104, ()),
    "add_key": (248, 217, ()),
    "request_key": (249, 218, ()),
    "keyctl": (250, 219, ()),
    "migrate_pages": (256, 238, ()),
    "unshare": (272, 97, (_ADMIN,)),
    "move_pages": (279, 239, ()),
    "perf_event_open": (298, 241, (_ADMIN, NAMES["CAP_PERFMON"])),
    "fanotify_init": (300, 262, (_ADMIN,)),
    "open_by_handle_at": (304, 265, (NAMES["CAP_DAC_READ_SEARCH"],)),
    "setns": (308, 268, (_ADMIN,)),
    "kcmp": (312, 272, (_PTRACE,)),
    "finit_module": (313, 273, (NAMES["CAP_SYS_MODULE"],)),
    "kexec_file_load": (320, 294, ()),
    "bpf": (321, 280, (_ADMIN, NAMES["CAP_BPF"])),
    "userfaultfd": (323, 282, ()),
    "open_tree": (428, 428, (_ADMIN,)),
    "move_mount": (429, 429, (_ADMIN,)),
    "fsopen": (430, 430, (_ADMIN,)),
    "fsconfig": (431, 431, (_ADMIN,)),
    "fsmount": (432, 432, (_ADMIN,)),
    "fspick": (433, 433, (_ADMIN,)),
    "pidfd_getfd": (438, 438, (_PTRACE,)),
    "process_madvise": (440, 440, (_PTRACE,)),
    "mount_setattr": (442, 442, (_ADMIN,)),
    "quotactl_fd": (443, 443, (_ADMIN,)),
    "set_mempolicy_home_node": (450, 450, (_NICE,)),
    # Newer than docker's profile; mount-like, so gated like the rest of the mount API.
    "open_tree_attr": (467, 467, (_ADMIN,)),
    # Allowed by default (CAP_SYS_CHROOT is a default cap) but refused once that cap is dropped.
    "chroot": (161, 51, (NAMES["CAP_SYS_CHROOT"],)),
    # Handled below by argument or errno, not plain EPERM.
    "clone3": (435, 435, (_ADMIN,)),
    "clone": (56, 220, (_ADMIN,)),
    "personality": (135, 92, ()),
    "socket": (41, 198, ()),
}

# Classic BPF opcodes (linux/filter.h, linux/bpf_common.h) and seccomp return values (linux/seccomp.h).
_LD_W_ABS = 0x20
_JEQ = 0x15
_JGE = 0x35
_JSET = 0x45
_RET = 0x06
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000
_EPERM = 1
_ENOSYS = 38
SECCOMP_MODE_FILTER = 2

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]. Both arches are little
# endian, so the low 32 bits of args[0] sit at offset 16; every argument checked here is a 32-bit int.
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0 = 16

# (column in _RULES, AUDIT_ARCH_* = EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE)
_ARCHES = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}
_X32_SYSCALL_BIT = 0x40000000

_CLONE_NS_FLAGS = (linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC | linux.CLONE_NEWUSER
                   | linux.CLONE_NEWPID | linux.CLONE_NEWNET | linux.CLONE_NEWCGROUP)
# docker allows personality only for these (PER_LINUX, PER_LINUX32, UNAME26 variants, and 0xffffffff = query).
_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
_AF_VSOCK = 40


def _actions(column: int, caps: frozenset[int]) -> dict[int, str]:
    """syscall number → the label of the code that decides it; numbers not listed are allowed."""
    out = {}
    for name, (*numbers, allowed_by) in _RULES.items():
        nr = numbers[column]
        if nr is None:
            continue
        unlocked = any(c in caps for c in allowed_by)
        if name in ("personality", "socket"):
            out[nr] = name
        elif name == "clone":
            if not unlocked:
                out[nr] = "clone"
        elif name == "clone3":
            # ENOSYS, not EPERM: glibc then falls back to clone(2), whose flags the filter can inspect
            # (clone3 passes them in memory, out of seccomp's reach).
            if not unlocked:
                out[nr] = "enosys"
        elif not unlocked:
            out[nr] = "eperm"
    return out


def _blocked(machine: str, caps: frozenset[int]) -> tuple[str, ...]:
    column = _ARCHES[machine][0]
    actions = _actions(column, caps)
    return tuple(sorted(name for name, row in _RULES.items() if actions.get(row[column]) in ("eperm", "enosys")))


def _assemble(machine: str, caps: frozenset[int]) -> bytes:
    column, audit_arch = _ARCHES[machine]
    code: list[tuple[int, int | str, int | str, int]] = []
    labels: dict[str, int] = {}

    def emit(op: int, k: int = 0, jt: int | str = 0, jf: int | str = 0) -> None:
        code.append((op, jt, jf, k))

    def tree(entries: list[tuple[int, str]]) -> None:
        # Binary search on the sorted numbers: ~8 comparisons per syscall instead of ~70 for a flat list, and
        # this runs on every syscall the container makes.
        if len(entries) <= 3:
            for nr, label in entries:
                emit(_JEQ, nr, jt=label)
            emit(_RET, _RET_ALLOW)
            return
        mid = len(entries) // 2
        upper = f"upper{len(labels)}_{len(code)}"
        emit(_JGE, entries[mid][0], jt=upper)
        tree(entries[:mid])
        labels[upper] = len(code)
        tree(entries[mid:])

    # A syscall from another ABI (i386 via int 0x80 on x86_64) has other numbers: the table would not match it.
    emit(_LD_W_ABS, _OFF_ARCH)
    emit(_JEQ, audit_arch, jf="kill")
    emit(_LD_W_ABS, _OFF_NR)
    if machine == "x86_64":
        # x32 syscalls share AUDIT_ARCH_X86_64 but are numbered nr | 0x40000000, so they would miss every JEQ.
        emit(_JSET, _X32_SYSCALL_BIT, jt="eperm")
    tree(sorted(_actions(column, caps).items()))

    labels["kill"] = len(code)
    emit(_RET, _RET_KILL_PROCESS)
    labels["personality"] = len(code)
    emit(_LD_W_ABS, _OFF_ARG0)
    for persona in _PERSONALITIES[:-1]:
        emit(_JEQ, persona, jt="allow")
    emit(_JEQ, _PERSONALITIES[-1], jt="allow", jf="eperm")
    labels["socket"] = len(code)
    emit(_LD_W_ABS, _OFF_ARG0)
    emit(_JEQ, _AF_VSOCK, jt="eperm", jf="allow")
    labels["clone"] = len(code)
    emit(_LD_W_ABS, _OFF_ARG0)
    emit(_JSET, _CLONE_NS_FLAGS, jt="eperm")
    labels["allow"] = len(code)
    emit(_RET, _RET_ALLOW)
    labels["eperm"] = len(code)
    emit(_RET, _RET_ERRNO | _EPERM)
    labels["enosys"] = len(code)
    emit(_RET, _RET_ERRNO | _ENOSYS)

    out = bytearray()
    for index, (op, jt, jf, k) in enumerate(code):
        # Classic BPF only jumps forward, by an 8-bit offset from the next instruction.
        jt = labels[jt] - index - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - index - 1 if isinstance(jf, str) else jf
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise ValueError(f"seccomp program: jump out of range at instruction {index}")
        out += struct.pack("=HBBI", op, jt, jf, k)
    return bytes(out)


MACHINE = os.uname().machine
BLOCKED: tuple[str, ...] = _blocked(MACHINE, DEFAULT_CAPS) if MACHINE in _ARCHES else ()
_cache: dict[frozenset[int], bytes] = {}


def default_program(caps: frozenset[int] = DEFAULT_CAPS) -> bytes:
    """The docker-equivalent filter for this machine as packed struct sock_filter entries.

    `caps` is the container's capability set: like docker, syscalls gated on a capability the container holds
    (mount with --cap-add SYS_ADMIN...) are let through. A --privileged container gets no filter at all.
    """
    if MACHINE not in _ARCHES:
        raise OSError(95, f"seccomp: no syscall table for {MACHINE}")
    caps = frozenset(caps)
    program = _cache.get(caps)
    if program is None:
        program = _cache[caps] = _assemble(MACHINE, caps)
    return program


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(program: bytes) -> None:
    """Load `program` as a seccomp filter on the calling thread (and every child it makes from now on).

    The kernel accepts it only with no_new_privs set or CAP_SYS_ADMIN in the effective set; the caller orders
    those steps. It only binds the calling thread, which is fine in a single-threaded forked child.
    """
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
    linux.prctl(linux.PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))


def install_default(caps: frozenset[int] = DEFAULT_CAPS) -> None:
    install(default_program(caps))
