"""`engine.networks`: the `network` commands, what `run -p` and `--network` put into a container's config, and
what inspect, ps, port and stats show of a container's network.

Reading (ls, inspect, ps) happens here, from the definition and state files. Everything that touches the
kernel (create, rm, connect, disconnect, the sweep) is a request to the monitor, the only process that
loads pyroute2 and writes the nftables table. Nothing here imports more than json and the files' modules:
`tuiker run` and `tuiker ps` pass through it.
"""

from __future__ import annotations

from pathlib import Path

from tuiker.base import names
from tuiker.base.errors import ConflictError, ForbiddenError, InvalidArgument, TuikerError, from_kind
from tuiker.engine.stores import open_store
from tuiker.net import ports as portspec
from tuiker.net.network import DEFAULT, PSEUDO, Network, NetworkStore, check_name
from tuiker.runtime.events import emit

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every command
if TYPE_CHECKING:
    from tuiker.runtime.containers import Container, ContainerStore
    from tuiker.runtime.monitor_client import MonitorClient


class Networks:
    """Networks of one engine root; given the root and the monitor client (which does the kernel's part)."""

    def __init__(self, root: Path, monitor: MonitorClient) -> None:
        self.root = root
        self.monitor = monitor
        self.store = NetworkStore(root)  # the definition files (it makes its directories when it writes)
        self._containers: ContainerStore | None = None

    @property
    def _records(self) -> ContainerStore:
        """The containers' files: who is on which network, and the name a connect gives."""
        if self._containers is None:
            from tuiker.runtime.containers import ContainerStore  # not on `network ls`' path

            self._containers = open_store(ContainerStore, self.root)
        return self._containers

    def _request(self, action: str, **fields) -> dict:
        reply, _ = self.monitor.request({"op": "network", "action": action, **fields})
        if not reply.get("ok"):
            raise from_kind(reply.get("kind"), reply.get("error", f"network {action} failed"))
        return reply

    def default(self) -> Network:
        """The default bridge's definition, written at its first use (the monitor picks its subnet later)."""
        found = self.store.find(DEFAULT)
        if found is None:
            try:
                found = self.store.create(DEFAULT)
            except TuikerError:
                found = self.store.get(DEFAULT)  # another command wrote it meanwhile
        return found

    def host_gateway(self) -> str:
        """docker's `host-gateway`: the default bridge's gateway, the host as containers reach it (the monitor
        chooses the bridge's subnet at its first use, and is asked to if that has not happened yet)."""
        gateway = self.default().gateway
        return gateway or self._request("gateway").get("gateway", "")

    # -- the network commands ---------------------------------------------------------------------

    def list(self, filters: dict[str, list[str]] | None = None) -> list[dict]:
        """Every network as `network inspect` shows it, the default bridge first, then host and none; `filters`
        as docker's (each key's values are alternatives, the keys all apply): name (a part of it), id (a prefix),
        driver, label (K or K=V), type (custom|builtin), dangling (true|false: no running container on it)."""
        self.default()
        running = self._running_endpoints()
        found = [self._describe(n, running) for n in self.store.list()]
        found = found[:1] + [self._pseudo(name) for name in PSEUDO] + found[1:]
        for key, values in (filters or {}).items():
            if not values:
                continue
            test = _NETWORK_FILTERS.get(key)
            if test is None:
                raise InvalidArgument(f"invalid filter '{key}'")
            for value in values:
                _check_filter(key, value)
            found = [n for n in found if any(test(n, value) for value in values)]
        return found

    def inspect(self, ref: str) -> dict:
        if ref in PSEUDO:
            return self._pseudo(ref)
        net = self.default() if ref in (DEFAULT, "default") else self.store.get(ref)
        return self._describe(net, self._running_endpoints())

    def create(self, name: str, subnet: str | None = None, gateway: str | None = None, internal: bool = False,
               labels: dict | None = None) -> str:
        """The new network's ID."""
        check_name(name)
        if self.store.find(name) is not None:
            raise ConflictError(f"network with name {name} already exists")
        net_id = self._request("create", name=name, subnet=subnet, gateway=gateway, internal=internal,
                               labels=labels or {})["id"]
        emit(self.root, "network", "create", net_id, {**(labels or {}), "name": name, "type": "bridge"})
        return net_id

    def remove(self, ref: str) -> str:
        if ref in (DEFAULT, *PSEUDO):
            raise ForbiddenError(f"{ref} is a pre-defined network and cannot be removed")
        net = self.store.get(ref)
        net_id = self._request("remove", network=net.id)["id"]
        emit(self.root, "network", "destroy", net_id, {"name": net.name, "type": "bridge"})
        return net_id

    def connect(self, network: str, container: str, aliases: list[str] | None = None) -> None:
        for alias in aliases or []:
            names.check_alias(alias)
        c = self._records.get(container)
        self._request("connect", network=network, container=c.id, aliases=aliases or [])
        self._container_event("connect", network, c.id)

    def disconnect(self, network: str, container: str) -> None:
        cid = self._records.get(container).id
        self._request("disconnect", network=network, container=cid)
        self._container_event("disconnect", network, cid)

    def _container_event(self, action: str, ref: str, cid: str) -> None:
        """docker's network connect/disconnect event: the network as the actor, the container an attribute."""
        net = self.default() if ref in (DEFAULT, "default") else self.store.find(ref)
        net_id, name = (net.id, net.name) if net is not None else (ref, ref)
        emit(self.root, "network", action, net_id, {"container": cid, "name": name, "type": "bridge"})

    def prune(self, labels: list[str] | None = None) -> list[str]:
        """Remove every user network that no container (running or not) refers to (of those with all of `labels`,
        K or K=V, if given); their names."""
        used = set()
        for c in self._records.list():
            used.update(networks_of(c))
        gone = []
        for net in self.store.list():
            if not net.is_default and net.name not in used and all(_has_label(net.data, want)
                                                                   for want in labels or []):
                self.remove(net.id)
                gone.append(net.name)
        return gone

    def sweep(self) -> dict:
        """What a kill -9 left (leases, veths, rules, held ports of containers that do not run)."""
        return self._request("sweep")

    def _running_endpoints(self) -> dict[str, list[tuple]]:
        """network id -> [(container, its settings on that network)] for running containers."""
        found: dict[str, list[tuple]] = {}
        for c in self._records.list():
            settings = c.state.get("NetworkSettings") if c.status in ("running", "paused") else None
            for n in ((settings or {}).get("Networks") or {}).values():
                found.setdefault(n["NetworkID"], []).append((c, n))
        return found

    def _describe(self, net: Network, running: dict) -> dict:
        from tuiker.net.network import host_mtu

        containers = {c.id: {"Name": c.name, "EndpointID": n.get("EndpointID", ""), "MacAddress": n["MacAddress"],
                             "IPv4Address": f"{n['IPAddress']}/{n['IPPrefixLen']}", "IPv6Address": ""}
                      for c, n in running.get(net.id, [])}
        return {"Name": net.name, "Id": net.id, "Created": net.data.get("Created", ""), "Scope": "local",
                "Driver": "bridge", "EnableIPv6": False,
                "IPAM": {"Driver": "default", "Options": {},
                         "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}] if net.subnet else []},
                "Internal": net.internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
                "ConfigOnly": False, "Containers": containers,
                "Options": {"com.docker.network.bridge.name": net.bridge,
                            "com.docker.network.driver.mtu": str(host_mtu())},
                "Labels": net.data.get("Labels") or {}}

    def _pseudo(self, name: str) -> dict:
        import hashlib

        nid = hashlib.sha256(f"{self.root}:{name}".encode()).hexdigest()
        # made with the root, as docker's are with the daemon: the default bridge's time (clients parse it)
        default = self.store.find(DEFAULT)
        created = default.data.get("Created") if default else None
        return {"Name": name, "Id": nid, "Created": created or "0001-01-01T00:00:00Z", "Scope": "local",
                "Driver": "host" if name == "host" else "null", "EnableIPv6": False,
                "IPAM": {"Driver": "default", "Options": {}, "Config": []},
                "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
                "ConfigOnly": False, "Containers": {}, "Options": {}, "Labels": {}}

    # -- what create puts into a container's config ----------------------------------------------------

    def container_config(self, network: str, publish: list[str] | None, publish_all: bool,
                         aliases: list[str] | None, expose: list[str] | None, image_exposed: dict | None) -> dict:
        """HostConfig's NetworkMode, PortBindings and PublishAllPorts, Config's ExposedPorts and the
        NetworkingConfig, checked: an unknown network, a malformed -p or an alias on the default bridge
        fail here, before anything is created."""
        for alias in aliases or []:
            names.check_alias(alias)  # each becomes a name in the peers' /etc/hosts
        mode = DEFAULT if network in (DEFAULT, "default") else network
        endpoints: dict[str, dict] = {}
        if mode.startswith("container:"):
            raise TuikerError("--network container:NAME is not supported")
        if mode not in PSEUDO:
            net = self.default() if mode == DEFAULT else self.store.get(mode)
            mode = net.name
            if aliases and net.is_default:
                raise TuikerError("network-scoped alias is supported only for containers in user defined networks")
            endpoints[net.name] = {"NetworkID": net.id, "Aliases": list(aliases or [])}
        elif aliases:
            raise TuikerError(f"network-scoped alias is supported only for containers in user defined networks,"
                              f" not --network {mode}")
        bindings: dict[str, list[dict]] = {}
        for spec in publish or []:
            for b in portspec.parse_publish(spec):
                bindings.setdefault(portspec.key(b), []).append({"HostIp": b["HostIp"], "HostPort": b["HostPort"]})
        if not isinstance(image_exposed or {}, dict):
            raise TuikerError("image config: ExposedPorts is not an object")
        # Checked as --expose is: the image comes from a registry, and -P publishes these (a port the
        # firewall cannot hold would fail the rules of every container).
        exposed = {_image_port(key): {} for key in image_exposed or {}}
        for spec in expose or []:
            exposed.update({k: {} for k in portspec.parse_expose(spec)})
        exposed.update({k: {} for k in bindings})
        if mode in PSEUDO:
            bindings = {}  # docker: published ports are discarded with --network host (and mean nothing with none)
        return {"NetworkMode": mode, "PortBindings": bindings, "PublishAllPorts": bool(publish_all) and mode not in
                PSEUDO, "ExposedPorts": exposed, "EndpointsConfig": endpoints}


def _has_label(network: dict, want: str) -> bool:
    key, sep, value = want.partition("=")
    labels = network.get("Labels") or {}
    return key in labels and (not sep or labels[key] == value)


def _check_filter(key: str, value: str) -> None:
    if key == "type" and value not in ("custom", "builtin"):
        raise InvalidArgument(f"invalid filter: 'type'='{value}'")
    if key == "dangling" and value not in ("true", "false", "1", "0"):
        raise InvalidArgument(f"invalid filter 'dangling={value}'")


_NETWORK_FILTERS = {
    "name": lambda n, v: v in n["Name"],
    "id": lambda n, v: n["Id"].startswith(v),
    "driver": lambda n, v: n["Driver"] == v,
    "label": _has_label,
    "type": lambda n, v: (n["Name"] in (DEFAULT, *PSEUDO)) == (v == "builtin"),
    # docker: dangling networks are user networks without an endpoint (a running container on them).
    "dangling": lambda n, v: (n["Name"] not in (DEFAULT, *PSEUDO) and not n["Containers"]) == (v in ("true", "1")),
}


# -- a container's network, for inspect, ps, port and stats ------------------------------------------

def networks_of(c: Container) -> list[str]:
    """The names of the networks a container is configured on: its --network (`none` and `host` too), then any
    it was connected to."""
    mode = c.config["HostConfig"].get("NetworkMode", "none")
    configured = list((c.config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {})
    return ([mode] if mode not in configured else []) + configured


def published_ports(c: Container) -> list[dict]:
    """The running container's published ports as bound (HostPort filled in), else none."""
    if c.status not in ("running", "paused"):
        return []
    return list((c.state.get("NetworkSettings") or {}).get("Ports") or [])


def ports_text(c: Container) -> str:
    """docker's PORTS: what a running container publishes or exposes (`0.0.0.0:8080->80/tcp, 443/tcp`);
    nothing once it has stopped."""
    if c.status not in ("running", "paused"):
        return ""
    return portspec.describe(published_ports(c), list(c.config["Config"].get("ExposedPorts") or {}))


def port_mappings(c: Container, private_port: str | None = None) -> list[tuple[str, str]]:
    """`port`: (container port, host address) pairs, `("80/tcp", "0.0.0.0:8080")`; only those of
    `private_port` (`80`, `80/udp`) when given, and then an error if it is not published."""
    bindings = published_ports(c)
    if private_port:
        port, proto = portspec.split_key(private_port)
        bindings = [b for b in bindings if (b["ContainerPort"], b["Proto"]) == (port, proto)]
        if not bindings:
            raise TuikerError(f"No public port '{port}/{proto}' published for {c.name}")
    return [(portspec.key(b), f"{b['HostIp']}:{b['HostPort']}") for b in bindings]


def network_settings(c: Container) -> dict:
    """docker inspect's NetworkSettings: the live addresses while it runs, empty ones otherwise."""
    live = c.state.get("NetworkSettings") if c.status in ("running", "paused") else None
    live_nets = (live or {}).get("Networks") or {}
    mode = c.config["HostConfig"].get("NetworkMode", "none")
    configured = dict((c.config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {})
    if mode not in configured:
        configured = {mode: {"NetworkID": "", "Aliases": []}, **configured}
    networks = {}
    for name, endpoint in configured.items():
        n = live_nets.get(name) or {}
        networks[name] = {"IPAMConfig": None, "Links": None, "Aliases": endpoint.get("Aliases") or None,
                          "NetworkID": n.get("NetworkID") or endpoint.get("NetworkID", ""),
                          "EndpointID": n.get("EndpointID", ""), "Gateway": n.get("Gateway", ""),
                          "IPAddress": n.get("IPAddress", ""), "IPPrefixLen": n.get("IPPrefixLen", 0),
                          "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                          "MacAddress": n.get("MacAddress", "")}
    primary = next(iter(live_nets.values()), {})
    ports: dict = {k: None for k in c.config["Config"].get("ExposedPorts") or {}}
    ports.update(portspec.to_docker((live or {}).get("Ports") or []))
    return {"Bridge": "", "SandboxID": "", "HairpinMode": False, "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0, "Ports": ports if live else {},
            "SandboxKey": f"/proc/{c.pid}/ns/net" if live else "",
            "IPAddress": primary.get("IPAddress", ""), "IPPrefixLen": primary.get("IPPrefixLen", 0),
            "Gateway": primary.get("Gateway", ""), "MacAddress": primary.get("MacAddress", ""),
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPv6Gateway": "", "Networks": networks}


def net_io(c: Container) -> tuple[int, int] | None:
    """(received, sent) bytes of a running container; None without a network of its own (see net_counters)."""
    counters = net_counters(c)
    return None if counters is None else (counters["rx_bytes"], counters["tx_bytes"])


NET_COUNTERS = tuple(f"{d}x_{what}" for what in ("bytes", "packets", "errors", "dropped") for d in "rt")


def net_counters(c: Container) -> dict[str, int] | None:
    """A running container's rx/tx bytes, packets, errors and dropped (NET_COUNTERS), from its host-side veths'
    counters (swapped: what the host end transmits, the container receives). None without a network of its
    own (--network host or none: the namespace's counters would be the host's whole traffic, or nothing)."""
    settings = c.state.get("NetworkSettings") if c.status in ("running", "paused") else None
    if not settings or not settings.get("Networks"):
        return None
    totals = dict.fromkeys(NET_COUNTERS, 0)
    for n in settings["Networks"].values():
        for key, value in _counters(n["HostVeth"]).items():
            totals[("tx" if key.startswith("rx") else "rx") + key[2:]] += value
    return totals


def _image_port(key: object) -> str:
    """An image's ExposedPorts key ("80/tcp", or "80"), normalised; one port, not a range."""
    try:
        if not isinstance(key, str) or "-" in key:
            raise TuikerError("expected PORT/tcp or PORT/udp")
        return portspec.parse_expose(key)[0]
    except TuikerError as e:
        raise TuikerError(f"image config: invalid ExposedPorts entry {str(key)[:40]!r}: {e}") from None


def _counters(name: str) -> dict[str, int]:
    """NET_COUNTERS of a host interface, from sysfs (not netlink: `stats` must not import pyroute2 or ctypes);
    0s if it is gone."""
    values = {}
    for what in NET_COUNTERS:
        try:
            with open(f"/sys/class/net/{name}/statistics/{what}") as f:
                values[what] = int(f.read())
        except (OSError, ValueError):
            values[what] = 0
    return values
