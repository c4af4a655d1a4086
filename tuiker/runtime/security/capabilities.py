"""Linux capabilities: names, docker's --cap-add/--cap-drop rules, and dropping them in the container's init.

Order matters (runc's finalizeNamespace): drop_bounding() first, while we still hold CAP_SETPCAP; then change
uid/gid; then apply(). The bounding set is what really confines a root container: on execve the kernel gives a
uid-0 process every capability left in its bounding set, whatever capset said before.
"""

from __future__ import annotations

import os

NAMES: dict[str, int] = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14,
    "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16,
    "CAP_SYS_RAWIO": 17,
    "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20,
    "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22,
    "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25,
    "CAP_SYS_TTY_CONFIG": 26,
    "CAP_MKNOD": 27,
    "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29,
    "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34,
    "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38,
    "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}
BY_NUMBER: dict[int, str] = {num: name for name, num in NAMES.items()}

# moby daemon/pkg/oci/caps/defaults.go: a root process in a default container shows CapEff 00000000a80425fb.
DEFAULT_CAPS: frozenset[int] = frozenset(NAMES[n] for n in (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
))

def last_cap() -> int:
    """The highest capability this kernel knows; older kernels reject PR_CAPBSET_DROP beyond it."""
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
        return int(f.read())


def mask(caps: set[int] | frozenset[int]) -> int:
    """The bit mask /proc/PID/status prints for a set of capability numbers."""
    return sum(1 << c for c in caps)


def _normalize(names: list[str]) -> set[str]:
    out = set()
    for name in names:
        upper = name.strip().upper()
        if upper != "ALL" and not upper.startswith("CAP_"):
            upper = "CAP_" + upper
        if upper != "ALL" and upper not in NAMES:
            raise ValueError(f"unknown capability: {name}")
        out.add(upper)
    return out


def resolve(add: list[str], drop: list[str], privileged: bool) -> set[int]:
    """The capability set for a container, by docker's TweakCapabilities rules.

    privileged → every capability the kernel knows that our own bounding set still holds (root may lack some:
    no CAP_SYS_RESOURCE on our machines, and capset refuses to grant what the bounding set lacks). "ALL" in add
    → all but the dropped ones. "ALL" in drop → only the added ones. Otherwise the defaults minus drop plus add
    (add wins when a name is in both).
    """
    bounding = current()["CapBnd"]
    highest = last_cap()
    everything = {num for num in NAMES.values() if num <= highest and bounding >> num & 1}
    if privileged:
        return everything
    adds, drops = _normalize(add), _normalize(drop)
    if "ALL" in adds:
        return {num for num in everything if BY_NUMBER[num] not in drops}
    added = {NAMES[n] for n in adds}
    if "ALL" in drops:
        return added
    return {num for num in DEFAULT_CAPS if BY_NUMBER[num] not in drops} | added


def drop_bounding(keep: set[int] | frozenset[int]) -> None:
    """Remove every capability not in `keep` from the bounding set. Needs CAP_SETPCAP in the effective set, so
    call it before apply() or setuid."""
    from tuiker.base import linux  # ctypes: only in the container's process, not in the CLI's resolve()

    for cap in range(last_cap() + 1):
        if cap not in keep:
            linux.prctl(linux.PR_CAPBSET_DROP, cap)


def apply(keep: set[int] | frozenset[int]) -> None:
    """Set the final capability state for the current uid, right before execve.

    uid 0: effective = permitted = keep. Other uids: nothing (setuid already emptied permitted; this also clears
    what PR_SET_KEEPCAPS kept). Inheritable is always empty, as docker >= 23 after CVE-2022-24769: an inheritable
    cap would let a file with that inheritable file cap regain it. Ambient is cleared first, because raised ambient
    caps would hand capabilities to a non-root execve.
    """
    from tuiker.base import linux

    linux.prctl(linux.PR_CAP_AMBIENT, linux.PR_CAP_AMBIENT_CLEAR_ALL)
    bits = mask(keep) if os.geteuid() == 0 else 0
    linux.capset(effective=bits, permitted=bits, inheritable=0)


def current() -> dict[str, int]:
    """CapInh, CapPrm, CapEff, CapBnd and CapAmb of this process, from /proc/self/status."""
    out = {}
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(b"Cap"):
                key, _, value = line.partition(b":")
                out[key.decode()] = int(value, 16)
    return out
