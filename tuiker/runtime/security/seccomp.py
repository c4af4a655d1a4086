"""The container's seccomp filter: docker's default profile as an allow list, compiled by libseccomp.

What it does (as docker + runc): every syscall the profile does not allow answers EPERM; some are allowed only
when the container holds a capability (mount with CAP_SYS_ADMIN...), a few only with certain arguments (socket
but not AF_VSOCK, clone without namespace flags); and a syscall numbered above the highest one the profile
knows answers ENOSYS, so a C library built for a newer kernel falls back as it would on an older one instead of
failing on EPERM (runc's patchbpf does the same). The profile itself is seccomp_profile.py.

Why libseccomp (through pyseccomp, ctypes over libseccomp.so.2, so any interpreter works): it knows every
ABI's syscall table and builds the per-arch checks, the argument comparisons and the multiplexed calls (i386
socketcall) exactly as docker's filter does; a hand-written table would drift. It cannot name syscalls newer
than itself (2.5.4 stops at Linux ~6.7), so a short stub of our own runs first and settles those by number
(seccomp_profile.UNIFIED_NUMBERS), answers ENOSYS above the profile's top, and adds one check docker lacks
(socket's family on its low 32 bits, see _stub). Stub and libseccomp's program make one BPF program: of two
stacked filters, neither could let through what the other refuses.

Why in the monitor: compiling takes ~20 ms (~400 rules over three ABIs), so the monitor calls program() before
it forks a container, once per (arch, capability set) thanks to the cache, and the container's process only
hands the ready bytes to the kernel with install() (~0.7 ms here: the kernel checks, JIT-compiles and caches
them). A failure to build the filter is a SeccompError, which must stop the start: never run a container
unconfined by accident.

The filter binds the thread that installs it and every child it makes after. Without no_new_privs the kernel
wants CAP_SYS_ADMIN for it, so install it before capabilities are dropped. --privileged and
--security-opt seccomp=unconfined install nothing.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import struct

from tuiker.base import linux
from tuiker.base.errors import TuikerError
from tuiker.runtime.security import capabilities
from tuiker.runtime.security import seccomp_profile as profile

# pyseccomp loads libseccomp.so.2 as it is imported: with this module (the monitor imports it as it starts),
# not at first use, because a container's process past pivot_root no longer sees the host's files. A failure
# is kept for program() to report, as one line.
try:
    import pyseccomp
    _LOAD_ERROR = ""
except ModuleNotFoundError as e:
    if e.name != "pyseccomp":
        raise
    pyseccomp, _LOAD_ERROR = None, "the pyseccomp package is missing: pip install pyseccomp"
except (OSError, RuntimeError) as e:  # RuntimeError: pyseccomp found no libseccomp at all
    pyseccomp, _LOAD_ERROR = None, f"cannot load libseccomp.so.2 ({e}): install libseccomp2"

MACHINE = os.uname().machine

# Filter return values (linux/seccomp.h) and libseccomp's comparison operators (seccomp.h, enum scmp_compare).
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
_OP_NE, _OP_EQ, _OP_MASKED_EQ = 1, 4, 7
_UNKNOWN = -1  # __NR_SCMP_ERROR: what libseccomp resolves a name it does not know at all to
_OPTIMIZE_BINARY_TREE = 2  # SCMP_FLTATR_CTL_OPTIMIZE: a tree of comparisons, not one per allowed syscall in a row
SECCOMP_MODE_FILTER = 2

# What the kernel puts in seccomp_data.arch for each ABI (AUDIT_ARCH_*). x32 shares x86_64's value and is told
# apart by the 0x40000000 bit in the syscall number.
_AUDIT_ARCH = {"x86_64": 0xC000003E, "x32": 0xC000003E, "x86": 0x40000003, "aarch64": 0xC00000B7,
               "arm": 0x40000028}
_NR_BIT = {"x32": 0x40000000}
# Numbers from here on are the ABI's own calls (x32's compat syscalls from 512, ARM's private ones from
# 0x0f0000), not the common table: left to libseccomp's program, never ENOSYS by the stub.
_OWN_RANGE = {"x32": 0x40000000 + 512, "arm": 0x0F0000}

# One rule: (syscall name, action, argument checks as (index, operator, datum, datum two)). Rules for the same
# name are alternatives: the syscall passes if any of them matches.
Rule = tuple[str, int, tuple[tuple[int, int, int, int], ...]]


class SeccompError(TuikerError):
    """The filter cannot be built or installed, so the container must not start."""


def rules(caps: frozenset[int], machine: str = MACHINE) -> list[Rule]:
    """The profile for a container holding `caps` on `machine`, as libseccomp rules (docker's includes and
    excludes resolved)."""
    held = {capabilities.BY_NUMBER[c] for c in caps}
    allowed = set(profile.ALLOWED) | profile.BY_MACHINE.get(machine, frozenset())
    if _kernel_at_least(4, 8):
        allowed |= profile.ALLOWED_SINCE_4_8
    for cap, names in profile.BY_CAPABILITY.items():
        if cap in held:
            allowed |= names
    out: list[Rule] = [(name, RET_ALLOW, ()) for name in sorted(allowed)]
    out.append(("socket", RET_ALLOW, ((0, _OP_NE, profile.SOCKET_REFUSED_FAMILY, 0),)))
    out += [("personality", RET_ALLOW, ((0, _OP_EQ, persona, 0),)) for persona in profile.PERSONALITIES]
    if "CAP_SYS_ADMIN" not in held:
        out.append(("clone", RET_ALLOW, ((0, _OP_MASKED_EQ, profile.CLONE_NAMESPACE_FLAGS, 0),)))
        out.append(("clone3", RET_ERRNO | profile.CLONE3_ERRNO, ()))
    return out


_cache: dict[tuple[str, frozenset[int]], bytes] = {}


def program(caps: frozenset[int], machine: str = MACHINE) -> bytes:
    """The filter for a container holding `caps`, as packed struct sock_filter entries for install().

    Compiled on first use for each (machine, caps) and cached: call it in the monitor, before forking the
    container. Raises SeccompError when it cannot be built (no libseccomp, unknown machine)."""
    key = (machine, frozenset(caps))
    if key not in _cache:
        _cache[key] = _compile(*key)
    return _cache[key]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(prog: bytes) -> None:
    """Load `prog` (from program()) as a seccomp filter on the calling thread and every child it makes from
    now on. Needs no_new_privs or CAP_SYS_ADMIN in the effective set; binds only the calling thread, which is
    fine in a single-threaded forked child."""
    buffer = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.addressof(buffer))
    try:
        linux.prctl(linux.PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
    except OSError as e:
        raise SeccompError(f"seccomp: the kernel refused the filter: {e.strerror}") from e


# -- compiling ------------------------------------------------------------------------------------

def _kernel_at_least(major: int, minor: int) -> bool:
    found = re.match(r"(\d+)\.(\d+)", os.uname().release)
    return found is not None and (int(found[1]), int(found[2])) >= (major, minor)


def _compile(machine: str, caps: frozenset[int]) -> bytes:
    abis = profile.ARCHES.get(machine)
    if abis is None:
        raise SeccompError(f"seccomp: no profile for {machine}; run with --security-opt seccomp=unconfined")
    if pyseccomp is None:
        raise SeccompError(f"seccomp: {_LOAD_ERROR}, or run with --security-opt seccomp=unconfined")
    tokens = {abi: getattr(pyseccomp.Arch, abi.upper()) for abi in abis}
    flt = pyseccomp.SyscallFilter(RET_ERRNO | profile.DEFAULT_ERRNO)
    for token in tokens.values():
        if not flt.exist_arch(token):
            flt.add_arch(token)
    if pyseccomp.system_arch() not in tokens.values():
        flt.remove_arch(pyseccomp.system_arch())  # another machine's filter (the tests build aarch64's)
    flt.set_attr(pyseccomp.Attr.ACT_BADARCH, RET_KILL_PROCESS)
    flt.set_attr(pyseccomp.Attr.CTL_OPTIMIZE, _OPTIMIZE_BINARY_TREE)

    # Names libseccomp cannot resolve go to the stub by number; the rest become libseccomp rules, which it
    # translates to every ABI of the filter (and skips on an ABI that lacks the call).
    unknown: dict[str, int] = {}
    for name, action, checks in rules(caps, machine):
        if pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name) != _UNKNOWN:
            flt.add_rule(action, name, *(pyseccomp.Arg(*check) for check in checks))
        elif checks:
            raise SeccompError(f"seccomp: libseccomp does not know {name}, whose rule checks arguments")
        else:
            unknown[name] = action

    numbers = {abi: _numbers(token, abi, machine) for abi, token in tokens.items()}
    with os.fdopen(os.memfd_create("seccomp"), "w+b") as out:
        flt.export_bpf(out)
        out.seek(0)
        body = out.read()
    return _stub(abis, numbers, unknown) + body


def _numbers(token: int, abi: str, machine: str) -> dict[str, int]:
    """Every syscall the profile names, by its number on `abi`: libseccomp's, else our tables'. Left out: the
    ones libseccomp knows are not on this ABI (it answers those with other negative numbers)."""
    names = set(profile.ALLOWED) | profile.ALLOWED_SINCE_4_8 | profile.BY_MACHINE.get(machine, frozenset())
    names |= {"socket", "personality", "clone", "clone3"}.union(*profile.BY_CAPABILITY.values())
    out = {}
    for name in names:
        nr = pyseccomp.resolve_syscall(token, name)
        if nr == _UNKNOWN:
            nr = profile.OWN_NUMBERS.get((abi, name), _UNKNOWN)
            if nr == _UNKNOWN and name in profile.UNIFIED_NUMBERS:
                nr = profile.UNIFIED_NUMBERS[name] | _NR_BIT.get(abi, 0)
        if nr >= 0:
            out[name] = nr
    return out


# -- the stub in front of libseccomp's program ----------------------------------------------------
# Classic BPF (linux/filter.h): struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}; jumps go forward only.
_LD_W_ABS, _JA, _JEQ, _JGT, _JGE, _JSET, _RET = 0x20, 0x05, 0x15, 0x25, 0x35, 0x45, 0x06
# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]. Both machines are little
# endian: the low half of args[0] is at 16.
_OFF_NR, _OFF_ARCH, _OFF_ARG0_LOW = 0, 4, 16
# ABIs whose argument registers are 64 bits wide (for i386 and arm the kernel zero-extends 32-bit ones).
_WIDE_ARGS = frozenset({"x86_64", "x32", "aarch64"})


def _stub(abis: tuple[str, ...], numbers: dict[str, dict[str, int]], unknown: dict[str, int]) -> bytes:
    """For each ABI: the calls libseccomp could not name, by number; ENOSYS above the profile's top; anything
    else jumps to libseccomp's program ("body"), which starts over from its own arch check."""
    code: list[tuple[int, int | str, int | str, int | str]] = []  # (op, k, jt, jf); str = a label
    labels: dict[str, int] = {}

    def checks(abi: str) -> None:
        own = _OWN_RANGE.get(abi)
        if abi in _WIDE_ARGS:
            # docker's socket rule compares all 64 bits of the family while the kernel reads an int, so
            # socket(AF_VSOCK | 1 << 32, ...) would pass it and open a vsock socket: refused on the low half.
            code.append((_JEQ, numbers[abi]["socket"], "socket_family", 0))
        for name, action in sorted(unknown.items()):
            if name in numbers[abi]:
                code.append((_JEQ, numbers[abi][name], f"ret{action}", 0))
        if own is not None:
            code.append((_JGE, own, "body", 0))
        top = max(nr for nr in numbers[abi].values() if own is None or nr < own)
        code.append((_JGT, top, "enosys", 0))
        code.append((_JA, "body", 0, 0))

    by_arch: dict[int, list[str]] = {}
    for abi in abis:
        by_arch.setdefault(_AUDIT_ARCH[abi], []).append(abi)
    code.append((_LD_W_ABS, _OFF_ARCH, 0, 0))
    for value in by_arch:
        code.append((_JEQ, value, f"arch{value}", 0))
    code.append((_JA, "body", 0, 0))  # an ABI outside the profile: libseccomp's program kills the process
    for value, sharing in by_arch.items():
        labels[f"arch{value}"] = len(code)
        code.append((_LD_W_ABS, _OFF_NR, 0, 0))
        plain = [abi for abi in sharing if abi not in _NR_BIT]
        flagged = [abi for abi in sharing if abi in _NR_BIT]
        for abi in flagged:
            code.append((_JSET, _NR_BIT[abi], abi, 0))
        for abi in plain:
            checks(abi)
        for abi in flagged:
            labels[abi] = len(code)
            checks(abi)
    for action in sorted(set(unknown.values())):
        labels[f"ret{action}"] = len(code)
        code.append((_RET, action, 0, 0))
    labels["socket_family"] = len(code)
    code.append((_LD_W_ABS, _OFF_ARG0_LOW, 0, 0))
    code.append((_JEQ, profile.SOCKET_REFUSED_FAMILY, "eperm", "body"))
    labels["eperm"] = len(code)
    code.append((_RET, RET_ERRNO | profile.DEFAULT_ERRNO, 0, 0))
    labels["enosys"] = len(code)
    code.append((_RET, RET_ERRNO | errno.ENOSYS, 0, 0))
    labels["body"] = len(code)

    out = bytearray()
    for index, (op, k, jt, jf) in enumerate(code):
        # Offsets count from the next instruction; ja carries a 32-bit one in k, the others 8-bit ones.
        k = labels[k] - index - 1 if isinstance(k, str) else k
        jt = labels[jt] - index - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - index - 1 if isinstance(jf, str) else jf
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise SeccompError(f"seccomp: stub jump out of range at instruction {index}")
        out += struct.pack("=HBBI", op, jt, jf, k)
    return bytes(out)
