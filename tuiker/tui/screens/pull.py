"""`P`: pull an image, with a progress bar per layer (what `tuiker pull` prints, as widgets)."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, ProgressBar

from tuiker.engine import Progress, familiar_name
from tuiker.fmt import human_size
from tuiker.tui.widgets.keybar import KeyBar
from tuiker.tui.widgets.poller import one_line


class LayerProgress(Horizontal):
    """One layer: its short digest, a bar while it downloads or extracts, and its status. A layer already here
    has no bar ("Already exists", as `tuiker pull` prints), one pulled ends full."""

    def __init__(self, layer: str) -> None:
        self.bar = ProgressBar(show_eta=False, show_percentage=True)
        self.status = Label("", classes="layer-status")
        super().__init__(Label(layer, classes="layer-id"), self.bar, self.status, classes="layer")
        self.layer_id = layer
        self.latest: Progress | None = None

    def show(self, progress: Progress) -> None:
        self.latest = progress
        if progress.total:
            self.bar.update(total=progress.total, progress=progress.current)
        elif progress.status == "Pull complete":
            self.bar.update(total=1, progress=1)
        self.bar.display = progress.status != "Already exists"  # else an empty bar waits forever ("--%")
        status = progress.status
        if progress.status == "Downloading" and progress.total:
            status += f" {human_size(progress.current)}/{human_size(progress.total)}"
        self.status.update(status)


class PullScreen(ModalScreen[None]):
    """The pull runs in a worker; closing the dialog leaves it running, and its end is notified either way."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss", "Close")]

    class Progressed(Message):
        def __init__(self, progress: Progress) -> None:
            super().__init__()
            self.progress = progress

    class Finished(Message):
        def __init__(self, text: str, failed: bool) -> None:
            super().__init__()
            self.text = text
            self.failed = failed

    def __init__(self, name: str = "") -> None:
        super().__init__()
        self.image_name = name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog pull"):
            yield Label("Pull an image", classes="title")
            yield Input(value=self.image_name, placeholder="alpine, 127.0.0.1:5000/team/app:1.2, repo@sha256:...",
                        id="reference")
            yield Label("", id="pull-status")
            yield VerticalScroll(id="layers")
            yield Label("enter: pull   esc: close (the pull goes on)", classes="hint")
        yield KeyBar()

    @on(Input.Submitted, "#reference")
    def _submitted(self, event: Input.Submitted) -> None:
        name = event.value.strip()
        if not name:
            return
        event.input.disabled = True
        self.query_one("#pull-status", Label).update(f"Pulling {name}…")
        self._pull(name)

    @work(thread=True, exit_on_error=False)
    def _pull(self, name: str) -> None:
        app = self.app
        try:
            result = app.engine.images.pull(name, progress=lambda p: self.post_message(self.Progressed(p)))
        except Exception as e:  # noqa: BLE001 - any failure is one line in the dialog and a notification
            app.notify(one_line(e), title=f"pull {name}", severity="error", markup=False)
            self.post_message(self.Finished(f"Error: {one_line(e)}", failed=True))
            return
        done = "Downloaded newer image" if result.downloaded else "Image is up to date"
        text = f"{done} for {familiar_name(result.reference)}"
        app.notify(text, title="pull", markup=False)
        self.post_message(self.Finished(f"Digest: {result.repo_digest}\nStatus: {text}", failed=False))

    async def on_pull_screen_progressed(self, message: Progressed) -> None:
        progress = message.progress
        if not progress.id:
            self.query_one("#pull-status", Label).update(progress.status)
            return
        rows = self.query_one("#layers", VerticalScroll)
        row = next((r for r in rows.query(LayerProgress) if r.layer_id == progress.id), None)
        if row is None:
            row = LayerProgress(progress.id)
            await rows.mount(row)  # its label shows an update made before it is mounted as nothing
        row.show(progress)

    def on_pull_screen_finished(self, message: Finished) -> None:
        status = self.query_one("#pull-status", Label)
        status.update(message.text)
        status.set_class(message.failed, "error")
        field = self.query_one("#reference", Input)
        field.disabled = False
        field.focus()
