"""`-v`, `--mount`, `--tmpfs`, `--volumes-from` and an image's VOLUMEs, parsed by docker's rules into the container's
mounts: docker's inspect `Mounts` entries (Type, Name, Source, Destination, Driver, Mode, RW, Propagation), plus
what the runtime needs and inspect does not show (keys in PRIVATE_KEYS).

Parsing only checks and plans: a volume to be made has no Source yet (Volumes.provision makes it, and host
directories `-v` asks for, once the whole container is known to be valid), so a bad spec leaves nothing behind.
"""

from __future__ import annotations

from tuiker.base.errors import TuikerError

# Kept in the container's config for the runtime and `rm -v`; not part of docker's inspect document.
PRIVATE_KEYS = ("Anonymous", "CopyUp", "TmpfsOptions", "TmpfsFlags", "Hidden", "CreateSource", "VolumeLabels")
INSPECT_KEYS = ("Type", "Name", "Source", "Destination", "Driver", "Mode", "RW", "Propagation")

_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")
_CONSISTENCY = ("consistent", "cached", "delegated")
_TMPFS_FLAGS = {"nosuid": ("nosuid", True), "suid": ("nosuid", False), "nodev": ("nodev", True),
                "dev": ("nodev", False), "noexec": ("noexec", True), "exec": ("noexec", False), "ro": ("ro", True),
                "rw": ("ro", False)}
_TMPFS_DATA = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "huge", "mpol")


def plan(binds: list[str], mounts: list[str], tmpfs: list[str], volumes_from: list[dict],
         image_volumes: dict | None) -> list[dict]:
    """Every mount of a new container, by destination, in docker's order of precedence: the image's VOLUMEs,
    then --volumes-from, then -v and --mount (one destination given twice there is an error), then --tmpfs."""
    by_dest: dict[str, dict] = {}
    for dest in sorted((image_volumes or {}) if isinstance(image_volumes, dict) else {}):
        if isinstance(dest, str) and dest.startswith("/") and dest.rstrip("/"):
            by_dest[_clean(dest)] = _volume(None, _clean(dest), "", True, anonymous=True)
    for m in volumes_from:
        by_dest[m["Destination"]] = m
    given: set[str] = set()

    def add(m: dict) -> None:
        if m["Destination"] in given:
            raise TuikerError(f"Duplicate mount point: {m['Destination']}")
        given.add(m["Destination"])
        by_dest[m["Destination"]] = m

    for spec in binds:
        add(parse_volume(spec))
    for spec in mounts:
        add(parse_mount(spec))
    for spec in tmpfs:
        add(parse_tmpfs(spec))
    return list(by_dest.values())


def parse_volume(spec: str) -> dict:
    """`-v [SRC:]DST[:MODE]`: SRC an absolute host path (a bind), a volume's name, or none (anonymous)."""
    parts = spec.split(":")
    if len(parts) == 1:
        src, dst, mode = "", parts[0], ""
    elif len(parts) == 2:
        src, dst, mode = ("", parts[0], parts[1]) if _valid_mode(parts[1]) else (parts[0], parts[1], "")
    elif len(parts) == 3:
        src, dst, mode = parts
    else:
        raise TuikerError(f"invalid volume specification: '{spec}'")
    if not dst:
        raise TuikerError(f"invalid volume specification: '{spec}'")
    if mode and not _valid_mode(mode):
        raise TuikerError(f"invalid mode: {mode}")
    kind = "bind" if src.startswith("/") else "volume"
    _check_destination(dst, kind, f"invalid volume specification: '{spec}': ")
    tokens = mode.split(",") if mode else []
    readonly = "ro" in tokens
    propagation = next((t for t in tokens if t in _PROPAGATIONS), "")
    if kind == "bind":
        if src.rstrip("/") == "":
            src = "/"
        return {"Type": "bind", "Source": _clean(src), "Destination": _clean(dst), "Mode": mode, "RW": not readonly,
                "Propagation": propagation or "rprivate", "CreateSource": True}
    if propagation:
        raise TuikerError(f"invalid volume specification: '{spec}': invalid mount config for type \"volume\":"
                          " propagation modes are only for bind mounts")
    if src:
        from tuiker.runtime.volumes import check_name

        check_name(src)
    # An anonymous `-v /path` is docker's Config.Volumes entry: shown without a mode, like an image's VOLUME.
    return _volume(src or None, _clean(dst), mode or ("z" if src else ""), not readonly,
                   anonymous=not src, copy="nocopy" not in tokens)


def parse_mount(spec: str) -> dict:
    """`--mount type=bind|volume|tmpfs,source=,target=,readonly,...` (docker's keys; CSV, so values may be quoted)."""
    import csv

    def bad(message: str) -> TuikerError:
        return TuikerError(f'invalid argument "{spec}" for "--mount" flag: {message}')

    try:
        fields = next(csv.reader([spec]))
    except (csv.Error, StopIteration):
        raise bad("cannot parse it as comma-separated key=value pairs") from None
    kind, src, dst, readonly = "volume", "", "", False
    propagation = copy = None
    labels: dict[str, str] = {}
    size = mode = None
    seen: set[str] = set()
    for item in fields:
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        seen.add(key)
        if not sep and key not in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            raise bad(f"invalid field '{item}' must be a key=value pair")
        if key == "type":
            kind = value
        elif key in ("source", "src"):
            src = value
        elif key in ("target", "dst", "destination"):
            dst = value
        elif key in ("readonly", "ro"):
            readonly = _bool(value, key, bad) if sep else True
        elif key == "bind-propagation":
            if value not in _PROPAGATIONS:
                raise bad(f"invalid bind propagation: {value}")
            propagation = value
        elif key == "volume-nocopy":
            copy = not (_bool(value, key, bad) if sep else True)
        elif key == "volume-label":
            k, _, v = value.partition("=")
            labels[k] = v
        elif key == "volume-driver":
            if value != "local":
                raise bad(f"volume driver {value!r} is not supported: only local volumes")
        elif key == "volume-opt":
            raise bad("volume-opt is not supported: local volumes here are plain directories")
        elif key == "bind-nonrecursive":
            raise bad("bind-nonrecursive is not supported: bind mounts are always recursive")
        elif key == "tmpfs-size":
            from tuiker.runtime.containers import parse_size

            size = str(parse_size(value, "tmpfs-size"))
        elif key == "tmpfs-mode":
            try:
                mode = f"{int(value, 8):o}"
            except ValueError:
                raise bad(f"invalid value for tmpfs-mode: {value}") from None
        elif key == "consistency":
            if value not in (*_CONSISTENCY, "default"):
                raise bad(f"invalid consistency: {value}")
        else:
            raise bad(f"unexpected key '{key}' in '{item}'")
    if kind not in ("bind", "volume", "tmpfs"):
        raise bad(f"unknown mount type {kind!r}: use bind, volume or tmpfs")
    if not dst:
        raise bad("target is required")
    where = f'invalid mount config for type "{kind}": '
    _check_destination(dst, kind, "")
    for key, allowed in (("bind-propagation", "bind"), ("volume-nocopy", "volume"), ("volume-label", "volume"),
                         ("tmpfs-size", "tmpfs"), ("tmpfs-mode", "tmpfs")):
        if key in seen and kind != allowed:
            option = {"bind": "BindOptions", "volume": "VolumeOptions", "tmpfs": "TmpfsOptions"}[allowed]
            raise TuikerError(f"{where}field {option} must not be specified")
    if kind == "bind":
        import os

        if not src:
            raise TuikerError(f"{where}field Source must not be empty")
        if not src.startswith("/"):
            raise TuikerError(f"{where}invalid mount path: '{src}' mount path must be absolute")
        if not os.path.exists(src):
            raise TuikerError(f"{where}bind source path does not exist: {src}")
        return {"Type": "bind", "Source": _clean(src), "Destination": _clean(dst), "Mode": "", "RW": not readonly,
                "Propagation": propagation or "rprivate"}
    if kind == "tmpfs":
        if src:
            raise TuikerError(f"{where}field Source must not be specified")
        options = {"mode": mode or "1777"}
        if size:
            options["size"] = size
        return {"Type": "tmpfs", "Source": "", "Destination": _clean(dst), "Mode": "", "RW": not readonly,
                "Propagation": "", "TmpfsOptions": options, "TmpfsFlags": ["nosuid", "nodev", "noexec"]}
    if src:
        from tuiker.runtime.volumes import check_name

        check_name(src)
    m = _volume(src or None, _clean(dst), "", not readonly, anonymous=not src, copy=copy is not False)
    if labels:
        m["VolumeLabels"] = labels
    return m


def parse_tmpfs(spec: str) -> dict:
    """`--tmpfs /path[:opt,opt=value]` (docker's defaults: noexec, nosuid, nodev; size unlimited, mode 1777)."""
    dst, _, opts = spec.partition(":")
    _check_destination(dst, "tmpfs", f"invalid tmpfs specification: '{spec}': ")
    flags = {"nosuid": True, "nodev": True, "noexec": True, "ro": False}
    data = {"mode": "1777"}
    for opt in filter(None, opts.split(",")):
        key, sep, value = opt.partition("=")
        if not sep and key in _TMPFS_FLAGS:
            name, on = _TMPFS_FLAGS[key]
            flags[name] = on
        elif sep and key in _TMPFS_DATA:
            data[key] = value
        elif key in ("relatime", "norelatime", "strictatime", "noatime", "atime", "diratime", "nodiratime"):
            continue  # access-time flags: tmpfs keeps no disk to spare
        else:
            raise TuikerError(f"invalid tmpfs option {opt!r} in '{spec}'")
    return {"Type": "tmpfs", "Source": "", "Destination": _clean(dst), "Mode": opts, "RW": not flags.pop("ro"),
            "Propagation": "", "TmpfsOptions": data, "TmpfsFlags": [k for k, on in flags.items() if on],
            "Hidden": True}


def volumes_from(spec: str, source_mounts: list[dict]) -> list[dict]:
    """The binds and volumes of another container (`--volumes-from NAME[:ro|:rw]`), read-only with `:ro`."""
    _, _, mode = spec.partition(":")
    if mode not in ("", "ro", "rw"):
        raise TuikerError(f"invalid mode for volumes-from: {mode}")
    found = []
    for m in source_mounts:
        if m.get("Type") in ("bind", "volume"):
            m = {k: v for k, v in m.items() if k not in ("CreateSource", "VolumeLabels")}
            if mode:
                m["RW"] = mode == "rw"
            found.append(m)
    return found


def inspect_view(mounts: list[dict]) -> list[dict]:
    """docker's `Mounts`: the keys it shows, in its order; --tmpfs mounts are HostConfig.Tmpfs there, not here."""
    return [{k: m[k] for k in INSPECT_KEYS if k in m} for m in mounts if not m.get("Hidden")]


def _volume(name: str | None, dst: str, mode: str, rw: bool, anonymous: bool, copy: bool = True) -> dict:
    return {"Type": "volume", "Name": name, "Source": "", "Destination": dst, "Driver": "local", "Mode": mode,
            "RW": rw, "Propagation": "", "Anonymous": anonymous, "CopyUp": copy}


def _check_destination(dst: str, kind: str, prefix: str) -> None:
    where = f'{prefix}invalid mount config for type "{kind}": '
    if not dst.startswith("/"):
        raise TuikerError(f"{where}invalid mount path: '{dst}' mount path must be absolute")
    if _clean(dst) == "/":
        raise TuikerError(f"{where}invalid specification: destination can't be '/'")
    if "\0" in dst or ".." in dst.split("/"):
        raise TuikerError(f"{where}invalid mount path: '{dst}'")
    if _clean(dst) == "/proc" or _clean(dst).startswith("/proc/"):
        raise TuikerError(f"{where}invalid mount path: '{dst}': /proc is the kernel's")


def _clean(path: str) -> str:
    import posixpath

    return posixpath.normpath(path) if path != "/" else path


def _valid_mode(mode: str) -> bool:
    counts = {"rw": 0, "label": 0, "prop": 0, "copy": 0, "consistency": 0}
    for token in mode.split(","):
        if token in ("rw", "ro"):
            counts["rw"] += 1
        elif token in ("z", "Z"):
            counts["label"] += 1
        elif token in _PROPAGATIONS:
            counts["prop"] += 1
        elif token == "nocopy":
            counts["copy"] += 1
        elif token in _CONSISTENCY:
            counts["consistency"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def _bool(value: str, key: str, bad) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise bad(f"invalid value for {key}: {value}")
