"""`tuiker build`: a Dockerfile's stages, step by step, into images.

The result follows BuildKit's Dockerfile frontend (what modern docker builds): its config (Env, Cmd, Entrypoint,
WorkingDir, User, ExposedPorts, Volumes, Labels, StopSignal, Healthcheck, OnBuild), its history lines
(`RUN /bin/sh -c make # buildkit`), its file system (WORKDIR made, owned by USER; COPY --from keeps owners; a step
that changes nothing adds no layer), and only the stages the target needs are built.

The cache is the classic builder's: every step commits an image (an intermediate one, hidden from `images`), and
a step is found again by its parent image and its key (cache.py): the instruction as resolved, the config it
leaves, and for COPY/ADD the hash of the sources' content and metadata (not mtimes), for RUN the command and the
build args in scope (so a changed ARG misses at its first RUN). An unchanged rebuild is then the same image ID.

RUN runs in a real container of the engine (network bridge unless --network says otherwise), made from the
step's parent image with the image's VOLUMEs unmounted (BuildKit keeps what RUN writes there) and no
healthcheck; what it wrote in its upper dir, less the mount points the engine made there, is the layer. COPY,
ADD and WORKDIR write into a scratch overlay (files.py).

Progress goes out as BuildEvents, for the CLI's plain output, the TUI's build view and the API's stream."""

from __future__ import annotations

import copy
import json
import os
import posixpath
import time
from collections.abc import Callable
from pathlib import Path

from tuiker.base.errors import NotFoundError, TuikerError
from tuiker.base.times import now_iso
from tuiker.engine.build.cache import BuildCache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from tuiker.engine.build.context import BuildContext
    from tuiker.engine.build.dockerfile import Dockerfile, Instruction, Stage
    from tuiker.engine.containers import Containers
    from tuiker.engine.images import Images
    from tuiker.image.newimage import Layer

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ["/bin/sh", "-c"]
HISTORY_COMMENT = "buildkit.dockerfile.v0"
BUILD_LABEL = "tuiker.build.pid"  # on RUN containers: a dead build's are swept by the next build
# Made by the engine in a RUN container's upper dir (runtime/spawn ENGINE_PATHS), never the command's doing.
_MOUNT_POINTS = ("proc", "sys", "dev", "etc/hostname", "etc/hosts", "etc/resolv.conf")


class BuildOptions:
    """What `build` takes, as docker's flags name it. A plain class (see RunOptions)."""

    def __init__(self, context: str, dockerfile: str | None = None, tags: list[str] | None = None,
                 build_args: dict[str, str | None] | None = None, target: str | None = None, no_cache: bool = False,
                 pull: bool = False, labels: dict[str, str] | None = None, platform: str | None = None,
                 network: str = "bridge", stdin: BinaryIO | None = None,
                 logins: dict[str, tuple[str, str]] | None = None) -> None:
        self.context = context
        self.dockerfile = dockerfile
        self.tags = tags or []
        self.build_args = build_args or {}
        self.target = target
        self.no_cache = no_cache
        self.pull = pull
        self.labels = labels or {}
        self.platform = platform
        self.network = network
        self.stdin = stdin  # what context "-" is read from (default: the process's stdin; the API: the body)
        # Registry host -> (user, password) for pulling base images, instead of the stored credentials (the API's
        # X-Registry-Config).
        self.logins = logins or {}


class BuildEvent:
    """One thing a build reports. `kind`:
      step    a vertex starts: `text` is its title (`[2/5] RUN make`), `instruction` the Dockerfile's text,
              `number`/`total` its place among the instructions of the stages built (the classic `Step 2/9`)
      output  a line the step printed (`stream` stdout|stderr), `seconds` since the step started
      cached  the step's result came from the cache (`image`: that image)
      done    the step ended, after `seconds` (`image`: the stage's image after it, "" for none yet)
      error   the step failed: `text` says why
      info    a line about the step (`writing image sha256:...`)
      container  a RUN step's container was made: `text` is its ID (the classic builder's `Running in`)
    `vertex` numbers the steps as `--progress=plain` prints them (#1, #2 ...)."""

    __slots__ = ("kind", "vertex", "text", "instruction", "number", "total", "stream", "seconds", "image")

    def __init__(self, kind: str, vertex: int, text: str = "", instruction: str = "", number: int = 0,
                 total: int = 0, stream: str = "", seconds: float = 0.0, image: str = "") -> None:
        self.kind = kind
        self.vertex = vertex
        self.text = text
        self.instruction = instruction
        self.number = number
        self.total = total
        self.stream = stream
        self.seconds = seconds
        self.image = image

    def __repr__(self) -> str:
        return f"BuildEvent({self.kind}, #{self.vertex}, {self.text!r})"


class BuildResult:
    def __init__(self, image_id: str, tags: list[str]) -> None:
        self.image_id = image_id
        self.tags = tags


class _StageState:
    """A stage as it is built: its image so far (ID, config document, layers) and what is scoped to it."""

    def __init__(self, name: str | None, index: int) -> None:
        self.name = name
        self.index = index
        self.image_id: str | None = None
        self.doc: dict = {}
        self.layers: list[Layer] = []
        self.args: dict[str, str | None] = {}  # ARGs declared in the stage (None: declared without a value)
        self.cmd_set = False  # a CMD in this stage: ENTRYPOINT then keeps it
        self.meta: dict[str, str] = {}  # the global ARGs: a bare ARG in the stage takes its value from them
        self.escape = "\\"
        self.built: dict[int, _StageState] = {}  # the stages built before this one (COPY --from)
        self.ctx: BuildContext | None = None

    @property
    def config(self) -> dict:
        return self.doc.setdefault("config", {})

    def env(self) -> dict[str, str]:
        """What $VAR means in the stage's instructions: its build args, then its ENV (ENV wins)."""
        found = {k: v for k, v in self.args.items() if v is not None}
        for item in self.config.get("Env") or []:
            key, _, value = item.partition("=")
            found[key] = value
        return found


class Builder:
    def __init__(self, images: Images, containers: Containers, progress: Callable[[BuildEvent], None] | None = None):
        self.images = images
        self.containers = containers
        self.store = images.store
        self.cache = BuildCache(images.root)
        self._emit = progress or (lambda event: None)
        self._vertex = 0
        self.opts: BuildOptions | None = None
        self._removals: list = []  # scratch roots being removed in the background (files.scratch_root)
        self._number = 0  # the instruction being built, among all of the stages built (classic `Step N/M`)
        self._total = 0
        self._step_started = 0.0
        self._cached = False
        self._monitor_start = None  # the thread starting the monitor (_warm_monitor)

    # -- the whole build ---------------------------------------------------------------------------------------

    def build(self, opts: BuildOptions) -> BuildResult:
        from tuiker.engine.build.context import open_context
        from tuiker.image import reference

        self.opts = opts
        tags = [self._full_tag(t) for t in opts.tags]
        self._check_platform(opts.platform)
        if opts.network not in ("bridge", "default", "host", "none"):
            self.containers.networks.inspect(opts.network)  # docker: an unknown network fails the build up front
        sweep_build_containers(self.containers)
        work = self.store.tmp_path("-context")
        with self.store.lease():  # no garbage collection takes a layer before its image is recorded
            work.mkdir(mode=0o700)
            try:
                vertex = self._start("[internal] load build definition from " + (opts.dockerfile or "Dockerfile"))
                try:
                    ctx = open_context(opts.context, opts.dockerfile, work, opts.stdin)
                    dockerfile = self._parse(ctx)
                except TuikerError as e:
                    self._emit(BuildEvent("error", vertex, str(e)))
                    raise
                self._done(vertex)
                final = self._build_stages(dockerfile, ctx)
                if opts.labels:
                    cfg = copy.deepcopy(final.config)
                    cfg["Labels"] = {**(cfg.get("Labels") or {}), **opts.labels}
                    self._commit(final, "LABEL (--label) " + json.dumps(opts.labels, sort_keys=True), cfg, None)
                image_id = self._export(final, tags)
            except BaseException:
                for removal in self._removals:  # a failed build leaves nothing behind when it returns
                    removal.wait()
                if self._monitor_start is not None:
                    # The monitor it began starting is up (its pid file written) before the build returns: one
                    # that came up later, after its root was cleaned away, would run on alone.
                    self._monitor_start.join()
                raise
            finally:
                import shutil

                shutil.rmtree(work, ignore_errors=True)
            # A build that succeeded does not wait for the scratch roots' removal (after the layer writer's
            # fsyncs, unlinking costs ~2 ms a file here): it ends on its own, and the store's sweep takes
            # what it would not have removed.
        return BuildResult(image_id, [reference.familiar(t) for t in tags])

    @staticmethod
    def _full_tag(name: str) -> str:
        from tuiker.image import reference

        try:
            ref = reference.parse(name)
        except TuikerError as e:
            raise TuikerError(f'invalid argument "{name}" for "-t, --tag" flag: {e}') from None
        if ref.digest:
            raise TuikerError(f'invalid argument "{name}" for "-t, --tag" flag: invalid reference format')
        return f"{ref.name}:{ref.tag}"

    @staticmethod
    def _check_platform(platform: str | None) -> None:
        if not platform:
            return
        from tuiker.image import manifest

        wanted, host = manifest.parse_platform(platform), manifest.host_platform()
        if (wanted.os, wanted.architecture, wanted.variant) != (host.os, host.architecture, host.variant):
            raise TuikerError(f'"{platform}" is not a platform this engine builds for: only the host\'s ({host}),'
                              " as docker without a multi-platform builder")

    def _parse(self, ctx: BuildContext) -> Dockerfile:
        from tuiker.engine.build.dockerfile import parse

        return parse(ctx.dockerfile_text())

    def _build_stages(self, df: Dockerfile, ctx: BuildContext) -> _StageState:
        from tuiker.engine.build.shell import expand_word

        meta = self._meta_args(df)
        target = df.stage_index(self.opts.target) if self.opts.target else len(df.stages) - 1
        bases = [expand_word(s.base, meta, df.escape) for s in df.stages]
        needed = self._needed(df, bases, target)
        if any(inst.cmd == "run" for i in needed for inst in df.stages[i].instructions):
            self._warm_monitor()
        self._total = sum(1 + len(df.stages[i].instructions) for i in needed)
        self._number = 0
        built: dict[int, _StageState] = {}
        for stage in df.stages[:target + 1]:
            if stage.index in needed:
                built[stage.index] = self._build_stage(df, stage, bases[stage.index], built, ctx, meta,
                                                       multi=len(needed) > 1)
        return built[target]

    def _warm_monitor(self) -> None:
        """Start the engine's monitor now, in the background, if it does not run: it takes about a second to come
        up, which the steps before the first RUN hide (a fresh engine root, the usual case of a first build)."""
        monitor = self.containers.monitor
        if monitor.alive():
            return
        import socket  # noqa: F401 - what the thread imports, imported here: our helpers fork meanwhile
        import threading

        def start() -> None:
            try:
                monitor.connect().close()
            except OSError:
                pass  # the first RUN connects again, and says why it cannot

        self._monitor_start = threading.Thread(target=start, name="monitor-start", daemon=True)
        self._monitor_start.start()

    def _meta_args(self, df: Dockerfile) -> dict[str, str]:
        """The ARGs before the first FROM: usable in FROM lines, and as defaults of a stage's bare ARG."""
        from tuiker.engine.build.shell import expand_word
        from tuiker.image import manifest

        host = manifest.host_platform()
        meta: dict[str, str] = {}  # BuildKit's automatic platform ARGs first (the host's: the only platform here)
        for side in ("BUILD", "TARGET"):
            meta.update({f"{side}PLATFORM": str(host), f"{side}OS": host.os, f"{side}ARCH": host.architecture,
                         f"{side}VARIANT": host.variant or ""})
        for inst in df.meta_args:
            for item in inst.args:
                name, sep, default = item.partition("=")
                if name in self.opts.build_args and self.opts.build_args[name] is not None:
                    meta[name] = self.opts.build_args[name]
                elif sep:
                    meta[name] = expand_word(default, meta, df.escape)
        return meta

    @staticmethod
    def _needed(df: Dockerfile, bases: list[str], target: int) -> set[int]:
        """The stages the target needs (its FROM chain and COPY --from sources), as BuildKit builds only those."""
        names = {s.name.lower(): s.index for s in df.stages if s.name}
        needed: set[int] = set()
        todo = [target]
        while todo:
            index = todo.pop()
            if index in needed:
                continue
            needed.add(index)
            stage = df.stages[index]
            base = names.get(bases[index].lower())
            if base is not None and base < index:
                todo.append(base)
            for inst in stage.instructions:
                source = inst.flag("from") if inst.cmd == "copy" else None
                if source is None:
                    continue
                if source.isdigit() and int(source) < index:
                    todo.append(int(source))
                elif names.get(source.lower(), index) < index:
                    todo.append(names[source.lower()])
        return needed

    def _build_stage(self, df: Dockerfile, stage: Stage, base: str, built: dict[int, _StageState],
                     ctx: BuildContext, meta: dict[str, str], multi: bool) -> _StageState:
        st = _StageState(stage.name, stage.index)
        st.meta = meta
        st.escape = df.escape
        st.built = built
        st.ctx = ctx
        if stage.platform:
            from tuiker.engine.build.shell import expand_word

            self._check_platform(expand_word(stage.platform, meta, df.escape))
        label = stage.name or f"stage-{stage.index}"
        count = 1 + len(stage.instructions)
        self._number += 1
        title = f"[{label + ' ' if multi else ''}1/{count}] FROM {base}"
        vertex = self._start(title, stage.from_instruction.original)
        triggers = self._from(st, base, built, df, vertex)
        self._done(vertex, st.image_id)
        steps = [(f"ONBUILD {t.original}", t) for t in triggers]
        steps += [(inst.original, inst) for inst in stage.instructions]
        for position, (text, inst) in enumerate(steps, start=2):
            if position - 2 >= len(triggers):
                self._number += 1
            shown = f"[{label + ' ' if multi else ''}{position}/{count + len(triggers)}] {text}"
            self._step(st, inst, shown, text)
        return st

    # -- FROM -------------------------------------------------------------------------------------------------

    def _from(self, st: _StageState, base: str, built: dict[int, _StageState], df: Dockerfile,
              vertex: int) -> list[Instruction]:
        """The stage's starting point; returns the base image's ONBUILD triggers, parsed (they run first)."""
        by_name = {b.name.lower(): b for b in built.values() if b.name}
        if base.lower() in by_name:  # a previous stage
            parent = by_name[base.lower()]
            st.image_id, st.doc, st.layers = parent.image_id, copy.deepcopy(parent.doc), list(parent.layers)
            st.args = dict(parent.args)  # BuildKit: a stage built on another inherits its build args
            st.config.pop("OnBuild", None)
            return []
        if base == "scratch":
            from tuiker.image import manifest

            host = manifest.host_platform()
            st.doc = {"architecture": host.architecture, "os": host.os, "config": {"Env": [f"PATH={DEFAULT_PATH}"]},
                      "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
            return []
        if not base:
            raise TuikerError(f"Dockerfile:{df.stages[st.index].from_instruction.line}: base name (FROM) should"
                              " not be blank")
        image = self._base_image(base, vertex)
        st.image_id = image.id
        st.layers = self._layers_of(image)
        doc = self.images.config(image)
        for key in ("container", "container_config", "docker_version", "parent", "id"):
            doc.pop(key, None)  # the classic builder's fields, which BuildKit's images do not carry
        doc.setdefault("history", [])
        st.doc = doc
        env = st.config.get("Env") or []
        if not any(item.startswith("PATH=") for item in env):
            st.config["Env"] = [*env, f"PATH={DEFAULT_PATH}"]
        triggers = st.config.pop("OnBuild", None) or []
        return [self._trigger(text) for text in triggers]

    def _base_image(self, name: str, vertex: int):
        from tuiker.image import reference

        try:
            reference.parse(name)
        except TuikerError as e:
            raise TuikerError(f'failed to parse stage name "{name}": {e}') from None
        if not self.opts.pull:
            try:
                return self.images.get(name)
            except NotFoundError:
                pass

        def progress(p) -> None:
            if p.id == "" or p.status in ("Pull complete", "Already exists"):
                self._emit(BuildEvent("info", vertex, f"{p.id + ': ' if p.id else ''}{p.status}"))

        login = self.opts.logins.get(reference.parse(name).registry)
        return self.images.pull(name, None, progress, login).image

    def _layers_of(self, image) -> list[Layer]:
        from tuiker.image.newimage import stored_layers

        return stored_layers(self.store, image)

    @staticmethod
    def _trigger(text: str) -> Instruction:
        from tuiker.engine.build.dockerfile import parse

        parsed = parse(f"FROM scratch\n{text}\n")
        inst = parsed.stages[0].instructions[0]
        if inst.cmd in ("onbuild", "from", "maintainer"):
            raise TuikerError(f"{inst.cmd.upper()} isn't allowed as an ONBUILD trigger")
        return inst

    # -- one step ---------------------------------------------------------------------------------------------

    def _start(self, title: str, instruction: str = "") -> int:
        self._vertex += 1
        self._step_started = time.monotonic()
        self._cached = False
        self._emit(BuildEvent("step", self._vertex, title, instruction, self._number, self._total))
        return self._vertex

    def _done(self, vertex: int, image: str | None = None) -> None:
        if self._cached:
            self._emit(BuildEvent("cached", vertex, image=image or ""))
        else:
            self._emit(BuildEvent("done", vertex, seconds=time.monotonic() - self._step_started, image=image or ""))

    def _step(self, st: _StageState, inst: Instruction, title: str, text: str) -> None:
        vertex = self._start(title, text)
        handler = getattr(self, f"_do_{inst.cmd}", None)
        if handler is None:
            raise TuikerError(f"Dockerfile:{inst.line}: {inst.cmd.upper()} is not supported here")
        try:
            handler(st, inst)
        except TuikerError as e:
            self._emit(BuildEvent("error", vertex, str(e)))
            raise
        except BaseException:
            self._emit(BuildEvent("error", vertex, "cancelled"))
            raise
        self._done(vertex, st.image_id)

    def _commit(self, st: _StageState, key: str, cfg: dict, created_by: str | None,
                make_layer: Callable[[], Layer | None] | None = None, author: str | None = None) -> None:
        """The step's image: from the cache when (parent, key) is there, else `make_layer` runs (if any) and
        an intermediate image is recorded with config `cfg` and a history line `created_by`."""
        full_key = BuildCache.key(st.image_id, key + "\n" + json.dumps(cfg, sort_keys=True))
        if not self.opts.no_cache and self._from_cache(st, full_key):
            self._cached = True
            return
        from tuiker.image.newimage import make_image

        layer = make_layer() if make_layer else None
        doc = copy.deepcopy(st.doc)
        doc["config"] = cfg
        if author is not None:
            doc["author"] = author
        now = now_iso()
        doc["created"] = now
        if created_by is not None:
            entry = {"created": now, "created_by": created_by, "comment": HISTORY_COMMENT}
            if layer is None:
                entry["empty_layer"] = True
            doc["history"] = [*doc.get("history", []), entry]
        layers = [*st.layers, layer] if layer else st.layers
        image = make_image(self.store, doc, layers)
        self.cache.put(full_key, image.id)
        st.image_id, st.layers = image.id, layers
        st.doc = json.loads(self.store.read_blob(image.id))

    def _from_cache(self, st: _StageState, key: str) -> bool:
        image_id = self.cache.get(key)
        if image_id is None:
            return False
        try:
            image = self.store.get_image(image_id)
            if not all(self.store.has_layer(d) for d in image.layers):
                return False
            st.doc = json.loads(self.store.read_blob(image.id))
            st.layers = self._layers_of(image)
        except (TuikerError, OSError, ValueError):
            return False
        st.image_id = image.id
        return True

    def _expand(self, st: _StageState, word: str) -> str:
        from tuiker.engine.build.shell import expand_word

        return expand_word(word, st.env(), st.escape)

    def _words(self, st: _StageState, inst: Instruction) -> list[str]:
        """The instruction's arguments expanded: JSON items one by one, else split into words as the shell
        lexer does (quotes kept together)."""
        from tuiker.engine.build.shell import expand_words

        if inst.json:
            return [self._expand(st, a) for a in inst.args]
        env = st.env()
        return [w for a in inst.args for w in expand_words(a, env, st.escape)]

    # -- instructions that change the config only -----------------------------------------------------------

    def _do_env(self, st: _StageState, inst: Instruction) -> None:
        env = st.env()  # one environment for the whole instruction: `ENV a=1 b=$a` sees the old a
        from tuiker.engine.build.shell import expand_word

        cfg = copy.deepcopy(st.config)
        items = list(cfg.get("Env") or [])
        shown = []
        for key, value in inst.key_values():
            key, value = expand_word(key, env, st.escape), expand_word(value, env, st.escape)
            for position, item in enumerate(items):
                if item.partition("=")[0] == key:
                    items[position] = f"{key}={value}"
                    break
            else:
                items.append(f"{key}={value}")
            shown.append(f"{key}={value}")
        cfg["Env"] = items
        text = "ENV " + " ".join(shown)
        self._commit(st, text, cfg, text)

    def _do_label(self, st: _StageState, inst: Instruction) -> None:
        from tuiker.engine.build.shell import expand_word

        env = st.env()
        cfg = copy.deepcopy(st.config)
        labels = dict(cfg.get("Labels") or {})
        shown = []
        for key, value in inst.key_values():
            key, value = expand_word(key, env, st.escape), expand_word(value, env, st.escape)
            labels[key] = value
            shown.append(f"{key}={value}")
        cfg["Labels"] = labels
        text = "LABEL " + " ".join(shown)
        self._commit(st, text, cfg, text)

    def _do_maintainer(self, st: _StageState, inst: Instruction) -> None:
        author = self._expand(st, " ".join(inst.args))
        text = f"MAINTAINER {author}"
        self._commit(st, text, copy.deepcopy(st.config), text, author=author)

    def _do_expose(self, st: _StageState, inst: Instruction) -> None:
        cfg = copy.deepcopy(st.config)
        ports = dict(cfg.get("ExposedPorts") or {})
        for word in self._words(st, inst):
            for port in _port_specs(word, inst.line):
                ports[port] = {}
        cfg["ExposedPorts"] = ports
        text = "EXPOSE map[" + " ".join(f"{p}:{{}}" for p in sorted(ports)) + "]"
        self._commit(st, text, cfg, text)

    def _do_volume(self, st: _StageState, inst: Instruction) -> None:
        cfg = copy.deepcopy(st.config)
        volumes = dict(cfg.get("Volumes") or {})
        added = self._words(st, inst)
        for path in added:
            if not path.strip():
                raise TuikerError(f"Dockerfile:{inst.line}: VOLUME specified can not be an empty string")
            volumes[path] = {}
        cfg["Volumes"] = volumes
        text = f"VOLUME [{' '.join(added)}]"
        self._commit(st, text, cfg, text)

    def _do_user(self, st: _StageState, inst: Instruction) -> None:
        cfg = copy.deepcopy(st.config)
        cfg["User"] = self._expand(st, inst.args[0])
        text = f"USER {cfg['User']}"
        self._commit(st, text, cfg, text)

    def _do_stopsignal(self, st: _StageState, inst: Instruction) -> None:
        from tuiker.engine.containers import check_signal

        cfg = copy.deepcopy(st.config)
        signal = self._expand(st, inst.args[0])
        try:
            cfg["StopSignal"] = check_signal(signal)
        except TuikerError as e:
            raise TuikerError(f"Dockerfile:{inst.line}: {e}") from None
        text = f"STOPSIGNAL {signal}"
        self._commit(st, text, cfg, text)

    def _do_shell(self, st: _StageState, inst: Instruction) -> None:
        cfg = copy.deepcopy(st.config)
        cfg["Shell"] = list(inst.args)
        text = f"SHELL [{' '.join(inst.args)}]"
        self._commit(st, text, cfg, text)

    def _command(self, st: _StageState, inst: Instruction) -> list[str]:
        """CMD/ENTRYPOINT/RUN's argv: exec form as written, shell form through the stage's SHELL."""
        if inst.json:
            return list(inst.args)
        return [*(st.config.get("Shell") or DEFAULT_SHELL), " ".join(inst.args)]

    def _do_cmd(self, st: _StageState, inst: Instruction) -> None:
        cfg = copy.deepcopy(st.config)
        cfg["Cmd"] = self._command(st, inst)
        st.cmd_set = True
        text = f"CMD {_go_quoted(cfg['Cmd'])}"
        self._commit(st, text, cfg, text)

    def _do_entrypoint(self, st: _StageState, inst: Instruction) -> None:
        cfg = copy.deepcopy(st.config)
        cfg["Entrypoint"] = self._command(st, inst)
        if not st.cmd_set:
            cfg["Cmd"] = None  # an ENTRYPOINT resets the CMD it inherited
        text = f"ENTRYPOINT {_go_quoted(cfg['Entrypoint'])}"
        self._commit(st, text, cfg, text)

    def _do_healthcheck(self, st: _StageState, inst: Instruction) -> None:
        from tuiker.engine.build.dockerfile import health_config

        cfg = copy.deepcopy(st.config)
        # Checked by parse(); docker's config leaves out the durations and retries not given (omitempty).
        health = {k: v for k, v in health_config(inst).items() if v or k == "Test"}
        cfg["Healthcheck"] = health
        text = "HEALTHCHECK " + json.dumps(health, separators=(",", ":"))
        self._commit(st, text, cfg, text)

    def _do_arg(self, st: _StageState, inst: Instruction) -> None:
        env = st.env()
        from tuiker.engine.build.shell import expand_word

        given = self.opts.build_args
        for item in inst.args:
            name, sep, default = item.partition("=")
            if name in given and given[name] is not None:
                st.args[name] = given[name]
            elif sep:
                st.args[name] = expand_word(default, env, st.escape)
            else:
                st.args[name] = st.meta.get(name)
        # Keyed (and written to the history) as written, not by the value: a changed --build-arg misses at
        # the ARG's first use, not here (the classic builder's cache).
        text = "ARG " + " ".join(inst.args)
        self._commit(st, text, copy.deepcopy(st.config), text)

    def _do_onbuild(self, st: _StageState, inst: Instruction) -> None:
        cfg = copy.deepcopy(st.config)
        trigger = inst.expression
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), trigger]
        self._commit(st, f"ONBUILD {trigger}", cfg, None)  # BuildKit writes no history line for it

    # -- instructions that change the file system ---------------------------------------------------------

    def _do_workdir(self, st: _StageState, inst: Instruction) -> None:
        cfg = copy.deepcopy(st.config)
        path = self._expand(st, inst.args[0])
        workdir = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", path))
        workdir = "/" + workdir.lstrip("/")
        cfg["WorkingDir"] = workdir
        user = cfg.get("User") or ""

        def mkdir() -> Layer | None:
            from tuiker.engine.build import files

            return self._in_scratch(st, lambda root: root.run(self.store, files.workdir_body(workdir, user))())

        text = f"WORKDIR {workdir}"
        self._commit(st, text + f" (user {user})", cfg, text, mkdir if workdir != "/" else None)

    def _in_scratch(self, st: _StageState, work: Callable) -> Layer | None:
        """Run `work(root)` on a scratch root over the stage's layers; the layer it wrote, or None."""
        from tuiker.engine.build import files
        from tuiker.image.layerwriter import write_layer

        with files.scratch_root(self.store, [layer.diff_id for layer in st.layers], self._removals) as root:
            work(root)
            return write_layer(self.store, root.upper) if root.changed() else None

    def _do_copy(self, st: _StageState, inst: Instruction) -> None:
        self._copy(st, inst, add=False)

    def _do_add(self, st: _StageState, inst: Instruction) -> None:
        self._copy(st, inst, add=True)

    def _copy(self, st: _StageState, inst: Instruction, add: bool) -> None:
        from tuiker.engine.build import files

        what = "ADD" if add else "COPY"
        for flag in ("exclude", "parents", "checksum", "keep-git-dir"):  # --link changes nothing in the result
            if inst.flag_values(flag):
                raise TuikerError(f"Dockerfile:{inst.line}: {what} --{flag} is not supported by this builder")
        words = self._words(st, inst)
        heredocs = {h.name: h for h in inst.heredocs}
        if len(words) < 2:
            raise TuikerError(f"Dockerfile:{inst.line}: {what} requires at least two arguments")
        *sources, dest = words
        chown = inst.flag("chown")
        chown = self._expand(st, chown) if chown else None
        chmod_text = inst.flag("chmod")
        chmod = None
        if chmod_text:
            chmod_text = self._expand(st, chmod_text)
            try:
                chmod = int(chmod_text, 8)
                if not 0 <= chmod <= 0o7777:
                    raise ValueError
            except ValueError:
                raise TuikerError(f"Dockerfile:{inst.line}: invalid chmod parameter: {chmod_text}") from None
        cfg = copy.deepcopy(st.config)
        workdir = cfg.get("WorkingDir") or "/"
        dest_is_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith(("/.", "/.."))
        target = posixpath.normpath(posixpath.join(workdir, dest))
        target = "/" + target.lstrip("/")
        if len(sources) > 1 and not dest_is_dir:
            raise TuikerError(f"Dockerfile:{inst.line}: {files.MULTI_SOURCE}")
        flags = f"--chown={chown or ''} --chmod={chmod_text or ''}"
        from_flag = inst.flag("from")
        for source in sources:
            if source.startswith(("http://", "https://")):
                if add:
                    raise TuikerError(f"Dockerfile:{inst.line}: ADD from a URL ({source}) is not supported: download"
                                      " it with RUN, or into the build context")
                raise TuikerError(f"Dockerfile:{inst.line}: source can't be a URL for COPY")
        shown = f"{what} {' '.join(words)}"
        if from_flag is not None:
            shown = f"{what} --from={from_flag} {' '.join(words)}"
            source_root = self._copy_source(st, from_flag, inst)
            patterns = [posixpath.normpath("/" + s) for s in sources]
            key = f"{what} {flags} from {source_root[0]} {json.dumps(patterns)} in {target}{'/' * dest_is_dir}"

            def feed(fd_out: int) -> Callable[[], None]:
                return self._feed_rootfs(source_root[1], patterns, fd_out)
        elif heredocs and all(s.startswith("<<") for s in sources):
            docs = []
            for s in sources:
                doc = heredocs.get(s.lstrip("<-").strip("'\""))
                if doc is None:
                    raise TuikerError(f"Dockerfile:{inst.line}: no heredoc named {s}")
                content = self._expand_heredoc(st, doc.content) if doc.expand else doc.content
                docs.append((doc.name, content.encode()))
            key = f"{what} {flags} heredoc:{json.dumps([[n, c.decode()] for n, c in docs])} in {target}"

            def feed(fd_out: int) -> Callable[[], None]:
                with os.fdopen(fd_out, "wb") as out:
                    files.pack_heredoc(out, docs)
                return lambda: None
        else:
            ctx = st.ctx
            picked = self._context_sources(ctx, sources, what)
            if len(picked) > 1 and not dest_is_dir:
                raise TuikerError(f"Dockerfile:{inst.line}: {files.MULTI_SOURCE}")
            key = f"{what} {flags} {ctx.source_hash([rel for rel, _, _ in picked])} in {target}" \
                  f"{'/' * dest_is_dir}"

            feed = None

        def place() -> Layer | None:
            if feed is not None:
                return self._in_scratch(st, lambda root: self._pipe(root, feed, target, dest_is_dir, chown, chmod))
            listed = files.context_members(ctx.root, picked, archives=add)
            context_fd = os.open(ctx.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                body = files.place_context(context_fd, listed, target, dest_is_dir, chown, chmod)
                return self._in_scratch(st, lambda root: root.run(self.store, body, keep=(context_fd,))())
            finally:
                os.close(context_fd)

        self._commit(st, key, cfg, f"{shown} # buildkit", place)

    def _pipe(self, root, feed: Callable[[int], Callable[[], None]], target: str, dest_is_dir: bool,
              chown: str | None, chmod: int | None) -> None:
        """The sources into the scratch root, by a helper chrooted there: `feed(fd)` writes them into the pipe
        (closing it) and returns what waits for its own helper, if it has one."""
        from tuiker.engine.build import files

        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            wait_dest = root.run(self.store, files.place_stream(r, target, dest_is_dir, chown, chmod), keep=(r,))
        except BaseException:
            os.close(w)
            raise
        finally:
            os.close(r)
        source_error: BaseException | None = None
        try:
            feed(w)()
        except BaseException as e:  # the helper is reaped all the same: it sees the pipe's end and stops
            source_error = e
        try:
            wait_dest()
        except TuikerError:
            if source_error is None:
                raise
        if source_error is not None:
            raise source_error

    def _feed_rootfs(self, layers: list[str], patterns: list[str], fd_out: int) -> Callable[[], None]:
        """Another stage's (or image's) files into the pipe, packed by a helper chrooted in its root."""
        from tuiker.engine.build import files

        scratch = files.scratch_root(self.store, layers)
        root = scratch.__enter__()
        try:
            wait = root.run(self.store, files.pack_rootfs(fd_out, patterns), keep=(fd_out,))
        except BaseException:
            scratch.__exit__(None, None, None)
            raise
        finally:
            os.close(fd_out)

        def finish() -> None:
            try:
                wait()
            finally:
                scratch.__exit__(None, None, None)
        return finish

    def _copy_source(self, st: _StageState, name: str, inst: Instruction) -> tuple[str, list[str]]:
        """COPY --from: (what identifies its content for the cache, its layers' diff ids)."""
        built: dict[int, _StageState] = st.built
        source = None
        if name.isdigit():
            source = built.get(int(name))
            if source is None:
                raise TuikerError(f"Dockerfile:{inst.line}: invalid stage index {name}" if int(name) >= st.index else
                                  f"Dockerfile:{inst.line}: stage {name} was not built")
        else:
            source = next((b for b in built.values() if b.name and b.name.lower() == name.lower()), None)
            if source is None and name.lower() == (st.name or "").lower():
                raise TuikerError(f'Dockerfile:{inst.line}: circular dependency detected on stage: {name}')
        if source is not None:
            diff_ids = [layer.diff_id for layer in source.layers]
            return source.image_id or json.dumps(diff_ids), diff_ids
        image = self._base_image(name, self._vertex)
        return image.id, list(image.layers)

    @staticmethod
    def _context_sources(ctx: BuildContext, sources: list[str], what: str) -> list[tuple[str, str, list[str]]]:
        """The context paths the sources name (wildcards expanded, .dockerignore applied): (the path as named,
        its real path (symlinks followed inside the context only), the kept entries under it for a directory)."""
        picked = []
        for source in sources:
            for rel in ctx.glob(source, what):
                real = ctx.resolve(rel)
                inside = list(ctx.walk(rel, copying=True)) if real.is_dir() else []
                picked.append((rel, str(real), inside))
        return picked

    def _expand_heredoc(self, st: _StageState, text: str) -> str:
        """A COPY heredoc's content with its variables expanded, quotes kept (BuildKit's SkipProcessQuotes)."""
        from tuiker.engine.build.shell import Lex

        return Lex(st.escape, skip_process_quotes=True).process(text, st.env())[0]

    # -- RUN --------------------------------------------------------------------------------------------------

    def _do_run(self, st: _StageState, inst: Instruction) -> None:
        if inst.flag_values("mount"):
            raise TuikerError(f"Dockerfile:{inst.line}: RUN --mount is not supported by this builder")
        if inst.flag("security") not in (None, "sandbox"):
            raise TuikerError(f"Dockerfile:{inst.line}: RUN --security=insecure is not supported by this builder")
        network = inst.flag("network")
        if network not in (None, "default", "none", "host"):
            raise TuikerError(f'Dockerfile:{inst.line}: unsupported network mode "{network}"')
        argv = self._run_argv(st, inst)
        cfg = copy.deepcopy(st.config)
        args = list(st.args.items())
        prefix = [f"|{len(args)}", *(f"{k}={v or ''}" for k, v in args)] if args else []
        shown = " ".join([*prefix, *argv])
        env_keys = {item.partition("=")[0] for item in cfg.get("Env") or []}
        env = [f"{k}={v}" for k, v in args if v is not None and k not in env_keys]
        # The key: the command and the build args (the classic builder's), and a RUN --network of its own.
        self._commit(st, "RUN " + json.dumps([prefix, argv, network]), cfg, f"RUN {shown} # buildkit",
                     lambda: self._run(st, argv, env, network))

    def _run_argv(self, st: _StageState, inst: Instruction) -> list[str]:
        shell = st.config.get("Shell") or DEFAULT_SHELL
        if inst.json or not inst.heredocs:
            return self._command(st, inst)
        script = " ".join(inst.args)
        first = inst.heredocs[0]
        if len(inst.heredocs) == 1 and script.strip().lstrip("0123456789<-").strip("'\"") == first.name:
            # `RUN <<EOF`: the heredoc is the script (BuildKit). With a #! line, that interpreter reads it.
            if first.content.startswith("#!"):
                import shlex

                interpreter = shlex.join(first.content[2:].splitlines()[0].split())
                return [*shell, f"{interpreter} /dev/stdin <<'{first.name}'\n{first.content}{first.name}"]
            return [*shell, first.content]
        # Several heredocs, or one fed to a command: the shell reads them as written.
        return [*shell, script + "".join(f"\n{h.content}{h.name}" for h in inst.heredocs)]

    def _run(self, st: _StageState, argv: list[str], env: list[str], network: str | None) -> Layer | None:
        from tuiker.engine.containers import RunOptions
        from tuiker.image.layerwriter import write_layer

        if not st.layers or st.image_id is None:
            # An empty root (FROM scratch): as the runtime says it of any command not in the image.
            raise TuikerError(f'exec: "{argv[0]}": stat {argv[0]}: no such file or directory')
        if self._monitor_start is not None:
            self._monitor_start.join()
        network = network or self.opts.network  # RUN --network=, else --network of the build
        network = "bridge" if network == "default" else network
        opts = RunOptions(st.image_id, command=argv, entrypoint=[""], env=env, network=network,
                          labels={BUILD_LABEL: str(os.getpid())}, no_healthcheck=True, image_volumes=False)
        c = self.containers.create(opts)
        try:
            self._emit(BuildEvent("container", self._vertex, c.id))
            code = self._stream(c)
            if code != 0:
                raise TuikerError(f"The command '{' '.join(argv)}' returned a non-zero code: {code}")
            c = self.containers.get(c.id)
            upper = c.dir / "upper"
            drop_mount_points(upper, [self.store.layer_dir(layer.diff_id) / "diff" for layer in st.layers])
            return write_layer(self.store, upper) if any(os.scandir(upper)) else None
        finally:
            try:
                self.containers.remove(c.id, force=True)
            except TuikerError:
                pass

    def _stream(self, c) -> int:
        """Start the RUN container attached; its output lines as events while it runs; its exit code."""
        from tuiker.engine.containers import ContainerStartError

        try:
            session = self.containers.start_attached(c.id)
        except ContainerStartError as e:  # no such command, no such USER: the runtime's words, as docker's
            raise TuikerError(str(e)) from None
        vertex, started = self._vertex, self._step_started
        partial = {"stdout": b"", "stderr": b""}
        try:
            while not session.done:
                for stream, data in session.read():
                    lines = (partial[stream] + data).split(b"\n")
                    partial[stream] = lines.pop()
                    for line in lines:
                        self._emit(BuildEvent("output", vertex, line.decode(errors="replace"), stream=stream,
                                              seconds=time.monotonic() - started))
        finally:
            session.close()
        for stream, rest in partial.items():
            if rest:
                self._emit(BuildEvent("output", vertex, rest.decode(errors="replace"), stream=stream,
                                      seconds=time.monotonic() - started))
        if session.exit_code is not None:
            return session.exit_code
        return self.containers.wait(c.id)

    # -- the result -----------------------------------------------------------------------------------------

    def _export(self, final: _StageState, tags: list[str]) -> str:
        vertex = self._start("exporting to image")
        if final.image_id is None:  # FROM scratch and nothing else
            from tuiker.image.newimage import make_image

            final.doc["created"] = now_iso()
            final.image_id = make_image(self.store, final.doc, []).id
        self.cache.mark_result(final.image_id)
        self._emit(BuildEvent("info", vertex, f"writing image {final.image_id} done", image=final.image_id))
        for tag in tags:
            self.store.tag(final.image_id, tag)
            self._emit(BuildEvent("info", vertex, f"naming to {tag} done"))  # in full, as BuildKit
        self._cached = False
        self._done(vertex)
        return final.image_id


def drop_mount_points(upper: Path, lowers: list[Path]) -> None:
    """Remove from a RUN container's upper dir what the engine made there to mount on (/proc, /dev, /etc/hosts
    ...: empty, the command cannot write into them), and a directory copied up or made only to hold them, as
    docker's init layer keeps them out of the image."""
    for rel in _MOUNT_POINTS:
        path = upper / rel
        try:
            if path.is_dir() and not path.is_symlink():
                os.rmdir(path)  # only if empty: a mount point the command could not write into
            elif path.is_file() and not path.is_symlink() and path.stat().st_size == 0:
                path.unlink()
        except OSError:
            continue
    etc = upper / "etc"
    if etc.is_dir() and not etc.is_symlink() and not any(os.scandir(etc)):
        st = etc.lstat()
        same = [(lo / "etc").lstat() for lo in lowers if (lo / "etc").is_dir()]
        if not same or (stat_key(same[-1]) == stat_key(st) and not _opaque(etc)):
            os.rmdir(etc)


def stat_key(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_mode, st.st_uid, st.st_gid


def _opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
    except OSError:
        return False


def sweep_build_containers(containers: Containers) -> None:
    """Remove the RUN containers of builds whose process died (killed mid-step): each carries its builder's pid."""
    from tuiker.base.fsutil import pid_alive

    for c in containers.store.list():
        pid = (c.config.get("Config", {}).get("Labels") or {}).get(BUILD_LABEL)
        if pid and pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            try:
                containers.remove(c.id, force=True)
            except TuikerError:
                pass


def _go_quoted(items: list[str] | None) -> str:
    """Go's %q of a []string: `["sh" "-c" "echo hi"]`."""
    return "[" + " ".join(json.dumps(i) for i in items or []) + "]"


def _port_specs(word: str, line: int) -> list[str]:
    """EXPOSE's `80`, `80/udp`, `8000-8002/tcp` as docker's nat.ParsePortSpecs reads them: `80/tcp` ..."""
    port, _, proto = word.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise TuikerError(f"Dockerfile:{line}: Invalid proto: {proto}")
    start, sep, end = port.partition("-")
    try:
        first, last = int(start), int(end) if sep else int(start)
        if not (0 < first <= 65535 and 0 < last <= 65535 and first <= last):
            raise ValueError
    except ValueError:
        raise TuikerError(f"Dockerfile:{line}: invalid containerPort: {port}") from None
    return [f"{p}/{proto}" for p in range(first, last + 1)]
