"""The docker-like seccomp filter: its syscall table against the kernel headers, its verdicts through a small BPF
interpreter, and its effect on a real process (a forked child with no_new_privs; pytest itself stays unfiltered)."""

from __future__ import annotations

import ctypes
import errno
import os
import re
import socket
import struct
import time

import pytest
from childproc import in_child

from tuiker.runtime import capabilities, linux, seccomp

X86_64_HEADER = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
GENERIC_HEADER = "/usr/include/asm-generic/unistd.h"  # aarch64 uses the generic table
AUDIT = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def header_table(path: str) -> dict[str, int]:
    if not os.path.exists(path):
        pytest.skip(f"{path} missing (apt-get install linux-libc-dev)")
    with open(path) as f:
        return {m[1]: int(m[2]) for m in re.finditer(r"^#define __NR_(\w+)\s+(\d+)\b", f.read(), re.M)}


@pytest.mark.parametrize(("column", "path"), [(0, X86_64_HEADER), (1, GENERIC_HEADER)], ids=["x86_64", "aarch64"])
def test_syscall_numbers_match_kernel_headers(column, path):
    table = header_table(path)
    newest = max(table.values())
    for name, row in seccomp._RULES.items():
        nr = row[column]
        if name in table:
            assert nr == table[name], name
        elif nr is not None:
            # Newer than the installed headers (e.g. open_tree_attr, 6.15): must at least sit past their end.
            assert nr > newest, name


def run_bpf(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """Evaluate a classic BPF seccomp program the way the kernel does, for the instructions the builder emits."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    pc = acc = 0
    while True:
        op, jt, jf, k = insns[pc]
        pc += 1
        if op == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
        elif op == 0x06:
            return k
        elif op in (0x15, 0x35, 0x45):
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[op]
            pc += jt if taken else jf
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")


ALLOW, EPERM, ENOSYS, KILL = 0x7FFF0000, 0x50001, 0x50026, 0x80000000


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_program_verdicts_for_every_syscall_number(machine):
    column = seccomp._ARCHES[machine][0]
    for caps in (capabilities.DEFAULT_CAPS, capabilities.DEFAULT_CAPS | {capabilities.NAMES["CAP_SYS_ADMIN"]}):
        program = seccomp._assemble(machine, caps)
        blocked = {seccomp._RULES[name][column] for name in seccomp._blocked(machine, caps)}
        special = {seccomp._RULES[n][column] for n in ("clone", "personality", "socket", "clone3")}
        for nr in range(600):
            want = EPERM if nr in blocked else ALLOW
            if nr == seccomp._RULES["clone3"][column]:
                want = ALLOW if capabilities.NAMES["CAP_SYS_ADMIN"] in caps else ENOSYS
            if nr not in special or nr == seccomp._RULES["clone3"][column]:
                assert run_bpf(program, nr, AUDIT[machine]) == want, (machine, nr)
        assert run_bpf(program, 0, 0x40000003) == KILL  # i386
    program = seccomp._assemble(machine, capabilities.DEFAULT_CAPS)
    mount = seccomp._RULES["mount"][column]
    assert run_bpf(program, mount, AUDIT[machine]) == EPERM
    assert run_bpf(seccomp._assemble(machine, frozenset({21})), mount, AUDIT[machine]) == ALLOW
    clone, personality, sock = (seccomp._RULES[n][column] for n in ("clone", "personality", "socket"))
    assert run_bpf(program, clone, AUDIT[machine], (0x11 | 0x01000000 | 0x00200000,)) == ALLOW  # glibc fork
    for flag in (linux.CLONE_NEWNET, linux.CLONE_NEWUSER, linux.CLONE_NEWNS, linux.CLONE_NEWCGROUP):
        assert run_bpf(program, clone, AUDIT[machine], (flag | 0x11,)) == EPERM
    for persona in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert run_bpf(program, personality, AUDIT[machine], (persona,)) == ALLOW
    assert run_bpf(program, personality, AUDIT[machine], (0x0040000,)) == EPERM
    assert run_bpf(program, sock, AUDIT[machine], (40,)) == EPERM
    assert run_bpf(program, sock, AUDIT[machine], (socket.AF_INET,)) == ALLOW
    if machine == "x86_64":
        assert run_bpf(program, 0x40000000 | 0, AUDIT[machine]) == EPERM  # x32 read


def test_blocked_list_and_build_time():
    for name in ("mount", "umount2", "unshare", "setns", "keyctl", "bpf", "pivot_root", "clone3", "reboot"):
        assert name in seccomp.BLOCKED
    for name in ("ptrace", "chroot", "clone", "name_to_handle_at", "clock_adjtime"):
        assert name not in seccomp.BLOCKED
    seccomp._cache.clear()
    start = time.perf_counter()
    program = seccomp.default_program()
    elapsed = time.perf_counter() - start
    print(f"seccomp program: {len(program) // 8} instructions built in {elapsed * 1e3:.2f} ms")
    assert seccomp.default_program() is program  # cached


def raw_syscall(nr: int, *args: int) -> int:
    """-errno on failure, else the result."""
    ret = libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
    return -ctypes.get_errno() if ret == -1 else ret


@pytest.mark.skipif(os.geteuid() != 0 or os.uname().machine not in ("x86_64", "aarch64"), reason="root, x86_64/arm64")
def test_filter_in_a_real_process(tmp_path):
    column = seccomp._ARCHES[os.uname().machine][0]

    def nr(name: str) -> int:
        return seccomp._RULES[name][column]

    def child():
        linux.set_no_new_privs()
        seccomp.install_default()
        out = {}
        with open("/proc/self/status") as f:
            out["seccomp"] = re.search(r"^Seccomp:\s*(\d+)", f.read(), re.M)[1]
        for name, call in (
            ("unshare", lambda: linux.unshare(linux.CLONE_NEWUTS)),
            ("mount", lambda: linux.mount("tmpfs", str(tmp_path), "tmpfs")),
            ("pivot_root", lambda: linux.pivot_root("/", "/")),
            ("socket_vsock", lambda: socket.socket(40, socket.SOCK_STREAM)),
        ):
            try:
                call()
                out[name] = 0
            except OSError as e:
                out[name] = e.errno
        out["keyctl"] = raw_syscall(nr("keyctl"), 0, -3, 0)  # KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING
        out["clone3"] = raw_syscall(nr("clone3"), 0, 0)
        out["personality_query"] = raw_syscall(nr("personality"), 0xFFFFFFFF) >= 0
        out["personality_norandom"] = raw_syscall(nr("personality"), 0x0040000)
        # clone(CLONE_NEWNET|SIGCHLD): if the filter let it through, the copy must leave at once.
        pid = raw_syscall(nr("clone"), linux.CLONE_NEWNET | 17, 0, 0, 0, 0)
        if pid == 0:
            os._exit(0)
        if pid > 0:
            os.waitpid(pid, 0)
        out["clone_newnet"] = pid
        out["getpid"] = os.getpid() > 0
        path = tmp_path / "io"
        path.write_text("hello")
        out["io"] = path.read_text()
        child_pid = os.fork()
        if child_pid == 0:
            os._exit(7)
        out["fork"] = os.waitstatus_to_exitcode(os.waitpid(child_pid, 0)[1])
        # glibc's posix_spawn tries clone3 first; ENOSYS must make it fall back to clone.
        spawned = os.posix_spawn("/bin/busybox", ["busybox", "true"], {})
        out["spawn"] = os.waitstatus_to_exitcode(os.waitpid(spawned, 0)[1])
        exec_pid = os.fork()
        if exec_pid == 0:
            os.execv("/bin/busybox", ["busybox", "sh", "-c", "exit 5"])
        out["exec"] = os.waitstatus_to_exitcode(os.waitpid(exec_pid, 0)[1])
        return out

    out = in_child(child)
    assert out == {
        "seccomp": "2",
        "unshare": errno.EPERM,
        "mount": errno.EPERM,
        "pivot_root": errno.EPERM,
        "socket_vsock": errno.EPERM,
        "keyctl": -errno.EPERM,
        "clone3": -errno.ENOSYS,
        "personality_query": True,
        "personality_norandom": -errno.EPERM,
        "clone_newnet": -errno.EPERM,
        "getpid": True,
        "io": "hello",
        "fork": 7,
        "spawn": 0,
        "exec": 5,
    }
    with open("/proc/self/status") as f:
        assert re.search(r"^Seccomp:\s*0", f.read(), re.M)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_cap_sys_admin_opens_mount(tmp_path):
    def child():
        linux.set_no_new_privs()
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        seccomp.install_default(capabilities.DEFAULT_CAPS | {capabilities.NAMES["CAP_SYS_ADMIN"]})
        linux.mount("tmpfs", str(tmp_path), "tmpfs")
        return True

    assert in_child(child)
