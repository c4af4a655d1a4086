"""`b` on the Images panel: the build form, then the build's steps live, driven with Pilot over the real engine
(RUN steps in real containers) from a context the test writes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Input
from tuihelpers import new_app, notifications, until

from tuiker.base.errors import TuikerError
from tuiker.engine.build.dockerfile import parse
from tuiker.image import reference
from tuiker.tui.screens.build import BuildFormScreen, BuildScreen, StepRow
from tuiker.tui.screens.confirm import ConfirmScreen

SIZE = (140, 40)

DOCKERFILE = """\
FROM busybox
COPY greeting.txt /greeting.txt
RUN echo "built from $(cat /greeting.txt)"
CMD ["cat", "/greeting.txt"]
"""


def write_context(path: Path, dockerfile: str = DOCKERFILE, name: str = "Dockerfile") -> Path:
    path.mkdir(exist_ok=True)
    (path / name).write_text(dockerfile)
    (path / "greeting.txt").write_text("hello\n")
    return path


async def open_form(pilot) -> BuildFormScreen:
    """Focus the Images panel (tab from Containers; it keeps the focus after a build) and press b."""
    app = pilot.app
    await until(pilot, lambda: app.screen.images.table.row_count >= 1, what="the images")
    if not app.screen.images.table.has_focus:
        await pilot.press("tab")
    await until(pilot, lambda: app.screen.images.table.has_focus, what="the Images panel")
    await pilot.press("b")
    return await until(pilot, lambda: isinstance(app.screen, BuildFormScreen) and app.screen, what="the form")


async def build(pilot, context: Path, tags: str = "", **fields: str) -> BuildScreen:
    """Fill the form, submit it with enter, and wait for the build to end."""
    app = pilot.app
    form = await open_form(pilot)
    form.query_one("#context", Input).value = str(context)
    form.query_one("#tags", Input).value = tags
    for input_id, value in fields.items():
        form.query_one(f"#{input_id.replace('_', '-')}", Input).value = value
    form.query_one("#tags", Input).focus()
    await pilot.press("enter")
    screen = await until(pilot, lambda: isinstance(app.screen, BuildScreen) and app.screen, what="the build")
    await until(pilot, lambda: screen.finished, timeout=60, what="the build to end")
    await pilot.pause(0.3)
    return screen


def states(screen: BuildScreen) -> list[tuple[str, str]]:
    """(title, status) of each step row, in order."""
    return [(str(row.title.render()), row.status) for row in screen.query(StepRow)]


def status_text(screen: BuildScreen) -> str:
    return str(screen.query_one("#build-status").render())


def output_of(row: StepRow) -> list[str]:
    return list(row.output.lines)


async def test_build_shows_steps_and_the_image_appears(engine, tmp_path):
    context = write_context(tmp_path / "app")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        screen = await build(pilot, context, "app:1.0, app:latest")
        rows = states(screen)
        assert not screen.failed, status_text(screen)
        titles = [title for title, _ in rows]
        assert titles[0] == "#1 [internal] load build definition from Dockerfile"
        assert titles[1:5] == ["#2 [1/4] FROM busybox", "#3 [2/4] COPY greeting.txt /greeting.txt",
                               '#4 [3/4] RUN echo "built from $(cat /greeting.txt)"',
                               '#5 [4/4] CMD ["cat", "/greeting.txt"]']
        assert titles[-1] == "#6 exporting to image"
        assert all(status == "DONE" for _, status in rows)
        assert all(str(row.state.render()).startswith("DONE ") for row in screen.query(StepRow))
        run_row = list(screen.query(StepRow))[3]
        assert output_of(run_row) == ["built from hello"]
        assert run_row.output.display
        image = engine.images.get("app:1.0")
        assert engine.images.get("app:latest").id == image.id
        short = image.id.removeprefix("sha256:")[:12]
        assert status_text(screen).splitlines() == [f"Successfully built {short}", "Successfully tagged app:1.0",
                                                    "Successfully tagged app:latest"]
        assert any(f"Successfully built {short}" in m for m in notifications(app))

        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, BuildScreen), what="the screen to close")
        images = app.screen.images
        await until(pilot, lambda: "docker.io/library/app:1.0" in images.images, what="the image in the panel")
        assert images.images["docker.io/library/app:1.0"].id == image.id
        await until(pilot, lambda: images.selected == "docker.io/library/app:1.0", what="the image selected")

        # The same context again: every step from the cache, the same image.
        screen = await build(pilot, context, "app:again")
        rows = states(screen)
        assert [status for _, status in rows[2:5]] == ["CACHED", "CACHED", "CACHED"]
        assert [str(row.state.render()) for row in list(screen.query(StepRow))[2:5]] == ["CACHED"] * 3
        assert engine.images.get("app:again").id == image.id
    assert engine.containers.list(all=True) == []


async def test_failing_run_shows_the_error_and_leaves_no_container(engine, tmp_path):
    context = write_context(tmp_path / "bad", "FROM busybox\nRUN echo going down; exit 3\nCMD [\"sh\"]\n")
    images_before = {i.id for i in engine.images.list()}
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        screen = await build(pilot, context, "bad:1")
        assert screen.failed
        rows = list(screen.query(StepRow))
        assert [row.status for row in rows] == ["DONE", "DONE", "ERROR"]
        failed = rows[2]
        assert str(failed.state.render()) == "ERROR"
        error = "The command '/bin/sh -c echo going down; exit 3' returned a non-zero code: 3"
        assert output_of(failed) == ["going down", f"ERROR: {error}"]
        status = screen.query_one("#build-status")
        assert str(status.render()) == f"ERROR: {error}"
        assert status.has_class("error")
        assert any(error in m for m in notifications(app))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, BuildScreen), what="the screen to close")
    assert engine.containers.list(all=True) == []
    assert {i.id for i in engine.images.list()} == images_before
    assert not any("bad:1" in t for i in engine.images.list() for t in i.repo_tags)


def reference_error(name: str) -> str:
    """Why the reference parser refuses `name` (what `tuiker build -t` says after docker's prefix)."""
    try:
        reference.parse(name)
    except TuikerError as e:
        return str(e)
    raise AssertionError(f"{name} parsed")


async def test_dockerfile_error_ends_the_build_before_any_step(engine, tmp_path):
    dockerfile = "FROM busybox\nFOO bar\nRUN echo never\n"
    context = write_context(tmp_path / "typo", dockerfile)
    with pytest.raises(TuikerError) as parsed:  # the parser's message, as `tuiker build` prints it
        parse(dockerfile)
    assert "line 2" in str(parsed.value)
    async with new_app(engine).run_test(size=SIZE) as pilot:
        screen = await build(pilot, context, "typo:1")
        assert screen.failed
        assert states(screen) == [("#1 [internal] load build definition from Dockerfile", "ERROR")]
        assert status_text(screen) == f"ERROR: {parsed.value}"
    assert engine.containers.list(all=True) == []


async def test_form_refuses_bad_values(engine, tmp_path):
    """Each bad value: docker's message in the form, which stays; nothing built."""
    context = write_context(tmp_path / "ctx")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        form = await open_form(pilot)
        assert form.query_one("#context", Input).value  # the current directory by default
        error = form.query_one("#form-error")
        cases = [
            ({"context": str(tmp_path / "nowhere")}, f'unable to prepare context: path "{tmp_path}/nowhere" not found'),
            ({"context": str(context / "greeting.txt")},
             f"unable to prepare context: context must be a directory: {context}/greeting.txt"),
            ({"context": str(context), "dockerfile": "Dockerfile.dev"},
             "unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
             f"lstat {context}/Dockerfile.dev: no such file or directory"),
            ({"context": str(context), "dockerfile": "", "tags": "app:1, Bad:Tag"},
             f'invalid argument "Bad:Tag" for "-t, --tag" flag: {reference_error("Bad:Tag")}'),
            ({"tags": "app:1", "build-args": "VERSION"},
             'invalid argument "VERSION" for "--build-arg" flag: expected KEY=value'),
            ({"build-args": "", "context": "-"}, "a context on stdin is for `tuiker build -`: give a directory here"),
        ]
        for values, message in cases:
            for input_id, value in values.items():
                form.query_one(f"#{input_id}", Input).value = value
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, BuildFormScreen)
            assert str(error.render()) == message
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, BuildFormScreen), what="the form to close")
    assert not any(t.startswith("docker.io/library/app") for i in engine.images.list() for t in i.repo_tags)


async def test_dockerfile_target_and_build_args_from_the_form(engine, tmp_path):
    dockerfile = ("FROM busybox AS base\nARG WHO=nobody\nRUN echo \"hi $WHO\"\n"
                  "FROM base AS last\nRUN echo never\n")
    context = write_context(tmp_path / "multi", dockerfile, name="build.Dockerfile")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        screen = await build(pilot, context, "multi:base", dockerfile="build.Dockerfile", target="base",
                             build_args="WHO=tuiker")
        assert not screen.failed, status_text(screen)
        titles = [title for title, _ in states(screen)]
        assert titles[0] == f"#1 [internal] load build definition from {context}/build.Dockerfile"
        assert not any("never" in t for t in titles)
        run_row = next(row for row in screen.query(StepRow) if "RUN" in str(row.title.render()))
        assert output_of(run_row) == ["hi tuiker"]
    assert engine.images.get("multi:base")


async def test_stopping_a_running_build_leaves_nothing(engine, tmp_path):
    """esc while a RUN runs asks; yes kills the RUN container, the builder removes it, the screen closes."""
    context = write_context(tmp_path / "slow", "FROM busybox\nRUN echo started; sleep 600\n")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        form = await open_form(pilot)
        form.query_one("#context", Input).value = str(context)
        form.query_one("#tags", Input).value = "slow:1"
        await pilot.press("ctrl+s")
        screen = await until(pilot, lambda: isinstance(app.screen, BuildScreen) and app.screen, what="the build")
        run_row = await until(pilot, lambda: screen.rows.get(3), timeout=20, what="the RUN step")
        await until(pilot, lambda: output_of(run_row) == ["started"], timeout=20, what="the RUN's output")
        assert str(run_row.state.render()).startswith("running ")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("n")  # keep it running
        assert app.screen is screen and not screen.finished
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: not isinstance(app.screen, (BuildScreen, ConfirmScreen)), timeout=20,
                    what="the build to stop")
        assert "build stopped" in notifications(app)
    assert engine.containers.list(all=True) == []
    assert not any("slow" in t for i in engine.images.list() for t in i.repo_tags)


async def test_command_palette_opens_the_form(engine):
    from textual.command import CommandPalette

    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
        await pilot.press(*"Build an image")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, BuildFormScreen), what="the form")


async def test_quitting_mid_build_stops_it(engine, tmp_path):
    """ctrl+q quits the app from the build screen too: the build is stopped, its RUN container goes."""
    context = write_context(tmp_path / "slow", "FROM busybox\nRUN echo started; sleep 600\n")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        form = await open_form(pilot)
        form.query_one("#context", Input).value = str(context)
        await pilot.press("ctrl+s")
        screen = await until(pilot, lambda: isinstance(app.screen, BuildScreen) and app.screen, what="the build")
        run_row = await until(pilot, lambda: screen.rows.get(3), timeout=20, what="the RUN step")
        await until(pilot, lambda: output_of(run_row) == ["started"], timeout=20, what="the RUN's output")
        assert len(engine.containers.list(all=True)) == 1
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running, what="ctrl+q to quit")
    assert await asyncio.to_thread(screen.ended.wait, 60), "the build's thread did not end"
    assert engine.containers.list(all=True) == []
