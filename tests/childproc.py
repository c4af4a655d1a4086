"""Running a piece of a test in a forked child: for what must not touch the pytest process (unshare,
dropped capabilities, a seccomp filter cannot be undone)."""

from __future__ import annotations

import os
import pickle
import traceback

import pytest


def in_child(fn):
    """Run fn() in a forked child and return its (picklable) result; an exception there fails the test here."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            try:
                payload = pickle.dumps((True, fn()))
            except BaseException:
                payload = pickle.dumps((False, traceback.format_exc()))
            os.write(w, payload)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    assert data, "child died without a result"
    ok, value = pickle.loads(data)
    if not ok:
        pytest.fail(f"in child:\n{value}")
    return value
