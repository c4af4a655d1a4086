"""Opening the engine root's stores, with the one message a user can act on when the root is not theirs."""

from __future__ import annotations

from pathlib import Path

from tuiker.base.errors import TuikerError

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every command
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


def open_store(kind: type[T], root: Path) -> T:
    """`kind(root)`: an image, container or network store. The engine opens each on first use, so `login` or
    `--help` never touches the root, and a root this user cannot write says so in one line."""
    try:
        return kind(root)
    except PermissionError as e:
        raise TuikerError(f"cannot use engine root {root}: {e.strerror} (run as root or set TUIKER_ROOT)") from e
