"""`b` on the Images panel: build an image. A form with `tuiker build`'s common flags, then the build's steps live:
a row per step (`#3 [2/4] RUN make`) with its state, the output of each step under its row, and the result."""

from __future__ import annotations

import os
import re
import shlex
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Label, Log

from tuiker.engine import TuikerError
from tuiker.tui.screens.confirm import ConfirmScreen
from tuiker.tui.screens.form import FormScreen, field
from tuiker.tui.widgets.keybar import KeyBar
from tuiker.tui.widgets.poller import one_line

if TYPE_CHECKING:
    from tuiker.engine import BuildEvent, BuildOptions, Engine

STEP_OUTPUT_LINES = 500  # kept per step: a chatty RUN scrolls, memory stays bounded
REDRAW_INTERVAL = 0.2  # s between two drains of the build's events (and updates of the running step's clock)


class BuildFormScreen(FormScreen["BuildOptions"]):  # the engine loads the builder only to build
    """Dismissed with the build's options, or None when cancelled. The context, the Dockerfile and the tags are
    checked here as `tuiker build` checks them (docker's messages), so a typo stays in the form."""

    FORM_TITLE = "Build an image"
    SUBMIT = "Build"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "create", "Build")]

    def compose_fields(self) -> ComposeResult:
        yield from field("Context", "context", "a directory", os.getcwd())
        yield from field("Dockerfile", "dockerfile", "Dockerfile (relative to the context)")
        yield from field("Tags", "tags", "app:1.0, app:latest")
        yield from field("Build args", "build-args", "VERSION=1.2 'GREETING=hello world'")
        yield from field("Target", "target", "the last stage when empty")

    def compose_switches(self) -> ComposeResult:
        yield Checkbox("No cache (--no-cache)", id="no-cache")

    def result(self) -> BuildOptions:
        from tuiker.engine import BuildOptions
        from tuiker.engine.build.builder import Builder
        from tuiker.engine.build.context import open_context

        context = self.text("context")
        if not context:
            raise TuikerError("a context directory is required")
        if context == "-":  # open_context would read the app's own terminal
            raise TuikerError("a context on stdin is for `tuiker build -`: give a directory here")
        dockerfile = self.text("dockerfile") or None
        if dockerfile:
            dockerfile = str(Path(context, dockerfile))
        # For a directory this checks paths and reads .dockerignore only (`tmp` is for a context on stdin).
        open_context(context, dockerfile, Path("/nonexistent"))
        tags = [t for t in re.split(r"[,\s]+", self.text("tags")) if t]
        for tag in tags:
            Builder._full_tag(tag)  # docker's message for a bad -t
        return BuildOptions(context, dockerfile=dockerfile, tags=tags, build_args=self._build_args(),
                            target=self.text("target") or None, no_cache=self.query_one("#no-cache", Checkbox).value)

    def _build_args(self) -> dict[str, str | None]:
        try:
            items = shlex.split(self.text("build-args"))
        except ValueError as e:
            raise TuikerError(f"build args: {e}") from None
        found: dict[str, str | None] = {}
        for item in items:
            key, sep, value = item.partition("=")
            if not key or not sep:
                raise TuikerError(f'invalid argument "{item}" for "--build-arg" flag: expected KEY=value')
            found[key] = value
        return found


class BuildCancelled(Exception):
    """Raised in the builder's thread, from its progress callback, to end a build the user stopped."""


class StepRow(Vertical):
    """One step: `#N title` and its state on a line, the lines it printed under it (shown from the first)."""

    def __init__(self, vertex: int, title: str) -> None:
        self.vertex = vertex
        self.title = Label(Text(f"#{vertex} {title}"), classes="step-title")
        self.state = Label("", classes="step-state")
        self.output = Log(max_lines=STEP_OUTPUT_LINES, classes="step-output")
        self.output.display = False
        super().__init__(Horizontal(self.title, self.state, classes="step-line"), self.output, classes="step")
        self.started = time.monotonic()
        self.running = True
        self.status = "running"  # running | CACHED | DONE | ERROR
        self.tick()

    def tick(self) -> None:
        """The running step's clock."""
        if self.running:
            self.state.update(Text(f"running {time.monotonic() - self.started:.1f}s", style="yellow"))

    def finish(self, status: str, text: str, style: str) -> None:
        self.running = False
        self.status = status
        self.state.update(Text(text, style=style))
        self.set_class(status == "ERROR", "failed")

    def write(self, lines: list[str]) -> None:
        self.output.display = True
        self.output.write_lines(lines)


class BuildScreen(ModalScreen[str | None]):
    """The build runs in a worker thread, which appends the builder's events to a list; the screen drains it
    every REDRAW_INTERVAL (a RUN printing thousands of lines a second costs a few redraws, not a message each).
    `esc` closes the screen once the build is over; while it runs, it asks whether to stop it: the running RUN
    container is killed (the builder removes it), and the build ends at its next event. Dismissed with the
    Images panel's key of the image built (its first tag, or its ID), or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, options: BuildOptions) -> None:
        super().__init__()
        self.options = options
        self._pending: list[BuildEvent | tuple[str, bool]] = []
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self.ended = threading.Event()  # the build's thread is done (it outlives the screen when the app quits)
        self.rows: dict[int, StepRow] = {}
        self.image_key: str | None = None
        self.finished = False
        self.failed = False

    def compose(self) -> ComposeResult:
        tags = f" as {', '.join(self.options.tags)}" if self.options.tags else ""
        with Vertical(classes="dialog build"):
            yield Label(Text(f"Building {self.options.context}{tags}"), classes="title")
            yield VerticalScroll(id="steps")
            yield Label("", id="build-status")
            yield Label("esc: close (a running build: asks to stop it)", classes="hint")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#build-status", Label).update("Building…")
        self.set_interval(REDRAW_INTERVAL, self._drain)
        self.run_worker(self._build, thread=True, exit_on_error=False, group="build", description="build")

    def on_unmount(self) -> None:
        if not self.finished:  # the app quits mid-build: stop it, so no RUN container outlives the app
            self._cancel.set()
            self._kill_run_containers()

    # -- the worker's side --------------------------------------------------------------------------------

    def _build(self) -> None:
        engine = self.app.engine
        try:
            self._post(self._outcome(engine))
        finally:
            self.ended.set()

    def _outcome(self, engine: Engine) -> tuple[str, bool]:
        """Build; the screen's last lines and whether the build failed."""
        try:
            result = engine.builds.build(self.options, self._progress)
            self.image_key = (engine.images.get(result.image_id).repo_tags or [result.image_id])[0]
        except Exception as e:  # noqa: BLE001 - any failure is the screen's last line
            return ("Build stopped" if self._cancel.is_set() else f"ERROR: {one_line(e)}"), True
        lines = [f"Successfully built {result.image_id.removeprefix('sha256:')[:12]}"]
        lines += [f"Successfully tagged {tag}" for tag in result.tags]
        return "\n".join(lines), False

    def _progress(self, event: BuildEvent) -> None:
        # Where the builder can stop cleanly: before a step starts, or between two output lines of a RUN (whose
        # container it then removes). Its error events are its own unwinding: never raise there.
        if self._cancel.is_set() and event.kind in ("step", "output"):
            raise BuildCancelled()
        self._post(event)

    def _post(self, item: BuildEvent | tuple[str, bool]) -> None:
        with self._lock:
            self._pending.append(item)

    # -- the screen's side --------------------------------------------------------------------------------

    def _drain(self) -> None:
        with self._lock:
            items, self._pending = self._pending, []
        steps = self.query_one("#steps", VerticalScroll)
        output: dict[int, list[str]] = {}
        for item in items:
            if isinstance(item, tuple):
                self._flush(output)
                self._finished(*item)
                continue
            row = self.rows.get(item.vertex)
            if item.kind == "step":
                row = self.rows[item.vertex] = StepRow(item.vertex, item.text)
                steps.mount(row)
            elif row is None:
                continue
            elif item.kind in ("output", "info"):
                output.setdefault(item.vertex, []).append(item.text)
            elif item.kind == "cached":
                row.finish("CACHED", "CACHED", "cyan")
            elif item.kind == "done":
                row.finish("DONE", f"DONE {item.seconds:.1f}s", "green")
            elif item.kind == "error":
                output.setdefault(item.vertex, []).append(f"ERROR: {item.text}")
                row.finish("ERROR", "ERROR", "bold red")
        self._flush(output)
        for row in self.rows.values():
            row.tick()
        if items:
            steps.scroll_end(animate=False)

    def _flush(self, output: dict[int, list[str]]) -> None:
        for vertex, lines in output.items():
            self.rows[vertex].write(lines)
        output.clear()

    def _finished(self, text: str, failed: bool) -> None:
        self.finished = True
        self.failed = failed
        for row in self.rows.values():
            if row.running:  # the step the build stopped in, when the builder had no word for it
                row.finish("ERROR", "ERROR", "bold red")
        status = self.query_one("#build-status", Label)
        status.update(Text(text))
        status.set_class(failed, "error")
        title = f"build {', '.join(self.options.tags) or self.options.context}"
        if self._cancel.is_set():
            self.app.notify("build stopped", title=title, markup=False)
            self.dismiss()
            return
        self.app.notify(text.splitlines()[0], title=title, severity="error" if failed else "information",
                        markup=False)

    # -- closing -------------------------------------------------------------------------------------------

    def action_close(self) -> None:
        if self.finished:
            self.dismiss(self.image_key)
            return

        def answered(answer: str | None) -> None:
            if answer and not self.finished:
                self.query_one("#build-status", Label).update("Stopping the build…")
                self._stop_build()

        question = ("The build is running. Stop it? Its RUN container is killed and removed; the steps done stay "
                    "in the build cache.")
        self.app.push_screen(ConfirmScreen(question, [("y", "Stop the build", "stop")]), answered)

    def _stop_build(self) -> None:
        self._cancel.set()
        self.run_worker(self._kill_run_containers, thread=True, exit_on_error=False, group="build-stop")

    def _kill_run_containers(self) -> None:
        """Kill this process's RUN containers: the builder labels each with its pid, and this app runs one build
        at a time (this screen is modal)."""
        from tuiker.engine.build.builder import BUILD_LABEL

        containers = self.app.engine.containers
        for c in containers.store.list():
            labels = c.config.get("Config", {}).get("Labels") or {}
            if labels.get(BUILD_LABEL) == str(os.getpid()) and c.status == "running":
                try:
                    containers.kill(c.id)
                except TuikerError:
                    pass  # it ended meanwhile
