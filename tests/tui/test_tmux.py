"""End to end in a real terminal (tmux): start `tuiker`, create a container from the keyboard, see its log line,
exec into it and run a command (in a tab, then with the whole terminal), quit, and find the container still
running."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
from tmux import Tmux

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux (apt-get install tmux)")


def test_create_log_exec_quit(engine, tuiker):
    env = {"TUIKER_ROOT": str(engine.root), "PYTHONPATH": str(REPO_ROOT), "TERM": "xterm-256color",
           "TUIKER_CONFIG": "/nonexistent/config.json"}
    term = Tmux(f"{sys.executable} -m tuiker; echo TUIKER-EXITED $?; sleep 60", env)
    try:
        term.wait_for(lambda s: "Containers (0)" in s, 30, "the app")
        term.keys("n")
        term.wait_for(lambda s: "New container" in s, 10, "the form")
        term.keys("busybox", literal=True)
        term.keys("Tab")
        term.keys("e2e", literal=True)
        term.keys("Tab")
        term.keys("sh -c 'echo log-line-from-e2e; exec sleep 1000'", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: re.search(r"running\s+e2e\s", s), 20, "the container in the list")
        term.wait_for(lambda s: re.search(r"│log-line-from-e2e\s", s), 10, "its log line in the Logs tab")

        term.keys("e")
        term.wait_for(lambda s: "/ #" in s, 20, "the shell's prompt")
        term.keys("echo hello-from-exec", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: any("hello-from-exec" in line and "echo" not in line for line in s.splitlines()),
                      10, "the command's output")

        term.keys("C-]")
        term.keys("E")  # a shell in the whole terminal: the app suspends, as lazydocker's exec does
        term.wait_for(lambda s: "/ #" in s and "Containers (" not in s, 20, "the full-screen shell")
        term.keys("echo full-screen-$((6*7))", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: "full-screen-42" in s, 10, "its output")
        term.keys("exit", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: "Containers (1)" in s, 20, "the app back")
        term.keys("q")
        screen = term.wait_for(lambda s: "TUIKER-EXITED" in s, 20, "the app to quit")
        assert "TUIKER-EXITED 0" in screen
    finally:
        term.close()
    ps = tuiker("ps", "--format", "{{.Names}} {{.State}}")
    assert "e2e running" in ps.stdout.splitlines(), ps
    assert os.path.isdir(engine.containers.get("e2e").dir)


def start_app(engine) -> Tmux:
    env = {"TUIKER_ROOT": str(engine.root), "PYTHONPATH": str(REPO_ROOT), "TERM": "xterm-256color",
           "TUIKER_CONFIG": "/nonexistent/config.json"}
    term = Tmux(f"{sys.executable} -m tuiker; echo TUIKER-EXITED $?; sleep 60", env)
    term.wait_for(lambda s: "Containers (" in s, 30, "the app")
    return term


@pytest.mark.parametrize("tty", [True, False], ids=["tty", "pipes"])
def test_full_screen_attach_keys_return_to_the_app(engine, tty):
    """`A` gives the whole terminal to `tuiker attach`. Ctrl-C goes to the container (with a TTY its shell
    gets ^C and carries on; without one, as `docker attach --sig-proxy=false`, it detaches) and never reaches
    the app; Ctrl-P Ctrl-Q detaches. Both come back to the app, which runs on, the container too."""
    from tuihelpers import run

    command = ["sh"] if tty else ["sh", "-c", "while :; do echo tick-$$; sleep 0.3; done"]
    c = run(engine, "box", command, tty=tty, interactive=True)
    term = start_app(engine)
    try:
        term.wait_for(lambda s: re.search(r"running\s+box\s", s), 10, "the container")
        for leave in (["C-c"], ["C-p", "C-q"]):
            time.sleep(0.5)  # the app has the terminal back, and reads keys again
            term.keys("A")
            term.wait_for(lambda s: "Containers (" not in s, 20, "the attach")
            if tty:
                time.sleep(1)  # (the app's keys are no longer read: this one is for the shell)
                term.keys("Enter")
                term.wait_for(lambda s: "/ #" in s and "Containers (" not in s, 20, "the container's shell")
                term.keys("sleep 30", literal=True)
                term.keys("Enter")
            else:
                time.sleep(1.5)  # the screen shows the last attach's output until this one has started
            term.keys(*leave)
            if tty and leave == ["C-c"]:
                # The shell got the ^C: its sleep ends, it prompts again, and we are still attached.
                term.wait_for(lambda s: s.rstrip().endswith("/ #") and "^C" in s, 10, "the shell's prompt")
                term.keys("C-p", "C-q")
            term.wait_for(lambda s: "Containers (1)" in s, 20, "the app back")
            assert "TUIKER-EXITED" not in term.screen()
            assert engine.containers.get(c.id).status == "running"
        term.keys("q")
        screen = term.wait_for(lambda s: "TUIKER-EXITED" in s, 20, "the app to quit")
        assert "TUIKER-EXITED 0" in screen
    finally:
        term.close()


def test_follow_shows_the_end_of_a_burst(engine):
    """200,000 lines as fast as busybox prints them: the Logs tab, following, shows the last one at the bottom,
    and the lines above it in order (the Log widget lost its repaint when a write pruned more lines than it
    keeps: the screen stayed on an old batch, marked following)."""
    from tuihelpers import run

    run(engine, "burst", ["sh", "-c", "sleep 2; seq 1 200000; sleep 1000"])
    term = start_app(engine)
    try:
        screen = term.wait_for(lambda s: re.search(r"│200000\s+│", s), 25, "the last line on screen")
        shown = [int(n) for n in re.findall(r"│(\d+)\s+│", screen)]
        assert shown == list(range(200001 - len(shown), 200001)) and len(shown) > 20, shown
        assert "following" in screen
    finally:
        term.close()


def test_form_keeps_text_around_a_tab(engine):
    """Keys that arrive in one read, as a fast typist's or a paste without bracketed paste: `abc` Tab `def`
    fills two fields (Tab moved the focus before `def` was handed out: it went to the first field as `abcdef`).
    A bracketed paste keeps its Tab as text, in the field it is pasted into, as Textual's Input takes it."""
    term = start_app(engine)
    try:
        term.keys("n")
        term.wait_for(lambda s: "New container" in s, 10, "the form")
        term.keys("abc", "Tab", "def")  # one send-keys: one write to the terminal
        screen = term.wait_for(lambda s: "def" in s, 5, "the text")
        assert re.search(r"Image\s+abc\s", screen) and re.search(r"Name\s+def\s", screen), screen
        term.keys("Tab")
        term.tmux("set-buffer", "echo x\ty")
        term.tmux("paste-buffer", "-p")  # bracketed, as the app asked for
        term.wait_for(lambda s: re.search(r"Command\s+echo x\s+y", s), 5, "the paste in the Command field")
        term.keys("Escape")
    finally:
        term.close()
