"""`/build`, the classic builder's endpoint (what clients use with DOCKER_BUILDKIT=0), and `/build/prune`.

The body is the context as a tar (plain or compressed, often chunked); the engine's builder runs it and its
BuildEvents are told as the classic builder's JSON lines: `Step 2/5 : RUN make`, ` ---> Running in ...`, the
RUN's output, ` ---> Using cache`, ` ---> <image>`, then `Successfully built` / `Successfully tagged`."""

from __future__ import annotations

from tuiker.api.images import LazyStream, registry_logins
from tuiker.api.server import Api, ApiError, Request
from tuiker.engine import TuikerError

# Parameters that would change the build, with the value that means "not used" (the docker CLI sends them all).
_UNSUPPORTED = {"remote": "", "squash": "", "isolation": "default", "cpusetcpus": "", "cpusetmems": "",
                "cpushares": "0", "cpuquota": "0", "cpuperiod": "0", "memory": "0", "memswap": "0",
                "cgroupparent": "", "shmsize": "0", "ulimits": "[]", "cachefrom": "[]", "extrahosts": "",
                "securityopt": "", "outputs": ""}


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _check_unsupported(req: Request) -> None:
    for key, unused in _UNSUPPORTED.items():
        for value in req.query_all(key):
            if value in ("", unused, "null", "0", "false") or (key == "isolation" and value == "default"):
                continue
            raise ApiError(400, f"build: {key}={value} is not supported by tuiker's builder")
    if req.query("version") not in (None, "", "1"):
        raise ApiError(400, "build: only the classic builder (version=1) is served; BuildKit's session is not")


def _pairs(req: Request, name: str) -> dict:
    value = req.json_query(name, {}) or {}
    if not isinstance(value, dict):
        raise ApiError(400, f"invalid {name}: expected a JSON object")
    return value


class ClassicOutput:
    """BuildEvents as the classic builder's lines. Only the Dockerfile's instructions are steps (the engine's
    `[internal]` and export vertices have no instruction and say nothing here)."""

    def __init__(self, out: LazyStream, quiet: bool, remove: bool) -> None:
        self.out = out
        self.quiet = quiet
        self.remove = remove  # rm/forcerm: says `Removing intermediate container` (tuiker removes them anyway)
        self.steps: set[int] = set()
        self.containers: dict[int, str] = {}
        self.failed = False

    def say(self, text: str) -> None:
        if not self.quiet:
            self.out.send({"stream": text})

    def __call__(self, event) -> None:
        kind, v = event.kind, event.vertex
        if kind == "error":
            if self.out.started:  # else the build's exception is answered with its status
                self.failed = True
                self.out.fail(TuikerError(event.text))
        elif kind == "step" and event.instruction and not event.instruction.startswith("ONBUILD "):
            self.steps.add(v)
            self.say(f"Step {event.number}/{event.total} : {event.instruction}")
            self.say("\n")  # a line of its own, as dockerd sends it
        elif v not in self.steps:
            return
        elif kind == "container":
            self.containers[v] = event.text
            self.say(f" ---> Running in {_short(event.text)}\n")
        elif kind == "output":
            # The classic builder paints a RUN's stderr red (ANSI 91), as dockerd 20.10 sends it.
            self.say(f"\x1b[91m{event.text}\n\x1b[0m" if event.stream == "stderr" else event.text + "\n")
        elif kind == "cached":
            self.say(" ---> Using cache\n")
            self.say(f" ---> {_short(event.image)}\n")
        elif kind == "done":
            if v in self.containers and self.remove:
                self.say(f"Removing intermediate container {_short(self.containers[v])}\n")
            self.say(f" ---> {_short(event.image)}\n")


def build(api: Api, req: Request) -> None:
    from tuiker.engine import BuildOptions

    _check_unsupported(req)
    network = req.query("networkmode") or "default"
    network = "bridge" if network == "default" else network
    build_args = _pairs(req, "buildargs")
    labels = _pairs(req, "labels")
    quiet = req.flag("q")
    opts = BuildOptions("-", dockerfile=req.query("dockerfile") or None, tags=req.query_all("t"),
                        build_args={k: (None if v is None else str(v)) for k, v in build_args.items()},
                        target=req.query("target") or None, no_cache=req.flag("nocache"), pull=req.flag("pull"),
                        labels={str(k): str(v) for k, v in labels.items()}, platform=req.query("platform") or None,
                        network=network, stdin=req.body_stream(), logins=registry_logins(req))
    out = LazyStream(req)
    # dockerd: rm is true unless the client says otherwise (docker-py says rm=False by default).
    remove = req.flag("rm", True) or req.flag("forcerm")
    progress = ClassicOutput(out, quiet, remove)
    try:
        result = api.engine.builds.build(opts, progress)
    except (TuikerError, OSError) as e:
        if not progress.failed:  # the builder's own error event already said it
            out.fail(e)
        out.close()
        return
    out.send({"aux": {"ID": result.image_id}})
    if quiet:
        out.send({"stream": result.image_id + "\n"})
    else:
        out.send({"stream": f"Successfully built {_short(result.image_id)}\n"})
        for tag in result.tags:
            out.send({"stream": f"Successfully tagged {tag}\n"})
    out.close()


def prune(api: Api, req: Request) -> dict:
    if req.filters() or req.flag("all") or req.query("keep-storage") not in (None, "", "0"):
        raise ApiError(400, "build cache prune: filters, all and keep-storage are not supported (it drops the"
                            " whole cache)")
    _entries, deleted, reclaimed = api.engine.builds.prune()
    return {"CachesDeleted": deleted or None, "SpaceReclaimed": reclaimed}


ROUTES = [
    ("POST", "/build", build),
    ("POST", "/build/prune", prune),
]
