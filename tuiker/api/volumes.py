"""`/volumes`: list, create, inspect, delete, prune, over `engine.volumes` (docker's `local` driver)."""

from __future__ import annotations

from tuiker.api.server import Api, ApiError, Request, Status

_FILTERS = ("name", "label", "driver", "dangling")


def list_volumes(api: Api, req: Request) -> dict:
    filters = req.filters()
    unknown = set(filters) - set(_FILTERS)
    if unknown:
        raise ApiError(400, f"invalid filter '{sorted(unknown)[0]}'")
    volumes = api.engine.volumes.list()
    # docker: each key's values are alternatives, the keys all apply
    for key, values in filters.items():
        if values:
            keep = set().union(*(_names(api, [f"{key}={value}"]) for value in values))
            volumes = [v for v in volumes if v["Name"] in keep]
    return {"Volumes": volumes, "Warnings": []}


def create(api: Api, req: Request) -> Status:
    body = req.json({})
    if not isinstance(body, dict):
        raise ApiError(400, "invalid JSON body: expected an object")
    if body.get("ClusterVolumeSpec"):
        raise ApiError(400, "cluster volumes are not supported: tuiker has no swarm")
    labels = body.get("Labels") or {}
    if not isinstance(labels, dict):
        raise ApiError(400, "Labels must be an object")
    volume = api.engine.volumes.create(body.get("Name") or None, {str(k): str(v) for k, v in labels.items()},
                                       body.get("Driver") or "local", body.get("DriverOpts") or None)
    return Status(201, volume)


def inspect(api: Api, req: Request) -> dict:
    return api.engine.volumes.get(req.args["name"])


def delete(api: Api, req: Request) -> None:
    api.engine.volumes.remove(req.args["name"], force=req.flag("force"))


def prune(api: Api, req: Request) -> dict:
    filters = req.filters()
    unknown = set(filters) - {"label", "label!", "all"}
    if unknown:
        raise ApiError(400, f"invalid filter '{sorted(unknown)[0]}': volume prune takes label, label! and all")
    all_values = filters.get("all") or []
    if any(v not in ("true", "false", "1", "0") for v in all_values):
        raise ApiError(400, f"invalid filter 'all={all_values[0]}'")
    # API 1.42 made prune take anonymous volumes only unless all=true; older clients still get every one.
    all_volumes = any(v in ("true", "1") for v in all_values) or not req.at_least("1.42")
    only = None
    if filters.get("label") or filters.get("label!"):
        only = _names(api, [])
        for want in filters.get("label") or []:
            only &= _names(api, [f"label={want}"])
        for unwanted in filters.get("label!") or []:
            only -= _names(api, [f"label={unwanted}"])
    gone, freed = api.engine.volumes.prune(all_volumes, only)
    return {"VolumesDeleted": gone or None, "SpaceReclaimed": freed}


def _names(api: Api, filters: list[str]) -> set[str]:
    return {v["Name"] for v in api.engine.volumes.list(filters)}


ROUTES = [
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/create", create),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", delete),
]
