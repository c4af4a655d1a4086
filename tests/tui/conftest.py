"""Fixtures of the TUI tests: an engine holding the busybox image as `busybox`, and a fixed engine root for
snapshots."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
from tuihelpers import make_engine

from tuiker.runtime.engine import Engine


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests (Pilot's API is async) in a fresh event loop each."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**arguments))
        return True
    return None


@pytest.fixture
def engine(engine_root, busybox_image) -> Engine:
    return make_engine(engine_root, busybox_image[0])


@pytest.fixture
def fixed_root(engine_root) -> Path:
    """engine_root under a fixed name (a symlink), for snapshots: the header shows the engine root."""
    link = Path("/var/tmp/tuiker-tui-snapshots")
    link.unlink(missing_ok=True)
    link.symlink_to(engine_root)
    yield link
    link.unlink(missing_ok=True)
