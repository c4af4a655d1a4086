"""The seccomp filter: docker's default profile as an allow list, compiled by libseccomp.

Its tables against the kernel (headers, and the running kernel through tracefs), its verdicts for every ABI of
both machines through a small BPF interpreter, and its effect on real processes: forked children with the
filter installed (pytest itself stays unfiltered), `tuiker run`, and a monitor that cannot load libseccomp."""

from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pytest
from childproc import in_child
from conftest import one_line_error

from tuiker.base import linux
from tuiker.runtime import users
from tuiker.runtime.security import capabilities, seccomp
from tuiker.runtime.security import seccomp_profile as profile

pyseccomp = pytest.importorskip("pyseccomp")

ROOT = os.geteuid() == 0
MACHINE = os.uname().machine
REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN = capabilities.NAMES["CAP_SYS_ADMIN"]
DEFAULT = capabilities.DEFAULT_CAPS
WITH_ADMIN = DEFAULT | {ADMIN, capabilities.NAMES["CAP_SYS_PTRACE"]}
ALLOW, KILL = seccomp.RET_ALLOW, seccomp.RET_KILL_PROCESS
EPERM, ENOSYS = seccomp.RET_ERRNO | errno.EPERM, seccomp.RET_ERRNO | errno.ENOSYS
AUDIT = {"x86_64": 0xC000003E, "x32": 0xC000003E, "x86": 0x40000003, "aarch64": 0xC00000B7, "arm": 0x40000028}
X32 = 0x40000000
AF_VSOCK = 40
CLONE_FORK_FLAGS = 0x01200011  # what glibc's fork passes: CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD
I386_SOCKET = 359  # libseccomp names i386's socket by its socketcall pseudo-number; this is the direct call

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
needs_real_filter = pytest.mark.skipif(not ROOT or MACHINE not in profile.ARCHES,
                                       reason="installs filters and changes uid: root on x86_64 or aarch64")


def raw_syscall(nr: int, *args: int) -> int:
    """The syscall's result, or -errno."""
    ret = libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
    return -ctypes.get_errno() if ret == -1 else ret


def nr(name: str, abi: str = MACHINE) -> int:
    """A syscall's number on an ABI, from libseccomp or, for the newest ones, the profile's tables."""
    found = pyseccomp.resolve_syscall(getattr(pyseccomp.Arch, abi.upper()), name)
    if found == -1 and (abi, name) in profile.OWN_NUMBERS:
        found = profile.OWN_NUMBERS[abi, name]
    elif found == -1:
        found = profile.UNIFIED_NUMBERS[name] | (X32 if abi == "x32" else 0)
    assert found >= 0, (name, abi)
    return found


# -- the tables ----------------------------------------------------------------------------------

def header_numbers(path: str) -> dict[str, int]:
    """__NR_name -> number from a kernel header; x32's are written (__X32_SYSCALL_BIT + n)."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        text = f.read()
    found = {m[1]: int(m[2]) for m in re.finditer(r"^#define __NR_(\w+)\s+(\d+)\b", text, re.M)}
    found.update({m[1]: X32 | int(m[2]) for m in
                  re.finditer(r"^#define __NR_(\w+)\s+\(__X32_SYSCALL_BIT \+ (\d+)\)", text, re.M)})
    return found


HEADERS = {"x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
           "x86": "/usr/include/x86_64-linux-gnu/asm/unistd_32.h",
           "x32": "/usr/include/x86_64-linux-gnu/asm/unistd_x32.h",
           "aarch64": "/usr/include/asm-generic/unistd.h"}


def test_number_tables_match_kernel_headers_and_libseccomp():
    checked = 0
    for abi in ("x86_64", "x86", "x32", "aarch64", "arm"):
        headers = header_numbers(HEADERS.get(abi, ""))
        for name, number in profile.UNIFIED_NUMBERS.items():
            want = number | (X32 if abi == "x32" else 0)
            known = pyseccomp.resolve_syscall(getattr(pyseccomp.Arch, abi.upper()), name)
            for source, value in (("header", headers.get(name)), ("libseccomp", known if known >= 0 else None)):
                if value is not None:
                    assert value == want, (abi, name, source)
                    checked += 1
    for (abi, name), number in profile.OWN_NUMBERS.items():
        assert header_numbers(HEADERS[abi]).get(name, number) == number
    assert checked > 100  # Debian 12's headers and libseccomp 2.5.4 both reach 450 at least


def test_unified_numbers_match_the_running_kernel():
    """The newest numbers are in no header or libseccomp here: the kernel itself names them, through its
    syscall trace events (tracefs mounted in a mount namespace of its own, a private trace instance)."""
    if not ROOT or MACHINE not in profile.ARCHES:
        pytest.skip("needs root to mount tracefs")
    script = textwrap.dedent("""
        import ctypes, json, os, sys
        table = json.loads(sys.argv[1])
        base = "/sys/kernel/tracing"
        if os.system(f"mount -t tracefs tracefs {base} 2>/dev/null") or not os.path.isdir(base + "/events/syscalls"):
            print(json.dumps(None)); sys.exit()
        inst = f"{base}/instances/tuiker-test-{os.getpid()}"
        os.mkdir(inst)
        try:
            names = [n for n in table if os.path.isdir(f"{inst}/events/syscalls/sys_enter_{n}")]
            with open(f"{inst}/set_event_pid", "w") as f:
                f.write(str(os.getpid()))
            for name in names:
                with open(f"{inst}/events/syscalls/sys_enter_{name}/enable", "w") as f:
                    f.write("1")
            libc = ctypes.CDLL(None)
            for name in sorted(names, key=table.get):  # harmless with every argument 0 (mseal of 0 bytes)
                libc.syscall(table[name], 0, 0, 0, 0, 0, 0)
            with open(f"{inst}/trace") as f:
                seen = [line.split("sys_")[1].split("(")[0] for line in f if "sys_" in line and "(" in line]
            print(json.dumps({"expected": sorted(names, key=table.get), "seen": seen}))
        finally:
            os.rmdir(inst)
    """)
    out = subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c", script,
                          json.dumps(profile.UNIFIED_NUMBERS)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result is None or not result["expected"]:
        pytest.skip("no tracefs syscall events on this kernel")
    assert result["seen"] == result["expected"]


def test_every_profile_name_is_a_syscall_libseccomp_or_our_tables_know():
    """A misspelt name would silently allow nothing."""
    names = profile.ALLOWED | profile.ALLOWED_SINCE_4_8 | set().union(*profile.BY_CAPABILITY.values())
    names |= set().union(*profile.BY_MACHINE.values())
    unknown = {n for n in names if pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, n) == -1}
    assert unknown <= set(profile.UNIFIED_NUMBERS) | {name for _, name in profile.OWN_NUMBERS}, unknown


def test_rules_follow_the_capabilities():
    def allowed(caps, machine="x86_64"):
        return {name for name, action, checks in seccomp.rules(frozenset(caps), machine)
                if action == ALLOW and not checks}

    default = allowed(DEFAULT)
    assert {"read", "chroot", "ptrace", "arch_prctl", "mseal", "listmount"} <= default
    for name in ("mount", "umount2", "unshare", "setns", "bpf", "keyctl", "add_key", "io_uring_setup",
                 "pivot_root", "reboot", "kcmp", "lsm_get_self_attr", "clone", "clone3", "socket"):
        assert name not in default, name
    assert "chroot" not in allowed(DEFAULT - {capabilities.NAMES["CAP_SYS_CHROOT"]})
    admin = allowed(DEFAULT | {ADMIN})
    assert {"mount", "unshare", "setns", "clone", "clone3", "lsm_list_modules"} <= admin
    assert "keyctl" not in admin and "reboot" not in admin
    assert "set_tls" in allowed(DEFAULT, "aarch64") and "arch_prctl" not in allowed(DEFAULT, "aarch64")
    # Without CAP_SYS_ADMIN: clone only without namespace flags, clone3 only as ENOSYS.
    special = [(n, a, c) for n, a, c in seccomp.rules(DEFAULT) if n in ("clone", "clone3")]
    assert special == [("clone", ALLOW, ((0, 7, profile.CLONE_NAMESPACE_FLAGS, 0),)), ("clone3", ENOSYS, ())]


# -- verdicts, through a BPF interpreter (also for the ABIs this machine cannot run) -------------------

def run_bpf(prog: bytes, number: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """The filter's return value for one syscall, evaluated as the kernel does, for the classic BPF
    instructions libseccomp and our stub emit."""
    data = struct.pack("=IIQ6Q", number & 0xFFFFFFFF, arch, 0, *(list(args) + [0] * (6 - len(args))))
    pc = acc = 0
    while True:
        op, jt, jf, k = struct.unpack_from("=HBBI", prog, 8 * pc)
        pc += 1
        if op == 0x20:  # ld [k]
            acc = struct.unpack_from("=I", data, k)[0]
        elif op == 0x54:  # and #k
            acc &= k
        elif op == 0x05:  # ja
            pc += k
        elif op in (0x15, 0x25, 0x35, 0x45):  # jeq, jgt, jge, jset
            pc += jt if {0x15: acc == k, 0x25: acc > k, 0x35: acc >= k, 0x45: acc & k}[op] else jf
        elif op == 0x06:  # ret
            return k
        else:
            raise AssertionError(f"unexpected BPF opcode {op:#x} at {pc - 1}")


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_verdicts_for_every_abi(machine):
    default, admin = seccomp.program(DEFAULT, machine), seccomp.program(WITH_ADMIN, machine)
    assert seccomp.program(DEFAULT, machine) is default  # cached
    for abi in profile.ARCHES[machine]:
        def verdict(prog, name_or_nr, *args, abi=abi):
            number = name_or_nr if isinstance(name_or_nr, int) else nr(name_or_nr, abi)
            return run_bpf(prog, number, AUDIT[abi], args)

        bit = X32 if abi == "x32" else 0
        for name in ("read", "execve", "mseal", "listmount", "statmount", "getxattrat", "futex_wake"):
            assert verdict(default, name) == ALLOW, (abi, name)
        for name in ("mount", "unshare", "setns", "keyctl", "add_key", "io_uring_setup", "kexec_load",
                     "lsm_get_self_attr", "open_tree", "bpf"):
            assert verdict(default, name) == EPERM, (abi, name)
        for name in ("mount", "unshare", "setns", "lsm_get_self_attr", "open_tree", "clone3"):
            assert verdict(admin, name) == ALLOW, (abi, name)
        assert verdict(default, "clone3") == ENOSYS
        # Above the profile's top (removexattrat, 466): ENOSYS, so a C library falls back.
        for number in (467, 468, 500):  # (x32's own calls start at 512)
            assert verdict(default, number | bit) == ENOSYS, (abi, number)
        assert verdict(default, 455 | bit) == ALLOW  # futex_wait, below the top
        clone = nr("clone", abi)
        assert verdict(default, clone, CLONE_FORK_FLAGS) == ALLOW
        for flag in (linux.CLONE_NEWUSER, linux.CLONE_NEWNS, linux.CLONE_NEWNET, linux.CLONE_NEWCGROUP):
            assert verdict(default, clone, flag | 17) == EPERM, (abi, flag)
            assert verdict(admin, clone, flag | 17) == ALLOW
        for persona in profile.PERSONALITIES:
            assert verdict(default, "personality", persona) == ALLOW
        assert verdict(default, "personality", 0x0040000) == EPERM  # ADDR_NO_RANDOMIZE
        sock = I386_SOCKET if abi == "x86" else nr("socket", abi)
        assert verdict(default, sock, socket.AF_INET) == ALLOW
        assert verdict(default, sock, AF_VSOCK) == EPERM
        if abi in ("x86_64", "x32", "aarch64"):  # 64-bit argument registers: the kernel reads only the int
            assert verdict(default, sock, 1 << 32 | AF_VSOCK) == EPERM
        other = next(value for a, value in AUDIT.items() if a not in profile.ARCHES[machine])
        assert run_bpf(default, 0, other) == KILL
    if machine == "x86_64":
        assert run_bpf(default, X32 | 512, AUDIT["x32"]) == ALLOW  # x32's own rt_sigaction
        assert run_bpf(default, X32 | 600, AUDIT["x32"]) == EPERM  # past them: libseccomp's default
        assert run_bpf(default, nr("socketcall", "x86"), AUDIT["x86"]) == ALLOW  # as docker: see the profile
        assert run_bpf(default, nr("uretprobe"), AUDIT["x86_64"]) == ALLOW
    else:
        assert run_bpf(default, nr("set_tls", "arm"), AUDIT["arm"]) == ALLOW  # ARM's private calls
        assert run_bpf(default, 0x0F0006, AUDIT["arm"]) == EPERM


# -- real processes ------------------------------------------------------------------------------

def in_filtered_child(caps: frozenset[int], fn):
    """fn()'s result from a forked child with the filter for `caps` installed (compiled here, before the fork,
    as the monitor does)."""
    prog = seccomp.program(caps)

    def child():
        linux.set_no_new_privs()
        seccomp.install(prog)
        return fn()

    return in_child(child)


@needs_real_filter
def test_filter_in_a_real_process(tmp_path):
    def probe():
        out = {}
        with open("/proc/self/status") as f:
            out["seccomp"] = re.search(r"^Seccomp:\s*(\d+)", f.read(), re.M)[1]
        for name, number, args in (
            ("io_uring_setup", nr("io_uring_setup"), (1, 0)),
            ("keyctl", nr("keyctl"), (0, -3)),  # KEYCTL_GET_KEYRING_ID of the session keyring
            ("add_key", nr("add_key"), (0, 0, 0, 0, 0)),
            ("lsm_list_modules", 461, (0, 0, 0)),
            ("kcmp", nr("kcmp"), (0, 0, 0, 0, 0)),
            ("open_tree_attr", 467, ()),  # above the top: newer than the profile
            ("file_getattr", 468, ()),
            ("clone3", nr("clone3"), (0, 0)),
            ("personality_norandom", nr("personality"), (0x0040000,)),
            ("socket_vsock", nr("socket"), (AF_VSOCK, socket.SOCK_STREAM, 0)),
            ("socket_vsock_high_bits", nr("socket"), (1 << 32 | AF_VSOCK, socket.SOCK_STREAM, 0)),
            ("ptrace", nr("ptrace"), (7, 0x3FFFFFFF, 0, 0)),  # PTRACE_CONT of no such pid: ESRCH, not EPERM
            ("mseal", nr("mseal"), (0, 0, 0)),
            ("listmount", nr("listmount"), (0, 0, 0, 0)),  # a NULL request: EFAULT from the kernel
        ):
            out[name] = raw_syscall(number, *args)
        for name, call in (("unshare_newuser", lambda: linux.unshare(linux.CLONE_NEWUSER)),
                           ("mount", lambda: linux.mount("tmpfs", str(tmp_path), "tmpfs"))):
            try:
                call()
                out[name] = 0
            except OSError as e:
                out[name] = -e.errno
        out["personality_query"] = raw_syscall(nr("personality"), 0xFFFFFFFF) >= 0
        # clone(CLONE_NEWNS|SIGCHLD): if the filter let it through, the copy must leave at once.
        pid = raw_syscall(nr("clone"), linux.CLONE_NEWNS | signal.SIGCHLD, 0, 0, 0, 0)
        if pid == 0:
            os._exit(0)
        if pid > 0:
            os.waitpid(pid, 0)
        out["clone_newns"] = pid
        (tmp_path / "io").write_text("hello")
        out["io"] = (tmp_path / "io").read_text()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            out["inet"] = s.fileno() > 2
        child = os.fork()
        if child == 0:
            os._exit(7)
        out["fork"] = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        # glibc's posix_spawn tries clone3 first: ENOSYS must make it fall back to clone.
        spawned = os.posix_spawn("/bin/busybox", ["busybox", "true"], {})
        out["spawn"] = os.waitstatus_to_exitcode(os.waitpid(spawned, 0)[1])
        return out

    out = in_filtered_child(DEFAULT, probe)
    assert out == {
        "seccomp": "2",
        "io_uring_setup": -errno.EPERM, "keyctl": -errno.EPERM, "add_key": -errno.EPERM,
        "lsm_list_modules": -errno.EPERM, "kcmp": -errno.EPERM,
        "open_tree_attr": -errno.ENOSYS, "file_getattr": -errno.ENOSYS, "clone3": -errno.ENOSYS,
        "personality_norandom": -errno.EPERM,
        "socket_vsock": -errno.EPERM, "socket_vsock_high_bits": -errno.EPERM,
        "ptrace": -errno.ESRCH, "mseal": 0, "listmount": -errno.EFAULT,
        "unshare_newuser": -errno.EPERM, "mount": -errno.EPERM,
        "personality_query": True, "clone_newns": -errno.EPERM,
        "io": "hello", "inet": True, "fork": 7, "spawn": 0,
    }
    with open("/proc/self/status") as f:
        assert re.search(r"^Seccomp:\s*0", f.read(), re.M)  # pytest itself stays unfiltered


@needs_real_filter
def test_capabilities_open_their_syscalls(tmp_path):
    def probe():
        out = {"kcmp": raw_syscall(nr("kcmp"), os.getpid(), os.getpid(), 0, 0, 0),  # KCMP_FILE of fd 0 and 0
               "lsm_list_modules": raw_syscall(461, 0, 0, 0),
               "clone3": raw_syscall(nr("clone3"), 0, 0)}  # a NULL clone_args: EINVAL from the kernel
        linux.unshare(linux.CLONE_NEWUSER)  # raises if refused
        return out

    out = in_filtered_child(frozenset(WITH_ADMIN), probe)
    assert out["kcmp"] == 0 and out["clone3"] == -errno.EINVAL
    assert out["lsm_list_modules"] not in (-errno.EPERM, -errno.ENOSYS)

    def mount_tmpfs():
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        linux.mount("tmpfs", str(tmp_path), "tmpfs")
        return os.path.ismount(tmp_path)

    assert in_filtered_child(frozenset(DEFAULT | {ADMIN}), mount_tmpfs)


# x86_64 code that makes an i386 syscall: int 0x80 takes eax=nr, ebx, ecx, edx (System V passes nr and
# three arguments in rdi, rsi, rdx, rcx). push rbx; mov eax,edi; mov ebx,esi; mov r8,rcx; mov ecx,edx;
# mov edx,r8d; int 0x80; pop rbx; ret
INT80 = bytes.fromhex("53 89f8 89f3 4989c8 89d1 4489c2 cd80 5b c3")


@needs_real_filter
@pytest.mark.skipif(MACHINE != "x86_64", reason="the i386 ABI through int 0x80 is x86_64's")
def test_i386_syscalls_are_filtered_by_their_own_table():
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(INT80)
    int80 = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_long)(
        ctypes.addressof(ctypes.c_char.from_buffer(page)))
    if in_child(lambda: int80(nr("getpid", "x86"), 0, 0, 0) == os.getpid()) is not True:
        pytest.skip("this kernel runs no i386 code (ia32_emulation off)")

    def probe():
        out = {"getpid": int80(nr("getpid", "x86"), 0, 0, 0) == os.getpid()}
        return out | {name: int80(number, *args) for name, number, args in (
            ("mount", nr("mount", "x86"), (0, 0, 0)),
            ("unshare", nr("unshare", "x86"), (linux.CLONE_NEWUSER, 0, 0)),
            ("keyctl", nr("keyctl", "x86"), (0, 0, 0)),
            ("io_uring_setup", nr("io_uring_setup", "x86"), (1, 0, 0)),
            ("socket_vsock", I386_SOCKET, (AF_VSOCK, socket.SOCK_STREAM, 0)),
            ("mseal", nr("mseal", "x86"), (0, 0, 0)),
            ("above_top", 468, (0, 0, 0)),
        )}

    assert in_filtered_child(DEFAULT, probe) == {
                   "getpid": True, "mount": -errno.EPERM, "unshare": -errno.EPERM, "keyctl": -errno.EPERM,
                   "io_uring_setup": -errno.EPERM, "socket_vsock": -errno.EPERM, "mseal": 0,
                   "above_top": -errno.ENOSYS}


@needs_real_filter
def test_container_setup_runs_under_the_filter(tmp_path):
    """The container's process installs the filter before it reads /etc/passwd, changes uid and gid, drops
    capabilities and execs: every call of that sequence must pass a default container's filter. Installed as
    root holding CAP_SYS_ADMIN, without no_new_privs, as a container does."""
    prog = seccomp.program(DEFAULT)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(w, 1)
            os.dup2(w, 2)
            seccomp.install(prog)
            user = users.resolve("nobody")
            os.makedirs(tmp_path / "work", exist_ok=True)
            os.chdir(tmp_path / "work")
            os.listdir("/etc")
            assert os.access("/bin/busybox", os.X_OK) and os.stat("/bin/busybox").st_size > 0
            capabilities.drop_bounding(DEFAULT)
            os.setgroups(user.groups)
            os.setresgid(user.gid, user.gid, user.gid)
            os.setresuid(user.uid, user.uid, user.uid)
            capabilities.apply(DEFAULT)
            linux.set_no_new_privs()
            linux.close_range(3, 0xFFFFFFFF, linux.CLOSE_RANGE_CLOEXEC)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            os.execve("/bin/busybox", ["sh", "-c", "id -u; grep ^Seccomp: /proc/self/status"], {"PATH": "/bin"})
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(99)
    os.close(w)
    with os.fdopen(r) as f:
        output = f.read()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, output
    assert output.split() == [str(users.resolve("nobody").uid), "Seccomp:", "2"]


# -- through the CLI -----------------------------------------------------------------------------

def seccomp_status(result) -> list[str]:
    return re.findall(r"^Seccomp(?:_filters)?:\s*(\d+)", result.stdout, re.M)


@needs_real_filter
def test_run_is_filtered_and_unconfined_is_not(tuiker, image):
    show = ["sh", "-c", "grep -E '^Seccomp(_filters)?:' /proc/self/status; unshare -U true; echo unshare=$?"]
    filtered = tuiker("run", "--rm", image, *show)
    assert filtered.returncode == 0, filtered.stderr
    assert seccomp_status(filtered) == ["2", "1"] and "unshare=1" in filtered.stdout
    unconfined = tuiker("run", "--rm", "--security-opt", "seccomp=unconfined", image, *show)
    assert unconfined.returncode == 0, unconfined.stderr
    assert seccomp_status(unconfined) == ["0", "0"] and "unshare=0" in unconfined.stdout


def libseccomp_path() -> str:
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "libseccomp.so" in line}
    assert len(paths) == 1, paths
    return paths.pop()


def without_libseccomp(*argv: str) -> subprocess.CompletedProcess:
    """argv in a mount namespace of its own where libseccomp.so.2 is /dev/null (dlopen: "file too short")."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           'mount --bind /dev/null "$0" && exec "$@"', libseccomp_path(), *argv],
                          env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


@needs_real_filter
def test_without_libseccomp_the_filter_fails_closed_in_one_line():
    probe = ("from tuiker.runtime.security import seccomp, capabilities\n"
             "try:\n    seccomp.program(capabilities.DEFAULT_CAPS)\n"
             "except seccomp.SeccompError as e:\n    print(e)\n    raise SystemExit(3)\n")
    r = without_libseccomp(sys.executable, "-c", probe)
    assert r.returncode == 3, r.stderr
    assert r.stdout.count("\n") == 1 and "cannot load libseccomp.so.2" in r.stdout and "unconfined" in r.stdout


@needs_real_filter
def test_a_monitor_without_libseccomp_refuses_to_start_containers(tuiker, image):
    """The monitor is started by this CLI, in the CLI's mount namespace where libseccomp is hidden."""
    r = without_libseccomp(sys.executable, "-m", "tuiker", "run", "--rm", image, "echo", "ran")
    assert r.returncode != 0 and "ran" not in r.stdout
    assert "libseccomp" in one_line_error(r)
    assert tuiker("ps", "-aq").stdout.split() == []
    unconfined = without_libseccomp(sys.executable, "-m", "tuiker", "run", "--rm", "--security-opt",
                                    "seccomp=unconfined", image, "echo", "ran")
    assert unconfined.returncode == 0 and unconfined.stdout.split() == ["ran"], unconfined.stderr


# -- against podman's profile --------------------------------------------------------------------

PODMAN_PROFILE = "/usr/share/containers/seccomp.json"
# What podman's profile (containers-common 0.50, Debian 12) lets a default container do that docker's does
# not: the mount API, namespaces (unshare, setns, clone without the flag check, clone3), keyctl, pivot_root,
# reboot, syslog, NUMA policies, pidfd_getfd, socket without the AF_VSOCK check; and names that are no x86_64
# syscall at all (readdir, sigaction, signal, sigpending, sigsuspend, syscall, timerfd).
PODMAN_ONLY = frozenset("""
    clone clone3 fsconfig fsmount fsopen fspick get_mempolicy keyctl mbind mount mount_setattr move_mount
    open_tree pidfd_getfd pivot_root readdir reboot set_mempolicy setns sigaction signal sigpending sigsuspend
    socket syscall syslog timerfd umount umount2 unshare
""".split())
# What docker's allows and podman's does not: syscalls newer than that podman (Linux 5.16 on), uretprobe, and
# io_pgetevents and vmsplice, which podman refuses on purpose.
DOCKER_ONLY = frozenset("""
    cachestat fchmodat2 futex_requeue futex_wait futex_waitv futex_wake getxattrat io_pgetevents
    io_pgetevents_time64 listmount listxattrat map_shadow_stack mseal removexattrat setxattrat statmount
    uretprobe vmsplice
""".split())


def test_differences_from_podmans_profile_are_the_documented_ones():
    """Both derive from docker's profile; podman also answers ENOSYS, not EPERM, to what it does not list."""
    if not os.path.exists(PODMAN_PROFILE):
        pytest.skip(f"{PODMAN_PROFILE} absent (podman not installed)")
    with open(PODMAN_PROFILE) as f:
        podman = json.load(f)
    held = {capabilities.BY_NUMBER[c] for c in DEFAULT}
    theirs = set()
    for rule in podman["syscalls"]:
        includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
        if (rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args")
                and set(includes.get("caps") or ()) <= held and not set(excludes.get("caps") or ()) & held
                and (not includes.get("arches") or "amd64" in includes["arches"])):
            theirs.update(rule["names"])
    ours = {name for name, action, checks in seccomp.rules(DEFAULT, "x86_64") if action == ALLOW and not checks}
    assert theirs - ours <= PODMAN_ONLY, sorted(theirs - ours - PODMAN_ONLY)
    assert ours - theirs <= DOCKER_ONLY, sorted(ours - theirs - DOCKER_ONLY)
