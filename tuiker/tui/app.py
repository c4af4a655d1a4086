"""The tuiker TUI: `tuiker` with no arguments (or `tuiker tui`) runs this app over the engine at TUIKER_ROOT, or
over a Docker API engine (`tuiker --host unix:///var/run/docker.sock`: tuiker/remote, the same door)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from tuiker.engine import Engine, TuikerError, config_file, load_config
from tuiker.tui.screens.help import HelpScreen
from tuiker.tui.screens.main import MainScreen
from tuiker.tui.widgets.stats import StatsBook


def load_keymap() -> tuple[dict[str, str], str | None]:
    """The `keys` section of the config file: binding ID -> keys (comma separated), and a problem, if any."""
    try:
        keys = load_config().get("keys", {})
    except TuikerError as e:
        return {}, str(e)
    if not isinstance(keys, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items()):
        return {}, f'"keys" in {config_file()} must map binding IDs to keys, e.g. {{"container.stop": "x"}}'
    return keys, None


class TuikerApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "tuiker"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (containers keep running)"),
        Binding("question_mark", "help", "Help", id="help", tooltip="Show every key"),
    ]

    def __init__(self, engine: Engine | None = None) -> None:
        super().__init__()
        self.engine = engine or Engine()
        self.stats_book = StatsBook(self.engine)  # samples and graphs' history of every container, while it runs
        self.keymap, self._keymap_problem = load_keymap()

    def get_default_screen(self) -> Screen:
        return MainScreen()

    def on_mount(self) -> None:
        self.set_keymap(self.keymap)
        if self._keymap_problem:
            self.notify(self._keymap_problem, title="keys", severity="warning", markup=False)

    def keys_for(self, binding: Binding) -> str:
        """The keys that trigger `binding` now (the user's keymap applied), for display."""
        keys = self.keymap.get(binding.id or "", binding.key)
        return " ".join(self.get_key_display(Binding(key.strip(), "")) for key in keys.split(","))

    def action_help(self) -> None:
        if isinstance(self.screen, MainScreen):
            self.push_screen(HelpScreen(self.screen.help_groups()))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if isinstance(screen, MainScreen):
            yield from screen.system_commands()


def run(engine: Engine | None = None) -> int:
    """The app over `engine` (the local one by default), and its exit status: Textual sets a non-zero return code
    when the app dies of an error (a stylesheet that fails to load, an exception in a handler), which a shell or
    a script must see."""
    app = TuikerApp(engine)
    app.run()
    return app.return_code or 0
