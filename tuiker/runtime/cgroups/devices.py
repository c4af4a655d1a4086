"""The device cgroup: which device nodes a container may open, docker's allow-list, on cgroup v1 or v2.

Docker's default capabilities include CAP_MKNOD, and image layers may ship device nodes: without a device
controller, a container that makes (or finds) the node of a host disk, loop device, /dev/kvm or /dev/kmsg opens
the host's device. The list denies everything but the handful of devices every container needs, and allows
mknod (only) of any node, as runc does: making a node is harmless, opening it is what the list checks.

v1 writes the list into the container's dir of the `devices` hierarchy (devices.deny, devices.allow). v2 has no
interface files: the list is an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the container's cgroup
with bpf(2); the kernel runs it on every open and mknod of a device node by a process of the cgroup, and an
access the program answers 0 fails with EPERM. The program goes with the cgroup: rmdir releases it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import NamedTuple

from .common import CgroupError


class Rule(NamedTuple):
    kind: str  # "c" char, "b" block
    major: int | None  # None = any
    minor: int | None
    access: str  # subset of "rwm": read, write, mknod

    def v1(self) -> str:
        """The devices.allow line: "c 1:3 rwm", "b *:* m"."""
        major, minor = ("*" if n is None else n for n in (self.major, self.minor))
        return f"{self.kind} {major}:{minor} {self.access}"


# runc's default rules (libcontainer/specconv AllowedDevices), which docker uses.
ALLOWED = (
    Rule("c", None, None, "m"),  # mknod of any node: images ship them, and making one opens nothing
    Rule("b", None, None, "m"),
    Rule("c", 1, 3, "rwm"),  # /dev/null
    Rule("c", 1, 5, "rwm"),  # /dev/zero
    Rule("c", 1, 7, "rwm"),  # /dev/full
    Rule("c", 1, 8, "rwm"),  # /dev/random
    Rule("c", 1, 9, "rwm"),  # /dev/urandom
    Rule("c", 5, 0, "rwm"),  # /dev/tty
    Rule("c", 5, 1, "rwm"),  # /dev/console
    Rule("c", 5, 2, "rwm"),  # /dev/ptmx
    # /dev/pts/*: the container's own devpts, and the *host* pty slaves that -t binds at /dev/console and
    # exec -t hands over, which share the major.
    Rule("c", 136, None, "rwm"),
    # /dev/net/tun: runc dropped it in 1.2.0 and put it back in 1.2.4 for the users who rely on it; kept as
    # docker does (tuiker has no --device to grant it otherwise). Making an interface still needs CAP_NET_ADMIN.
    Rule("c", 10, 200, "rwm"),
)


def v1_lines(all_devices: bool) -> list[tuple[str, str]]:
    """(file, line) writes, in order, that give a v1 devices cgroup the list, or every device.

    "a" on devices.deny empties the list and denies by default, so no moment allows more than the result."""
    if all_devices:
        return [("devices.allow", "a")]
    return [("devices.deny", "a")] + [("devices.allow", rule.v1()) for rule in ALLOWED]


# --- eBPF (linux/bpf.h) ---

# struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }, access_type = access << 16 | type.
_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, _CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
_RWM = 7

# Opcodes: class | operation | source (K = immediate, X = register).
_LDX_W = 0x61  # dst = *(u32 *)(src + off)
_AND32_K = 0x54
_RSH32_K = 0x74
_MOV32_K = 0xb4
_MOV32_X = 0xbc
_JNE_K = 0x55  # if dst != imm: pc += off
_JNE_X = 0x5d
_EXIT = 0x95  # return r0
R0, R1, R2, R3, R4, R5 = range(6)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """struct bpf_insn; dst_reg is the low nibble of the register byte on little-endian machines (the ones
    _NR_BPF knows)."""
    return struct.pack("<BBhi", code, dst | src << 4, off, imm)


def _rule_block(rule: Rule) -> list[bytes]:
    """Return 1 (allow) when the access matches `rule`; any mismatch jumps past the block to the next one."""
    access = sum(_ACCESS[letter] for letter in set(rule.access))
    # (code, dst, src, imm) of each check; the jump offsets are filled in once the block's length is known.
    checks = [(_JNE_K, R2, 0, _TYPES[rule.kind])]
    if access != _RWM:
        # Every requested bit must be allowed: (requested & allowed) != requested → no match.
        checks += [(_MOV32_X, R1, R3, 0), (_AND32_K, R1, 0, access), (_JNE_X, R1, R3, 0)]
    if rule.major is not None:
        checks.append((_JNE_K, R4, 0, rule.major))
    if rule.minor is not None:
        checks.append((_JNE_K, R5, 0, rule.minor))
    tail = [_insn(_MOV32_K, R0, imm=1), _insn(_EXIT)]
    block = []
    for i, (code, dst, src, imm) in enumerate(checks):
        to_end = len(checks) - i - 1 + len(tail)
        block.append(_insn(code, dst, src, to_end if code in (_JNE_K, _JNE_X) else 0, imm))
    return block + tail


def program(rules: tuple[Rule, ...] = ALLOWED) -> bytes:
    """The instructions of a device program allowing `rules` and denying everything else."""
    insns = [
        _insn(_LDX_W, R2, R1, 0), _insn(_AND32_K, R2, imm=0xFFFF),  # r2 = device type
        _insn(_LDX_W, R3, R1, 0), _insn(_RSH32_K, R3, imm=16),  # r3 = requested access
        _insn(_LDX_W, R4, R1, 4),  # r4 = major
        _insn(_LDX_W, R5, R1, 8),  # r5 = minor
    ]
    for rule in rules:
        insns += _rule_block(rule)
    insns += [_insn(_MOV32_K, R0, imm=0), _insn(_EXIT)]  # no rule matched: deny
    return b"".join(insns)


# bpf(2): commands, program and attach types, flags; the syscall has no glibc wrapper.
_NR_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine)
_PROG_LOAD, _PROG_ATTACH, _PROG_DETACH, _PROG_GET_FD_BY_ID, _PROG_QUERY = 5, 8, 9, 13, 16
_PROG_TYPE_CGROUP_DEVICE = 15
_CGROUP_DEVICE = 6  # attach type
_F_ALLOW_MULTI = 2
_ATTR_SIZE = 144  # sizeof(union bpf_attr) in Linux 6.x; fields past what a kernel knows must be zero
_PROG_NAME = b"tuiker_devices"  # what `bpftool prog` shows

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _attr(fields: list[tuple[int, str, int]]) -> ctypes.Array:
    """A zeroed union bpf_attr but for (offset, struct format, value) fields."""
    attr = ctypes.create_string_buffer(_ATTR_SIZE)
    for offset, fmt, value in fields:
        struct.pack_into("=" + fmt, attr, offset, value)
    return attr


def _bpf(cmd: int, attr: ctypes.Array) -> int:
    if _NR_BPF is None:
        raise OSError(38, f"no bpf syscall number known for {os.uname().machine}")
    ret = _libc.syscall(ctypes.c_long(_NR_BPF), ctypes.c_int(cmd), attr, ctypes.c_uint(_ATTR_SIZE))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def load(insns: bytes) -> int:
    """Load a device program: its fd (the program lives while an fd or an attachment holds it)."""
    code = ctypes.create_string_buffer(insns, len(insns))
    license = ctypes.create_string_buffer(b"Apache-2.0")  # no GPL-only helper is called
    return _bpf(_PROG_LOAD, _attr([
        (0, "I", _PROG_TYPE_CGROUP_DEVICE), (4, "I", len(insns) // 8),
        (8, "Q", ctypes.addressof(code)), (16, "Q", ctypes.addressof(license)),
        *((48 + i, "B", byte) for i, byte in enumerate(_PROG_NAME)),
    ]))


def attached(cgroup_fd: int) -> list[int]:
    """Ids of the device programs attached to the cgroup itself (not those it inherits)."""
    ids = (ctypes.c_uint32 * 64)()  # BPF_CGROUP_MAX_PROGS: no cgroup holds more per attach type
    attr = _attr([(0, "I", cgroup_fd), (4, "I", _CGROUP_DEVICE), (16, "Q", ctypes.addressof(ids)),
                  (24, "I", len(ids))])
    _bpf(_PROG_QUERY, attr)
    count = struct.unpack_from("=I", attr, 24)[0]  # in: room for ids, out: how many there are
    return list(ids[:count])


def program_fd(prog_id: int) -> int:
    """An fd for a loaded program by id; FileNotFoundError once the kernel has freed it."""
    return _bpf(_PROG_GET_FD_BY_ID, _attr([(0, "I", prog_id)]))


def _detach(cgroup_fd: int, prog_id: int) -> None:
    try:
        fd = program_fd(prog_id)
    except FileNotFoundError:
        return  # released meanwhile
    try:
        _bpf(_PROG_DETACH, _attr([(0, "I", cgroup_fd), (4, "I", fd), (8, "I", _CGROUP_DEVICE)]))
    finally:
        os.close(fd)


def attach_allow_list(path: str, rules: tuple[Rule, ...] = ALLOWED) -> None:
    """Attach a program allowing `rules` to the cgroup v2 directory `path`, replacing the device programs it held.

    The new program is attached before the old ones go, so the cgroup is never without one. BPF_F_ALLOW_MULTI,
    as runc and systemd attach theirs: a program attached above (by systemd, say) keeps running too, and every
    program must allow an access. A directory left by an earlier run of the same container holds the same
    list: replacing it keeps one program instead of one more per start."""
    try:
        dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise CgroupError(f"cannot set the device allow-list: {path}: {e.strerror}") from None
    try:
        old = attached(dir_fd)
        prog_fd = load(program(rules))
        try:
            _bpf(_PROG_ATTACH, _attr([(0, "I", dir_fd), (4, "I", prog_fd), (8, "I", _CGROUP_DEVICE),
                                      (12, "I", _F_ALLOW_MULTI)]))
        finally:
            os.close(prog_fd)  # the attachment holds the program now
        for prog_id in old:
            _detach(dir_fd, prog_id)
    except OSError as e:
        hint = " (loading a device program needs CAP_SYS_ADMIN or CAP_BPF)" if e.errno == errno.EPERM else ""
        raise CgroupError(f"cannot set the device allow-list: bpf() on {path}: {e.strerror}{hint}") from None
    finally:
        os.close(dir_fd)
