"""A background loop for a widget: the way every live view reads the engine without blocking the UI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from textual.dom import DOMNode


def one_line(error: BaseException) -> str:
    """An error as one line for a notification: its message, or its type when it has none."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def until_next_tick(interval: float, now: float) -> float:
    """Seconds from `now` to the next multiple of `interval` (monotonic clock), not `interval` from now: the
    pollers tick at the same instants (the logs' with the screen's), so what they post can share a frame (each
    frame re-renders every widget under the changed area). Only one message is sure to: see MainScreen._poll."""
    return interval - now % interval


class Poller:
    """Calls `tick` in a worker thread of `node` every `interval` seconds (on the clock's multiples of it), and at
    once when poked.

    One thread per view for the app's life: switching containers swaps what `tick` reads and pokes, instead of
    starting a thread per key press. `tick` posts its results as messages (thread-safe). An error in `tick`
    is notified once (until a tick succeeds), so a vanished file never floods the screen or stops the loop.
    The loop ends when the node unmounts, so nothing reads an engine root after the app is gone."""

    def __init__(self, node: DOMNode, tick: Callable[[], None], interval: float) -> None:
        self.node = node
        self.tick = tick
        self.interval = interval
        self._wake = threading.Event()
        self._stopped = False

    def start(self) -> None:
        self._app = self.node.app
        self.node.run_worker(self._loop, thread=True, exit_on_error=False, group=f"poll-{id(self)}",
                             description=f"{type(self.node).__name__} poller")

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def _loop(self) -> None:
        failed = ""
        while not self._stopped:
            try:
                self.tick()
                failed = ""
            except Exception as e:  # noqa: BLE001 - the loop must outlive any one bad read
                if one_line(e) != failed:
                    failed = one_line(e)
                    self._app.notify(failed, severity="error", markup=False)
            self._wake.wait(until_next_tick(self.interval, time.monotonic()))
            self._wake.clear()
