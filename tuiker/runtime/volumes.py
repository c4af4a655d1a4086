"""Volumes on disk: docker's `local` driver, a directory per volume under the engine root.

    volumes/<name>/_data          the volume's content (its Mountpoint), bind-mounted into containers
    volumes/<name>/volume.json    CreatedAt, Labels, Options, Anonymous

A volume's name is docker's: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, so it is always one plain path component. Anonymous
volumes (an image's VOLUME, `-v /path`) get 64 hex digits and the label docker gives them. Creation goes through a
staging directory renamed into place, so a volume exists whole or not at all; removal renames it away first.
Who uses a volume is read from the containers' configs ("mounts"), under the volumes lock that `create` of a
container also holds while it resolves its mounts: a volume in use cannot be removed between the two.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from tuiker.base.errors import InvalidArgument, NotFoundError, TuikerError
from tuiker.base.fsutil import flocked, private_dir, read_json, write_new
from tuiker.runtime.events import emit

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidArgument(f'create {name}: "{name}" includes invalid characters for a local volume name,'
                              ' only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host'
                              " directory, use absolute path")
    return name


class VolumeStore:
    def __init__(self, root: Path) -> None:
        self.root = private_dir(root, "volumes")
        self.lock_path = private_dir(root, "locks") / "volumes.lock"

    def lock(self):
        """Held while volumes are made or removed, and while a container's mounts are resolved."""
        return flocked(self.lock_path)

    def mountpoint(self, name: str) -> Path:
        return self.root / name / "_data"

    def exists(self, name: str) -> bool:
        return _NAME.fullmatch(name) is not None and (self.root / name / "volume.json").is_file()

    def create(self, name: str | None = None, labels: dict[str, str] | None = None,
               options: dict[str, str] | None = None, anonymous: bool = False) -> tuple[dict, bool]:
        """Under the lock: the volume `name` (a random one if None; made if missing: docker's create is
        idempotent), and whether it was made now. `anonymous` ones (a container's, not named by the user) carry
        docker's label, which `volume prune` without -a and `rm -v` go by."""
        if name is None:
            name = os.urandom(32).hex()
        check_name(name)
        if self.exists(name):
            return self.get(name), False
        if anonymous:
            labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        record = {"CreatedAt": created, "Labels": labels, "Options": options, "Anonymous": anonymous}
        staging = self.root / f".new-{os.urandom(8).hex()}"
        try:
            staging.mkdir(mode=0o700)
            # _data is what containers see as the mount's root: 0755 root:root as docker makes it (copy-up gives it
            # the image directory's owner and mode on first use).
            (staging / "_data").mkdir()
            os.chmod(staging / "_data", 0o755)
            write_new(staging / "volume.json", json.dumps(record).encode())
            os.rename(staging, self.root / name)
        except FileExistsError:
            _remove_tree(staging)  # a half-removed volume of that name (killed during remove): sweep first
            raise TuikerError(f"volume {name} is being removed; try again") from None
        except BaseException:
            _remove_tree(staging)
            raise
        emit(self.root.parent, "volume", "create", name, {"driver": "local"})
        return self.get(name), True

    def get(self, name: str) -> dict:
        """docker's `volume inspect` document."""
        if not _NAME.fullmatch(name):
            raise NotFoundError(f"get {name}: no such volume")
        try:
            record = read_json(self.root / name / "volume.json")
        except (FileNotFoundError, NotADirectoryError):
            raise NotFoundError(f"get {name}: no such volume") from None
        return {"CreatedAt": record.get("CreatedAt", ""), "Driver": "local", "Labels": record.get("Labels"),
                "Mountpoint": str(self.mountpoint(name)), "Name": name, "Options": record.get("Options"),
                "Scope": "local"}

    def list(self) -> list[dict]:
        found = []
        for entry in sorted(os.listdir(self.root)):
            if not entry.startswith("."):
                try:
                    found.append(self.get(entry))
                except (NotFoundError, TuikerError):
                    continue
        return found

    def delete(self, name: str) -> None:
        """Under the lock: remove the volume and its content (the caller checked that no container uses it)."""
        doomed = self.root / f".rm-{name}-{os.urandom(4).hex()}"
        try:
            os.rename(self.root / name, doomed)
        except FileNotFoundError:
            raise NotFoundError(f"get {name}: no such volume") from None
        _remove_tree(doomed)
        emit(self.root.parent, "volume", "destroy", name, {"driver": "local"})

    def size(self, name: str) -> int:
        """Bytes of the volume's content (docker's `system df -v` SIZE): regular files, hard links once."""
        total, seen = 0, set()
        for top, _dirs, files in os.walk(self.mountpoint(name)):
            for f in files:
                try:
                    st = os.lstat(os.path.join(top, f))
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += st.st_size
        return total

    def sweep(self) -> None:
        """Leftovers of a create or remove that was killed halfway."""
        with self.lock():
            for entry in self.root.glob(".*-*"):
                _remove_tree(entry)


def is_anonymous(volume: dict) -> bool:
    return ANONYMOUS_LABEL in (volume.get("Labels") or {})


def users(containers: list, name: str) -> list[str]:
    """IDs of the containers (runtime Container records) whose mounts name volume `name`."""
    return [c.id for c in containers
            if any(m.get("Type") == "volume" and m.get("Name") == name for m in c.config.get("mounts") or [])]


def remove_anonymous(root: Path, container, others: list) -> list[str]:
    """The anonymous volumes of `container` that no container of `others` uses, removed (`rm -v`, `run --rm`)."""
    store = VolumeStore(root)
    gone = []
    with store.lock():
        for m in container.config.get("mounts") or []:
            name = m.get("Name")
            if m.get("Type") != "volume" or not name or not store.exists(name):
                continue
            if not m.get("Anonymous") or users([o for o in others if o.id != container.id], name):
                continue
            store.delete(name)
            gone.append(name)
    return gone


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
