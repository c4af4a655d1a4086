"""Docker's default seccomp profile, as data (seccomp.py compiles it).

Source: moby profiles/seccomp/default.json as docker 28 ships it (the last version in moby/moby, after
moby#46762 took io_uring_* out, moby#47341 and moby#50077 added the syscalls of Linux 5.17-6.13 and moby#50097
put the lsm_* calls behind CAP_SYS_ADMIN). The moby/profiles module that now holds the file has since also
allowed add_key, keyctl and request_key (moby/profiles#2); they stay refused here, as in docker 28.

Rules for ppc64le, s390x and riscv64 are left out (tuiker builds filters for x86_64 and aarch64 only), and so
is riscv_hwprobe, which docker lists among the plain names but exists on riscv64 only.
"""

from __future__ import annotations

# docker's "defaultErrnoRet": what a syscall outside every rule gets (EPERM).
DEFAULT_ERRNO = 1

# docker's archMap: the ABIs a container on this machine can call the kernel through, each filtered by its own
# numbers. An x86_64 process reaches the i386 table through `int 0x80` and the x32 one through nr | 0x40000000.
ARCHES: dict[str, tuple[str, ...]] = {
    "x86_64": ("x86_64", "x86", "x32"),
    "aarch64": ("aarch64", "arm"),
}

# Allowed whatever the container's capabilities. A name an ABI lacks (stat64 on x86_64) is skipped there.
ALLOWED: frozenset[str] = frozenset("""
    accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
    clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
    clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
    epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
    eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
    fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr
    flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
    ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat getcpu getcwd
    getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer
    getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid
    getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid
    gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1
    inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get
    ioprio_set io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self
    lchown lchown32 lgetxattr link linkat listen listmount listxattr listxattrat llistxattr _llseek
    lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret
    mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify
    mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal
    msgctl msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat
    _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
    pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6
    pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg
    recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename renameat renameat2
    restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
    rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
    sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
    sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
    sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64
    sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32
    setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid
    setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
    setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask
    sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync
    sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime
    timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
    timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat
    uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
""".split())

# docker allows these for everyone on kernels >= 4.8, whose ptrace can no longer bypass seccomp
# (before 4.8 a tracer could change the syscall after the filter ran).
ALLOWED_SINCE_4_8: frozenset[str] = frozenset({"process_vm_readv", "process_vm_writev", "ptrace"})

# Allowed only when the container holds the capability (--cap-add, --privileged gets no filter at all).
BY_CAPABILITY: dict[str, frozenset[str]] = {
    "CAP_DAC_READ_SEARCH": frozenset({"open_by_handle_at"}),
    "CAP_SYS_ADMIN": frozenset("""
        bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr
        lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open quotactl
        quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare
    """.split()),
    "CAP_SYS_BOOT": frozenset({"reboot"}),
    "CAP_SYS_CHROOT": frozenset({"chroot"}),
    "CAP_SYS_MODULE": frozenset({"delete_module", "init_module", "finit_module"}),
    "CAP_SYS_PACCT": frozenset({"acct"}),
    "CAP_SYS_PTRACE": frozenset({"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                                 "process_vm_writev", "ptrace"}),
    "CAP_SYS_RAWIO": frozenset({"iopl", "ioperm"}),
    "CAP_SYS_TIME": frozenset({"settimeofday", "stime", "clock_settime", "clock_settime64"}),
    "CAP_SYS_TTY_CONFIG": frozenset({"vhangup"}),
    "CAP_SYS_NICE": frozenset({"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}),
    "CAP_SYSLOG": frozenset({"syslog"}),
    "CAP_BPF": frozenset({"bpf"}),
    "CAP_PERFMON": frozenset({"perf_event_open"}),
}

# docker's "includes": {"arches": ...}, decided by the host's architecture and applied to each of its ABIs.
BY_MACHINE: dict[str, frozenset[str]] = {
    "x86_64": frozenset({"arch_prctl", "modify_ldt"}),
    "aarch64": frozenset({"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
                          "cacheflush", "set_tls"}),
}

# -- rules on arguments (seccomp sees the six raw argument registers, never memory they point to) --

# socket(2) for every family but AF_VSOCK: vsock reaches the hypervisor and other VMs, outside every namespace.
# (i386 code on x86_64 can still reach it through socketcall, which docker allows whole and whose arguments sit
# in memory, out of the filter's sight; seccomp.py closes the other hole, a family with high bits set.)
SOCKET_REFUSED_FAMILY = 40
# personality(2) only for these: PER_LINUX, PER_LINUX32, UNAME26 variants and 0xffffffff (query). The others
# (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC...) weaken the process's own hardening.
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
# Without CAP_SYS_ADMIN, clone(2) must not ask for a namespace (CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|
# NEWNET|NEWCGROUP): a new user namespace would hand the container a full capability set to attack the kernel
# with. clone3 passes its flags in memory, out of the filter's reach, so it gets ENOSYS instead and the C
# library falls back to clone.
CLONE_NAMESPACE_FLAGS = 0x7E020000
CLONE3_ERRNO = 38  # ENOSYS

# -- numbers for syscalls the installed libseccomp may not know -------------------------------------

# libseccomp 2.5.4 (Debian 12) stops at Linux ~6.7, older ones earlier. From 424 on, a syscall has the same
# number on every architecture (x32 adds its 0x40000000 bit), so these stand for all ABIs; an ABI that lacks one
# of them (no map_shadow_stack on arm) answers ENOSYS from the kernel itself. Every name of the profile from 424
# on is here (425-427, io_uring_*, are not in the profile); libseccomp's own number wins where it knows one.
UNIFIED_NUMBERS: dict[str, int] = {
    "pidfd_send_signal": 424, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
    "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435, "close_range": 436, "openat2": 437,
    "pidfd_getfd": 438, "faccessat2": 439, "process_madvise": 440, "epoll_pwait2": 441, "mount_setattr": 442,
    "quotactl_fd": 443, "landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446,
    "memfd_secret": 447, "process_mrelease": 448, "futex_waitv": 449, "set_mempolicy_home_node": 450,
    "cachestat": 451, "fchmodat2": 452, "map_shadow_stack": 453, "futex_wake": 454, "futex_wait": 455,
    "futex_requeue": 456, "statmount": 457, "listmount": 458, "lsm_get_self_attr": 459,
    "lsm_set_self_attr": 460, "lsm_list_modules": 461, "mseal": 462, "setxattrat": 463, "getxattrat": 464,
    "listxattrat": 465, "removexattrat": 466,
}
# (ABI, name): number, for the newer syscalls that exist on one ABI only.
OWN_NUMBERS: dict[tuple[str, str], int] = {("x86_64", "uretprobe"): 335}
