"""The main screen, laid out like lazydocker: the engine's header, the Containers, Images, Networks and Volumes
panels on the left, the selected item's tabs (or inspect document) on the right, and the keys of the focused panel
in the footer.

Everything the engine does runs in workers: the store is polled twice a second in one thread (two `stat`
calls per container, files read only when they changed), and each action (stop, start ...) runs in a thread
of its own, so the screen never waits for the engine."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, on, work
from textual.app import ComposeResult, SuspendNotSupported, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.message import Message
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ContentSwitcher, TabbedContent, Tabs

from tuiker.engine import LIVE_STATES, Container, Snapshot, TuikerError, config_file, familiar_name, published_ports
from tuiker.tui.screens.build import BuildFormScreen, BuildScreen
from tuiker.tui.screens.confirm import ConfirmScreen
from tuiker.tui.screens.help import KeyRow
from tuiker.tui.screens.layers import DiffFilesScreen, LayersScreen
from tuiker.tui.screens.menu import MenuScreen
from tuiker.tui.screens.new_container import NewContainer, NewContainerScreen
from tuiker.tui.screens.new_network import NewNetwork, NewNetworkScreen
from tuiker.tui.screens.pull import PullScreen
from tuiker.tui.screens.timeline import TimelineScreen
from tuiker.tui.widgets.details import ContainerDetails, YamlView
from tuiker.tui.widgets.header import EngineHeader
from tuiker.tui.widgets.keybar import KeyBar
from tuiker.tui.widgets.lists import ContainerList, ImageList, NetworkList, ResourceList, ServiceList, VolumeList
from tuiker.tui.widgets.logs import LogView
from tuiker.tui.widgets.poller import Poller, one_line
from tuiker.tui.widgets.stats import StatsView
from tuiker.tui.widgets.terminal import Terminal

if TYPE_CHECKING:
    from tuiker.engine import BuildOptions, Engine, Sample, Watcher

# The user's shell if the image has bash, else sh (lazydocker reads /etc/passwd; most images have neither
# a login shell nor a passwd entry worth trusting).
SHELL = ["/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash; else exec /bin/sh; fi"]

# Which container states each container action applies to (None: any state).
ACTION_STATES: dict[str, tuple[str, ...] | None] = {
    "stop": LIVE_STATES, "start": ("created", "exited", "dead"), "restart": None, "pause": ("running", "paused"),
    "remove": None, "exec": ("running",), "attach": ("running", "paused"), "exec_full": ("running",),
    "attach_full": ("running", "paused"), "open_browser": ("running",),
}

# The actions whose availability check_action decides, and so what the footer shows.
CHECKED_ACTIONS = (*ACTION_STATES, "remove_image", "remove_network", "remove_volume", "close_terminal",
                   "leave_terminal", "toggle_timestamps")

# The screen's actions for the Logs tab (they apply while it is on screen).
LOG_ACTIONS = ("toggle_timestamps", "toggle_follow", "search_logs")

# The main pane's content for each side panel.
DETAILS_OF_PANEL = {"services": "service-details", "containers": "container-details", "images": "image-details",
                    "networks": "network-details", "volumes": "volume-details"}

USAGE_INTERVAL = 0.9  # s between samples of the list's CPU and MEM and the Stats graphs (the poll runs every 0.5 s)

# The side panels that the number keys 1, 2 ... focus.
NUMBERED_PANELS = ("containers", "images", "networks", "volumes", "services")

# Keys that are not bindings of their own, for the help screen.
OTHER_KEYS: list[KeyRow] = [
    ("↑ ↓  j k", "Move in a list", ""),
    ("enter", "Open the main pane (Logs, Stats ...) of the selected item", "main.focus"),
    ("shift+pgup/pgdn", "Scroll back in an embedded terminal", ""),
    ("ctrl+p", "Command palette: every action by name", ""),
    ("mouse", "Click rows, tabs and buttons; the wheel scrolls", ""),
]


def freeze_startup_objects() -> None:
    """Once the first snapshot is on screen: hide every object alive (modules, widgets, rows) from the garbage
    collector, and make its full collections ten times rarer. Each full collection walked them all: pauses of
    100-150 ms, several a minute while keys are pressed (bench/tui's p95 for a tab switch went from ~250 ms)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 100)  # the default third threshold is 10


def run_in_foreground(argv: list[str], env: dict[str, str]) -> int:
    """Run `argv` as the terminal's foreground job, as a shell runs a command: in a process group of its own
    that the terminal's signal keys (Ctrl-C, Ctrl-\\, Ctrl-Z) reach, and the app's group does not, so they
    never end the app. The app's group is made the foreground again once it exits."""
    import signal

    fd = sys.__stdin__.fileno() if sys.__stdin__ is not None else -1
    try:
        terminal = os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        terminal = False
    if not terminal:
        return subprocess.run(argv, env=env).returncode
    child = subprocess.Popen(argv, env=env, process_group=0)
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may not set the foreground
    try:
        try:
            os.tcsetpgrp(fd, child.pid)
            os.killpg(child.pid, signal.SIGCONT)  # had it read the terminal before that, it stopped (SIGTTIN)
        except OSError:
            pass  # it has exited already
        return child.wait()
    finally:
        os.tcsetpgrp(fd, os.getpgrp())
        signal.signal(signal.SIGTTOU, previous)


def bindings_of(cls: type[DOMNode]) -> list[Binding]:
    """The bindings a class declares itself and inherits, that have an ID (so can be remapped)."""
    found = []
    for klass in reversed(cls.__mro__):
        found += [b for b in vars(klass).get("BINDINGS", []) if isinstance(b, Binding) and b.id]
    return found


class MainScreen(Screen):
    PANELS = ("#services", "#containers", "#images", "#networks", "#volumes", "#main")
    # Under 36 rows the focused side panel grows (app.tcss): the five lists leave each only a few rows there.
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (36, "-tall")]
    # Screen's `focused` repaints the whole screen when it changes: every Tab then sent every cell of the
    # terminal again. The widgets whose focus styles change are redrawn by Textual's style update anyway.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_container", "New", id="container.new", tooltip="Create a container from a form"),
        Binding("P", "pull", "Pull", id="image.pull", tooltip="Pull an image, showing each layer's progress"),
        # lazydocker's number keys, each for one panel whether Services shows or not (muscle memory holds).
        *(Binding(str(number), f"focus_panel('{name}')", name.capitalize(), show=False, id=f"panel.{name}",
                  tooltip=f"Focus the {name.capitalize()} panel")
          for number, name in enumerate(NUMBERED_PANELS, 1)),
        Binding("tab", "next_panel", "Next panel", show=False, id="panel.next",
                tooltip="Focus the next panel (Services, Containers, Images, Networks, Volumes, main pane)"),
        Binding("shift+tab", "previous_panel", "Previous panel", show=False, id="panel.previous",
                tooltip="Focus the previous panel"),
        Binding("right_square_bracket", "next_tab", "Next tab", show=False, id="tab.next",
                tooltip="Show the main pane's next tab"),
        Binding("left_square_bracket", "previous_tab", "Previous tab", show=False, id="tab.previous",
                tooltip="Show the main pane's previous tab"),
        Binding("escape", "focus_list", "Back", show=False, id="main.back",
                tooltip="From the main pane, back to the list"),
        Binding("x", "close_terminal", "Close terminal", id="terminal.close",
                tooltip="Close the terminal tab on screen (ends an exec, detaches an attach)"),
        # A priority binding: it acts before the terminal, which would send the key to the process.
        Binding("ctrl+right_square_bracket", "leave_terminal", "Leave terminal", id="terminal.leave", priority=True,
                tooltip="Give the keys back to the app (the terminal stays open in its tab)"),
        # The Logs tab's keys, from the containers list and the whole main pane (in the log itself too: it has
        # its own `/`). On other lists, `/` filters the list.
        *LogView.SCREEN_BINDINGS,
        Binding("B", "bulk('prune')", "Prune", show=False, id="prune.menu",
                tooltip="Prune: stopped containers, unused images, networks or volumes (asks first)"),
        Binding("L", "timeline", "Log timeline", show=False, id="timeline.open",
                tooltip="Every container's log merged by time, a colour per container (from Services: its project's)"),
        Binding("slash", "search_logs", "Search", show=False, id="logs.search",
                tooltip="Show only the log lines holding a text"),
    ]

    class Sampled(Message, bubble=False):
        """The containers list's samples (see ContainerList.sample_usage) and the container the Stats tab
        sampled."""

        def __init__(self, usage: dict[str, Sample | None] | None, stats_container_id: str | None) -> None:
            super().__init__()
            self.usage = usage
            self.stats_container_id = stats_container_id

    class Refreshed(Message, bubble=False):
        def __init__(self, snapshot: Snapshot) -> None:
            super().__init__()
            self.snapshot = snapshot

    class Done(Message):
        """An action on a container ended (well or not): its row shows the store's state again."""

        def __init__(self, container_id: str, select: bool = False) -> None:
            super().__init__()
            self.container_id = container_id
            self.select = select

    def __init__(self) -> None:
        super().__init__()
        self._watcher: Watcher | None = None
        self._poller = Poller(self, self._poll, 0.5)
        self._refresh_wanted = False
        self._last_list: ResourceList | None = None
        self._key_signature: tuple[bool, ...] = ()
        self._settled = False
        self._usage_at = 0.0

    def compose(self) -> ComposeResult:
        yield EngineHeader(self.engine, id="header")
        with Horizontal(id="body"):
            with Vertical(id="side"):
                yield ServiceList(id="services")
                yield ContainerList(id="containers")
                yield ImageList(id="images")
                yield NetworkList(id="networks")
                yield VolumeList(id="volumes")
            with ContentSwitcher(initial="container-details", id="main"):
                yield ContainerDetails(id="container-details")
                yield YamlView(id="image-details", classes="panel")
                yield YamlView(id="network-details", classes="panel")
                yield YamlView(id="volume-details", classes="panel")
                yield YamlView(id="service-details", classes="panel")
        yield KeyBar()

    @property
    def engine(self) -> Engine:
        return self.app.engine

    @property
    def containers(self) -> ContainerList:
        return self.query_one(ContainerList)

    @property
    def services(self) -> ServiceList:
        return self.query_one(ServiceList)

    @property
    def images(self) -> ImageList:
        return self.query_one(ImageList)

    @property
    def networks(self) -> NetworkList:
        return self.query_one(NetworkList)

    @property
    def volumes(self) -> VolumeList:
        return self.query_one(VolumeList)

    @property
    def details(self) -> ContainerDetails:
        return self.query_one(ContainerDetails)

    def on_mount(self) -> None:
        self._watcher = self.engine.watch()
        self._poller.start()
        self.containers.table.focus()

    def on_unmount(self) -> None:
        self._poller.stop()

    # -- live state -------------------------------------------------------------------------------------

    def _poll(self) -> None:
        now = time.monotonic()
        # The list's CPU and MEM and the Stats graphs, once a second, in one message: one frame draws both. (Two
        # messages landed in two frames: the first post wakes the UI thread, which holds the GIL while it handles
        # it, so the second came up to 5 ms later, the GIL's switch interval.)
        if now - self._usage_at >= USAGE_INTERVAL:
            self._usage_at = now
            self.post_message(self.Sampled(self.containers.sample_usage(), self.query_one(StatsView).sample()))
        force, self._refresh_wanted = self._refresh_wanted, False
        snapshot = self._watcher.poll(force=force)
        if snapshot is not None:
            self.post_message(self.Refreshed(snapshot))

    def refresh_now(self) -> None:
        """Poll the store at once, and show it even if nothing changed (an action ended)."""
        self._refresh_wanted = True
        self._poller.poke()

    def on_main_screen_sampled(self, message: Sampled) -> None:
        if message.usage is not None:
            self.containers.show_usage(message.usage)
        self.query_one(StatsView).show_sampled(message.stats_container_id)

    def on_main_screen_refreshed(self, message: Refreshed) -> None:
        snapshot = message.snapshot
        self.services.show_services(snapshot.containers)
        if self._main_pane == "service-details":
            self._show_service()
        self.containers.show_containers(snapshot.containers)
        self.app.stats_book.keep_only({c.id for c in snapshot.containers})
        self.images.show_images(snapshot.images)
        self.networks.show_networks(snapshot.networks, snapshot.containers)
        self.volumes.show_volumes(snapshot.volumes, snapshot.containers)
        if self._main_pane == "network-details":
            self._show_network()  # its containers may have changed (nothing is read when its row did not)
        if self._main_pane == "volume-details":
            self._show_volume()
        self.query_one(EngineHeader).show_counts(snapshot.containers, len(snapshot.images))
        selected = self.containers.selected_container
        if selected is not self.details.container:
            self.details.show(selected)
        self._update_keys()
        if not self._settled:
            self._settled = True
            if not self.app.is_headless:  # in tests, many apps share a process: leave its memory alone
                self.call_after_refresh(freeze_startup_objects)

    @on(ResourceList.Selected, "#containers")
    def _container_selected(self) -> None:
        self.details.show(self.containers.selected_container)
        self._update_keys()

    def on_resource_list_vanished(self, message: ResourceList.Vanished) -> None:
        """The selected item went away: say which is selected now, before a key acts on it."""
        panel = message.resource_list
        gone = panel.label(message.gone)
        if message.moved_to is None:
            text = f"{gone} is gone"
        else:
            row = next(r for r in panel.rows if r.key == message.moved_to)
            text = f"{gone} is gone: {panel.label(row)} is selected now"
        self.app.notify(text, title=panel.TITLE, markup=False)

    @on(ResourceList.Selected, "#services")
    def _service_selected(self) -> None:
        if self._main_pane == "service-details":
            self._show_service()

    @on(ResourceList.Selected, "#images")
    def _image_selected(self) -> None:
        if self._main_pane == "image-details":
            self._show_image()
        self._update_keys()

    @on(ResourceList.Selected, "#networks")
    def _network_selected(self) -> None:
        if self._main_pane == "network-details":
            self._show_network()
        self._update_keys()

    @on(ResourceList.Selected, "#volumes")
    def _volume_selected(self) -> None:
        if self._main_pane == "volume-details":
            self._show_volume()
        self._update_keys()

    @property
    def _main_pane(self) -> str | None:
        return self.query_one("#main", ContentSwitcher).current

    def _show_image(self) -> None:
        name = self.images.selected
        engine = self.engine

        def document() -> dict[str, Any]:
            doc = engine.images.inspect(name)
            history = engine.images.config(engine.images.get(name)).get("history") or []
            doc["History"] = [h.get("created_by", "") for h in history]
            return doc

        view = self.query_one("#image-details", YamlView)
        view.border_title = familiar_name(name) if name else "no image"
        view.load(name, document)

    def _show_network(self) -> None:
        """`network inspect` of the selected network; read again only when its row changed (its subnet, or the
        number of containers running on it)."""
        name = self.networks.selected
        engine = self.engine
        row = next((r for r in self.networks.rows if r.key == name), None)
        view = self.query_one("#network-details", YamlView)
        view.border_title = name or "no network"
        view.load(row and row.cells, lambda: engine.networks.inspect(name))

    def _show_volume(self) -> None:
        """`volume inspect` of the selected volume, with the containers that use it; read again only when its row
        changed."""
        name = self.volumes.selected
        engine = self.engine
        row = next((r for r in self.volumes.rows if r.key == name), None)

        def document() -> dict[str, Any]:
            doc = engine.volumes.inspect(name)
            doc["UsedBy"] = [engine.containers.get(cid).name for cid in engine.volumes.users(name)]
            return doc

        view = self.query_one("#volume-details", YamlView)
        view.border_title = name or "no volume"
        view.load(row and row.cells, document)

    def _show_service(self) -> None:
        """The selected compose service: its project, and its containers with their state and ports."""
        key = self.services.selected
        view = self.query_one("#service-details", YamlView)
        view.border_title = key or "no service"
        row = next((r for r in self.services.rows if r.key == key), None)
        document = self.services.document(key) if key else None
        view.load(row and (row.cells, str(document)), lambda: document)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        switcher = self.query_one("#main", ContentSwitcher)
        for panel in (self.services, self.containers, self.images, self.networks, self.volumes):
            if panel in event.widget.ancestors_with_self:
                self._last_list = panel
                switcher.current = DETAILS_OF_PANEL[panel.id]
                if panel is self.services:
                    self._show_service()
                elif panel is self.images:
                    self._show_image()
                elif panel is self.networks:
                    self._show_network()
                elif panel is self.volumes:
                    self._show_volume()
        self._update_keys()

    # -- which actions apply now (the footer shows only those) ---------------------------------------------

    def _update_keys(self) -> None:
        """Have the key bar show the keys that apply now. Only when that set changed: a refresh of the bindings
        redraws whatever shows them, which moving through a list must not pay on each row."""
        signature = tuple(self.check_action(action, ()) for action in CHECKED_ACTIONS)
        if signature != self._key_signature:
            self._key_signature = signature
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ACTION_STATES:
            c = self.containers.selected_container
            states = ACTION_STATES[action]
            return c is not None and (states is None or c.status in states)
        if action == "remove_image":
            return self.images.selected is not None
        if action == "remove_network":
            return self.networks.selected is not None
        if action == "remove_volume":
            return self.volumes.selected is not None
        if action == "close_terminal":
            return self._terminal_on_screen() is not None
        if action == "leave_terminal":
            return isinstance(self.focused, Terminal)
        if action in LOG_ACTIONS:
            return self._main_pane == "container-details" and self.details.tabs.active == "tab-logs"
        return True

    # -- container actions ------------------------------------------------------------------------------

    def action_stop(self) -> None:
        self._container_action("stopping", lambda c: self.engine.containers.stop(c.id))

    def action_start(self) -> None:
        self._container_action("starting", lambda c: self.engine.containers.start(c.id))

    def action_restart(self) -> None:
        self._container_action("restarting", lambda c: self.engine.containers.restart(c.id))

    def action_pause(self) -> None:
        c = self.containers.selected_container
        if c is not None and c.status == "paused":
            self._container_action("unpausing", lambda c: self.engine.containers.unpause(c.id))
        else:
            self._container_action("pausing", lambda c: self.engine.containers.pause(c.id))

    def action_remove(self) -> None:
        c = self.containers.selected_container
        if c is None:
            return
        running = c.status in LIVE_STATES
        question = f"Remove container {c.name}?" + (f" It is {c.status}: it will be killed." if running else "")
        answers = [("f", "Force remove", "force")] if running else [("y", "Remove", "remove")]

        def answered(answer: str | None) -> None:
            if answer:
                force = answer == "force"
                self._container_action("removing", lambda c: self.engine.containers.remove(c.id, force=force), c)

        self.app.push_screen(ConfirmScreen(question, answers), answered)

    def _container_action(self, doing: str, act: Callable[[Container], object],
                          container: Container | None = None) -> None:
        c = container or self.containers.selected_container
        if c is None:
            return
        self.containers.mark_busy(c.id, doing)
        self._run_action(c, doing, act)

    @work(thread=True, exit_on_error=False, group="engine")
    def _run_action(self, c: Container, doing: str, act: Callable[[Container], object]) -> None:
        try:
            act(c)
        except Exception as e:  # noqa: BLE001 - every engine error is a notification, never a crash
            self.app.notify(one_line(e), title=f"{doing} {c.name}", severity="error", markup=False)
        finally:
            self.post_message(self.Done(c.id))

    def on_main_screen_done(self, message: Done) -> None:
        self.containers.busy.pop(message.container_id, None)
        if message.select:
            self.containers.select(message.container_id)
        self.refresh_now()

    # -- terminals ----------------------------------------------------------------------------------------

    async def action_exec(self) -> None:
        c = self.containers.selected_container
        if c is not None:
            containers, cid = self.engine.containers, c.id
            await self._open_terminal(f"exec {c.name}", lambda size: containers.exec(cid, SHELL, tty=True,
                                                                                      interactive=True, size=size),
                                      hangup=True)

    async def action_attach(self) -> None:
        c = self.containers.selected_container
        if c is not None:
            containers, cid = self.engine.containers, c.id
            await self._open_terminal(f"attach {c.name}", lambda size: containers.attach(cid, size=size),
                                      pipes=not c.tty)

    async def _open_terminal(self, title: str, connect, pipes: bool = False, hangup: bool = False) -> None:
        self.query_one("#main", ContentSwitcher).current = "container-details"
        await self.details.open_terminal(title, connect, pipes, hangup)
        self._update_keys()

    async def on_terminal_exited(self, message: Terminal.Exited) -> None:
        terminal = message.terminal
        if message.exit_code is None:
            # The session failed to start or the monitor went away: the terminal printed why, last.
            why = next((line.strip() for line in reversed(terminal.display_lines) if line.strip()), "ended")
            self.app.notify(why, title=terminal.title, severity="error", markup=False)
        else:
            self.app.notify(f"exit code {message.exit_code}", title=f"{terminal.title} ended", markup=False)
        had_focus = terminal.has_focus
        await self.details.close_terminal(terminal)
        if had_focus:
            self.action_focus_list()
        self._update_keys()

    def _terminal_on_screen(self) -> Terminal | None:
        if self._main_pane != "container-details":
            return None  # an image's or a network's document is on screen: the terminal tab is out of sight
        pane = self.details.tabs.active_pane
        found = pane.query(Terminal) if pane is not None else None
        return found.first() if found else None

    async def action_close_terminal(self) -> None:
        terminal = self._terminal_on_screen()
        if terminal is not None:
            await self.details.close_terminal(terminal)
            self._update_keys()

    def action_leave_terminal(self) -> None:
        self.action_focus_list()

    def action_exec_full(self) -> None:
        c = self.containers.selected_container
        if c is not None:
            self._run_suspended(["exec", "-it", c.id, *SHELL])

    def action_attach_full(self) -> None:
        c = self.containers.selected_container
        if c is not None:
            self._run_suspended(["attach", c.id])

    def _run_suspended(self, args: list[str]) -> None:
        """Give the whole terminal to `tuiker ARGS` (or `docker ARGS` over a Docker engine: lazydocker's way), and
        come back when it ends."""
        try:
            argv, env = self.engine.terminal_command(args)
        except TuikerError as e:
            self.app.notify(one_line(e), severity="warning", markup=False)
            return
        self._run_foreground(argv, env, "use e or a instead")

    def _run_foreground(self, argv: list[str], env: dict[str, str], otherwise: str) -> None:
        try:
            with self.app.suspend():
                run_in_foreground(argv, env)
        except SuspendNotSupported:
            self.app.notify(f"this terminal cannot be handed over: {otherwise}", severity="warning")
        self.refresh_now()

    def action_open_browser(self) -> None:
        c = self.containers.selected_container
        if c is not None:
            self._open_browser(c)

    @work(thread=True, exit_on_error=False, group="engine")
    def _open_browser(self, c: Container) -> None:
        """Its first published TCP port in the browser when an opener exists; else, or when it fails, the URL in
        a notification (to copy)."""
        from tuiker.tui.browser import browser_opener, open_url, port_url

        title = f"open {c.name}"
        url = port_url(published_ports(c))  # from its record: the same over a Docker engine
        if url is None:
            self.app.notify("it publishes no TCP port", title=title, severity="warning", markup=False)
            return
        opener = browser_opener()
        if opener is None:
            self.app.notify(f"no browser opener ($BROWSER, xdg-open): {url}", title=title, markup=False)
            return
        try:
            open_url(opener, url)
        except OSError as e:
            self.app.notify(f"{opener[0]}: {e.strerror}: {url}", title=title, severity="error", markup=False)
            return
        self.app.notify(f"opened {url}", title=title, markup=False)

    def action_bulk(self, menu: str) -> None:
        """A panel's bulk menu (or the prune menu), then a confirmation, then the action in a worker."""
        from tuiker.tui.bulk import ACTIONS, BULK_MENUS

        def confirmed(name: str, answer: str | None) -> None:
            if answer:
                self._engine_call(ACTIONS[name].label, partial(ACTIONS[name].run, self.engine))

        def chosen(name: str | None) -> None:
            if name is not None:
                self.app.push_screen(ConfirmScreen(ACTIONS[name].question, [("y", "Yes", "yes")]),
                                     partial(confirmed, name))

        title = "Prune" if menu == "prune" else f"Bulk actions on {menu}"
        self.app.push_screen(MenuScreen(title, [(ACTIONS[n].label, n) for n in BULK_MENUS[menu]]), chosen)

    def action_custom(self, panel: str) -> None:
        """The panel's custom commands (config file) in a menu; the chosen one runs on the selected item."""
        from tuiker.tui.custom import custom_commands

        values = self._custom_values(panel)
        if values is None:
            return
        try:
            commands = custom_commands(panel)
        except TuikerError as e:
            self.app.notify(one_line(e), title="custom commands", severity="warning", markup=False)
            return
        if not commands:
            self.app.notify(f'none in {config_file()}: {{"customCommands": {{"{panel}": [{{"name": ..., '
                            '"command": ...}]}}', title="custom commands", markup=False)
            return

        def chosen(index: str | None) -> None:
            if index is None:
                return
            command = commands[int(index)]
            tuiker, env = self.engine.terminal_command([])
            kind = "Container" if panel == "containers" else "Image"
            argv = command.argv(kind, values, tuiker)
            if command.attach:
                self._run_foreground(argv, env, 'run it without "attach"')
            else:
                self._run_custom(command.name, argv, env)

        items = [(f"{c.name}: {c.command}", str(i)) for i, c in enumerate(commands)]
        self.app.push_screen(MenuScreen("Custom commands", items, f"from {config_file()}"), chosen)

    def _custom_values(self, panel: str) -> dict[str, str] | None:
        if panel == "containers":
            c = self.containers.selected_container
            return {"ID": c.id, "Name": c.name, "Image": familiar_name(c.config.get("Image", ""))} if c else None
        name = self.images.selected
        image = self.images.images.get(name or "")
        return {"ID": image.id, "Name": familiar_name(name)} if image else None

    @work(thread=True, exit_on_error=False, group="engine")
    def _run_custom(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        """A custom command in the background (no terminal): its exit status and the last line it printed."""
        try:
            done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  errors="replace")
        except OSError as e:
            self.app.notify(f"{argv[0]}: {e.strerror}", title=name, severity="error", markup=False)
            return
        last = next((line for line in reversed((done.stdout + done.stderr).splitlines()) if line.strip()), "")
        self.app.notify(f"exit code {done.returncode}" + (f": {last}" if last else ""), title=name,
                        severity="information" if done.returncode == 0 else "error", markup=False)
        self.refresh_now()

    # -- the clipboard --------------------------------------------------------------------------------------

    def action_copy_container_id(self) -> None:
        c = self.containers.selected_container
        if c is not None:
            self._copy(c.id, c.id[:12])

    def action_copy_image_id(self) -> None:
        image = self.images.images.get(self.images.selected or "")
        if image is not None:
            self._copy(image.id, image.short_id)

    def _copy(self, text: str, short: str) -> None:
        """OSC 52: the terminal puts it on the clipboard, also over ssh (a terminal that ignores it just shows
        nothing, so the notification names what was meant to be copied)."""
        self.app.copy_to_clipboard(text)
        self.app.notify(f"copied {short}", markup=False)

    # -- layers and files ----------------------------------------------------------------------------------

    def action_layers(self) -> None:
        if not hasattr(self.engine.images, "layers"):  # a Docker API engine does not show its layers' files
            self.app.notify(f"layers: not over {self.engine.name} (yet)", severity="warning", markup=False)
        elif self.images.selected in self.images.images:
            self.app.push_screen(LayersScreen(self.engine, self.images.selected))

    def action_diff_files(self) -> None:
        c = self.containers.selected_container
        if not hasattr(self.engine.containers, "diff_entries"):
            self.app.notify(f"files: not over {self.engine.name} (yet)", severity="warning", markup=False)
        elif c is not None:
            self.app.push_screen(DiffFilesScreen(self.engine, c.id, c.name))

    # -- new containers, images and networks ---------------------------------------------------------

    def action_new_container(self) -> None:
        """The form, with the image or network selected on the panel last used filled in."""
        image = ""
        if self._last_list is self.images and self.images.selected in self.images.images:
            image = familiar_name(self.images.selected)
        network = self.networks.selected if self._last_list is self.networks else None
        names = [familiar_name(name) for name in self.images.images if not name.startswith("sha256:")]
        self.app.push_screen(NewContainerScreen(names, image, self.networks.names, network), self._create)

    def _create(self, new: NewContainer | None) -> None:
        if new is not None:
            self.app.notify(f"creating a container from {new.options.image}", markup=False)
            self._create_container(new)

    @work(thread=True, exit_on_error=False, group="engine")
    def _create_container(self, new: NewContainer) -> None:
        try:
            c = self.engine.containers.create(new.options)
        except Exception as e:  # noqa: BLE001 - see _run_action
            self.app.notify(one_line(e), title="new container", severity="error", markup=False)
            return
        self.post_message(self.Done(c.id, select=True))
        if new.start:
            self._run_action(c, "starting", lambda c: self.engine.containers.start(c.id))

    def action_pull(self) -> None:
        self.app.push_screen(PullScreen())

    def action_build(self) -> None:
        def built(image_key: str | None) -> None:
            if image_key is not None:
                self.images.select(image_key)
            self.refresh_now()

        def submitted(options: BuildOptions | None) -> None:
            if options is not None:
                self.app.push_screen(BuildScreen(options), built)

        self.app.push_screen(BuildFormScreen(), submitted)

    def action_remove_image(self) -> None:
        name = self.images.selected
        if not name:
            return

        def remove() -> str:
            return "\n".join(f"{verb}: {what}" for verb, what in self.engine.images.remove(name))

        self.app.push_screen(ConfirmScreen(f"Remove image {name}?", [("y", "Remove", "remove")]),
                             lambda answer: answer and self._engine_call(f"remove {name}", remove))

    def action_remove_network(self) -> None:
        name = self.networks.selected
        if not name:
            return

        def remove() -> str:
            self.engine.networks.remove(name)
            return f"network {name} removed"

        self.app.push_screen(ConfirmScreen(f"Remove network {name}?", [("y", "Remove", "remove")]),
                             lambda answer: answer and self._engine_call(f"remove {name}", remove))

    def action_remove_volume(self) -> None:
        name = self.volumes.selected
        if not name:
            return

        def remove() -> str:
            self.engine.volumes.remove(name)
            return f"volume {name} removed"

        self.app.push_screen(ConfirmScreen(f"Remove volume {name}?", [("y", "Remove", "remove")]),
                             lambda answer: answer and self._engine_call(f"remove {name}", remove))

    def action_new_network(self) -> None:
        self.app.push_screen(NewNetworkScreen(), self._create_network)

    def _create_network(self, new: NewNetwork | None) -> None:
        if new is None:
            return
        networks = self.networks

        def create() -> str:
            self.engine.networks.create(new.name, new.subnet, internal=new.internal)
            self.app.call_from_thread(networks.select, new.name)
            return f"network {new.name} created"

        self._engine_call(f"new network {new.name}", create)

    @work(thread=True, exit_on_error=False, group="engine")
    def _engine_call(self, title: str, act: Callable[[], str]) -> None:
        """Run `act` off the UI thread, notify what it returns (or its error, in one line), then show the store."""
        try:
            done = act()
        except Exception as e:  # noqa: BLE001 - see _run_action
            self.app.notify(one_line(e), title=title, severity="error", markup=False)
            return
        self.app.notify(done, title=title, markup=False)
        self.refresh_now()

    # -- panels and tabs --------------------------------------------------------------------------------

    def _panel_index(self) -> int:
        focused = self.focused
        for index, selector in enumerate(self.PANELS):
            if focused is not None and self.query_one(selector) in focused.ancestors_with_self:
                return index
        return 0

    def _focus_panel(self, index: int) -> None:
        if self.PANELS[index] == "#main":
            self.action_focus_main()
        else:
            self.query_one(self.PANELS[index], ResourceList).table.focus()

    def action_focus_panel(self, name: str) -> None:
        panel = self.query_one(f"#{name}", ResourceList)
        if panel.display:
            panel.table.focus()
        else:
            self.app.notify(f"no {name} to show", markup=False)  # Services, without compose containers

    def action_next_panel(self) -> None:
        self._focus_panel(self._next_shown(+1))

    def action_previous_panel(self) -> None:
        self._focus_panel(self._next_shown(-1))

    def _next_shown(self, step: int) -> int:
        """The next panel on screen in that direction (Services hides while no compose container exists)."""
        index = self._panel_index()
        for _ in self.PANELS:
            index = (index + step) % len(self.PANELS)
            if self.query_one(self.PANELS[index]).display:
                return index
        return index

    def action_focus_main(self) -> None:
        if self._main_pane != "container-details":
            self.query_one(f"#{self._main_pane}").focus()
            return
        pane = self.details.tabs.active_pane
        target = next((w for w in pane.query("*") if w.focusable), None) if pane is not None else None
        if target is not None:
            target.focus()

    def action_toggle_timestamps(self) -> None:
        self.query_one(LogView).action_toggle_timestamps()

    def action_toggle_follow(self) -> None:
        self.query_one(LogView).action_toggle_follow()

    def action_search_logs(self) -> None:
        self.query_one(LogView).action_search()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self._update_keys()  # the Logs tab's keys apply only while it shows

    def action_focus_list(self) -> None:
        if self.has_class("-full-logs"):
            self.remove_class("-full-logs")
        (self._last_list or self.containers).table.focus()

    def action_fullscreen_logs(self) -> None:
        """The selected container's Logs tab on the whole screen; its keys (f, t, /, n, w ...) work the same."""
        if self.containers.selected_container is None:
            return
        self.query_one("#main", ContentSwitcher).current = "container-details"
        self.details.tabs.active = "tab-logs"
        self.add_class("-full-logs")
        self.query_one(LogView).log_widget.focus()
        self._update_keys()

    def action_timeline(self) -> None:
        """All containers' logs as one timeline; from the Services panel, the selected service's project's only."""
        project = None
        if self.services.display and self.services.table.has_focus and self.services.selected:
            project = self.services.selected.partition("/")[0]
        self.app.push_screen(TimelineScreen(project))

    def action_next_tab(self) -> None:
        self.details.tabs.query_one(Tabs).action_next_tab()

    def action_previous_tab(self) -> None:
        self.details.tabs.query_one(Tabs).action_previous_tab()

    # -- the keys, for the help screen and the command palette -------------------------------------------

    def key_groups(self) -> list[tuple[str, DOMNode, list[Binding]]]:
        return [
            ("Containers", self.containers, bindings_of(ContainerList)),
            ("Images", self.images, bindings_of(ImageList)),
            ("Networks", self.networks, bindings_of(NetworkList)),
            ("Volumes", self.volumes, bindings_of(VolumeList)),
            ("Logs", self.query_one(LogView), LogView.SCREEN_BINDINGS + bindings_of(LogView)),
            ("Everywhere", self, [b for b in bindings_of(MainScreen) if not (b.id or "").startswith("logs.")]),
            ("App", self.app, bindings_of(type(self.app))),
        ]

    def help_groups(self) -> list[tuple[str, list[KeyRow]]]:
        groups = []
        for title, _node, bindings in self.key_groups():
            rows = [(self.app.keys_for(b), b.tooltip or b.description, b.id or "") for b in bindings]
            groups.append((title, rows))
        for title, screen in (("Layers (l on an image)", LayersScreen), ("Files (F on a container)", DiffFilesScreen)):
            groups.append((title, [(self.app.keys_for(b), b.tooltip or b.description, b.id or "")
                                   for b in bindings_of(screen)] + [("escape, q", "Back to the panels", "")]))
        return groups + [("Other keys", OTHER_KEYS)]

    def system_commands(self) -> Iterator[SystemCommand]:
        for title, node, bindings in self.key_groups()[:-1]:  # the App's own are in the palette already
            for b in bindings:
                yield SystemCommand(f"{title}: {b.description}", b.tooltip or b.description,
                                    partial(node.run_action, b.action))
