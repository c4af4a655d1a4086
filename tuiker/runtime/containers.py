"""Containers on disk: what was asked for (config.json, written once) and what is (state.json).

    containers/<id>/config.json   the create request, with the image's config merged in (docker's rules)
    containers/<id>/state.json    Status, Pid, ExitCode, OOMKilled, times; written only by the monitor
                                  once the container exists (and by `create` before), always atomically
    containers/<id>/upper, work   the overlay's writable layer
    containers/<id>/log.json      output, one JSON line per chunk (docker's json-file), rotated
    containers/<id>/hostname, hosts, resolv.conf   bind-mounted into the container
    container-names/<name> -> <id>   the names index, one symlink per name (see ContainerStore)

Lookup by name, full ID, or unique ID prefix (docker's order: exact ID, exact name, ID prefix).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tuiker.base import names
from tuiker.base.errors import ConflictError, InvalidArgument, NotFoundError, TuikerError
from tuiker.base.fsutil import DamagedFileError, atomic_write, flocked, open_root, private_dir, read_json, write_new
from tuiker.base.times import now_iso


class Container:
    # A plain class: the CLI's hot path avoids dataclasses (see reference.Reference).
    def __init__(self, id: str, dir: Path, config: dict, state: dict | None = None) -> None:
        self.id = id
        self.dir = dir
        self.config = config
        self.state = state if state is not None else {}

    def __repr__(self) -> str:
        return f"Container({self.short_id}, {self.name!r}, {self.status})"

    @property
    def name(self) -> str:
        return self.config["Name"]

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def status(self) -> str:
        return self.state.get("Status", "created")

    @property
    def pid(self) -> int:
        return int(self.state.get("Pid") or 0)

    @property
    def health(self) -> str | None:
        """docker's State.Health.Status (`starting`, `healthy`, `unhealthy`), None for a container that has no
        healthcheck or has not run with one yet (docker's `none`)."""
        health = self.state.get("Health")
        return health.get("Status") or None if isinstance(health, dict) else None

    @property
    def tty(self) -> bool:
        return bool(self.config["Config"].get("Tty"))

    @property
    def command(self) -> list[str]:
        c = self.config["Config"]
        return list(c.get("Entrypoint") or []) + list(c.get("Cmd") or [])

    def write_state(self, **changes) -> None:
        # Not fsynced: written at every start and exit, on the monitor's loop. What a crash of the host can then
        # cost is a torn file, which reads as a dead container that `rm` takes away (ContainerStore.load).
        self.state.update(changes)
        atomic_write(self.dir / "state.json", json.dumps(self.state, indent=1).encode(), sync=False)

    def reload(self) -> Container:
        try:
            self.state = read_json(self.dir / "state.json")
        except FileNotFoundError:
            raise NotFoundError(f"No such container: {self.short_id}") from None
        except DamagedFileError as e:
            self.state = {"Status": "dead", "Error": str(e)}
        return self


def damaged_config(cid: str) -> dict:
    """What stands in for a config.json that cannot be read: enough for listing and removal, nothing to run."""
    return {"Id": cid, "Name": cid[:12], "Image": "", "ImageID": "", "Layers": [], "Created": "",
            "Config": {"Env": [], "Cmd": [], "Entrypoint": [], "Labels": {}}, "HostConfig": {},
            "NetworkingConfig": {"EndpointsConfig": {}}, "Limits": {}, "Capabilities": [], "Damaged": True}


def merge_image_config(image_config: dict, cmd: list[str] | None, entrypoint: list[str] | None,
                       env: list[str], workdir: str | None, user: str | None) -> dict:
    """docker's rules: --entrypoint replaces the image's Entrypoint and drops its Cmd; a command on the
    line replaces Cmd; Env from the image, then -e on top (same key: the later wins)."""
    cfg = _image_field(image_config, "config", dict)
    if entrypoint is not None:
        final_entry, final_cmd = entrypoint, cmd or []
    else:
        final_entry = _image_field(cfg, "Entrypoint", list)
        final_cmd = cmd if cmd else _image_field(cfg, "Cmd", list)
    merged: dict[str, str] = {}
    for item in _image_field(cfg, "Env", list) + env:
        key, sep, value = item.partition("=")
        if not sep:
            value = os.environ.get(key)
            if value is None:
                continue  # docker: `-e NAME` takes the client's value, and nothing if it has none
        merged[key] = value
    if final_entry == [""]:
        final_entry = []  # docker: `--entrypoint ''` clears the image's entrypoint (and, as any --entrypoint, its Cmd)
    if "PATH" not in merged:
        merged["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    if not final_entry and not final_cmd:
        raise InvalidArgument("no command specified")
    return {
        "Entrypoint": final_entry, "Cmd": final_cmd, "Env": [f"{k}={v}" for k, v in merged.items()],
        "WorkingDir": workdir or _image_field(cfg, "WorkingDir", str) or "/",
        "User": user if user is not None else _image_field(cfg, "User", str),
        "Labels": _image_field(cfg, "Labels", dict),
        # Only when the image names one, as docker's inspect shows it; stop sends SIGTERM otherwise.
        **({"StopSignal": _image_field(cfg, "StopSignal", str)} if _image_field(cfg, "StopSignal", str) else {}),
    }


def _image_field(cfg: dict, key: str, kind: type) -> list | str | dict:
    """A field of an image's config, of the type the image spec gives it, or empty: the config comes from a
    registry or an archive, and a string where a list belongs would run `s` `h` as a command."""
    value = cfg.get(key)
    if value is None:
        return kind()
    if kind is list:
        ok = isinstance(value, list) and all(isinstance(item, str) for item in value)
    elif key == "Labels":
        ok = isinstance(value, dict) and all(isinstance(item, str) for item in value.values())
    else:
        ok = isinstance(value, kind)
    if not ok:
        shape = {list: "a list of strings", str: "a string", dict: "an object"}[kind]
        raise TuikerError(f"image config: {key} is not {shape}")
    return value


class ContainerStore:
    """containers/<id>/ for each container, and container-names/, an index of their names: one symlink per name,
    `container-names/<name>` -> `<id>`, so that resolving a name or checking that a new one is free reads one link
    instead of every container's config (`run`, `create` and `rename` stay O(1) however many containers exist).
    Beside containers/, not in it: that directory holds containers and nothing else.

    The configs stay the truth; the index follows them under the store's lock:
    - create: the name's link is made first, with symlink(2)'s O_EXCL semantics, then the container's directory
      is renamed into place. A kill -9 between the two leaves a link to no container: stale, and taken back by
      the next create or rename of that name (they hold the lock, so a link they find is never one that a create
      in progress has made), and by sweep. rename: the new link, the config, then the old link; rm: the
      directory, then the link.
    - a link to no container is stale: lookups ignore it, writers take it back.
    - an index that is missing (a root made before it existed, or removed by hand), holds something that is not
      one of our links, or links a name to a container under another name, is rebuilt from the configs, under
      the lock (O(n), and only then).
    Links, not files holding the ID: a link is created whole or not at all (no torn entry after a crash), and
    its target, a bare ID, resolves to nothing, so nothing that follows links is ever led anywhere by one.
    """

    def __init__(self, root: Path) -> None:
        open_root(root)
        self.root = private_dir(root, "containers")
        self.names_dir = root / "container-names"
        self.lock_path = private_dir(root, "locks") / "containers.lock"

    def load(self, path: Path) -> Container | None:
        """The container in directory `path`, or None while it is half-created or being removed. One whose
        files cannot be read (a full disk, a crash of the host) is listed as dead, as docker lists it, so the
        others stay usable and `rm -f` can take it away."""
        try:
            config = read_json(path / "config.json")
        except (FileNotFoundError, NotADirectoryError):
            return None  # half-created or being removed: not a container yet, or any more
        except DamagedFileError as e:
            return Container(path.name, path, damaged_config(path.name), {"Status": "dead", "Error": str(e)})
        try:
            state = read_json(path / "state.json")
        except FileNotFoundError:
            return None
        except DamagedFileError as e:
            state = {"Status": "dead", "Error": str(e)}
        return Container(path.name, path, config, state)

    def list(self) -> list[Container]:
        """Every container, newest first: its two files read once each. Entries starting with `.` are not
        containers: the staging and removal directories of a create or rm in progress (which hold a whole
        config, and would otherwise show as phantom containers)."""
        found = []
        for entry in os.scandir(self.root):
            if not entry.name.startswith("."):
                c = self.load(Path(entry.path))
                if c is not None:
                    found.append(c)
        found.sort(key=lambda c: c.config.get("Created", ""), reverse=True)
        return found

    def get(self, ref: str) -> Container:
        """docker's order: exact ID, exact name, unique ID prefix; none of them reads another container's files."""
        if not ref:
            raise NotFoundError("No such container: ''")
        ref = ref.removeprefix("/")
        # Only 64 hex digits name a directory: any other 64 characters could be a path (`../../..`).
        exact = self.load(self.root / ref) if len(ref) == 64 and _is_hex(ref) else None
        if exact:
            return exact
        if names.is_container_name(ref):  # only a valid name is ever a file name in the index
            try:
                named = self._holder(ref)
            except _IndexDamaged:
                with flocked(self.lock_path):
                    self._check_index(ref)
                named = self._holder(ref)
            if named is not None:
                return named
        prefix = ref.lower()
        matches = []
        if _is_hex(prefix):
            for entry in os.listdir(self.root):
                if entry.startswith(prefix):
                    c = self.load(self.root / entry)
                    if c is not None:
                        matches.append(c)
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise TuikerError(f"container ID prefix {ref!r} is ambiguous: it matches {len(matches)} containers")
        raise NotFoundError(f"No such container: {ref}")

    def create(self, config: dict, name: str | None) -> Container:
        """Reserve a name and an ID and write the container's files; nothing is left if this fails.
        The name and hostname are checked here, where they are written into files (names.py says why)."""
        from tuiker.net import hostsfile  # here: it imports ipaddress, and `ps` loads this module

        if name:
            name = names.check_container_name(name)
        if config["Config"]["Hostname"]:
            names.check_hostname(config["Config"]["Hostname"])
        cid = os.urandom(32).hex()
        with flocked(self.lock_path):
            self._check_index()
            if not name:
                # Any entry makes a generated name taken, even a stale one: there are plenty of others.
                name = names.generate(lambda candidate: os.path.lexists(self.names_dir / candidate))
            self._claim(name, cid)
            staging = self.root / f".new-{cid}"
            try:
                staging.mkdir(mode=0o700)
                for sub in ("upper", "work"):
                    (staging / sub).mkdir(mode=0o755)
                # upper's mode is the mode of the container's "/": 0755 whatever the umask, or a user
                # other than root inside cannot even reach /bin.
                os.chmod(staging / "upper", 0o755)
                config = dict(config, Id=cid, Name=name, Created=now_iso())
                hostname = config["Config"]["Hostname"] or cid[:12]
                config["Config"]["Hostname"] = hostname
                # Bind-mounted over /etc/...: every user inside reads them through the file's own mode
                # (the directories above them on the host, 0700, are never on that path).
                hosts = hostsfile.render(hostname, [], [], config.get("HostsEntries"))
                resolv = _resolv_conf((config.get("HostConfig") or {}).get("Dns") or [])
                for file, text in (("hostname", hostname + "\n"), ("hosts", hosts), ("resolv.conf", resolv)):
                    write_new(staging / file, text.encode(), mode=0o644)
                write_new(staging / "config.json", json.dumps(config, indent=1).encode())
                write_new(staging / "state.json", json.dumps({"Status": "created"}).encode())
                os.rename(staging, self.root / cid)  # the container appears whole, or not at all
            except BaseException:
                _remove_tree(staging)
                self._unlink_name(name, cid)
                raise
        return self.load(self.root / cid)

    def rename(self, container: Container, new_name: str) -> None:
        new_name = names.check_container_name(new_name)
        old_name = container.name
        with flocked(self.lock_path):
            self._check_index()
            self._claim(new_name, container.id)
            container.config["Name"] = new_name
            try:
                atomic_write(container.dir / "config.json", json.dumps(container.config, indent=1).encode())
            except BaseException:
                container.config["Name"] = old_name
                self._unlink_name(new_name, container.id)
                raise
            # Killed before this line, the old name's link is stale (the config no longer carries that name).
            self._unlink_name(old_name, container.id)

    def save_config(self, container: Container) -> None:
        """Write its config.json again (docker update's limits and restart policy), whole or not at all."""
        with flocked(self.lock_path):
            atomic_write(container.dir / "config.json", json.dumps(container.config, indent=1).encode())

    def delete_files(self, container: Container) -> None:
        """Rename first so no reader ever sees half a container, then remove. The name goes last: killed in
        between, its link is stale, and the name free for the next create all the same."""
        doomed = self.root / f".rm-{container.id}"
        try:
            os.rename(container.dir, doomed)
        except FileNotFoundError:
            return
        with flocked(self.lock_path):
            self._unlink_name(container.name, container.id)
        _remove_tree(doomed)

    def sweep(self) -> None:
        """Leftovers of a create or rm that was killed halfway, and the names index checked against the
        configs (stale links go). Under the lock: a create in progress holds it, so its staging directory is
        never taken for a leftover."""
        with flocked(self.lock_path):
            for entry in self.root.glob(".*-*"):
                _remove_tree(entry)
            self._rebuild_index()

    # -- the names index (see the class's docstring) ---------------------------------------------------------

    def _link(self, name: str) -> str | None:
        """The ID `name`'s link points to, None if it has none; _IndexDamaged if the index is missing or the entry
        is not one of our links."""
        try:
            target = os.readlink(self.names_dir / name)
        except FileNotFoundError:
            if not os.path.isdir(self.names_dir) or os.path.islink(self.names_dir):
                raise _IndexDamaged() from None
            return None
        except OSError:  # EINVAL: not a link; ENOTDIR: the index is not a directory
            raise _IndexDamaged() from None
        if len(target) != 64 or not _is_hex(target):
            raise _IndexDamaged()
        return target

    def _holder(self, name: str) -> Container | None:
        """The container that holds `name`: its link's, if that one exists (else the link is stale). One that
        exists under another name is _IndexDamaged: a rename killed halfway, a config the host's crash tore, or
        a link changed by hand; only a rebuild tells which container, if any, carries the name."""
        cid = self._link(name)
        if cid is None:
            return None
        c = self.load(self.root / cid)
        if c is not None and c.name != name:
            raise _IndexDamaged()
        return c

    def _check_index(self, name: str | None = None) -> None:
        """Under the lock: rebuild the index if it is missing, or if `name`'s entry is damaged (looked at again
        here: another process may have rebuilt it since the caller found it so)."""
        try:
            if name is None:
                if not os.path.isdir(self.names_dir) or os.path.islink(self.names_dir):
                    raise _IndexDamaged()
            else:
                self._holder(name)
        except _IndexDamaged:
            self._rebuild_index()

    def _claim(self, name: str, cid: str) -> None:
        """Under the lock: link `name` to `cid`, or fail with docker's conflict if a container holds it."""
        link = self.names_dir / name
        for _ in range(3):  # at worst: a damaged entry, rebuilt; then a stale one, taken back; then ours
            try:
                os.symlink(cid, link)  # fails if the name has any entry: exclusive, like O_EXCL
                return
            except FileExistsError:
                pass
            try:
                other = self._holder(name)
            except _IndexDamaged:
                self._rebuild_index()
                continue
            if other is not None:
                raise ConflictError(f'Conflict. The container name "/{name}" is already in use by container'
                                  f' "{other.id}". You have to remove (or rename) that container to be able'
                                  " to reuse that name.")
            os.unlink(link)  # stale: its container is gone, or no longer carries this name
        raise TuikerError(f"cannot reserve the container name {name!r}: the names index keeps changing")

    def _unlink_name(self, name: str, cid: str) -> None:
        """Under the lock: remove `name`'s link if it is still `cid`'s (a damaged container's name stands in
        for one that cannot be read: never another container's link)."""
        try:
            if os.readlink(self.names_dir / name) == cid:
                os.unlink(self.names_dir / name)
        except OSError:
            pass

    def _rebuild_index(self) -> None:
        """Under the lock: make the index say what the configs say. A missing index is built aside and renamed
        into place, so a reader never sees a half-built one; an existing one is repaired in place, where a
        correct link is never removed. Two containers with one name (left by a version without the index): the
        older keeps it."""
        wanted: dict[str, str] = {}
        for c in reversed(self.list()):
            if not c.config.get("Damaged") and names.is_container_name(c.name):
                wanted.setdefault(c.name, c.id)
        if os.path.islink(self.names_dir) or (os.path.lexists(self.names_dir) and not os.path.isdir(self.names_dir)):
            os.unlink(self.names_dir)
        elif os.path.isdir(self.names_dir):
            for entry in os.scandir(self.names_dir):
                cid = wanted.pop(entry.name, None)
                try:
                    if cid is not None and os.readlink(entry.path) == cid:
                        continue
                except OSError:
                    pass
                if entry.is_dir(follow_symlinks=False):
                    _remove_tree(Path(entry.path))
                else:
                    os.unlink(entry.path)
                if cid is not None:
                    os.symlink(cid, entry.path)
            for name, cid in wanted.items():
                os.symlink(cid, self.names_dir / name)
            return
        staging = self.root / f".names-{os.urandom(8).hex()}"  # left by a kill -9 here: swept (same file system)
        try:
            staging.mkdir(mode=0o700)
            os.chmod(staging, 0o700)  # whatever the umask: the names are the containers' business
            for name, cid in wanted.items():
                os.symlink(cid, staging / name)
            os.rename(staging, self.names_dir)
        except BaseException:
            _remove_tree(staging)
            raise


class _IndexDamaged(Exception):
    """The names index is missing, or holds an entry that is not one of its links."""


def _is_hex(text: str) -> bool:
    return all(ch in "0123456789abcdef" for ch in text)


def _resolv_conf(servers: list[str]) -> str:
    """The host's resolvers, minus loopback ones that mean nothing inside the container's own
    network namespace (docker does the same, falling back to public resolvers we do not add). With `--dns`,
    those servers instead of the host's, with its search and options lines after them, as docker writes it."""
    try:
        with open("/etc/resolv.conf") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    if servers:
        # docker's resolvconf.Build: the servers, then the host's search and options.
        kept = [f"nameserver {server}" for server in servers]
        kept += [line for line in lines if line.split()[:1] in (["search"], ["options"])]
    else:
        kept = [line for line in lines if not (line.startswith("nameserver") and
                                               (line.split()[1:2] or [""])[0].startswith(("127.", "::1")))]
    return "\n".join(kept) + "\n" if kept else ""


def parse_size(text: str, what: str) -> int:
    """docker's RAMInBytes: `256m`, `1g`, `512k`, `1024b`, or bytes."""
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower()
    if t.endswith("b") and len(t) > 1 and t[-2] in units and t[-2] != "b":
        t = t[:-1]
    mult = units.get(t[-1:], None)
    number = t[:-1] if mult else t
    try:
        value = float(number)
    except ValueError:
        raise TuikerError(f"invalid {what} value {text!r}: expected a size like 256m or 1g") from None
    if value < 0:
        raise TuikerError(f"invalid {what} value {text!r}: must not be negative")
    return int(value * (mult or 1))


def _remove_tree(path: Path) -> None:
    import shutil  # only when removing: shutil pulls in zlib, bz2 and lzma (~5 ms on every command)

    shutil.rmtree(path, ignore_errors=True)
