"""The key bar at the bottom of every screen: the keys that apply now, as Textual's Footer shows them.

Footer composes a widget per key and mounts them again whenever the bindings change, which they do on every
focus change: at 200 containers that was three quarters of a Tab's time. This bar is one widget drawing one line
of text, drawn again only when the screen says its bindings changed."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

PALETTE_SEPARATOR = "▏"


class KeyBar(Widget, can_focus=False):
    """` key description ` for each shown binding (the first key of each action); the command palette's key at
    the right; a key whose action does not apply now is dimmed. A click on a key presses it. Keys that do not fit
    are cut (the help, `?`, lists them all)."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"keybar--key", "keybar--description"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .keybar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keybar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._spans: list[tuple[int, int, str, bool]] = []  # the columns each key takes: (start, end, key, enabled)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if screen is self.screen:
            self.refresh()

    def render(self) -> Text:
        active = self.screen.active_bindings
        palette = Text(end="")
        if self.app.ENABLE_COMMAND_PALETTE and self.app.COMMAND_PALETTE_BINDING in active:
            _node, binding, enabled, _tooltip = active[self.app.COMMAND_PALETTE_BINDING]
            palette = Text(PALETTE_SEPARATOR, end="").append_text(self._key(binding, enabled))
        room = max(0, self.size.width - palette.cell_len)
        keys, actions, self._spans = Text(no_wrap=True, end=""), set(), []
        for _node, binding, enabled, _tooltip in active.values():
            if binding.show and binding.action not in actions and keys.cell_len < room:
                actions.add(binding.action)
                start = keys.cell_len
                keys.append_text(self._key(binding, enabled))
                self._spans.append((start, min(keys.cell_len, room), binding.key, enabled))
        keys.truncate(room, overflow="crop", pad=True)
        if palette:
            self._spans.append((room, room + palette.cell_len, self.app.COMMAND_PALETTE_BINDING, True))
        return keys.append_text(palette)

    def _key(self, binding: Binding, enabled: bool) -> Text:
        dim = Style(dim=True) if not enabled else Style()
        return Text.assemble(
            (f" {self.app.get_key_display(binding)} ", self.get_component_rich_style("keybar--key") + dim),
            (f"{binding.description} ", self.get_component_rich_style("keybar--description") + dim),
            end="",
        )

    def _on_click(self, event: events.Click) -> None:
        """A click on a key presses it; a bell if it does not apply now."""
        for start, end, key, enabled in self._spans:
            if start <= event.x < end:
                if enabled:
                    self.app.simulate_key(key)
                else:
                    self.app.bell()
                return
