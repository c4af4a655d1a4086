"""An image layer holding the host's own Python interpreter, for tests that need a program more capable than
busybox inside a container (a raw-socket client, a hostile image that re-executes the host's interpreter).

The interpreter binary, its ELF loader and the libraries it links are copied to the same absolute paths they
have on the host (an absolute RUNPATH then still finds libpython); the standard library is cut down to what
start-up and the tests import (the `encodings` codecs Python needs before anything else, and the `_socket` and
`_struct` extensions), under /py, which PYTHONHOME names. About 30 MB, built once per session.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig

from imagebuilder import Dir, File, Symlink

HOST_PYTHON = os.path.realpath(sys.executable)
HOME = "/py"  # PYTHONHOME inside the image
ENV = [f"PYTHONHOME={HOME}", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
_ENCODINGS = ("__init__", "aliases", "utf_8", "ascii", "latin_1")
EXTENSIONS = ("_socket", "_struct")


def _linked_libraries(binary: str) -> list[str]:
    """The absolute paths ldd resolves for `binary`, its ELF loader included."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return sorted(set(re.findall(r"(/\S+)", out)))


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/".join(parts[:i + 1]) for i in range(len(parts))]


def python_entries(extensions: tuple[str, ...] = EXTENSIONS, modules: tuple[str, ...] = ()) -> list:
    """Layer entries for the interpreter at its host path, and /py holding the cut-down standard library: the
    `extensions` named (lib-dynload modules, with the libraries they link) and the pure-Python `modules` given as
    paths under the standard library (e.g. "ctypes/__init__.py")."""
    stdlib = sysconfig.get_paths()["stdlib"]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    dynload = os.path.join(stdlib, "lib-dynload")
    objects = [os.path.join(dynload, name) for name in sorted(os.listdir(dynload))
               if name.split(".")[0] in extensions]
    files: dict[str, str] = {}  # path in the image -> host file
    for path in [HOST_PYTHON, *_linked_libraries(HOST_PYTHON), *[lib for ext in objects
                                                               for lib in _linked_libraries(ext)]]:
        files[path.lstrip("/")] = path
    for name in _ENCODINGS:
        files[f"py/lib/{version}/encodings/{name}.py"] = os.path.join(stdlib, "encodings", f"{name}.py")
    for module in modules:
        files[f"py/lib/{version}/{module}"] = os.path.join(stdlib, module)
    for ext in objects:
        files[f"py/lib/{version}/lib-dynload/{os.path.basename(ext)}"] = ext
    dirs = sorted({parent for path in files for parent in _parents(path)})
    entries: list = [Dir(d) for d in dirs]
    for path, host in sorted(files.items()):
        if os.path.islink(host) and os.path.dirname(os.path.realpath(host)) == os.path.dirname(host):
            # lib links (ld-linux-x86-64.so.2 -> ld-linux-x86-64.so.2.x): keep them links, add the target too
            target = os.path.realpath(host)
            entries.append(Symlink(path, os.path.basename(target)))
            path, host = os.path.join(os.path.dirname(path), os.path.basename(target)), target
        with open(host, "rb") as f:
            entries.append(File(path, f.read(), 0o755))
    return _dedupe(entries)


def _dedupe(entries: list) -> list:
    seen: set[str] = set()
    out = []
    for entry in entries:
        if entry.path not in seen:
            seen.add(entry.path)
            out.append(entry)
    return out
