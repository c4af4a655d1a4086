"""`l` on an image: its layers as dive shows them (the files each one added, modified or removed, and the space
wasted on files a later layer hides); `F` on a container: the files it changed (diff), as a tree with sizes.
The engine's walks run in workers; the trees are built from their entries."""

from __future__ import annotations

import stat
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Label, Tree
from textual.widgets.tree import TreeNode

from tuiker.engine import Engine, one_line
from tuiker.fmt import human_size
from tuiker.tui.widgets.keybar import KeyBar

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.engine.layertree import LayerReport

STYLES = {"added": "green", "modified": "yellow", "removed": "red strike", "": ""}
KINDS = {"A": "added", "C": "modified", "D": "removed"}  # diff's letters
MAX_NODES = 20_000  # a tree bigger than this is cut off (Textual's Tree slows down long before a walk does)
EXPAND_ALL = 400  # a tree this small opens fully; a bigger one opens where this layer changed something

Entry = tuple[str, str, int, int]  # (path, kind, bytes, st_mode); kind "" is unchanged, from a layer below


def fill_tree(tree: Tree, entries: list[Entry]) -> int:
    """`tree` rebuilt from `entries` (parents need not be listed): each name coloured by its kind, with its bytes
    (a directory's: those under it). The number of entries shown."""
    tree.clear()
    children: dict[str, list[str]] = {}
    by_path: dict[str, Entry] = {}
    for entry in entries[:MAX_NODES]:
        path = entry[0]
        by_path[path] = entry
        while path != "/":
            parent = path.rsplit("/", 1)[0] or "/"
            siblings = children.setdefault(parent, [])
            if path in siblings:
                break
            siblings.append(path)
            path = parent

    totals: dict[str, int] = {}

    def total(path: str) -> int:
        if path not in totals:
            own = by_path.get(path)
            totals[path] = (own[2] if own and own[1] != "removed" else 0) + sum(
                total(child) for child in children.get(path, []))
        return totals[path]

    expand_all = len(by_path) <= EXPAND_ALL

    def add(node: TreeNode, path: str) -> bool:
        """Adds path's children under node; whether any of them changed (to open the way to it)."""
        changed = False
        for child in sorted(children.get(path, []), key=lambda p: (p not in children, p)):
            entry = by_path.get(child, (child, "", 0, stat.S_IFDIR))
            name = child.rsplit("/", 1)[1]
            is_dir = child in children or stat.S_ISDIR(entry[3])
            label = Text(name + ("/" if is_dir else ""), style=STYLES[entry[1]])
            shown = entry[2] if entry[1] == "removed" else total(child)  # a removal: the bytes it hid
            label.append(f"  {human_size(shown)}", style="dim")
            if entry[1]:
                label.append(f"  {entry[1]}", style=STYLES[entry[1]].split()[0])
            if child in children:
                sub = node.add(label, data=child)
                below = add(sub, child)
                if expand_all or below:
                    sub.expand()
                changed |= below or entry[1] not in ("", "modified")
            else:
                node.add_leaf(label, data=child)
                changed |= entry[1] != ""
        return changed

    tree.root.set_label(Text(f"/  {human_size(total('/'))}"))
    add(tree.root, "/")
    tree.root.expand()
    if len(entries) > MAX_NODES:
        tree.root.add_leaf(Text(f"... {len(entries) - MAX_NODES} more entries not shown", style="dim italic"))
    return len(by_path)


def tree_paths(tree: Tree) -> dict[str, str]:
    """Path -> its label's text, of every node of a tree fill_tree built (for tests and the palette)."""
    found = {}
    stack = list(tree.root.children)
    while stack:
        node = stack.pop()
        if node.data:
            found[node.data] = str(node.label)
        stack += node.children
    return found


class VimKeys(Screen[None]):
    """j/k move the focused table's or tree's cursor, as in the panels."""

    def action_move(self, step: int) -> None:
        widget = self.focused
        if isinstance(widget, (DataTable, Tree)):
            widget.action_cursor_down() if step > 0 else widget.action_cursor_up()


class LayersScreen(VimKeys):
    """Left: the layers, bottom first, and the most wasted files; right: the selected layer's files."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Back"),
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
        Binding("a", "toggle_aggregate", "Changes/whole tree", id="layers.aggregate",
                tooltip="Show only the selected layer's changes, or the image's tree up to that layer"),
    ]
    DEFAULT_CSS = """
    LayersScreen #layers-left { width: 2fr; }
    LayersScreen #layers-right { width: 3fr; }
    LayersScreen #layers-table { height: 2fr; }
    LayersScreen #wasted-table { height: 1fr; }
    LayersScreen .title { text-style: bold; }
    """

    def __init__(self, engine: Engine, name: str) -> None:
        super().__init__()
        self.engine = engine
        self.image = name
        self.report: LayerReport | None = None
        self.aggregate = False
        self.layer_index = 0

    def compose(self) -> ComposeResult:
        yield Label(f"Layers of {self.image}: reading ...", id="layers-summary", markup=False)
        with Horizontal():
            with Vertical(id="layers-left"):
                yield DataTable(id="layers-table", cursor_type="row")
                yield Label("Wasted space (files a later layer overwrites or removes)", classes="title")
                yield DataTable(id="wasted-table", cursor_type="row")
            with Vertical(id="layers-right"):
                yield Label("", id="tree-title", markup=False)
                yield Tree("/", id="layer-tree")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#layers-table", DataTable).add_columns("#", "SIZE", "CREATED BY")
        self.query_one("#wasted-table", DataTable).add_columns("WASTED", "TIMES", "PATH")
        self._load()

    @work(thread=True, exit_on_error=False, group="engine")
    def _load(self) -> None:
        try:
            report = self.engine.images.layers(self.image)
        except Exception as e:  # noqa: BLE001 - any engine failure is shown, not raised into the app
            self.app.call_from_thread(self.query_one("#layers-summary", Label).update, f"{self.image}: {one_line(e)}")
            return
        self.app.call_from_thread(self._show, report)

    def _show(self, report: LayerReport) -> None:
        self.report = report
        layers = self.query_one("#layers-table", DataTable)
        for index, layer in enumerate(report.layers):
            layers.add_row(str(index + 1), human_size(layer.size), " ".join(layer.created_by.split())[:200])
        wasted = self.query_one("#wasted-table", DataTable)
        for path, size, times in report.wasted_files[:100]:
            wasted.add_row(human_size(size), str(times), path)
        self.query_one("#layers-summary", Label).update(
            f"{self.image}: {len(report.layers)} layers, {human_size(report.size)} of files, "
            f"wasted {human_size(report.wasted)}, efficiency {report.efficiency * 100:.1f} %"
            + (" (cut off: too many files)" if report.truncated else ""))
        layers.focus()
        self._show_layer()

    @on(DataTable.RowHighlighted, "#layers-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.layer_index = event.cursor_row
        self._show_layer()

    def action_toggle_aggregate(self) -> None:
        self.aggregate = not self.aggregate
        self._show_layer()

    def entries(self) -> list[Entry]:
        """The selected layer's changes, or (aggregate) the image's tree as it stands with that layer on top."""
        assert self.report is not None
        layers = self.report.layers
        if not self.aggregate:
            return [(f.path, f.kind, f.size, f.mode) for f in layers[self.layer_index].files]
        tree: dict[str, Entry] = {}
        for index, layer in enumerate(layers[:self.layer_index + 1]):
            top = index == self.layer_index
            for f in layer.files:
                if f.kind == "removed":
                    prefix = f.path + "/"
                    for path in [p for p in tree if p == f.path or p.startswith(prefix)]:
                        del tree[path]
                    if top:
                        tree[f.path] = (f.path, f.kind, f.size, f.mode)
                else:
                    tree[f.path] = (f.path, f.kind if top else "", f.size, f.mode)
        return sorted(tree.values())

    def _show_layer(self) -> None:
        if self.report is None or not self.report.layers:
            return
        shown = fill_tree(self.query_one("#layer-tree", Tree), self.entries())
        view, other = ("the image's tree with", "changes only") if self.aggregate else ("changes of", "whole tree")
        title = f"{view} layer {self.layer_index + 1}: {shown} entries  (a: {other})"
        self.query_one("#tree-title", Label).update(title)


class DiffFilesScreen(VimKeys):
    """The files a container added (A), changed (C) and deleted (D) against its image, with their sizes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Back"),
        Binding("r", "reload", "Reload", id="files.reload", tooltip="Read the container's changes again"),
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
    ]

    def __init__(self, engine: Engine, container_id: str, name: str) -> None:
        super().__init__()
        self.engine = engine
        self.container_id = container_id
        self.container_name = name

    def compose(self) -> ComposeResult:
        yield Label(f"Files changed in {self.container_name}: reading ...", id="files-summary", markup=False)
        yield Tree("/", id="files-tree")
        yield KeyBar()

    def on_mount(self) -> None:
        self.action_reload()

    @work(thread=True, exit_on_error=False, group="engine", exclusive=True)
    def action_reload(self) -> None:
        try:
            found = self.engine.containers.diff_entries(self.container_id)
        except Exception as e:  # noqa: BLE001 - see LayersScreen._load
            self.app.call_from_thread(self.query_one("#files-summary", Label).update,
                                      f"{self.container_name}: {one_line(e)}")
            return
        self.app.call_from_thread(self._show, found)

    def _show(self, found: list[tuple[str, str, int, int]]) -> None:
        entries = [(path, KINDS[kind], size, mode) for kind, path, size, mode in found]
        tree = self.query_one("#files-tree", Tree)
        fill_tree(tree, entries)
        counts = {kind: sum(1 for k, *_ in found if k == kind) for kind in "ACD"}
        written = sum(size for kind, _, size, _ in found if kind != "D")
        self.query_one("#files-summary", Label).update(
            f"Files changed in {self.container_name}: {counts['A']} added, {counts['C']} changed, "
            f"{counts['D']} deleted; {human_size(written)} written")
        tree.focus()
