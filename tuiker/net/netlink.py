"""The kernel side of a network, through pyroute2 (netlink): bridges, veth pairs, addresses, routes.

Only the monitor imports this module. pyroute2 takes ~0.25 s to import; the monitor is long-lived and pays
that once, at its first networked start, while `tuiker run` itself never loads it.

A container's veth pair is made in ONE request: the host end `tv<id12><n>` is created on our bridge, up,
and its peer is created directly inside the container's network namespace (IFLA_NET_NS_PID of the peer),
already named eth0 with its MAC and MTU. Nothing is ever renamed or moved, so there is no moment where a
half-made pair sits in the host's namespace under a temporary name: if the container dies, its namespace
takes both ends with it, and if the request fails, nothing was made.

The addresses and routes inside the container are set through a netlink socket opened IN its namespace:
the monitor (single-threaded) setns()es into the container's net namespace, opens the socket, and setns()es
straight back; a socket stays in the namespace it was made in. That costs two syscalls, where pyroute2's
own `netns=` support forks a helper process for each socket.
"""

from __future__ import annotations

import errno
import os
import socket

from tuiker.base import linux
from tuiker.base.errors import TuikerError


class NetlinkError(TuikerError):
    pass


def _iproute():
    from pyroute2 import IPRoute

    # groups=0: no subscription to the kernel's change notifications. The monitor never reads them, and a
    # subscribed socket that nobody reads fills up with every link and route change on the host.
    return IPRoute(groups=0)


def link_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def is_bridge(name: str) -> bool:
    return os.path.isdir(f"/sys/class/net/{name}/bridge")


def _describe(e: Exception) -> str:
    code = getattr(e, "code", None)
    if isinstance(code, int) and code > 0:
        return os.strerror(code)
    return str(e) or e.__class__.__name__


def _write_sysctl(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class Netlink:
    """One netlink socket in the host's namespace, kept for the monitor's life."""

    def __init__(self) -> None:
        self.ipr = _iproute()

    def close(self) -> None:
        self.ipr.close()

    def index(self, name: str) -> int | None:
        try:
            return socket.if_nametoindex(name)
        except OSError:
            return None

    # -- bridges -----------------------------------------------------------------------------------

    def ensure_bridge(self, name: str, gateway: str, prefixlen: int, mtu: int, alias: str = "") -> bool:
        """Make the bridge `name` with `gateway`/prefixlen and bring it up; True if it had to be made.
        An existing bridge of that name is reused (after a monitor restart); anything else of that name
        is an error, and a bridge made here is deleted again if a later step fails. `alias` (the interface's
        ifalias) names its engine root, so that a bridge whose root was deleted can be recognised."""
        index = self.index(name)
        created = False
        if index is not None and not is_bridge(name):
            raise NetlinkError(f"cannot create bridge {name}: a network interface of that name exists and is"
                               " not a bridge")
        try:
            if index is None:
                try:
                    self.ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
                except Exception as e:  # noqa: BLE001 - pyroute2's NetlinkError, or an OSError
                    raise NetlinkError(f"cannot create bridge {name}: {_describe(e)}") from e
                created = True
                index = self.index(name)
                if index is None:
                    raise NetlinkError(f"cannot create bridge {name}: it vanished right after creation")
            have = {a.get_attr("IFA_ADDRESS") for a in self.ipr.get_addr(index=index, family=socket.AF_INET)}
            if gateway not in have:
                self.ipr.addr("add", index=index, address=gateway, prefixlen=prefixlen)
            if created and alias:
                self.ipr.link("set", index=index, ifalias=alias)
            # Host processes reach published ports on 127.0.0.1 through DNAT to this bridge: the kernel
            # drops packets with a loopback source on any other device unless route_localnet is on. That also
            # lets in 127.0.0.0/8 arriving *from* the bridge: firewall.py's localnet chain drops it.
            _write_sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")
            self.ipr.link("set", index=index, state="up")
        except NetlinkError:
            if created:
                self.delete_link(name)
            raise
        except Exception as e:  # noqa: BLE001
            if created:
                self.delete_link(name)
            raise NetlinkError(f"cannot set up bridge {name}: {_describe(e)}") from e
        return created

    def delete_link(self, name: str) -> bool:
        """Delete a link (a bridge, or a veth with its peer); False if there was none."""
        index = self.index(name)
        if index is None:
            return False
        try:
            self.ipr.link("del", index=index)
        except Exception as e:  # noqa: BLE001
            if getattr(e, "code", None) == errno.ENODEV:
                return False
            raise NetlinkError(f"cannot delete {name}: {_describe(e)}") from e
        return True

    # -- a container's end -------------------------------------------------------------------------

    def add_veth(self, host_name: str, bridge: str, pid: int, ifname: str, mac: str, mtu: int) -> None:
        """The pair: `host_name` on `bridge` (up), its peer `ifname` inside the net namespace of `pid`."""
        master = self.index(bridge)
        if master is None:
            raise NetlinkError(f"bridge {bridge} is gone")
        for attempt in range(2):
            try:
                # One request: the host end on the bridge and up, the peer made in the container's namespace.
                self.ipr.link("add", ifname=host_name, kind="veth", mtu=mtu, master=master, state="up",
                              peer={"ifname": ifname, "net_ns_pid": pid, "mtu": mtu, "address": mac})
                return
            except Exception as e:  # noqa: BLE001
                if attempt == 0 and getattr(e, "code", None) == errno.EEXIST:
                    # The same container's previous run (a restart): its pair may still be going with its
                    # namespace. The name is ours alone (it holds the container's ID): take it back.
                    self.delete_link(host_name)
                    wait_gone(host_name)
                    continue
                raise NetlinkError(f"cannot create the veth pair {host_name} for the container: {_describe(e)}") \
                    from e

    def configure_inside(self, pid: int, ifname: str, address: str, prefixlen: int, gateway: str | None) -> None:
        """Address `ifname` in the net namespace of `pid`, bring it up, and route the default through
        `gateway` (None: no default route, for a second network)."""
        inner = None
        index = 0
        own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                linux.setns(target, linux.CLONE_NEWNET)
                try:
                    inner = _iproute()
                    index = socket.if_nametoindex(ifname)  # an ioctl in the current namespace: no dump
                finally:
                    linux.setns(own, linux.CLONE_NEWNET)  # back at once: everything else is the host's
            finally:
                os.close(target)
        except OSError as e:
            if inner is not None:
                inner.close()
            raise NetlinkError(f"cannot configure {ifname} in the container's network namespace: {e.strerror}") from e
        finally:
            os.close(own)
        try:
            inner.addr("add", index=index, address=address, prefixlen=prefixlen)
            inner.link("set", index=index, state="up")
            if gateway:
                inner.route("add", dst="0.0.0.0/0", gateway=gateway)
        except NetlinkError:
            raise
        except Exception as e:  # noqa: BLE001
            raise NetlinkError(f"cannot configure {ifname} in the container: {_describe(e)}") from e
        finally:
            inner.close()


def set_ip_forward() -> None:
    """Containers' traffic to other hosts is routed by the host: forwarding must be on (docker does the same;
    it is a host-wide switch, left on)."""
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            if f.read().strip() == "1":
                return
        _write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    except OSError as e:
        raise NetlinkError(f"cannot enable IP forwarding: {e.strerror}") from e


def wait_gone(name: str, timeout: float = 0.5) -> bool:
    """Wait until the interface `name` has left the host (a deleted veth whose namespace is being destroyed
    lingers a moment); True if it did."""
    import time

    deadline = time.monotonic() + timeout
    while link_exists(name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def alias(name: str) -> str:
    try:
        with open(f"/sys/class/net/{name}/ifalias") as f:
            return f.read().strip()
    except OSError:
        return ""


def bridge_ports(name: str) -> list[str]:
    try:
        return os.listdir(f"/sys/class/net/{name}/brif")
    except OSError:
        return []


def host_links(prefix: str) -> list[str]:
    """Names of the host's interfaces starting with `prefix` (from /sys: no netlink dump needed)."""
    try:
        return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(prefix))
    except OSError:
        return []
