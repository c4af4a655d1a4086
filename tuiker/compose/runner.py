"""What the compose verbs do to the engine: a project's networks, volumes and containers made, started,
stopped and removed in dependency order, found again by their labels. Progress is reported through
`report(kind, name, status)` (` Container p-web-1  Started`, as compose prints it); nothing here prints."""

from __future__ import annotations

import time

from tuiker.base.errors import NotFoundError, TuikerError
from tuiker.compose import project as labels
from tuiker.compose.project import parse_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from tuiker.compose.project import Project
    from tuiker.engine import BuildEvent, Container, Engine

    BuildProgress = Callable[[str, BuildEvent], None]  # (service, event): a build's progress, per service

LIVE = ("running", "paused", "restarting")


def _quiet(kind: str, name: str, status: str) -> None:
    pass


class Compose:
    """A project (None for the verbs that need only its name, such as `down -p NAME` without a file) on an
    engine; `report` receives the progress events."""

    def __init__(self, engine: Engine, project: Project | None, name: str | None = None,
                 report: Callable[[str, str, str], None] = _quiet) -> None:
        self.engine = engine
        self.project = project
        self.name = project.name if project else name
        self.report = report

    # -- the project's containers, by their labels -------------------------------------------------------

    def containers(self, services: list[str] | None = None, all: bool = True, oneoff: bool = False) -> list[Container]:
        """The project's containers (of `services` if given), by service order then number."""
        found = []
        for c in self.engine.containers.list(all=all):
            lab = c.config["Config"].get("Labels") or {}
            if lab.get(labels.PROJECT) != self.name:
                continue
            if (lab.get(labels.ONEOFF) == "True") != oneoff:
                continue
            if services and lab.get(labels.SERVICE) not in services:
                continue
            found.append(c)
        order = {s: i for i, s in enumerate(self.project.order() if self.project else [])}
        return sorted(found, key=lambda c: (order.get(service_of(c), len(order)), service_of(c), number_of(c)))

    def orphans(self) -> list[Container]:
        known = set(self.project.all_services) if self.project else set()
        return [c for c in self.containers() if service_of(c) not in known]

    def _stop_timeout(self, service: str | None, timeout: float | None) -> float | None:
        if timeout is not None or not self.project or service not in self.project.services:
            return timeout
        grace = self.project.services[service].get("stop_grace_period")
        return parse_duration(grace, "stop_grace_period") / 1e9 if grace else None

    # -- up --------------------------------------------------------------------------------------------------

    def up(self, services: list[str] | None = None, force_recreate: bool = False, no_deps: bool = False,
           remove_orphans: bool = False, build: str = "missing", pull_progress=None,
           timeout: float | None = None, build_progress: BuildProgress | None = None) -> list[Container]:
        """Images pulled or built (`build` as for _ensure_images), networks and volumes made, each service's
        containers created (or recreated when the service or its image changed, or kept), then started in
        dependency order, waiting for each dependency's condition. The containers. `timeout`: the seconds a
        container stopped for its removal gets (else its stop_grace_period, or 10)."""
        p = self._need_project()
        order = p.order(services, with_deps=not no_deps)
        image_ids = self._ensure_images(order, build, pull_progress, build_progress)
        orphans = self.orphans()
        if orphans and remove_orphans:
            for c in orphans:
                self._remove(c, stop=True, timeout=timeout)
        elif orphans:
            self.report("Warning", "", f"Found orphan containers ({', '.join(c.name for c in orphans)}) for this"
                        " project. If you removed or renamed this service in your compose file, you can run this"
                        " command with the --remove-orphans flag to clean it up.")
        self._make_networks(order)
        self._make_volumes(order)
        by_service = {}
        for s in order:
            by_service[s] = self._converge(s, force_recreate, image_ids.get(s), timeout)
        for s in order:
            self._wait_for_dependencies(s, order)
            for c in by_service[s]:
                c = c.reload()
                if c.status == "running":
                    continue
                self.report("Container", c.name, "Starting")
                self.engine.containers.start(c.id)
                self.report("Container", c.name, "Started")
        return [c for s in order for c in by_service[s]]

    def _need_project(self) -> Project:
        if self.project is None:
            raise TuikerError("no configuration file provided: not found")
        return self.project

    # -- images: pulled or built ------------------------------------------------------------------------------

    def _ensure_images(self, order: list[str], build: str = "missing", pull_progress=None,
                       build_progress: BuildProgress | None = None) -> dict[str, str]:
        """compose's ensureImagesExists: the image a service names pulled when missing (always with
        `pull_policy: always`, never with `never`; a failed pull is no error for a service that can build it),
        a service's build section built when its image is still missing, or always with `build` "always"
        (up --build) or `pull_policy: build`, never with "never" (--no-build). Returns each service's image ID,
        for the containers' com.docker.compose.image label."""
        p = self.project
        to_build = []
        pulled: set[str] = set()  # each image once, whatever the services naming it
        for s in order:
            cfg = p.services[s]
            name = p.image_name(s)
            policy = cfg.get("pull_policy", "missing")
            buildable = "build" in cfg and build != "never"
            if buildable and (build == "always" or policy == "build"):
                to_build.append(s)
                continue
            if "image" in cfg and name not in pulled and (policy == "always" or policy not in ("never", "build")
                                                          and self._image_id(name) is None):
                pulled.add(name)
                try:
                    self._pull(s, pull_progress)
                    continue
                except (TuikerError, OSError) as e:
                    if not buildable:
                        raise
                    self.report("Warning", "", f"pull of {name} failed ({e}): building it")
            if self._image_id(name) is not None:
                continue
            if not buildable:
                raise NotFoundError(f"No such image: {name}")
            to_build.append(s)
        self._build(to_build, progress=build_progress)
        return {s: image_id for s in order if (image_id := self._image_id(p.image_name(s)))}

    def _image_id(self, name: str) -> str | None:
        try:
            return self.engine.images.get(name).id
        except NotFoundError:
            return None

    def build(self, services: list[str] | None = None, no_cache: bool = False, pull: bool = False,
              progress: BuildProgress | None = None, build_args: list[str] | None = None) -> dict[str, str]:
        """docker compose build: the images of `services` (all) that have a build section, `build_args`
        (`K=V`, or `K` for the environment's value) over their args. Returns {image name: image ID}."""
        from tuiker.compose.loader import resolve_args

        p = self._need_project()
        return self._build([s for s in p.order(services, with_deps=False) if "build" in p.services[s]], no_cache,
                           pull, progress, resolve_args(build_args or [], p.environment, "--build-arg"))

    def _build(self, services: list[str], no_cache: bool = False, pull: bool = False,
               progress: BuildProgress | None = None, build_args: dict[str, str] | None = None) -> dict[str, str]:
        """Each service's build section built, once per image name (services naming the same image share
        its build, as compose keys its builds by image name)."""
        import tempfile
        from pathlib import Path

        p = self.project
        built: dict[str, str] = {}
        for s in services:
            name = p.image_name(s)
            if name in built:
                continue
            opts = p.build_options(s, no_cache, pull, build_args)
            self.report("Service", s, "Building")
            with tempfile.TemporaryDirectory(prefix="tuiker-compose-") as tmp:
                inline = p.services[s]["build"].get("dockerfile_inline")
                if inline is not None:  # the builder takes a Dockerfile outside the context as docker does
                    opts.dockerfile = str(Path(tmp) / "Dockerfile")
                    Path(opts.dockerfile).write_text(inline)
                result = self.engine.builds.build(opts, None if progress is None else
                                                  lambda event, s=s: progress(s, event))
            built[name] = result.image_id
            self.report("Service", s, "Built")
        return built

    def _make_networks(self, order: list[str]) -> None:
        p = self.project
        wanted = {n for s in order for n in p.services[s]["networks"]}
        for key in sorted(wanted):
            net = p.networks[key]
            try:
                self.engine.networks.inspect(net["name"])
                continue
            except NotFoundError:
                if net.get("external"):
                    raise TuikerError(f"network {net['name']} declared as external, but could not be found") from None
            self.report("Network", net["name"], "Creating")
            subnet = gateway = None
            for c in (net.get("ipam") or {}).get("config", []):
                subnet, gateway = c.get("subnet"), c.get("gateway")
            self.engine.networks.create(net["name"], subnet, gateway, bool(net.get("internal")), {
                **(net.get("labels") or {}), labels.PROJECT: p.name, labels.NETWORK: key,
                labels.VERSION: labels.COMPOSE_VERSION})
            self.report("Network", net["name"], "Created")

    def _make_volumes(self, order: list[str]) -> None:
        p = self.project
        wanted = {v["source"] for s in order for v in p.services[s].get("volumes") or []
                  if v["type"] == "volume" and v.get("source")}
        for key in sorted(wanted):
            vol = p.volumes[key]
            volumes = self._volumes()
            try:
                volumes.inspect(vol["name"])
                continue
            except NotFoundError:
                if vol.get("external"):
                    raise TuikerError(f"external volume \"{vol['name']}\" not found") from None
            self.report("Volume", f'"{vol["name"]}"', "Creating")
            volumes.create(vol["name"], {**(vol.get("labels") or {}), labels.PROJECT: p.name, labels.VOLUME: key,
                                         labels.VERSION: labels.COMPOSE_VERSION})
            self.report("Volume", f'"{vol["name"]}"', "Created")

    def _volumes(self):
        volumes = getattr(self.engine, "volumes", None)
        if volumes is None:
            raise TuikerError("named volumes need the engine's volume service, which this build does not have")
        return volumes

    def _converge(self, service: str, force_recreate: bool, image_id: str | None,
                  timeout: float | None) -> list[Container]:
        """The service's containers 1..scale: kept when their config hash and image match, else recreated;
        extra ones removed."""
        p = self.project
        scale = p.services[service]["scale"]
        want = p.config_hash(service)
        current = {number_of(c): c for c in self.containers([service])}
        kept = []
        for number in range(1, scale + 1):
            c = current.pop(number, None)
            if c is not None and not force_recreate and labels_of(c).get(labels.HASH) == want and \
                    labels_of(c).get(labels.IMAGE) == image_id:
                if c.status in LIVE:
                    self.report("Container", c.name, "Running")
                kept.append(c)
                continue
            if c is not None:
                self.report("Container", c.name, "Recreate")
                self._remove(c, stop=True, quiet=True, timeout=self._stop_timeout(service, timeout))
                made = self._create(service, number, image_id=image_id)
                self.report("Container", made.name, "Recreated")
            else:
                name = p.container_name(service, number)
                self.report("Container", name, "Creating")
                made = self._create(service, number, image_id=image_id)
                self.report("Container", made.name, "Created")
            kept.append(made)
        for c in sorted(current.values(), key=number_of, reverse=True):
            self._remove(c, stop=True, timeout=self._stop_timeout(service, timeout))
        return kept

    def _create(self, service: str, number: int, **overrides) -> Container:
        p = self.project
        opts = p.run_options(service, number, **overrides)
        c = self.engine.containers.create(opts)
        try:
            for net in list(p.services[service]["networks"])[1:]:
                self.engine.networks.connect(p.network_name(net), c.id, p.aliases(service, net))
        except BaseException:
            self.engine.containers.remove(c.id, force=True)
            raise
        return c

    def _wait_for_dependencies(self, service: str, order: list[str]) -> None:
        """Each dependency's condition: started, healthy, or exited 0 (compose waits for as long as it takes)."""
        for dep, spec in self.project.services[service]["depends_on"].items():
            if dep not in order:
                continue
            condition = spec["condition"]
            if condition == "service_started":
                continue
            for c in self.containers([dep]):
                self.report("Container", c.name, "Waiting")
                while True:
                    c = c.reload()
                    if condition == "service_healthy":
                        health = c.health
                        if health is None:
                            raise TuikerError(f"dependency failed to start: container {c.name} has no healthcheck"
                                              " configured")
                        if health == "healthy":
                            self.report("Container", c.name, "Healthy")
                            break
                        if health == "unhealthy":
                            raise TuikerError(f"dependency failed to start: container {c.name} is unhealthy")
                        if c.status not in LIVE:
                            raise TuikerError(f"dependency failed to start: container {c.name} exited"
                                              f" ({c.state.get('ExitCode', 0)})")
                    elif c.status not in LIVE and c.status != "created":
                        code = c.state.get("ExitCode", 0)
                        if code != 0:
                            raise TuikerError(f'service "{dep}" didn\'t complete successfully: exit {code}')
                        self.report("Container", c.name, "Exited")
                        break
                    time.sleep(0.1)

    # -- down, start, stop, restart ------------------------------------------------------------------------

    def down(self, volumes: bool = False, remove_orphans: bool = False, timeout: float | None = None,
             rmi: str | None = None) -> None:
        """Containers stopped in reverse dependency order and removed, then the project's networks (with `rmi`
        "local" or "all", its images as _images_to_remove finds them; with `volumes`, its named volumes and the
        containers' anonymous ones)."""
        if rmi not in (None, "local", "all"):
            raise TuikerError(f"invalid --rmi flag value {rmi!r}: must be local or all")
        images = self._images_to_remove(rmi, remove_orphans) if rmi else []
        gone = self.containers()
        orphans = self.orphans()
        if not remove_orphans:
            gone = [c for c in gone if c not in orphans]
            if orphans:
                self.report("Warning", "", f"Found orphan containers ({', '.join(c.name for c in orphans)}) for"
                            " this project. If you removed or renamed this service in your compose file, you can run"
                            " this command with the --remove-orphans flag to clean it up.")
        gone += self.containers(oneoff=True)
        for c in reversed(gone):
            self._remove(c, stop=True, volumes=volumes, timeout=self._stop_timeout(service_of(c), timeout))
        for net in self.engine.networks.list():
            lab = net.get("Labels") or {}
            if lab.get(labels.PROJECT) == self.name:
                if any(c for c in orphans if not remove_orphans and net["Name"] in networks_names(c)):
                    continue
                self.report("Network", net["Name"], "Removing")
                self.engine.networks.remove(net["Name"])
                self.report("Network", net["Name"], "Removed")
        for image in images:
            self.report("Image", image, "Removing")
            try:
                self.engine.images.remove(image)
            except NotFoundError:
                self.report("Image", image, "Warning: No resource found to remove")
            except TuikerError:
                self.report("Image", image, "Resource is still in use")
            else:
                self.report("Image", image, "Removed")
        if volumes:
            for vol in self._volumes().list([f"label={labels.PROJECT}={self.name}"]):
                self.report("Volume", vol["Name"], "Removing")
                self._volumes().remove(vol["Name"])
                self.report("Volume", vol["Name"], "Removed")

    def _images_to_remove(self, mode: str, remove_orphans: bool) -> list[str]:
        """compose's ImagePruner: "local" is the images compose built for the project (labelled with it) of its
        services (of any service with `remove_orphans`), and the `<project>-<service>` images of its services
        without an `image`; "all" adds the services' `image`s. Without a compose file, the services are those
        of the project's containers, and their images the containers'."""
        from tuiker.engine import familiar_name

        if self.project is not None:
            services = {s: self.project.services[s].get("image") for s in self.project.services}
        else:
            services = {service_of(c): c.config["Config"].get("Image") for c in self.containers()}
        found = [image for image in services.values() if image] if mode == "all" else []
        for image in self.engine.images.list():
            lab = self.engine.images.config(image).get("config", {}).get("Labels") or {}
            if image.repo_tags and lab.get(labels.PROJECT) == self.name and \
                    (remove_orphans or lab.get(labels.SERVICE) in services):
                found.append(image.repo_tags[0])
        found += [f"{self.name}-{s}" for s, image in services.items() if not image]
        return sorted({familiar_name(n, default_tag=True) for n in found if self._image_id(n) is not None})

    def _remove(self, c: Container, stop: bool, volumes: bool = False, quiet: bool = False,
                timeout: float | None = None) -> None:
        if stop and c.status in LIVE:
            if not quiet:
                self.report("Container", c.name, "Stopping")
            self.engine.containers.stop(c.id, timeout)
            if not quiet:
                self.report("Container", c.name, "Stopped")
        if not quiet:
            self.report("Container", c.name, "Removing")
        if volumes:
            self.engine.containers.remove(c.id, force=True, volumes=True)
        else:
            self.engine.containers.remove(c.id, force=True)
        if not quiet:
            self.report("Container", c.name, "Removed")

    def start(self, services: list[str] | None = None) -> None:
        found = self.containers(services)
        if not found:
            raise TuikerError("no containers to start")
        for c in found:
            if c.status not in LIVE:
                self.report("Container", c.name, "Starting")
                self.engine.containers.start(c.id)
                self.report("Container", c.name, "Started")

    def stop(self, services: list[str] | None = None, timeout: float | None = None) -> None:
        for c in reversed(self.containers(services)):
            if c.status in LIVE:
                self.report("Container", c.name, "Stopping")
                self.engine.containers.stop(c.id, self._stop_timeout(service_of(c), timeout))
                self.report("Container", c.name, "Stopped")

    def restart(self, services: list[str] | None = None, timeout: float | None = None) -> None:
        found = self.containers(services)
        for c in found:
            self.report("Container", c.name, "Restarting")
            self.engine.containers.restart(c.id, self._stop_timeout(service_of(c), timeout))
            self.report("Container", c.name, "Started")

    def pull(self, services: list[str] | None = None, progress=None) -> None:
        p = self._need_project()
        for s in p.order(services, with_deps=False):
            if "image" in p.services[s]:
                self._pull(s, progress)

    def _pull(self, service: str, progress=None) -> None:
        image = self.project.services[service]["image"]
        self.report("Image", image, "Pulling")
        self.engine.images.pull(image, self.project.services[service].get("platform"), progress)
        self.report("Image", image, "Pulled")

    # -- one-off containers and exec --------------------------------------------------------------------------

    def run(self, service: str, command: list[str] | None, no_deps: bool = False,
            build_progress: BuildProgress | None = None, **overrides) -> Container:
        """A one-off container of `service` (`project-service-run-<id>`), its dependencies up first; created,
        not started (the caller starts it attached or detached)."""
        import secrets

        p = self._need_project()
        if service not in p.services:
            raise TuikerError(f"no such service: {service}")
        deps = [s for s in p.order([service]) if s != service]
        image_id = self._ensure_images([service], "missing", build_progress=build_progress).get(service)
        if deps and not no_deps:
            self.up(deps, build_progress=build_progress)
        else:
            self._make_networks([service])
            self._make_volumes([service])
        name = overrides.pop("name", None) or f"{p.name}-{service}-run-{secrets.token_hex(6)}"
        return self._create(service, 1, name=name, oneoff=True, command=command, image_id=image_id, **overrides)

    def find(self, service: str, index: int = 1) -> Container:
        """Container `index` of `service` (what `exec` runs in)."""
        if self.project is not None and service not in self.project.services:
            raise TuikerError(f"no such service: {service}")
        for c in self.containers([service]):
            if number_of(c) == index:
                return c
        raise TuikerError(f"service \"{service}\" is not running")


def labels_of(c: Container) -> dict:
    return c.config["Config"].get("Labels") or {}


def service_of(c: Container) -> str:
    return labels_of(c).get(labels.SERVICE, "")


def number_of(c: Container) -> int:
    try:
        return int(labels_of(c).get(labels.NUMBER, "0"))
    except ValueError:
        return 0


def networks_names(c: Container) -> list[str]:
    return list((c.config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}) + \
        [c.config["HostConfig"].get("NetworkMode", "")]
