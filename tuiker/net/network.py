"""Network definitions: the default `bridge` network and user networks, one JSON file each.

    <root>/networks/<id>.json     {"Id", "Name", "Driver": "bridge", "Subnet", "Gateway", "Bridge", "Internal",
                                   "Labels", "Created"}
    <root>/networks/leases.json   the address leases (ipam.py)
    <root>/locks/networks.lock    guards names: two `network create` of one name cannot both succeed

Only definitions live here; the kernel side (the bridge, its address, the nftables rules) is made by the
monitor (networking.py), the one process that imports pyroute2. `network ls` and `inspect` read these
files and never wait for it.

Names on the host. A Linux interface name has at most 15 characters. The default network of the default
engine root (/var/lib/tuiker) has the bridge `tuiker0` and the nftables table `ip tuiker`; every other
network's bridge is `tk-<id12>`, and another engine root (tests use a temporary one each) gets a table
`ip tuiker_<hash of its path>`, so two roots never touch each other's bridges or rules. Host-side veths are
`tv<container id12><n>`: container IDs are random, so the name is unique on the host and tells whose it is.

Subnets. Chosen when the network first needs one, under a host-wide lock, as the first candidate that
overlaps no host route and no other network of this root: docker's 172.17-31.0.0/16, then 10.89-99.0.0/16
(10.88 is podman's default network). `bip` (the default bridge's gateway/prefix, e.g. "172.30.0.1/16") and
`default-address-pools` ([{"base": "10.200.0.0/16", "size": 24}]) in the tuiker config override them, with
docker's daemon.json names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tuiker.base import config, names
from tuiker.base.errors import ConflictError, ForbiddenError, InvalidArgument, NotFoundError, TuikerError
from tuiker.base.fsutil import atomic_write, flocked, private_dir
from tuiker.base.times import now_iso

DEFAULT = "bridge"
PSEUDO = ("host", "none")  # listed by `network ls` like docker's, but nothing to create or remove
# docker's 172.17-31/16 first, then 10.89-99/16: podman's default network is 10.88.0.0/16 (fixed, made on its
# first run), so leaving it out keeps the two from fighting over it.
DEFAULT_POOLS = [{"base": f"172.{n}.0.0/16", "size": 16} for n in range(17, 32)] + \
                [{"base": f"10.{n}.0.0/16", "size": 16} for n in range(89, 100)]
# Taken while a subnet is chosen and its bridge made, by every engine root on the host: the new bridge's
# route is what tells the next chooser that the subnet is taken. /run is emptied at boot, like the bridges.
HOST_LOCK = "/run/tuiker-net.lock"
VETH_PREFIX = "tv"


class Network:
    """One network definition (a plain class: `ps` and `run` load these on their path)."""

    def __init__(self, data: dict, root: Path) -> None:
        self.data = data
        self.root = root

    id = property(lambda self: self.data["Id"])
    name = property(lambda self: self.data["Name"])
    subnet = property(lambda self: self.data.get("Subnet") or "")
    gateway = property(lambda self: self.data.get("Gateway") or "")
    internal = property(lambda self: bool(self.data.get("Internal")))
    is_default = property(lambda self: self.data["Name"] == DEFAULT)

    @property
    def bridge(self) -> str:
        return self.data.get("Bridge") or bridge_name(self.root, self.id, self.is_default)

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.split("/")[1]) if self.subnet else 0

    def __repr__(self) -> str:
        return f"Network({self.name!r}, {self.subnet or 'no subnet yet'}, {self.bridge})"


def is_default_root(root: Path) -> bool:
    return os.path.realpath(root) == os.path.realpath(config.DEFAULT_ROOT)


def root_tag(root: Path) -> str:
    import hashlib  # here: the engine, and so every CLI command, imports this module

    return hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:8]


def bridge_name(root: Path, network_id: str, default: bool) -> str:
    return "tuiker0" if default and is_default_root(root) else f"tk-{network_id[:12]}"


def table_name(root: Path) -> str:
    """The nftables table (family ip) that holds every rule of this engine root, and nothing else."""
    return "tuiker" if is_default_root(root) else f"tuiker_{root_tag(root)}"


def veth_name(container_id: str, index: int) -> str:
    return f"{VETH_PREFIX}{container_id[:12]}{index:x}"


class NetworkStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "networks"
        self.lock_path = root / "locks" / "networks.lock"

    def _dirs(self) -> None:
        private_dir(self.root, "networks")
        private_dir(self.root, "locks")

    def list(self) -> list[Network]:
        found = []
        try:
            entries = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return []
        for name in entries:
            if len(name) != 69 or not name.endswith(".json"):
                continue  # leases.json, temp files
            try:
                with open(self.dir / name) as f:
                    found.append(Network(json.load(f), self.root))
            except (FileNotFoundError, ValueError):
                continue
        found.sort(key=lambda n: (not n.is_default, n.data.get("Created", "")))
        return found

    def get(self, ref: str) -> Network:
        """By exact name, full ID, or unique ID prefix (docker's order)."""
        everything = self.list()
        for n in everything:
            if n.name == ref or n.id == ref:
                return n
        matches = [n for n in everything if ref and n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if ref == DEFAULT:
            raise NotFoundError("network bridge does not exist yet: it is made when a container first uses it")
        raise NotFoundError(f"network {ref} not found")

    def find(self, ref: str) -> Network | None:
        try:
            return self.get(ref)
        except NotFoundError:
            return None

    def create(self, name: str, subnet: str | None = None, gateway: str | None = None, internal: bool = False,
               labels: dict | None = None, network_id: str | None = None) -> Network:
        """Write a new definition; the name must be free. The subnet may stay empty until first use."""
        names.check_network_name(name)  # again here: the monitor creates through this, whoever asked it
        self._dirs()
        with flocked(self.lock_path):
            if any(n.name == name for n in self.list()) or name in PSEUDO:
                raise ConflictError(f"network with name {name} already exists")
            nid = network_id or os.urandom(32).hex()
            data = {"Id": nid, "Name": name, "Driver": "bridge", "Scope": "local", "Subnet": subnet or "",
                    "Gateway": gateway or "", "Bridge": bridge_name(self.root, nid, name == DEFAULT),
                    "Internal": internal, "Labels": labels or {},
                    "Created": now_iso()}
            atomic_write(self.dir / f"{nid}.json", json.dumps(data, indent=1).encode())
        return Network(data, self.root)

    def save(self, network: Network) -> None:
        self._dirs()
        atomic_write(self.dir / f"{network.id}.json", json.dumps(network.data, indent=1).encode())

    def delete(self, network: Network) -> None:
        try:
            os.unlink(self.dir / f"{network.id}.json")
        except FileNotFoundError:
            pass


def check_name(name: str) -> None:
    """A name `network create` may give: docker's rule (names.py), and none of the pre-defined ones."""
    if name in (DEFAULT, "default", *PSEUDO):
        raise ForbiddenError(f"{name} is a pre-defined network and cannot be created")
    names.check_network_name(name)


# -- the host's routes and MTU (read from /proc and /sys: no netlink needed) ------------------------------

def host_routes() -> list[tuple[str, str]]:
    """The host's IPv4 routes of the main table, as ("a.b.c.d/len", device), the default route left out."""
    import socket
    import struct

    routes = []
    try:
        with open("/proc/net/route") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest, mask = int(fields[1], 16), int(fields[7], 16)
        prefix = bin(mask).count("1")
        if prefix == 0:
            continue
        routes.append((f"{socket.inet_ntoa(struct.pack('<I', dest))}/{prefix}", fields[0]))
    return routes


def default_route_device() -> str | None:
    try:
        with open("/proc/net/route") as f:
            for line in f.read().splitlines()[1:]:
                fields = line.split()
                if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
                    return fields[0]
    except OSError:
        pass
    return None


def host_mtu() -> int:
    """docker's default: the MTU of the device the default route goes through (1500 without one), unless
    the config says `mtu`. A container whose MTU is larger than the path out would see large packets
    dropped where the host's link is smaller (tunnels, clouds: 1400-1460)."""
    configured = config.load().get("mtu")
    if configured:
        return int(configured)
    device = default_route_device()
    if device:
        try:
            return int(Path(f"/sys/class/net/{device}/mtu").read_text())
        except (OSError, ValueError):
            pass
    return 1500


def candidate_subnets(default: bool) -> list[str]:
    """Subnets to try, in order: `bip` for the default network, then the address pools."""
    import ipaddress

    cfg = config.load()
    found = []
    if default and cfg.get("bip"):
        found.append(str(ipaddress.ip_interface(cfg["bip"]).network))
    for pool in cfg.get("default-address-pools") or DEFAULT_POOLS:
        base = ipaddress.ip_network(pool["base"])
        size = int(pool.get("size") or base.prefixlen)
        found += [str(s) for s in (base.subnets(new_prefix=size) if size > base.prefixlen else [base])]
    return found


def overlap(subnet: str, others: list[str]) -> str | None:
    import ipaddress

    net = ipaddress.ip_network(subnet)
    for other in others:
        if net.overlaps(ipaddress.ip_network(other, strict=False)):
            return other
    return None


def choose_subnet(taken: list[str], default: bool) -> tuple[str, str]:
    """(subnet, gateway): the first candidate clear of host routes and of `taken` (this root's networks)."""
    import ipaddress

    cfg = config.load()
    routes = [r for r, _dev in host_routes()]
    for subnet in candidate_subnets(default):
        if overlap(subnet, routes + taken) is None:
            net = ipaddress.ip_network(subnet)
            gateway = str(ipaddress.ip_interface(cfg["bip"]).ip) if default and cfg.get("bip") and \
                ipaddress.ip_interface(cfg["bip"]).network == net else str(net.network_address + 1)
            return subnet, gateway
    raise TuikerError("could not find an available, non-overlapping IPv4 address pool among the defaults to"
                      " assign to the network")


def parse_subnet(subnet: str, gateway: str | None) -> tuple[str, str]:
    """A user's `--subnet` (and `--gateway`), checked: (subnet, gateway)."""
    import ipaddress

    try:
        net = ipaddress.ip_network(subnet, strict=True)
    except ValueError as e:
        raise InvalidArgument(f"invalid subnet {subnet!r}: {e}") from None
    if net.version != 4:
        raise InvalidArgument(f"invalid subnet {subnet!r}: only IPv4 subnets are supported")
    if net.prefixlen > 30:
        raise InvalidArgument(f"invalid subnet {subnet!r}: it must hold at least a gateway and one container (/30)")
    if gateway:
        try:
            gw = ipaddress.ip_address(gateway)
        except ValueError as e:
            raise InvalidArgument(f"invalid gateway {gateway!r}: {e}") from None
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            raise InvalidArgument(f"gateway {gateway} is not a host address of subnet {subnet}")
        return str(net), str(gw)
    return str(net), str(net.network_address + 1)
