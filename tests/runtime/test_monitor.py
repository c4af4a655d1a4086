"""The monitor as a server: its table of requests, and an event loop that no one process can hold up.

Real containers and execs through the engine (conftest.py's `engine` and `image`), as in test_containers.py
(whose helpers these use).
"""

from __future__ import annotations

import os

from test_containers import exec_in, read_stream, start_detached

from tuiker.engine import RunOptions


def test_an_exec_leaving_a_process_that_holds_its_output_does_not_hold_up_the_monitor(engine, image):
    """An exec's `sleep 60 &` keeps the exec's output pipe open after the exec'd shell exits. The monitor used
    to read that pipe until it closed, in a loop that never waited (the read said EAGAIN, the loop read again):
    while the background process lived, the monitor spun and served nothing, and the exec's client heard of
    the exit only when the pipe closed (on that code this test's read times out after 30 s). Now what is in the
    pipe is read, the pipe closed, and the exit reported at once."""
    c = start_detached(engine, image, "sleep", "300")
    code, out, _ = read_stream(engine.containers.exec(c.id, ["sh", "-c", "sleep 60 & echo started"]), timeout=30)
    assert (code, out) == (0, "started\n")
    assert exec_in(engine, c.id, "echo", "next") == (0, "next\n", "")  # and the monitor serves the next


def test_every_request_has_a_handler_or_the_unknown_request_reply(engine, image):
    c = engine.containers.create(RunOptions(image=image, command=["true"]))
    reply, _ = engine.containers.monitor.request({"op": "ping"})
    assert reply["ok"] is True
    monitor_pid = reply["pid"]
    for request in ({"op": "frobnicate", "id": c.id}, {"op": "start"}, {"id": c.id}):
        reply, _ = engine.containers.monitor.request(request)
        assert reply["ok"] is False and reply["code"] == 125
        assert reply["error"].startswith(f"unknown request {request.get('op')!r}: the running monitor (pid "
                                         f"{monitor_pid}) is older than this tuiker")
    reply, _ = engine.containers.monitor.request({"op": "wait", "id": "no-such-container"})
    assert reply == {"ok": False, "error": "No such container: no-such-container", "code": 125}
    assert os.path.exists(f"/proc/{monitor_pid}")  # none of it took the monitor down
    assert engine.containers.monitor.request({"op": "wait", "id": c.id})[0] == {"ok": True, "exit": 0}
