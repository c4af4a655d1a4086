"""What a newcomer runs: a clean clone installed into a fresh venv, not editable, exactly as the README's first
command says (`pip install . && tuiker`), then the TUI in a real terminal drawing its panels; and a TUI that cannot
start exits non-zero.

The index is replaced by the wheelhouse tests/run fills (TUIKER_WHEELHOUSE, with `pip wheel .` from the same
pyproject): the same resolution and the same files, without a test reaching beyond this machine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from tmux import Tmux

WHEELHOUSE = os.environ.get("TUIKER_WHEELHOUSE", "")
pytestmark = [
    pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux (apt-get install tmux)"),
    pytest.mark.skipif(not os.path.isdir(WHEELHOUSE), reason="needs the wheelhouse tests/run makes: run ./tests/run"),
]


def readme_install_command() -> str:
    """The README's first command, as written (its `tuiker` part is run below, in a terminal)."""
    text = (REPO_ROOT / "README.md").read_text()
    first = re.search(r"```sh\n(.*?)\n", text).group(1)
    command = first.split("#")[0].strip()
    assert command.endswith("&& tuiker"), first
    return command.removesuffix("&& tuiker").strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding tuiker installed from a clean clone; returns the venv's bin directory."""
    work = tmp_path_factory.mktemp("install")
    clone = work / "tuiker"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{REPO_ROOT}", str(clone)], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    bin_dir = work / "venv" / "bin"
    command = readme_install_command().split()
    assert command[:2] == ["pip", "install"], command
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_FIND_LINKS=WHEELHOUSE, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    subprocess.run([str(bin_dir / "pip"), *command[1:], "-q"], cwd=clone, env=env, check=True, timeout=600)
    return bin_dir


def clean_env(root: Path) -> dict[str, str]:
    """No trace of the checkout: only the venv's package can answer."""
    return {"TUIKER_ROOT": str(root), "TERM": "xterm-256color", "TUIKER_CONFIG": "/nonexistent/config.json",
            "PYTHONPATH": "", "HOME": str(root)}


def test_the_installed_package_is_not_the_checkout(installed):
    out = subprocess.run([str(installed / "python"), "-c", "import tuiker, os; print(tuiker.__file__)"],
                         capture_output=True, text=True, check=True, cwd="/", env={"PATH": "/usr/bin:/bin"}).stdout
    assert "site-packages" in out and str(REPO_ROOT) not in out, out


def test_readme_first_command_opens_the_tui(installed, engine_root):
    term = Tmux(f"{installed / 'tuiker'}; echo TUIKER-EXITED $?; sleep 60", clean_env(engine_root), size=(120, 36))
    try:
        screen = term.wait_for(lambda s: all(p in s for p in ("Containers (", "Images (", "Networks (")), 60,
                               "the TUI's panels")
        assert "Traceback" not in screen
        term.keys("q")
        assert "TUIKER-EXITED 0" in term.wait_for(lambda s: "TUIKER-EXITED" in s, 20, "the app to quit")
    finally:
        term.close()
    cli = subprocess.run([str(installed / "tuiker"), "ps", "-a"], capture_output=True, text=True,
                         env=clean_env(engine_root), timeout=60)
    assert cli.returncode == 0 and cli.stdout.startswith("CONTAINER ID"), (cli.stdout, cli.stderr)


def test_a_tui_that_cannot_start_exits_non_zero(installed, engine_root, tmp_path):
    """A broken install (its stylesheet gone) is a real fault: the TUI must fail with a non-zero status."""
    broken = tmp_path / "broken"
    shutil.copytree(installed.parent, broken, symlinks=True)
    site = next(broken.glob("lib/python*/site-packages/tuiker"))
    (site / "tui" / "app.tcss").unlink()
    # From /, so that `-m` cannot find the checkout's package in the working directory.
    command = f"cd / && {broken / 'bin' / 'python'} -m tuiker; echo TUIKER-EXITED $?; sleep 60"
    term = Tmux(command, clean_env(engine_root), size=(120, 36))
    try:
        screen = term.wait_for(lambda s: "TUIKER-EXITED" in s, 60, "the app to fail")
    finally:
        term.close()
    assert "TUIKER-EXITED 0" not in screen, screen
