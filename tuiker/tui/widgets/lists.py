"""The side panels: compose services (when there are any), containers, images and networks, each a table with a
filter line (`/`), as lazydocker's lists."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from tuiker.engine import (
    DEFAULT_NETWORK,
    LIVE_STATES,
    PSEUDO_NETWORKS,
    Container,
    Image,
    Network,
    Sample,
    familiar_name,
    networks_of,
    ports_text,
)
from tuiker.fmt import human_size
from tuiker.tui.widgets.rowtable import RowTable

PORTS_WIDTH = 24  # the side panel is narrow: longer PORTS end in an ellipsis (Inspect has them all)

# `network ls`'s drivers of the networks that have no definition file.
PSEUDO_DRIVERS = {"host": "host", "none": "null"}

STATE_STYLES = {"running": "green", "paused": "yellow", "restarting": "yellow", "exited": "red",
                "dead": "red", "created": "cyan", "removing": "magenta"}
HEALTH_STYLES = {"healthy": "green", "unhealthy": "red", "starting": "yellow"}


@dataclass(frozen=True)
class Row:
    key: str
    cells: tuple[str | Text, ...]
    search_text: str  # what `/` matches against, lower case
    name: str = ""  # how a notification names it, when not its key


@dataclass
class _MadeRow:
    """A container's cells as the list last made them: what from, their widths (COLUMNS' order), and its Row for
    the columns and NAME's cut in `shape`."""

    source: tuple  # (container, busy word, sample)
    cells: dict[str, str | Text]
    widths: tuple[int, ...]
    row: Row | None = None
    shape: tuple = ()


class ListTable(RowTable):
    """A row-cursor table where `enter` opens the main pane and j/k move, as in lazydocker."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "screen.focus_main", "Open", show=False, id="main.focus"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_top", "Top", show=False),
        Binding("G", "scroll_bottom", "Bottom", show=False),
    ]


class FilterInput(Input):
    """The filter line under a list; `escape` clears it and goes back to the list."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Clear filter")]

    class Cancelled(Message):
        pass

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())


class ResourceList(Vertical):
    """A bordered panel holding a table keyed by ID and a filter line. Rows are replaced in place when only
    their cells change, so the cursor, the scroll position and the selection survive every refresh."""

    COLUMNS: ClassVar[tuple[str, ...]] = ()
    TITLE: ClassVar[str] = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="list.filter", tooltip="Filter the focused list"),
    ]

    class Selected(Message):
        """The row under the cursor changed (key is None when the list became empty)."""

        def __init__(self, resource_list: ResourceList, key: str | None) -> None:
            super().__init__()
            self.resource_list = resource_list
            self.key = key

        @property
        def control(self) -> ResourceList:
            return self.resource_list

    class Vanished(Message):
        """The selected row's item went away (removed by the app or by another command): the cursor moved
        to `moved_to`, its neighbour (None when the list became empty)."""

        def __init__(self, resource_list: ResourceList, gone: Row, moved_to: str | None) -> None:
            super().__init__()
            self.resource_list = resource_list
            self.gone = gone
            self.moved_to = moved_to

        @property
        def control(self) -> ResourceList:
            return self.resource_list

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="panel")
        self.rows: list[Row] = []
        self.filter_text = ""
        self._shown: list[Row] = []
        self._selected: str | None = None
        self._titles: tuple[str, str] | None = None  # the border title and subtitle shown
        self._wanted: str | None = None  # a key to put the cursor on once it appears (a container just made)

    def compose(self) -> ComposeResult:
        yield ListTable()
        yield FilterInput(placeholder="filter", classes="filter")

    def on_mount(self) -> None:
        self.table.add_columns(*self.COLUMNS)
        self._update_title()

    @property
    def table(self) -> ListTable:
        return self.query_one(ListTable)

    @property
    def selected(self) -> str | None:
        return self._selected

    def select(self, key: str) -> None:
        """Put the cursor on `key` now, or as soon as a refresh brings it."""
        self._wanted = key
        self._place_cursor()
        self._announce()

    def set_rows(self, rows: list[Row]) -> None:
        self.rows = rows
        self._render_rows()

    def _render_rows(self) -> None:
        needle = self.filter_text.lower()
        shown = [r for r in self.rows if (not needle or needle in r.search_text) and self.visible(r)]
        table = self.table
        if [r.key for r in shown] == [r.key for r in self._shown]:
            for old, new in zip(self._shown, shown, strict=True):
                if old.cells != new.cells:
                    table.update_row(new.key, new.cells)
            self._shown = shown
        else:
            # Rows came, went or moved: the cursor stays on the selected item, by key, whatever its new index.
            before, keep = self._shown, self._selected
            table.clear()
            for row in shown:
                table.add_row(*row.cells, key=row.key)
            self._shown = shown
            if keep is not None and keep in (r.key for r in shown):
                self._move_to(keep)
            elif keep is not None:
                self._to_neighbour(before, keep)
        self._place_cursor()
        self._update_title()
        self._announce()

    def _to_neighbour(self, before: list[Row], key: str) -> None:
        """The selected row is no longer shown: put the cursor on the nearest row that was beside it (the one
        below first, as lazydocker), and say so if its item is gone (not merely filtered out)."""
        index = next((i for i, r in enumerate(before) if r.key == key), 0)
        shown = {r.key for r in self._shown}
        neighbour = next((r.key for r in [*before[index + 1:], *reversed(before[:index])] if r.key in shown),
                         self._shown[0].key if self._shown else None)
        if neighbour is not None:
            self._move_to(neighbour)
        if key not in (r.key for r in self.rows):
            self.post_message(self.Vanished(self, before[index], neighbour))

    def label(self, row: Row) -> str:
        """How a notification names the item of `row`."""
        return row.key

    def visible(self, row: Row) -> bool:
        """Whether `row` is listed, the filter aside (a subclass hides some)."""
        return True

    @property
    def hiding(self) -> str:
        """What the panel hides besides the filter, for its subtitle ("" when nothing)."""
        return ""

    def _move_to(self, key: str) -> None:
        self.table.move_cursor(self.table.get_row_index(key))

    def _place_cursor(self) -> None:
        """Honour `select`: once its key is listed (shown or filtered out), it is no longer waited for."""
        if self._wanted is None or self._wanted not in (r.key for r in self.rows):
            return
        wanted, self._wanted = self._wanted, None
        if wanted in (r.key for r in self._shown):
            self._move_to(wanted)

    def _announce(self) -> None:
        """Post Selected when the row under the cursor is not the one announced last."""
        key = self._shown[self.table.cursor_row].key if self._shown and self.table.cursor_row >= 0 else None
        if key != self._selected:
            self._selected = key
            self.post_message(self.Selected(self, key))

    def _update_title(self) -> None:
        narrowed = self.filter_text or self.hiding
        count = f"{len(self._shown)}/{len(self.rows)}" if narrowed else str(len(self.rows))
        titles = (f"{self.TITLE} ({count})",
                  "  ".join(filter(None, [f"filter: {self.filter_text}" if self.filter_text else "", self.hiding])))
        if titles != self._titles:  # setting a border title repaints the whole panel, even to the same text
            self._titles = titles
            self.border_title, self.border_subtitle = titles

    @on(RowTable.RowHighlighted)
    def _row_highlighted(self, event: RowTable.RowHighlighted) -> None:
        event.stop()
        self._announce()

    def action_filter(self) -> None:
        field = self.query_one(FilterInput)
        field.display = True
        field.focus()

    @on(Input.Changed, "FilterInput")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value
        self._render_rows()

    @on(Input.Submitted, "FilterInput")
    def _filter_kept(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            event.input.display = False
        self.table.focus()

    @on(FilterInput.Cancelled)
    def _filter_cleared(self, event: FilterInput.Cancelled) -> None:
        event.stop()
        field = self.query_one(FilterInput)
        field.value = ""
        field.display = False
        self.table.focus()


class ContainerList(ResourceList):
    """The containers, with CPU and MEM sampled once a second for the running ones on screen (through the app's
    StatsBook, so the Stats tab's history grows too). When the panel is narrow, PORTS stays whole: NAME is cut
    to 16 first, then IMAGE goes, then MEM, then NAME is cut to 8, then CPU goes."""

    TITLE = "Containers"
    COLUMNS = ("STATE", "NAME", "IMAGE", "CPU", "MEM", "PORTS")
    MIN_NAME = 8  # NAME is cut to this, with an ellipsis, before CPU goes

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "screen.stop", "Stop", id="container.stop", tooltip="Stop the container"),
        Binding("r", "screen.restart", "Restart", id="container.restart", tooltip="Restart the container"),
        Binding("u,S", "screen.start", "Start", id="container.start", tooltip="Start the container"),
        Binding("p", "screen.pause", "Pause/unpause", id="container.pause", tooltip="Pause or unpause it"),
        Binding("d", "screen.remove", "Remove", id="container.remove", tooltip="Remove the container (asks first)"),
        Binding("e", "screen.exec", "Exec shell", id="container.exec",
                tooltip="Open a shell in the container, in a terminal tab"),
        Binding("a", "screen.attach", "Attach", id="container.attach",
                tooltip="Attach to the container's console, in a terminal tab"),
        Binding("E", "screen.exec_full", "Exec (full screen)", show=False, id="container.exec_full",
                tooltip="Open a shell in the container in the whole terminal (suspends the app)"),
        Binding("A", "screen.attach_full", "Attach (full screen)", show=False, id="container.attach_full",
                tooltip="Attach in the whole terminal (suspends the app; ctrl+p ctrl+q comes back)"),
        Binding("w", "screen.open_browser", "Open in browser", show=False, id="container.browser",
                tooltip="Open its first published port in the browser ($BROWSER or xdg-open), else show the URL"),
        Binding("b", "screen.bulk('containers')", "Bulk", show=False, id="container.bulk",
                tooltip="Bulk actions: stop all, remove all stopped, remove all"),
        Binding("c", "screen.custom('containers')", "Custom", show=False, id="container.custom",
                tooltip="Run a custom command from the config file (customCommands.containers) on it"),
        Binding("H", "toggle_hide_stopped", "Hide stopped", id="container.hide_stopped",
                tooltip="Hide or show the containers that do not run (the selection stays when it can)"),
        Binding("F", "screen.diff_files", "Files", show=False, id="container.files",
                tooltip="Browse the files it added, changed and deleted (diff), with their sizes"),
        Binding("y", "screen.copy_container_id", "Copy ID", show=False, id="container.copy_id",
                tooltip="Copy the container's full ID to the clipboard (the terminal's OSC 52)"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.containers: dict[str, Container] = {}
        self.busy: dict[str, str] = {}  # id -> what is being done to it ("stopping"), until the next refresh
        self.hide_stopped = False
        self.usage: dict[str, Sample] = {}
        self._made: dict[str, _MadeRow] = {}  # container id -> its cells and row, as last made
        self.columns_shown: tuple[str, ...] = self.COLUMNS
        self.name_width: int | None = None  # NAME's cut, when the panel is too narrow for the whole names

    def sample_usage(self) -> dict[str, Sample | None] | None:
        """In the screen's poller thread (a thread of its own would take one more of the few the event loop's
        executor has, which tests' to_thread and the terminals need): the running containers in the table's
        viewport, a few dozen at most however many there are (id -> sample, None: no reading). None: nothing to
        show, nor to clear. The caller hands them to `show_usage` in the UI thread."""
        table, shown, containers = self.table, self._shown, self.containers
        top = int(table.scroll_y)
        on_screen = [containers.get(r.key) for r in shown[top:top + max(table.size.height, 1)]]
        running = [c for c in on_screen if c is not None and c.status in ("running", "paused")]
        if not (running or self.usage):
            return None
        book = self.app.stats_book
        return {c.id: book.sample(c) for c in running}

    def show_usage(self, samples: dict[str, Sample | None]) -> None:
        usage = {cid: sample for cid, sample in samples.items() if sample is not None}
        if usage != self.usage:
            self.usage = usage
            self._show_rows()

    def on_resize(self) -> None:
        self._show_rows()

    def visible(self, row: Row) -> bool:
        c = self.containers.get(row.key)
        return not self.hide_stopped or c is None or c.status in LIVE_STATES

    @property
    def hiding(self) -> str:
        return "stopped hidden" if self.hide_stopped else ""

    def action_toggle_hide_stopped(self) -> None:
        self.hide_stopped = not self.hide_stopped
        self._render_rows()

    def show_containers(self, containers: Iterable[Container]) -> None:
        ordered = sort_containers(list(containers))
        self.containers = {c.id: c for c in ordered}
        self._made = {cid: made for cid, made in self._made.items() if cid in self.containers}
        self._show_rows()

    def mark_busy(self, container_id: str, doing: str) -> None:
        """Say what is being done until the engine is done and the store shows the result."""
        self.busy[container_id] = doing
        self._show_rows()

    def _show_rows(self) -> None:
        """The rows are rebuilt every second for CPU and MEM: a container's cells, their widths and its row are
        made again only when what they show changed (making 200 containers' cells each second was most of the
        idle app's work)."""
        every = [self._made_row(c) for c in self.containers.values()]
        self._fit([made.widths for made in every])
        shape = (self.columns_shown, self.name_width)
        rows = []
        for c, made in zip(self.containers.values(), every, strict=True):
            if made.row is None or made.shape != shape:
                cells = made.cells
                if self.name_width is not None and len(c.name) > self.name_width:
                    cells = dict(cells, NAME=c.name[:self.name_width - 1] + "…")  # the made cells stay whole
                made.row = Row(c.id, tuple(cells[column] for column in self.columns_shown), cells["search"], c.name)
                made.shape = shape
            rows.append(made.row)
        self.set_rows(rows)

    def _made_row(self, c: Container) -> _MadeRow:
        """The container's cells, made again when the container (the watcher gives a new object when its files
        changed), what is being done to it, or its sample changed."""
        source = (c, self.busy.get(c.id), self.usage.get(c.id))
        made = self._made.get(c.id)
        if made is None or made.source[0] is not c or made.source[1] != source[1] or made.source[2] is not source[2]:
            cells = self._cells(c)
            made = self._made[c.id] = _MadeRow(source, cells, tuple(len(str(cells[col])) for col in self.COLUMNS))
        return made

    def _cells(self, c: Container) -> dict[str, str | Text]:
        state = self.busy.get(c.id) or _state_label(c)
        image = familiar_name(c.config.get("Image", ""))
        published = ports_label(c)
        cell = Text(state, style=STATE_STYLES.get(c.status, ""))
        health = c.health if c.status == "running" and c.id not in self.busy else None
        if health:  # lazydocker's substatus of a running container: its health, coloured
            cell.append(f" ({health})", style=HEALTH_STYLES.get(health, ""))
            state = f"{state} ({health})"
        sample = self.usage.get(c.id) if c.status in ("running", "paused") else None
        return {"STATE": cell, "NAME": c.name, "IMAGE": image,
                "CPU": f"{sample.cpu_percent:.1f}%" if sample else "",
                "MEM": human_size(sample.memory) if sample else "", "PORTS": published,
                "search": f"{state} {c.name} {image} {c.id[:12]} {published}".lower()}

    def _fit(self, widths: list[tuple[int, ...]]) -> None:
        """Choose the columns (and NAME's cut) that fit the table's width, from each row's cell widths (in
        COLUMNS' order); rebuild the table's columns when the choice changed (the rows follow, the cursor stays
        on its container)."""
        widest = [max(column) for column in zip(*widths, strict=True)] if widths else [0] * len(self.COLUMNS)
        natural = {column: max(len(column), width) for column, width in zip(self.COLUMNS, widest, strict=True)}
        natural["CPU"], natural["MEM"] = max(natural["CPU"], 5), max(natural["MEM"], 6)  # steady as figures move
        room = self.table.scrollable_content_region.width - 1  # a vertical scrollbar may come
        columns, name_width = list(self.COLUMNS), None

        def cost() -> int:
            return sum((name_width if c == "NAME" and name_width else natural[c]) + 2 for c in columns)

        if room > 0:
            for step in (16, "IMAGE", "MEM", self.MIN_NAME, "CPU"):
                if cost() <= room:
                    break
                if isinstance(step, int):  # NAME, cut to what fits, but not under `step`
                    name_width = min(natural["NAME"], max(step, (name_width or natural["NAME"]) - (cost() - room)))
                else:
                    columns.remove(step)
            if cost() > room and "NAME" in columns:
                name_width = max(4, (name_width or natural["NAME"]) - (cost() - room))
        if name_width == natural["NAME"]:
            name_width = None
        self.name_width = name_width
        if tuple(columns) != self.columns_shown:
            self.columns_shown = tuple(columns)
            self.table.clear(columns=True)
            self.table.add_columns(*columns)
            self._shown = []  # every row is added again, in the new columns

    def label(self, row: Row) -> str:
        return f"container {row.name or row.cells[1]}"

    @property
    def selected_container(self) -> Container | None:
        return self.containers.get(self.selected or "")


def _state_label(c: Container) -> str:
    """lazydocker's status plus substatus: `exited (137)`, `exited (oom)`."""
    if c.status == "exited":
        return "exited (oom)" if c.state.get("OOMKilled") else f"exited ({c.state.get('ExitCode', 0)})"
    return c.status


def ports_label(c: Container) -> str:
    """`tuiker ps`'s PORTS, compact: `8080->80/tcp` (the any-address `0.0.0.0:` left out), cut to PORTS_WIDTH.
    Nothing once the container has stopped, as `ps`."""
    text = ports_text(c).replace("0.0.0.0:", "")
    return text if len(text) <= PORTS_WIDTH else text[:PORTS_WIDTH - 1] + "…"


def sort_containers(containers: list[Container]) -> list[Container]:
    """lazydocker's order: running, then paused/restarting, then exited, then created; by name within."""
    rank = {"running": 0, "paused": 1, "restarting": 1, "exited": 2, "dead": 2, "created": 3}
    return sorted(containers, key=lambda c: (rank.get(c.status, 4), c.name))


COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"


class ServiceList(ResourceList):
    """lazydocker's Projects/Services: the containers that compose made, grouped by the project and service their
    labels name (`com.docker.compose.project`, `.service`), one row per service. Shown only while there are some."""

    TITLE = "Services"
    COLUMNS = ("PROJECT", "SERVICE", "RUNNING")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.groups: dict[str, list[Container]] = {}
        self.display = False  # until a snapshot holds a compose container

    def show_services(self, containers: Iterable[Container]) -> None:
        groups: dict[str, list[Container]] = {}
        for c in containers:
            labels = c.config.get("Config", {}).get("Labels") or {}
            if COMPOSE_PROJECT in labels and COMPOSE_SERVICE in labels:
                groups.setdefault(f"{labels[COMPOSE_PROJECT]}/{labels[COMPOSE_SERVICE]}", []).append(c)
        self.groups = {key: sorted(groups[key], key=lambda c: c.name) for key in sorted(groups)}
        rows = []
        for key, members in self.groups.items():
            project, service = key.split("/", 1)
            running = sum(c.status in ("running", "paused", "restarting") for c in members)
            style = "green" if running == len(members) else "yellow" if running else "red"
            rows.append(Row(key, (project, service, Text(f"{running}/{len(members)}", style=style)),
                            f"{project} {service}".lower()))
        self.display = bool(rows)
        self.set_rows(rows)

    def document(self, key: str) -> dict:
        """What the main pane shows for a service: its project's folder and files, and its containers."""
        members = self.groups.get(key) or []
        labels = (members[0].config.get("Config", {}).get("Labels") or {}) if members else {}
        project, _, service = key.partition("/")
        return {"Project": project, "Service": service,
                "WorkingDir": labels.get("com.docker.compose.project.working_dir", ""),
                "ConfigFiles": labels.get("com.docker.compose.project.config_files", ""),
                "Containers": [{"Name": c.name, "State": _state_label(c), "Image": familiar_name(c.config.get(
                    "Image", "")), "Ports": ports_text(c)} for c in members]}


class ImageList(ResourceList):
    TITLE = "Images"
    COLUMNS = ("REPOSITORY", "TAG", "IMAGE ID", "SIZE")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d,D", "screen.remove_image", "Remove image", id="image.remove", tooltip="Remove the image"),
        Binding("c", "screen.custom('images')", "Custom", show=False, id="image.custom",
                tooltip="Run a custom command from the config file (customCommands.images) on it"),
        Binding("b", "screen.build", "Build an image", id="image.build",
                tooltip="Build an image from a Dockerfile (a form, then each step live)"),
        Binding("l", "screen.layers", "Layers", show=False, id="image.layers",
                tooltip="Explore its layers: each one's files, and the space wasted on hidden ones (like dive)"),
        Binding("y", "screen.copy_image_id", "Copy ID", show=False, id="image.copy_id",
                tooltip="Copy the image's full ID (sha256:...) to the clipboard (the terminal's OSC 52)"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.images: dict[str, Image] = {}

    def show_images(self, images: Iterable[Image]) -> None:
        """One row per tag, as `docker images`; an untagged image is one `<none>` row keyed by its ID."""
        rows = []
        self.images = {}
        for image in images:
            for name in image.repo_tags or [image.id]:
                repo, tag = (familiar_name(name).rsplit(":", 1) if name != image.id else ("<none>", "<none>"))
                self.images[name] = image
                rows.append(Row(name, (repo, tag, image.short_id, human_size(image.size)),
                                f"{repo}:{tag} {image.short_id}".lower()))
        self.set_rows(rows)


class NetworkList(ResourceList):
    """`network ls`: the default bridge, host and none, then user networks; CONTAINERS counts the running ones
    (those that keep the engine from removing a network), from the containers already read for their panel."""

    TITLE = "Networks"
    COLUMNS = ("NAME", "DRIVER", "SUBNET", "CONTAINERS")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "screen.remove_network", "Remove network", id="network.remove",
                tooltip="Remove the network (asks first; the engine refuses one in use, and bridge, host, none)"),
        Binding("b", "screen.bulk('networks')", "Bulk", show=False, id="network.bulk",
                tooltip="Bulk actions: remove unused networks"),
        Binding("N", "screen.new_network", "New network", id="network.new",
                tooltip="Create a network (a form: name, optional subnet)"),
    ]

    def show_networks(self, networks: Iterable[Network], containers: Iterable[Container]) -> None:
        running = Counter(name for c in containers if c.status in ("running", "paused") for name in networks_of(c))
        defined = {n.name: n for n in networks}
        # The bridge's definition is written when a container first uses it: listed before that too, as `ls` does.
        rows = []
        for name in [DEFAULT_NETWORK, *PSEUDO_NETWORKS, *(name for name in defined if name != DEFAULT_NETWORK)]:
            net = defined.get(name)
            driver = PSEUDO_DRIVERS.get(name, "bridge")
            subnet = net.subnet if net else ""
            rows.append(Row(name, (name, driver, subnet, str(running[name])), f"{name} {driver} {subnet}".lower()))
        self.set_rows(rows)

    @property
    def names(self) -> list[str]:
        return [row.key for row in self.rows]



class VolumeList(ResourceList):
    """`volume ls`, with the number of containers (running or not) whose mounts name each volume, from the
    containers already read for their panel: a volume with any cannot be removed."""

    TITLE = "Volumes"
    COLUMNS = ("DRIVER", "NAME", "CONTAINERS")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "screen.bulk('volumes')", "Bulk", show=False, id="volume.bulk",
                tooltip="Bulk actions: remove unused volumes"),
        Binding("d", "screen.remove_volume", "Remove volume", id="volume.remove",
                tooltip="Remove the volume (asks first; the engine refuses one a container uses)"),
    ]

    def show_volumes(self, volumes: Iterable[dict], containers: Iterable[Container]) -> None:
        users = Counter(name for c in containers
                        for name in {m.get("Name") for m in c.config.get("mounts") or [] if m.get("Type") == "volume"})
        self.set_rows([Row(v["Name"], (v["Driver"], v["Name"], str(users[v["Name"]])),
                           f"{v['Driver']} {v['Name']}".lower()) for v in volumes])
