"""The shape of the code: which layer may import which, checked on every module's source (ast), so it cannot
drift again. The arrows run one way:

    cli, tui, api ──► engine ──► image, net, runtime ──► base        (fmt, gotemplate: display helpers of cli and tui)

and the user interfaces reach the engine through its package only. Every import counts, at the top of a module
or inside a function, except those under `if TYPE_CHECKING:` (annotations only: they never run)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tuiker"

# Layer (a module or package) -> what its modules may import of tuiker, as module prefixes.
ALLOWED = {
    "tuiker.base": ["tuiker.base"],
    "tuiker.image": ["tuiker.base", "tuiker.image"],
    "tuiker.net": ["tuiker.base", "tuiker.net"],
    "tuiker.runtime": ["tuiker.base", "tuiker.net", "tuiker.runtime"],
    "tuiker.engine": ["tuiker.base", "tuiker.image", "tuiker.net", "tuiker.runtime", "tuiker.engine"],
    "tuiker.fmt": ["tuiker.base.times", "tuiker.base.goquote"],
    "tuiker.gotemplate": ["tuiker.fmt"],
    "tuiker.compose": ["tuiker.engine", "tuiker.base", "tuiker.fmt", "tuiker.compose"],
    "tuiker.cli": ["tuiker.engine", "tuiker.compose", "tuiker.cli", "tuiker.fmt", "tuiker.gotemplate",
                   "tuiker.__version__"],
    "tuiker.tui": ["tuiker.engine", "tuiker.tui", "tuiker.fmt", "tuiker.gotemplate", "tuiker.__version__"],
    "tuiker.api": ["tuiker.engine", "tuiker.api", "tuiker.fmt", "tuiker.__version__"],
    "tuiker.__main__": ["tuiker.cli.main"],
    "tuiker": [],  # tuiker/__init__.py: the version only
}
# The arrows against the grain: `tuiker` with no command opens the TUI, and the console script is the CLI's;
# `tuiker system service` starts the API server. Only there, and only those modules (imported when the TUI or the
# service starts, never for another command).
EXCEPTIONS = {("tuiker.cli.main", "tuiker.tui.app"), ("tuiker.cli.networks", "tuiker.api.server")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or \
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(imported name, line) for every import that runs, `from M import n` as `M.n`, relative ones resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.extend((f"{base}.{alias.name}", node.lineno) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def _layer(module: str) -> str:
    return max((layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")), key=len)


def _within(name: str, prefixes: list[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    assert MODULES and all(_layer(_module_name(p)) for p in MODULES)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_follow_the_layers(path: Path):
    module = _module_name(path)
    allowed = ALLOWED[_layer(module)]
    wrong = [f"line {line}: {name}" for name, line in imports_of(path)
             if name.startswith("tuiker.") and not _within(name, allowed)
             and not any(module == m and _within(name, [t]) for m, t in EXCEPTIONS)]
    assert not wrong, f"{module} ({_layer(module)} may import only {allowed}) imports {wrong}"


def _graph() -> dict[str, set[str]]:
    """module -> the tuiker modules it imports (a `from M import name` counts as M when name is no module)."""
    names = {_module_name(p) for p in MODULES}
    graph = {}
    for path in MODULES:
        targets = set()
        for name, _ in imports_of(path):
            while name and name not in names:
                name = name.rpartition(".")[0]
            if name and name.startswith("tuiker") and name != "tuiker":
                targets.add(name)
        graph[_module_name(path)] = targets - {_module_name(path)}
    return graph


def _cycles(graph: dict[str, set[str]], within: str) -> list[list[str]]:
    """The import cycles among the modules of `within` (a package)."""
    nodes = {m for m in graph if m.startswith(within + ".")}
    found, state = [], {}

    def walk(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node] & nodes):
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                walk(target, stack + [target])
        state[node] = "done"

    for node in sorted(nodes):
        if node not in state:
            walk(node, [node])
    return found


@pytest.mark.parametrize("package", ["tuiker.cli", "tuiker.compose", "tuiker.engine", "tuiker.tui"])
def test_no_import_cycles(package: str):
    """cli/output.py is what the command modules share, so none imports another back; the engine's services
    stand alone (containers uses images and networks, never the reverse)."""
    assert _cycles(_graph(), package) == []


def test_the_engine_services_do_not_inherit_from_each_other():
    """Engine(images, containers, networks) is composed: no class of the engine package extends another one."""
    ours = {}
    for path in (PACKAGE / "engine").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                ours[node.name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
    assert {"Engine", "Images", "Containers", "Networks"} <= set(ours)
    assert {name: [b for b in bases if b in ours] for name, bases in ours.items() if set(bases) & set(ours)} == {}


def test_only_the_runtime_names_a_containers_cgroup():
    """`tuiker/<id>` is the runtime's to name (cgroups.for_container): the engine and the UIs ask it."""
    spelled = [str(p.relative_to(PACKAGE)) for p in MODULES
               if 'driver(f"tuiker/' in p.read_text() and not _within(_module_name(p), ["tuiker.runtime"])]
    assert spelled == []


HEAVY = ("textual", "requests", "urllib3", "psutil", "yaml", "pyroute2", "tuiker.image.pull", "tuiker.tui")


def _modules_after(args: list[str]) -> list[str]:
    code = (f"import sys, tuiker.cli.main as c; c.main({args!r}); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m.startswith({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout.strip().splitlines()[-1])


def test_ps_and_images_start_lean(engine_root):
    """`ps` and `images` load no UI library, no HTTP client, no psutil, no netlink."""
    for args in (["ps", "-a"], ["images"]):
        assert _modules_after(args) == [], args


def test_run_starts_lean(image):
    """`run` of an image that is here: neither the pull code nor psutil nor Textual."""
    assert _modules_after(["run", "--rm", image, "true"]) == []
