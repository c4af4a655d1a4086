"""Container networking as the monitor runs it: the one place that ties network definitions (network.py),
address leases (ipam.py), bridges and veths (netlink.py), nftables (firewall.py), the ports held and relayed
(portproxy.py) and the managed /etc/hosts (hostsfile.py) to a container's life.

A networked start, step by step (monitor/start.py):

    prepare(c)     before the fork: each network's bridge exists (made, with its subnet chosen, on first
                   use), an address leased on each, the published ports bound (a taken port fails here,
                   before any process exists), the container's own /etc/hosts written
    attach(p, pid) after the fork, while the container waits on its sync pipe before exec: the veth pairs
                   (peer made directly in the container's namespace as eth0, eth1 ...), addresses, default
                   route, then the nftables table with the new DNAT elements
    commit(p)      the container exec'd: its NetworkSettings go into its state, and every peer's /etc/hosts
                   learns its name
    abort(p)       any failure after prepare: undo all of it (ports closed, leases released, veths deleted,
                   rules rebuilt without it)

stopped(c) undoes a running container's networking when its process exits (stop, kill, crash, --rm,
restart policy): the veth pair (deleted at once: the kernel would take it with the dead namespace, but
later, in a work queue), the lease, the ports, the DNAT elements and the peers' hosts entries.
reconcile() does the same at monitor start for whatever a dead monitor or a reboot left: leases of
containers that do not run, veths of ours without a running container, the table rebuilt from the
containers that do run, and (sweep_orphans) bridges and tables of engine roots whose directory is gone.

Invariant: the kernel state (rules, ports held) is always derived from `self.active`, the running
containers' attachments, so any step can be redone from scratch and a rebuild heals any drift.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from tuiker.base.errors import ForbiddenError, InvalidArgument, NotFoundError, TuikerError, error_kind
from tuiker.base.fsutil import atomic_write, flocked
from tuiker.net import firewall, hostsfile, ipam, netlink
from tuiker.net.network import (
    DEFAULT,
    HOST_LOCK,
    VETH_PREFIX,
    Network,
    NetworkStore,
    choose_subnet,
    host_mtu,
    host_routes,
    overlap,
    parse_subnet,
    table_name,
    veth_name,
)
from tuiker.net.portproxy import PortProxy
from tuiker.net.ports import split_key
from tuiker.runtime.containers import Container, ContainerStore

NO_NETWORK = ("none", "host")


def wants_network(c: Container) -> bool:
    return c.config["HostConfig"].get("NetworkMode", "none") not in NO_NETWORK and not \
        c.config["HostConfig"].get("NetworkMode", "").startswith("container:")


def mac_for(address: str) -> str:
    """docker's MAC: 02:42 and the IPv4 address, so inspect knows it without asking the kernel."""
    return "02:42:" + ":".join(f"{int(o):02x}" for o in address.split("."))


def endpoints(c: Container) -> dict[str, dict]:
    """The container's networks in order, the first its primary one: {name: {"NetworkID", "Aliases"}}."""
    host = c.config["HostConfig"]
    found = dict((c.config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {})
    mode = host.get("NetworkMode", "none")
    if mode not in NO_NETWORK and mode not in found:
        found = {mode: {"NetworkID": "", "Aliases": []}, **found}
    return found


def save_config(store: ContainerStore, c: Container) -> None:
    with flocked(store.lock_path):
        atomic_write(c.dir / "config.json", json.dumps(c.config, indent=1).encode())


class Attachment:
    """One container on one network."""

    def __init__(self, network: Network, address: str, index: int, aliases: list[str]) -> None:
        self.network, self.address, self.index, self.aliases = network, address, index, aliases
        self.veth_made = False

    def settings(self, container_id: str) -> dict:
        n = self.network
        return {"NetworkID": n.id, "EndpointID": f"{container_id[:32]}{n.id[:32]}", "Gateway": n.gateway,
                "IPAddress": self.address, "IPPrefixLen": n.prefixlen, "MacAddress": mac_for(self.address),
                "Aliases": self.aliases, "Interface": f"eth{self.index}",
                "HostVeth": veth_name(container_id, self.index), "Bridge": n.bridge}


class Plan:
    def __init__(self, c: Container) -> None:
        self.container = c
        self.attachments: list[Attachment] = []
        self.ports: list[dict] = []

    def settings(self) -> dict:
        cid = self.container.id
        return {"Networks": {a.network.name: a.settings(cid) for a in self.attachments}, "Ports": self.ports}


class Networking:
    def __init__(self, root: Path, store: ContainerStore, sel) -> None:
        self.root = root
        self.store = store
        self.networks = NetworkStore(root)
        self.table = table_name(root)
        self.proxy = PortProxy(sel)
        # Running containers' networking: id -> {"name", "hostname", "dir", "settings" (its NetworkSettings)}.
        self.active: dict[str, dict] = {}
        self.ready: set[str] = set()  # bridges known to exist (made or checked) in this monitor's life
        self.applied: str | None = None  # the table text last applied
        self.swept = False  # orphans of deleted roots swept (once per monitor, see sweep_orphans)
        self._nl: netlink.Netlink | None = None

    @property
    def nl(self) -> netlink.Netlink:
        if self._nl is None:
            self._nl = netlink.Netlink()  # imports pyroute2: once per monitor, at the first networked start
        return self._nl

    # -- networks ----------------------------------------------------------------------------------

    def default_network(self) -> Network:
        found = self.networks.find(DEFAULT)
        if found is None:
            try:
                found = self.networks.create(DEFAULT)
            except TuikerError:
                found = self.networks.get(DEFAULT)  # made meanwhile by another process
        return found

    def resolve(self, name: str, network_id: str = "") -> Network:
        if name in (DEFAULT, "default"):
            return self.default_network()
        found = self.networks.find(network_id) if network_id else None
        if found is None:
            found = self.networks.find(name)
        if found is None or (network_id and found.id != network_id):
            raise NotFoundError(f"network {name} not found")
        return found

    def ensure(self, net: Network) -> Network:
        """The network's bridge exists with its address (a subnet chosen first if it has none yet)."""
        if net.bridge in self.ready and netlink.link_exists(net.bridge):
            return net
        with flocked(HOST_LOCK):
            return self._ensure_locked(net)

    def _ensure_locked(self, net: Network) -> Network:
        """ensure() with the host-wide lock held: choosing a subnet and making the bridge that routes it are
        one step for every engine root on the host, so no two roots ever pick the same subnet."""
        if not self.swept:
            self.sweep_orphans()  # first: a dead root's bridge must not keep a subnet from us
        net = self.networks.find(net.id) or net
        others = [n.subnet for n in self.networks.list() if n.id != net.id and n.subnet]
        if not net.subnet:
            net.data["Subnet"], net.data["Gateway"] = choose_subnet(others, net.is_default)
            self.networks.save(net)
        elif not netlink.link_exists(net.bridge):
            routes = [r for r, dev in host_routes() if dev != net.bridge]
            clash = overlap(net.subnet, routes)
            if clash:
                raise TuikerError(f"network {net.name}: its subnet {net.subnet} overlaps the host's route"
                                  f" {clash}; remove the network or the route")
        created = self.nl.ensure_bridge(net.bridge, net.gateway, net.prefixlen, host_mtu(),
                                        alias=f"{firewall.OWNER_PREFIX}{os.path.realpath(self.root)}")
        try:
            netlink.set_ip_forward()
            self.ready.add(net.bridge)
            self.sync_firewall(force=True)  # forced: a bridge that had vanished may have taken our table with it
        except BaseException:
            self.ready.discard(net.bridge)
            if created:
                self.nl.delete_link(net.bridge)
            raise
        return net

    # -- a container's start -----------------------------------------------------------------------

    def prepare(self, c: Container) -> Plan:
        """Before the fork: bridges, addresses, ports, /etc/hosts. Leaves nothing behind if it fails."""
        plan = Plan(c)
        last = c.state.get("LastIPs") or {}
        try:
            for index, (name, endpoint) in enumerate(endpoints(c).items()):
                net = self.ensure(self.resolve(name, endpoint.get("NetworkID", "")))
                address = ipam.allocate(self.root, net.id, net.subnet, net.gateway, c.id,
                                        preferred=last.get(net.id), network_name=net.name)
                plan.attachments.append(Attachment(net, address, index, list(endpoint.get("Aliases") or [])))
            bindings = self.bindings(c)
            if bindings:
                plan.ports = self.proxy.open(c.id, bindings, plan.attachments[0].address)
            self.write_hosts(c.id, c.dir, c.config["Config"]["Hostname"], plan.settings()["Networks"],
                             c.config.get("HostsEntries"))
        except BaseException:
            self.abort(plan)
            raise
        return plan

    @staticmethod
    def bindings(c: Container) -> list[dict]:
        host = c.config["HostConfig"]
        found = []
        for key, entries in (host.get("PortBindings") or {}).items():
            port, proto = split_key(key)
            for entry in entries or [{}]:
                found.append({"HostIp": "" if entry.get("HostIp") in (None, "", "0.0.0.0") else entry["HostIp"],
                              "HostPort": str(entry.get("HostPort") or ""), "ContainerPort": port, "Proto": proto})
        if host.get("PublishAllPorts"):
            bound = {(b["ContainerPort"], b["Proto"]) for b in found}
            for key in c.config["Config"].get("ExposedPorts") or {}:
                port, proto = split_key(key)
                if (port, proto) not in bound:
                    found.append({"HostIp": "", "HostPort": "", "ContainerPort": port, "Proto": proto})
        return found

    def attach(self, plan: Plan, pid: int) -> None:
        """After the fork, before exec: the container's interfaces, then the rules for its ports."""
        c = plan.container
        mtu = host_mtu()
        for a in plan.attachments:
            name = veth_name(c.id, a.index)
            self.nl.add_veth(name, a.network.bridge, pid, f"eth{a.index}", mac_for(a.address), mtu)
            a.veth_made = True
            self.nl.configure_inside(pid, f"eth{a.index}", a.address, a.network.prefixlen,
                                     a.network.gateway if a.index == 0 else None)
        self.active[c.id] = self._entry(c, plan.settings())
        if plan.ports:
            self.sync_firewall()

    def commit(self, plan: Plan) -> None:
        """The container runs: record its networking in its state (written by the caller) and tell peers."""
        c = plan.container
        settings = plan.settings()
        c.state["NetworkSettings"] = settings
        c.state["LastIPs"] = {a["NetworkID"]: a["IPAddress"] for a in settings["Networks"].values()}
        self.refresh_hosts({a.network.id for a in plan.attachments}, skip=c.id)

    def abort(self, plan: Plan) -> None:
        c = plan.container
        self.proxy.close(c.id)
        had = self.active.pop(c.id, None)
        for a in plan.attachments:
            if a.veth_made:
                try:
                    self.nl.delete_link(veth_name(c.id, a.index))
                except TuikerError:
                    pass  # its namespace is going, and takes the pair with it
        ipam.release(self.root, c.id)
        if had is not None and plan.ports:
            self._try_sync()

    # -- a container's end -------------------------------------------------------------------------

    def stopped(self, c: Container) -> None:
        """The container's process exited: delete its veths (its namespace would, later), release the rest."""
        entry = self.active.pop(c.id, None)
        if entry is None and not wants_network(c):
            return
        self.proxy.close(c.id)
        ipam.release(self.root, c.id)
        if "NetworkSettings" in c.state:
            c.state["NetworkSettings"] = None
        if entry is None:
            return
        settings = entry["settings"]
        for n in settings["Networks"].values():
            # The kernel deletes the pair when it destroys the dead container's namespace, but later, in a
            # work queue: delete the host end now, so that after `rm` or an exit nothing of it remains.
            if netlink.link_exists(n["HostVeth"]):
                try:
                    self.nl.delete_link(n["HostVeth"])
                except TuikerError as e:
                    print(f"monitor: {e}", file=sys.stderr, flush=True)
                netlink.wait_gone(n["HostVeth"])  # if the kernel was already destroying it: until it is done
        if settings.get("Ports"):
            self._try_sync()
        self.refresh_hosts({n["NetworkID"] for n in settings["Networks"].values()})

    def reconcile(self, live: list[Container]) -> None:
        """At monitor start: adopt the running containers' networking, sweep what dead ones left."""
        if not self.networks.dir.exists():
            return  # this root never had a network: nothing to adopt or sweep
        keep = {c.id for c in live}
        ipam.release_all_but(self.root, keep)
        for c in live:
            settings = c.state.get("NetworkSettings")
            if not settings or not settings.get("Networks"):
                continue
            self.active[c.id] = self._entry(c, settings)
            for n in settings["Networks"].values():
                if n.get("Bridge") and netlink.link_exists(n["Bridge"]):
                    self.ready.add(n["Bridge"])
            if settings.get("Ports"):
                primary = next(iter(settings["Networks"].values()))["IPAddress"]
                try:
                    # Hold the ports again (they were the dead monitor's sockets), at the same host ports.
                    self.proxy.open(c.id, settings["Ports"], primary)
                except TuikerError as e:
                    print(f"monitor: {c.name}: {e}", file=sys.stderr, flush=True)
        self.sweep_links()
        self._try_sync(force=True)
        self.sweep_orphans()
        for cid, entry in self.active.items():
            self.write_hosts(cid, entry["dir"], entry["hostname"], entry["settings"]["Networks"], entry.get("extra"))

    def sweep(self) -> dict:
        """`system prune`: what a kill -9 may have left, for the containers this monitor does not run."""
        released = ipam.release_all_but(self.root, set(self.active))
        for owner in self.proxy.owners():
            if owner not in self.active:
                self.proxy.close(owner)
        links = self.sweep_links() + self.sweep_orphans()
        self._try_sync(force=True)
        return {"leases": len(released), "links": links}

    def sweep_links(self) -> list[str]:
        """Delete host veths of ours whose container is not running: `tv<id12><n>` of a container of this
        root (another root's veths are never touched: their IDs are not ours)."""
        names = netlink.host_links(VETH_PREFIX)
        if not names:
            return []
        ours = {c.id[:12]: c.id for c in self.store.list()}
        running = {cid[:12] for cid in self.active}
        gone = []
        for name in names:
            short = name[len(VETH_PREFIX):len(VETH_PREFIX) + 12]
            if len(name) == len(VETH_PREFIX) + 13 and short in ours and short not in running:
                try:
                    if self.nl.delete_link(name):
                        gone.append(name)
                except TuikerError as e:
                    print(f"monitor: {e}", file=sys.stderr, flush=True)
        return gone

    def sweep_orphans(self) -> list[str]:
        """Bridges and tables tuiker made for an engine root whose directory is gone (deleted without a purge:
        a test session killed -9, a throwaway root): no monitor can ever use or remove them. Recognised by
        the root named in the bridge's ifalias and in the table's comment; a bridge that still has a port
        (a container of that root still runs) is left alone, and so is its root's table."""
        self.swept = True
        gone, busy = [], set()
        try:
            for name in netlink.host_links("tk-") + netlink.host_links("tuiker"):
                owner = netlink.alias(name)
                if not owner.startswith(firewall.OWNER_PREFIX):
                    continue
                root = owner[len(firewall.OWNER_PREFIX):]
                if os.path.isdir(root) or netlink.bridge_ports(name):
                    busy.add(root)
                elif self.nl.delete_link(name):
                    gone.append(name)
            for table in firewall.tables():
                root = firewall.owner(table)
                if table != self.table and root and root not in busy and not os.path.isdir(root):
                    if firewall.delete(table):
                        gone.append(f"table ip {table}")
        except TuikerError as e:
            print(f"monitor: sweeping orphans: {e}", file=sys.stderr, flush=True)
        return gone

    # -- rules and hosts files ---------------------------------------------------------------------

    def _entry(self, c: Container, settings: dict) -> dict:
        return {"name": c.name, "hostname": c.config["Config"].get("Hostname") or c.id[:12], "dir": c.dir,
                "settings": settings, "extra": c.config.get("HostsEntries")}

    def rules(self) -> firewall.Rules:
        rules = firewall.Rules(owner=os.path.realpath(self.root))
        for net in self.networks.list():
            if net.subnet and netlink.is_bridge(net.bridge):
                rules.networks.append((net.bridge, net.subnet, net.internal))
        for entry in self.active.values():
            settings = entry["settings"]
            if not settings.get("Ports") or not settings.get("Networks"):
                continue
            primary = next(iter(settings["Networks"].values()))["IPAddress"]
            for b in settings["Ports"]:
                host_ip = "" if b["HostIp"] in ("", "0.0.0.0") else b["HostIp"]
                rules.ports.append((host_ip, int(b["HostPort"]), b["Proto"], primary, int(b["ContainerPort"])))
        return rules

    def sync_firewall(self, force: bool = False) -> None:
        """Make our table match self.active and the ready bridges (no-op if nothing changed)."""
        rules = self.rules()
        if not rules.networks and not rules.ports:
            if self.applied is not None or force:
                firewall.delete(self.table)
                self.applied = None
            return
        text = rules.render(self.table)
        if text == self.applied and not force:
            return
        firewall.apply(self.table, rules)
        self.applied = text

    def _try_sync(self, force: bool = False) -> None:
        """On teardown paths: a failure to rebuild is logged, never raised over the container's exit."""
        try:
            self.sync_firewall(force)
        except TuikerError as e:
            print(f"monitor: {e}", file=sys.stderr, flush=True)

    def write_hosts(self, cid: str, directory: Path, hostname: str, networks: dict,
                    extra: list[list[str]] | None = None) -> None:
        own = [n["IPAddress"] for n in networks.values()]
        peers = []
        shared = {n["NetworkID"] for name, n in networks.items() if name != DEFAULT}
        for other_id, other in self.active.items():
            if other_id == cid:
                continue
            for n in other["settings"]["Networks"].values():
                if n["NetworkID"] in shared:
                    peers.append((n["IPAddress"], [other["name"], *(n.get("Aliases") or []), other_id[:12]]))
        hostsfile.write_in_place(directory / "hosts", hostsfile.render(hostname, own, peers, extra))

    def refresh_hosts(self, network_ids: set[str], skip: str | None = None) -> None:
        for cid, entry in self.active.items():
            if cid == skip:
                continue
            if any(n["NetworkID"] in network_ids for n in entry["settings"]["Networks"].values()):
                self.write_hosts(cid, entry["dir"], entry["hostname"], entry["settings"]["Networks"],
                                 entry.get("extra"))

    # -- requests: tuiker network ... --------------------------------------------------------------

    def handle(self, req: dict, running: dict) -> dict:
        """A `network` request; `running` maps container id -> pid of the running ones."""
        action = req.get("action")
        try:
            if action == "create":
                return self.create(req)
            if action == "remove":
                return self.remove(req["network"])
            if action == "connect":
                return self.connect(req["network"], req["container"], req.get("aliases") or [], running)
            if action == "disconnect":
                return self.disconnect(req["network"], req["container"], running)
            if action == "sweep":
                return {"ok": True, **self.sweep()}
            if action == "gateway":  # --add-host NAME:host-gateway: the default bridge's gateway, made if need be
                return {"ok": True, "gateway": self.ensure(self.default_network()).gateway}
        except TuikerError as e:
            return {"ok": False, "error": str(e), "kind": error_kind(e)}
        return {"ok": False, "error": f"unknown network action {action!r}"}

    def create(self, req: dict) -> dict:
        subnet, gateway = None, None
        if req.get("subnet"):
            subnet, gateway = parse_subnet(req["subnet"], req.get("gateway"))
        elif req.get("gateway"):
            raise InvalidArgument("--gateway needs --subnet")
        with flocked(HOST_LOCK):  # the check, the definition and the bridge: one step (see _ensure_locked)
            if subnet:
                taken = [n.subnet for n in self.networks.list() if n.subnet]
                clash = overlap(subnet, taken + [r for r, _dev in host_routes()])
                if clash:
                    raise ForbiddenError(f"Pool overlaps with other one on this address space: {subnet} overlaps"
                                         f" {clash}")
            net = self.networks.create(req["name"], subnet, gateway, bool(req.get("internal")), req.get("labels"))
            try:
                net = self._ensure_locked(net)
            except BaseException:
                self.networks.delete(net)
                raise
        return {"ok": True, "id": net.id}

    def remove(self, ref: str) -> dict:
        net = self.networks.get(ref)
        if net.is_default:
            raise ForbiddenError(f"{net.name} is a pre-defined network and cannot be removed")
        users = [e["name"] for e in self.active.values()
                 if any(n["NetworkID"] == net.id for n in e["settings"]["Networks"].values())]
        if users:
            # docker's text and status (403); the containers are in `network inspect`.
            raise ForbiddenError(f"error while removing network: network {net.name} id {net.id} has active endpoints")
        self.ready.discard(net.bridge)
        if netlink.link_exists(net.bridge):
            self.nl.delete_link(net.bridge)
        self.networks.delete(net)
        ipam.forget_network(self.root, net.id)
        self._try_sync()
        return {"ok": True, "id": net.id}

    def connect(self, ref: str, container_ref: str, aliases: list[str], running: dict) -> dict:
        c = self.store.get(container_ref)
        mode = c.config["HostConfig"].get("NetworkMode", "none")
        if mode in NO_NETWORK and not c.config.get("NetworksDisconnected"):
            raise InvalidArgument(f"container {c.name} uses --network {mode}: it cannot join other networks")
        net = self.resolve(ref)
        current = endpoints(c)
        if net.name in current or (net.is_default and "default" in current):
            raise ForbiddenError(f"endpoint with name {c.name} already exists in network {net.name}")
        if aliases and net.is_default:
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
        pid = running.get(c.id)
        entry = self.active.get(c.id)
        if pid and entry is not None:
            net = self.ensure(net)
            index = 1 + max(int(n["Interface"][3:]) for n in entry["settings"]["Networks"].values())
            address = ipam.allocate(self.root, net.id, net.subnet, net.gateway, c.id, network_name=net.name)
            a = Attachment(net, address, index, list(aliases))
            try:
                self.nl.add_veth(veth_name(c.id, index), net.bridge, pid, f"eth{index}", mac_for(address),
                                 host_mtu())
                a.veth_made = True
                self.nl.configure_inside(pid, f"eth{index}", address, net.prefixlen, None)
            except BaseException:
                if a.veth_made:
                    self.nl.delete_link(veth_name(c.id, index))
                ipam.release(self.root, c.id, net.id)
                raise
            entry["settings"]["Networks"][net.name] = a.settings(c.id)
            self._save_running(c, entry)
            self.refresh_hosts({net.id}, skip=None)
            self.write_hosts(c.id, c.dir, entry["hostname"], entry["settings"]["Networks"], entry.get("extra"))
        endpoints_config = c.config.setdefault("NetworkingConfig", {}).setdefault("EndpointsConfig", {})
        if c.config.pop("NetworksDisconnected", False):
            c.config["HostConfig"]["NetworkMode"] = net.name  # back on a network: it is the primary one
        elif mode not in endpoints_config:
            endpoints_config[mode] = {"NetworkID": "", "Aliases": []}
        endpoints_config[net.name] = {"NetworkID": net.id, "Aliases": list(aliases)}
        save_config(self.store, c)
        return {"ok": True}

    def disconnect(self, ref: str, container_ref: str, running: dict) -> dict:
        c = self.store.get(container_ref)
        net = self.resolve(ref)
        endpoints_config = c.config.setdefault("NetworkingConfig", {}).setdefault("EndpointsConfig", {})
        mode = c.config["HostConfig"].get("NetworkMode", "none")
        if net.name not in endpoints(c):
            # docker's text, and its class: a plain error (docker 20.10-25 answer 500)
            raise TuikerError(f"container {c.id} is not connected to network {net.name}")
        entry = self.active.get(c.id)
        if running.get(c.id) and entry is not None and net.name in entry["settings"]["Networks"]:
            n = entry["settings"]["Networks"].pop(net.name)
            try:
                self.nl.delete_link(n["HostVeth"])  # both ends: eth<n> leaves the container with it
            except TuikerError as e:
                print(f"monitor: {e}", file=sys.stderr, flush=True)
            ipam.release(self.root, c.id, n["NetworkID"])
            self._save_running(c, entry)
            self.refresh_hosts({n["NetworkID"]})
            self.write_hosts(c.id, c.dir, entry["hostname"], entry["settings"]["Networks"], entry.get("extra"))
            if entry["settings"].get("Ports"):
                self._try_sync()
        endpoints_config.pop(net.name, None)
        if mode == net.name:
            # The primary network is gone: the next one becomes primary, or none is left. Then, as docker, the
            # container may still be connected again (compose disconnects and reconnects with its aliases).
            c.config["HostConfig"]["NetworkMode"] = next(iter(endpoints_config), "none")
            if not endpoints_config:
                c.config["NetworksDisconnected"] = True
        save_config(self.store, c)
        return {"ok": True}

    def _save_running(self, c: Container, entry: dict) -> None:
        c.reload()
        c.write_state(NetworkSettings=entry["settings"],
                      LastIPs={n["NetworkID"]: n["IPAddress"] for n in entry["settings"]["Networks"].values()})


# -- for tests and uninstall: everything of one engine root off the host ---------------------------

def purge_host_state(root: Path) -> list[str]:
    """Delete every bridge and the nftables table of `root` (its containers must be gone). Returns what
    was removed. For throwaway engine roots (the tests'); the monitor never calls it."""
    removed = []
    store = NetworkStore(root)
    nets = store.list()
    bridges = [n.bridge for n in nets if netlink.link_exists(n.bridge)]
    if bridges:
        nl = netlink.Netlink()
        try:
            for name in bridges:
                if nl.delete_link(name):
                    removed.append(name)
        finally:
            nl.close()
    if firewall.delete(table_name(root)):
        removed.append(f"table ip {table_name(root)}")
    return removed


def leftover_links(root: Path) -> list[str]:
    """Host interfaces still holding something of `root` once its containers are dead: ports left on its
    bridges (a veth whose container is gone), and veths named after its containers."""
    found = []
    for net in NetworkStore(root).list():
        try:
            found += [f"{net.bridge}:{port}" for port in os.listdir(f"/sys/class/net/{net.bridge}/brif")]
        except OSError:
            pass
    containers = root / "containers"
    ids = {p.name[:12] for p in containers.iterdir() if len(p.name) == 64} if containers.exists() else set()
    found += [n for n in netlink.host_links(VETH_PREFIX) if n[len(VETH_PREFIX):len(VETH_PREFIX) + 12] in ids]
    return found
