"""`/networks`: list, inspect, create, delete, connect, disconnect, prune, over `engine.networks` (bridge networks;
`bridge`, `host` and `none` listed as docker lists its pre-defined ones)."""

from __future__ import annotations

from tuiker.api.server import Api, ApiError, Request, Status

# Driver options tuiker's bridges already behave as; any other value would be silently not honoured.
_DEFAULT_OPTIONS = {"com.docker.network.bridge.enable_icc": "true",
                    "com.docker.network.bridge.enable_ip_masquerade": "true",
                    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0"}
_DOCKER_DRIVERS = ("host", "null", "macvlan", "ipvlan", "overlay")


def list_networks(api: Api, req: Request) -> list[dict]:
    found = api.engine.networks.list(req.filters())
    if req.at_least("1.28"):  # docker stopped listing the endpoints in 1.28: they are in inspect
        found = [{**n, "Containers": {}} for n in found]
    return found


def inspect(api: Api, req: Request) -> dict:
    scope = req.query("scope")
    if scope not in (None, "", "local"):
        raise ApiError(404, f"network {req.args['id']} not found")  # docker: no network of that scope
    return api.engine.networks.inspect(req.args["id"])


def create(api: Api, req: Request) -> Status:
    body = req.json({})
    if not isinstance(body, dict):
        raise ApiError(400, "invalid JSON body: expected an object")
    name = body.get("Name")
    if not name or not isinstance(name, str):
        raise ApiError(400, "invalid name: a network needs a name")
    driver = body.get("Driver") or "bridge"
    if driver != "bridge":
        if driver in _DOCKER_DRIVERS:
            raise ApiError(400, f"network driver {driver} is not supported: tuiker makes bridge networks only")
        raise ApiError(400, f'plugin "{driver}" not found: tuiker makes bridge networks only')
    # Attachable only matters to swarm's overlay networks: docker accepts it on a local bridge (compose 1.29
    # always sends it), and so does tuiker.
    for key in ("EnableIPv6", "Ingress", "ConfigOnly"):
        if body.get(key):
            raise ApiError(400, f"{key} is not supported: tuiker makes local IPv4 bridge networks")
    if (body.get("ConfigFrom") or {}).get("Network"):
        raise ApiError(400, "ConfigFrom is not supported: tuiker has no config-only networks")
    if body.get("Scope") not in (None, "", "local"):
        raise ApiError(400, f"scope {body['Scope']!r} is not supported: tuiker's networks are local")
    options = body.get("Options") or {}
    odd = {k: v for k, v in options.items() if _DEFAULT_OPTIONS.get(k) != str(v).lower()}
    if odd:
        raise ApiError(400, f"network options are not supported: {', '.join(sorted(odd))}")
    subnet, gateway = _ipam(body.get("IPAM"))
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict):
        raise ApiError(400, "Labels must be an object")
    with api.lock:
        nid = api.engine.networks.create(name, subnet, gateway, bool(body.get("Internal")),
                                         {str(k): str(v) for k, v in labels.items()})
    return Status(201, {"Id": nid, "Warning": ""})


def _ipam(ipam: object) -> tuple[str | None, str | None]:
    """The one IPv4 pool a bridge network may be given: (subnet, gateway)."""
    if not ipam:
        return None, None
    if not isinstance(ipam, dict):
        raise ApiError(400, "IPAM must be an object")
    if ipam.get("Driver") not in (None, "", "default"):
        raise ApiError(400, f"IPAM driver {ipam['Driver']} is not supported: only the default one")
    if ipam.get("Options"):
        raise ApiError(400, "IPAM options are not supported")
    configs = ipam.get("Config") or []
    if len(configs) > 1:
        raise ApiError(400, "only one IPAM pool (Subnet, Gateway) is supported per network")
    if not configs:
        return None, None
    config = configs[0]
    for key in ("IPRange", "AuxiliaryAddresses", "AuxAddress"):
        if config.get(key):
            raise ApiError(400, f"IPAM {key} is not supported: only Subnet and Gateway")
    if config.get("Gateway") and not config.get("Subnet"):
        raise ApiError(400, "a Gateway needs a Subnet")
    return config.get("Subnet") or None, config.get("Gateway") or None


def delete(api: Api, req: Request) -> None:
    api.engine.networks.remove(req.args["id"])


def connect(api: Api, req: Request) -> None:
    body = req.json({})
    if not isinstance(body, dict) or not body.get("Container"):
        raise ApiError(400, "a connect needs a Container")
    endpoint = body.get("EndpointConfig") or {}
    unsupported = [k for k in ("IPAMConfig", "Links", "MacAddress", "DriverOpts", "IPAddress", "IPv6Gateway",
                               "GlobalIPv6Address") if endpoint.get(k)]
    if unsupported:
        raise ApiError(400, f"EndpointConfig {', '.join(unsupported)} not supported: only Aliases")
    api.engine.networks.connect(req.args["id"], body["Container"], list(endpoint.get("Aliases") or []))


def disconnect(api: Api, req: Request) -> None:
    body = req.json({})
    if not isinstance(body, dict) or not body.get("Container"):
        raise ApiError(400, "a disconnect needs a Container")
    # Force: docker's way out for an endpoint whose container is gone; tuiker's disconnect always clears it.
    api.engine.networks.disconnect(req.args["id"], body["Container"])


def prune(api: Api, req: Request) -> dict:
    filters = req.filters()
    unknown = set(filters) - {"label"}
    if unknown:
        raise ApiError(400, f"invalid filter '{sorted(unknown)[0]}': only label is supported by network prune")
    return {"NetworksDeleted": api.engine.networks.prune(filters.get("label")) or None}


ROUTES = [
    ("GET", "/networks", list_networks),
    ("POST", "/networks/create", create),
    ("POST", "/networks/prune", prune),
    ("GET", "/networks/{id}", inspect),
    ("DELETE", "/networks/{id}", delete),
    ("POST", "/networks/{id}/connect", connect),
    ("POST", "/networks/{id}/disconnect", disconnect),
]
