"""`engine.volumes`: create, list, inspect, remove and prune volumes (docker's `local` driver, runtime/volumes.py), and
the provisioning of a new container's mounts (its volumes and `-v` host directories, made only once it is valid)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from tuiker.base.errors import ConflictError, InvalidArgument, NotFoundError
from tuiker.engine.stores import open_store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from tuiker.runtime.containers import Container
    from tuiker.runtime.volumes import VolumeStore

Volume = dict  # docker's `volume inspect` document: Name, Driver, Mountpoint, CreatedAt, Labels, Options, Scope


class Volumes:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._store: VolumeStore | None = None

    @property
    def store(self) -> VolumeStore:
        if self._store is None:
            from tuiker.runtime.volumes import VolumeStore

            self._store = open_store(VolumeStore, self.root)
        return self._store

    def _containers(self) -> list[Container]:
        from tuiker.runtime.containers import ContainerStore

        return open_store(ContainerStore, self.root).list()

    def create(self, name: str | None = None, labels: dict[str, str] | None = None,
               driver: str = "local", options: dict[str, str] | None = None) -> Volume:
        """A new volume (anonymous without `name`: docker labels it so, and `volume prune` without -a takes it); an
        existing one of that name as it is, as docker's create."""
        if driver != "local":
            # docker's answer (404) for a driver no plugin provides
            raise NotFoundError(f'{f"create {name}: " if name else ""}error looking up volume plugin {driver}:'
                                f' plugin "{driver}" not found')
        if options:
            raise InvalidArgument("volume options (-o) are not supported: local volumes here are plain directories")
        with self.store.lock():
            return self.store.create(name, labels if labels is not None else {}, {} if name else None,
                                     anonymous=not name)[0]

    def get(self, name: str) -> Volume:
        return self.store.get(name)

    inspect = get

    def list(self, filters: list[str] | None = None) -> list[Volume]:
        """Every volume, by name; `filters` as docker's: dangling=true|false, name=SUBSTRING, label=K[=V],
        driver=local."""
        found = self.store.list()
        used = None
        for f in filters or []:
            key, _, value = f.partition("=")
            if key == "dangling":
                if value not in ("true", "false", "1", "0"):
                    raise InvalidArgument(f"invalid filter 'dangling={value}'")
                used = used if used is not None else self._used()
                want = value in ("true", "1")
                found = [v for v in found if (v["Name"] not in used) == want]
            elif key == "name":
                found = [v for v in found if value in v["Name"]]
            elif key == "label":
                k, sep, val = value.partition("=")
                found = [v for v in found if k in (v["Labels"] or {}) and (not sep or v["Labels"][k] == val)]
            elif key == "driver":
                found = [v for v in found if v["Driver"] == value]
            else:
                raise InvalidArgument(f"invalid filter '{key}'")
        return found

    def _used(self) -> set[str]:
        return {m.get("Name") for c in self._containers() for m in c.config.get("mounts") or []
                if m.get("Type") == "volume"}

    def users(self, name: str) -> list[str]:
        """IDs of the containers that use the volume."""
        from tuiker.runtime.volumes import users

        return users(self._containers(), name)

    def remove(self, name: str, force: bool = False) -> None:
        """docker's `volume rm`: refused while a container (running or not) uses it; `force` only makes a missing
        volume no error."""
        from tuiker.runtime.volumes import users

        with self.store.lock():
            try:
                self.store.get(name)
            except NotFoundError:
                if force:
                    return
                raise
            using = users(self._containers(), name)
            if using:
                raise ConflictError(f"remove {name}: volume is in use - [{', '.join(using)}]")
            self.store.delete(name)

    def prune(self, all_volumes: bool = False, only: set[str] | None = None) -> tuple[list[str], int]:
        """Remove the volumes no container uses: anonymous ones only unless `all_volumes` (docker 23's rule), and
        of those only the ones in `only` if given (a filter's result); their names and the bytes freed."""
        from tuiker.runtime.volumes import is_anonymous

        gone, freed = [], 0
        with self.store.lock():
            used = self._used()
            for v in self.store.list():
                if v["Name"] in used or not (all_volumes or is_anonymous(v)) or (only is not None
                                                                                   and v["Name"] not in only):
                    continue
                freed += self.store.size(v["Name"])
                self.store.delete(v["Name"])
                gone.append(v["Name"])
        return gone, freed

    def size(self, name: str) -> int:
        return self.store.size(name)

    def usage(self) -> list[tuple[Volume, int, int]]:
        """Every volume with the number of containers that use it and its size (`system df`)."""
        containers = self._containers()
        counts: dict[str, int] = {}
        for c in containers:
            for name in {m.get("Name") for m in c.config.get("mounts") or [] if m.get("Type") == "volume"}:
                counts[name] = counts.get(name, 0) + 1
        return [(v, counts.get(v["Name"], 0), self.store.size(v["Name"])) for v in self.store.list()]

    @contextmanager
    def provision(self, mounts: list[dict]) -> Iterator[None]:
        """Make what a new container's mounts need: its volumes (named ones only if missing) and the host
        directories `-v` names that do not exist, then run the body (which writes the container) under the volumes
        lock, so no `volume rm` slips in between. If the body fails, what was made here is removed again."""
        store = self.store
        made_volumes: list[str] = []
        made_dirs: list[str] = []
        with store.lock():
            try:
                for m in mounts:
                    if m["Type"] == "volume":
                        labels = m.pop("VolumeLabels", None)
                        volume, made = store.create(m["Name"], labels, anonymous=m.get("Anonymous", False))
                        m["Name"] = volume["Name"]
                        m["Source"] = volume["Mountpoint"]
                        if made:
                            made_volumes.append(volume["Name"])
                    elif m["Type"] == "bind" and m.pop("CreateSource", False) and not os.path.lexists(m["Source"]):
                        # docker's -v makes a missing host directory (--mount refuses it instead).
                        missing = [m["Source"]]
                        while not os.path.lexists(os.path.dirname(missing[-1])):
                            missing.append(os.path.dirname(missing[-1]))
                        os.makedirs(m["Source"], 0o755)
                        made_dirs.append(missing[-1])
                yield
            except BaseException:
                for name in made_volumes:
                    store.delete(name)
                import shutil

                for path in made_dirs:
                    shutil.rmtree(path, ignore_errors=True)
                raise
