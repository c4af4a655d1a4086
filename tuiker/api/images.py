"""Images: list, pull (`/images/create`, docker's JSON progress), inspect, history, tag, push, delete, prune,
save (`/get`), load, import (`fromSrc`) and `/commit`, over `engine.images`.

A pull or push answers with a status only until its first progress line: an error before that (no such image
in the registry, denied) is an HTTP error as docker's, one after it an `errorDetail` line in the stream."""

from __future__ import annotations

import base64
import json
import os
import re
import threading

from tuiker.api.server import Api, ApiError, ChunkedWriter, Request, Status
from tuiker.engine import TuikerError, familiar_name, one_line, tag_matches

CHUNK = 1 << 20


# -- streams ----------------------------------------------------------------------------------------------------------
class LazyStream:
    """A JSON-lines answer that starts (200, chunked) with its first line: until then a failure can still be
    answered with docker's status code. Lines may come from several threads (a pull's layers)."""

    def __init__(self, req: Request) -> None:
        self._req = req
        self._out: ChunkedWriter | None = None
        self._lock = threading.Lock()

    @property
    def started(self) -> bool:
        return self._out is not None

    def send(self, value: object) -> None:
        with self._lock:
            if self._out is None:
                self._out = self._req.stream()
            self._out.write_json(value)

    def fail(self, error: Exception) -> None:
        """Raise `error` if nothing was sent yet (the server answers it), else end the stream with it."""
        if self._out is None:
            raise error
        message = one_line(error.message if isinstance(error, ApiError) else error)
        self.send({"errorDetail": {"message": message}, "error": message})

    def close(self) -> None:
        with self._lock:
            if self._out is None:
                self._out = self._req.stream()
            self._out.close()


def _header_json(req: Request, name: str) -> dict | None:
    header = req.headers.get(name, "").strip()
    if not header:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        raise ApiError(400, f"invalid {name} header: not base64url-encoded JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, f"invalid {name} header: not a JSON object")
    return data


def registry_login(req: Request) -> tuple[str, str] | None:
    """The credentials of `X-Registry-Auth` (base64url JSON: username/password, or an identitytoken), or None: the
    engine's stored ones (`tuiker login`, ~/.docker/config.json) then apply."""
    data = _header_json(req, "X-Registry-Auth")
    return None if data is None else _login_of(data)


def registry_logins(req: Request) -> dict[str, tuple[str, str]]:
    """`X-Registry-Config` (a build's: base64url JSON, one auth config per registry) as {host: login}."""
    from tuiker.engine import registry_host

    logins = {}
    for server, data in (_header_json(req, "X-Registry-Config") or {}).items():
        login = _login_of(data) if isinstance(data, dict) else None
        if login:
            logins[registry_host(data.get("serveraddress") or server)] = login
    return logins


def _login_of(data: dict) -> tuple[str, str] | None:
    if data.get("registrytoken"):
        raise ApiError(400, "X-Registry-Auth: registry tokens are not supported here; send username and password"
                            " or an identity token")
    if data.get("identitytoken"):
        from tuiker.engine import IDENTITY_TOKEN_USER

        return IDENTITY_TOKEN_USER, str(data["identitytoken"])
    if not data.get("username") and not data.get("password"):
        return None  # `{}`: the client has no credentials for this registry
    return str(data.get("username") or ""), str(data.get("password") or "")


def _human(n: float) -> str:
    """go-units' HumanSize: four significant digits, decimal units."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.4g}{unit}"
        n /= 1000
    return f"{n:.4g}TB"


def _bar(current: int, total: int) -> str:
    """docker's JSONProgress.String(): `[==>   ]  1.2MB/3.4MB`."""
    if total <= 0:
        return ""
    width = 50
    bars = min(int(current / total * width), width - 1)
    return f"[{'=' * bars}>{' ' * (width - bars - 1)}] {_human(current):>8}/{_human(total)}"


class PullProgress:
    """The engine's pull Progress as docker's lines: `Pulling fs layer`, `Downloading` with progressDetail,
    `Download complete`, `Extracting`, `Pull complete`, `Already exists`. The engine unpacks while it downloads:
    its `Pull complete` is the end of both, so `Extracting` is said once there, whole."""

    _PULLING = re.compile(r"^(\S+): Pulling from ")

    def __init__(self, out: LazyStream, name: str) -> None:
        self.out = out
        self.path = _repository_path(name)
        self._downloaded: set[str] = set()

    def __call__(self, p) -> None:
        if not p.id:
            m = self._PULLING.match(p.status)
            # docker names the repository by its path in the registry: `Pulling from library/alpine`.
            self.out.send({"status": f"Pulling from {self.path}", "id": m.group(1)} if m else {"status": p.status})
            return
        if p.status == "Waiting":
            self.out.send({"status": "Pulling fs layer", "progressDetail": {}, "id": p.id})
        elif p.status in ("Downloading", "Extracting"):
            self.out.send({"status": p.status, "progressDetail": {"current": p.current, "total": p.total},
                           "progress": _bar(p.current, p.total), "id": p.id})
            if p.status == "Downloading" and p.total and p.current >= p.total:
                self._download_complete(p.id)
        elif p.status == "Pull complete":
            self._download_complete(p.id)
            self.out.send({"status": "Extracting", "progressDetail": {"current": p.total, "total": p.total},
                           "progress": _bar(p.total, p.total), "id": p.id})
            self.out.send({"status": "Pull complete", "progressDetail": {}, "id": p.id})
        else:
            self.out.send({"status": p.status, "progressDetail": {}, "id": p.id})

    def _download_complete(self, layer: str) -> None:
        if layer not in self._downloaded:  # the engine checks the blob's digest as its last bytes arrive
            self._downloaded.add(layer)
            self.out.send({"status": "Verifying Checksum", "progressDetail": {}, "id": layer})
            self.out.send({"status": "Download complete", "progressDetail": {}, "id": layer})


class PushProgress:
    """The engine's push Progress as docker's lines; after each tag's `TAG: digest: D size: N`, docker's aux
    record of it."""

    _DIGEST = re.compile(r"^(\S+): digest: (sha256:[0-9a-f]+) size: (\d+)$")

    def __init__(self, out: LazyStream) -> None:
        self.out = out

    def __call__(self, p) -> None:
        if not p.id:
            self.out.send({"status": p.status})
            m = self._DIGEST.match(p.status)
            if m:
                self.out.send({"progressDetail": {}, "aux": {"Tag": m.group(1), "Digest": m.group(2),
                                                             "Size": int(m.group(3))}})
            return
        line: dict = {"status": p.status, "progressDetail": {}, "id": p.id}
        if p.status == "Pushing" and p.total:
            line["progressDetail"] = {"current": p.current, "total": p.total}
            line["progress"] = _bar(p.current, p.total)
        self.out.send(line)


# -- list, inspect, history -------------------------------------------------------------------------------------------
def _created(image) -> int:
    from tuiker.engine import parse_time

    return int(parse_time(image.created) or 0)


def list_images(api: Api, req: Request) -> list[dict]:
    images = api.engine.images
    old = not req.at_least("1.44")
    filters = req.filters()
    rows = []
    for image in images.list(all=req.flag("all"), filters=filters):
        tags = [familiar_name(t) for t in image.repo_tags]
        digests = [familiar_name(d) for d in image.repo_digests]
        if filters.get("reference"):  # docker shows only the names that matched
            tags = [t for t in tags if tag_matches(t, filters["reference"])]
            digests = [d for d in digests if tag_matches(d, filters["reference"])]
        row = {"Id": image.id, "ParentId": "",
               # Before 1.44 an untagged image showed docker's placeholders.
               "RepoTags": tags or (["<none>:<none>"] if old else []),
               "RepoDigests": digests or (["<none>@<none>"] if old else []),
               "Created": _created(image), "Size": image.size, "SharedSize": -1,
               "Labels": images.labels(image) or {}, "Containers": -1}
        if old:
            row["VirtualSize"] = image.size
        rows.append(row)
    return rows


def inspect_image(api: Api, req: Request) -> dict:
    images = api.engine.images
    doc = images.inspect(req.args["name"])
    # What moby's schema requires beyond the engine's document (the TUI and CLI show that one as it is).
    doc.update({"Container": "", "DockerVersion": "",  # the classic builder's: no container made the image
                "GraphDriver": {"Name": "overlay2", "Data": images.layer_dirs(doc["Id"])}})
    if not req.at_least("1.44"):
        doc["VirtualSize"] = doc["Size"]
    return doc


def history(api: Api, req: Request) -> list[dict]:
    return api.engine.images.history(req.args["name"])


def tag_image(api: Api, req: Request) -> Status:
    repo = req.query("repo") or ""
    if not repo:
        raise ApiError(400, "repository name must have at least one component")
    tag = req.query("tag") or ""
    api.engine.images.tag(req.args["name"], f"{repo}:{tag}" if tag else repo)
    return Status(201)


# -- pull, import, push -----------------------------------------------------------------------------------------------
def create_image(api: Api, req: Request) -> None:
    if req.query("fromSrc"):
        return _import(api, req)
    name = req.query("fromImage") or ""
    if not name:
        raise ApiError(400, "either fromImage or fromSrc is required")
    if req.query("repo") or req.query("message") or req.query_all("changes"):
        raise ApiError(400, "repo, message and changes go with fromSrc (an import), not with fromImage")
    tag = req.query("tag") or ""
    if tag:
        name = f"{name}@{tag}" if tag.startswith("sha256:") else f"{name}:{tag}"
    elif not _has_tag_or_digest(name):
        raise ApiError(400, "pulling every tag of a repository is not supported: name a tag")
    login = registry_login(req)
    out = LazyStream(req)
    images = api.engine.images
    try:
        result = images.pull(name, req.query("platform") or None, PullProgress(out, name), login)
    except (TuikerError, OSError) as e:
        out.fail(e)
    else:
        out.send({"status": f"Digest: {result.repo_digest}"})
        state = "Downloaded newer image" if result.downloaded else "Image is up to date"
        out.send({"status": f"Status: {state} for {familiar_name(result.reference)}"})
    out.close()


def _repository_path(name: str) -> str:
    """The repository's path in its registry: `library/alpine` for alpine, `team/app` for host:5000/team/app."""
    name = name.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    first, _, rest = name.partition("/")
    hub = True
    if rest and ("." in first or ":" in first or first == "localhost"):
        hub = first in ("docker.io", "index.docker.io", "registry-1.docker.io")
        name = rest
    return f"library/{name}" if hub and "/" not in name else name


def _has_tag_or_digest(name: str) -> bool:
    return "@" in name or ":" in name.rsplit("/", 1)[-1]


def _import(api: Api, req: Request) -> None:
    source = req.query("fromSrc") or ""
    repo, tag = req.query("repo") or "", req.query("tag") or ""
    repository = (f"{repo}:{tag}" if tag else repo) or None
    out = LazyStream(req)
    stdin = req.body_stream() if source == "-" else None
    image = api.engine.images.import_(source, repository, req.query_all("changes"), req.query("message") or "",
                                      req.query("platform") or None, stdin)
    out.send({"status": image.id})
    out.close()


def push_image(api: Api, req: Request) -> None:
    name = req.args["name"]
    tag = req.query("tag") or ""
    if "@" in name or (tag and tag.startswith("sha256:")):
        raise ApiError(400, "cannot push a digest reference")
    all_tags = False
    if tag:
        name = f"{name}:{tag}"
    elif not _has_tag_or_digest(name):
        all_tags = True  # docker: no tag pushes every tag of the repository
    login = registry_login(req)
    out = LazyStream(req)
    try:
        api.engine.images.push(name, all_tags, PushProgress(out), login)
    except (TuikerError, OSError) as e:
        out.fail(e)
    out.close()


# -- delete, prune ----------------------------------------------------------------------------------------------------
def delete_image(api: Api, req: Request) -> list[dict]:
    # noprune keeps untagged parents: tuiker's images have no parent chain, so there is never one to keep.
    done = api.engine.images.remove(req.args["name"], force=req.flag("force"))
    return [{verb: what} for verb, what in done]


def prune_images(api: Api, req: Request) -> dict:
    done, reclaimed = api.engine.images.prune(filters=req.filters())
    return {"ImagesDeleted": [{verb: what} for verb, what in done] or None, "SpaceReclaimed": reclaimed}


# -- save, load -------------------------------------------------------------------------------------------------------
def get_image(api: Api, req: Request) -> None:
    _save(api, req, [req.args["name"]])


def get_images(api: Api, req: Request) -> None:
    names = [n for value in req.query_all("names") for n in value.split(",") if n]
    if not names:
        raise ApiError(400, "no images named: give names=IMAGE (repeatable)")
    _save(api, req, names)


def _save(api: Api, req: Request, names: list[str]) -> None:
    """docker save's tar, streamed as the engine writes it (into a pipe: nothing is spooled to disk)."""
    images = api.engine.images
    for name in names:
        images.get(name)  # 404 before the stream starts
    read_end, write_end = os.pipe()
    failed: list[BaseException] = []

    def write() -> None:
        try:
            images.save(names, f"/proc/self/fd/{write_end}")
        except BaseException as e:  # noqa: BLE001 - reported after the stream, the thread must not die loud
            failed.append(e)
        finally:
            os.close(write_end)

    writer = threading.Thread(target=write, name="api-save", daemon=True)
    writer.start()
    out = None
    try:
        with os.fdopen(read_end, "rb") as pipe:
            out = req.stream("application/x-tar")
            while data := pipe.read(CHUNK):
                out.write(data)
    finally:
        writer.join()
    if failed:
        # The tar is cut short: the client sees a broken stream, not a complete-looking archive.
        raise failed[0]
    out.close()


def load_images(api: Api, req: Request) -> None:
    loaded = api.engine.images.load_stream(req.body_stream())
    out = req.stream()
    for name in loaded:
        text = f"Loaded image ID: {name}" if name.startswith("sha256:") else f"Loaded image: {name}"
        out.write_json({"stream": text + "\n"})
    out.close()


# -- commit -----------------------------------------------------------------------------------------------------------
# The body's container config, as the Dockerfile instructions the engine's commit takes.
_CONFIG_CHANGES = {
    "Cmd": lambda v: f"CMD {json.dumps(v)}",
    "Entrypoint": lambda v: f"ENTRYPOINT {json.dumps(v)}",
    "Env": lambda v: [f"ENV {item}" for item in v if "=" in item],
    "ExposedPorts": lambda v: [f"EXPOSE {port}" for port in v],
    "Labels": lambda v: [f"LABEL {json.dumps(k)}={json.dumps(val)}" for k, val in v.items()],
    "User": lambda v: f"USER {v}",
    "WorkingDir": lambda v: f"WORKDIR {v}",
    "Volumes": lambda v: [f"VOLUME {json.dumps([path])}" for path in v],
    "StopSignal": lambda v: f"STOPSIGNAL {v}",
}


def commit(api: Api, req: Request) -> Status:
    container = req.query("container") or ""
    if not container:
        raise ApiError(400, "no container given: container=NAME|ID")
    changes = list(req.query_all("changes"))
    config = req.json(None)
    if config is not None and not isinstance(config, dict):
        raise ApiError(400, "the body must be a container config (a JSON object)")
    for key, value in (config or {}).items():
        if value in (None, "", [], {}, False, 0):
            continue
        if key not in _CONFIG_CHANGES:
            raise ApiError(400, f"commit: config field {key!r} is not supported (supported: "
                                f"{', '.join(_CONFIG_CHANGES)})")
        made = _CONFIG_CHANGES[key](value)
        changes += made if isinstance(made, list) else [made]
    repo, tag = req.query("repo") or "", req.query("tag") or ""
    repository = (f"{repo}:{tag}" if tag else repo) or None
    image = api.engine.containers.commit(container, repository, author=req.query("author") or "",
                                         comment=req.query("comment") or "", changes=changes,
                                         pause=req.flag("pause", True))
    return Status(201, {"Id": image.id})


def auth(api: Api, req: Request) -> dict:
    """docker login: the credentials are checked with the registry, not kept (the client keeps them)."""
    body = req.json({})
    if not isinstance(body, dict) or not body.get("username"):
        raise ApiError(400, "login: a username and password are required (identity tokens are not checked here)")
    try:
        api.engine.images.check_login(body.get("serveraddress") or None, str(body["username"]),
                                      str(body.get("password") or ""))
    except TuikerError as e:
        raise ApiError(401, f"login failed: {one_line(e)}") from None
    return {"Status": "Login Succeeded", "IdentityToken": ""}


def search(api: Api, req: Request) -> None:
    raise ApiError(501, "image search is not supported by tuiker: registries are reached by image name only")


ROUTES = [
    ("GET", "/images/json", list_images),
    ("POST", "/images/create", create_image),
    ("GET", "/images/search", search),
    ("GET", "/images/get", get_images),
    ("POST", "/images/load", load_images),
    ("POST", "/images/prune", prune_images),
    ("GET", "/images/{name:path}/json", inspect_image),
    ("GET", "/images/{name:path}/history", history),
    ("GET", "/images/{name:path}/get", get_image),
    ("POST", "/images/{name:path}/tag", tag_image),
    ("POST", "/images/{name:path}/push", push_image),
    ("DELETE", "/images/{name:path}", delete_image),
    ("POST", "/commit", commit),
    ("POST", "/auth", auth),
]
