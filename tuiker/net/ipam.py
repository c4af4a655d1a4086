"""Address leases: which container holds which IPv4 address on which network.

One JSON file, `<root>/networks/leases.json`, read and rewritten whole under `<root>/locks/ipam.lock`:

    {"networks": {"<network id>": {"last": "172.17.0.7", "leases": {"172.17.0.2": "<container id>"}}}}

Why a file and a lock rather than the monitor's memory: the lease must outlive the monitor (a container keeps
running, and keeps its address, when the monitor is killed), and `rm` releases a lease from the CLI even
when no monitor runs. The flock makes each read-modify-write one step for every process, so two
allocations can never return the same address, however many containers start at once.

Addresses are handed out in turn after the last one given (wrapping at the end of the subnet), as docker
does: an address released a moment ago is not reused at once, so a peer that still caches the old
container's address does not reach a new one by mistake. A container may ask for an address it had
before (a restart keeps its address when it is still free).

The file is replaced by rename but not fsynced: a lease only matters while its container runs, and after
a host crash no container runs; the monitor's reconcile drops every lease of a container that is not
running. A rename is atomic for every process whether or not it reached the disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tuiker.base.errors import TuikerError
from tuiker.base.fsutil import PRIVATE_FILE, flocked, private_dir


class PoolExhausted(TuikerError):
    """No address of the network's subnet is free."""


def _paths(root: Path, make: bool = True) -> tuple[Path, Path]:
    if make:
        private_dir(root, "networks")
        private_dir(root, "locks")
    return root / "networks" / "leases.json", root / "locks" / "ipam.lock"


def _load(path: Path) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {"networks": {}}
    except ValueError:
        return {"networks": {}}  # torn by a crash of the whole host: no container runs any more either
    data.setdefault("networks", {})
    return data


def _save(path: Path, data: dict) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, PRIVATE_FILE)
    with open(fd, "w") as f:
        os.fchmod(fd, PRIVATE_FILE)
        json.dump(data, f, indent=1, sort_keys=True)
    os.rename(tmp, path)


def leases(root: Path) -> dict[str, dict[str, str]]:
    """{network id: {address: container id}}, a snapshot."""
    path, lock = _paths(root, make=False)
    if not path.exists():
        return {}
    with flocked(lock, shared=True):
        data = _load(path)
    return {nid: dict(entry.get("leases", {})) for nid, entry in data["networks"].items()}


def allocate(root: Path, network_id: str, subnet: str, gateway: str, container_id: str,
             preferred: str | None = None, network_name: str = "") -> str:
    """Lease an address of `subnet` to `container_id` on `network_id` and return it. A container that
    already holds one on this network gets the same one back (idempotent)."""
    import ipaddress  # here, not at the top: `rm` releases leases through this module on the CLI's path

    net = ipaddress.ip_network(subnet)
    path, lock = _paths(root)
    with flocked(lock):
        data = _load(path)
        entry = data["networks"].setdefault(network_id, {"last": "", "leases": {}})
        held = entry["leases"]
        for address, owner in held.items():
            if owner == container_id:
                return address
        reserved = {gateway, str(net.network_address), str(net.broadcast_address)}
        chosen = None
        if preferred and preferred not in held and preferred not in reserved:
            try:
                if ipaddress.ip_address(preferred) in net:
                    chosen = preferred
            except ValueError:
                pass
        if chosen is None:
            first, size = int(net.network_address), net.num_addresses
            start = int(ipaddress.ip_address(entry["last"])) - first + 1 if entry.get("last") else 1
            for step in range(size):
                candidate = str(ipaddress.ip_address(first + (start + step) % size))
                if candidate not in held and candidate not in reserved:
                    chosen = candidate
                    break
        if chosen is None:
            raise PoolExhausted(f"no available IPv4 addresses on network {network_name or network_id[:12]}"
                                f" ({subnet}): every address is in use")
        held[chosen] = container_id
        entry["last"] = chosen
        _save(path, data)
        return chosen


def release(root: Path, container_id: str, network_id: str | None = None) -> list[tuple[str, str]]:
    """Drop the container's leases (on one network, or all); returns the (network id, address) released."""
    return _drop(root, lambda nid, owner: owner == container_id and network_id in (None, nid))


def release_all_but(root: Path, keep: set[str]) -> list[tuple[str, str]]:
    """Drop every lease whose container is not in `keep` (the running ones): what a kill -9 left."""
    return _drop(root, lambda _nid, owner: owner not in keep)


def forget_network(root: Path, network_id: str) -> None:
    path, lock = _paths(root, make=False)
    if not path.exists():
        return
    with flocked(lock):
        data = _load(path)
        if data["networks"].pop(network_id, None) is not None:
            _save(path, data)


def _drop(root: Path, doomed) -> list[tuple[str, str]]:
    path, lock = _paths(root, make=False)
    if not path.exists():  # this root never leased an address (`rm` of a --network none container)
        return []
    gone = []
    with flocked(lock):
        data = _load(path)
        for nid, entry in data["networks"].items():
            for address, owner in list(entry.get("leases", {}).items()):
                if doomed(nid, owner):
                    del entry["leases"][address]
                    gone.append((nid, address))
        if gone:
            _save(path, data)
    return gone
