"""engine.networks.list's filters (docker's: name, id, driver, label, type, dangling), as `tuiker network ls -f`
and the API's GET /networks use them; and the error classes that give the API docker's statuses."""

from __future__ import annotations

import pytest

from tests.conftest import ok, one_line_error


def test_network_ls_filters(tuiker, engine_root):
    a = ok(tuiker("network", "create", "--label", "tier=front", "flt-a")).strip()
    ok(tuiker("network", "create", "--label", "tier=back", "flt-b"))

    def names(*filters: str) -> list[str]:
        args = [arg for f in filters for arg in ("-f", f)]
        return ok(tuiker("network", "ls", "--format", "{{.Name}}", *args)).split()

    assert names("type=builtin") == ["bridge", "host", "none"]
    assert names("type=custom") == ["flt-a", "flt-b"]
    assert names("label=tier=back") == ["flt-b"] and names("label=tier") == ["flt-a", "flt-b"]
    assert names("id=" + a[:8]) == ["flt-a"] and names("name=flt", "driver=bridge") == ["flt-a", "flt-b"]
    assert names("name=flt-a", "name=flt-b") == ["flt-a", "flt-b"]  # one key's values: either
    assert names("dangling=true") == ["flt-a", "flt-b"] and names("driver=host") == ["host"]
    for bad, message in (("colour=red", "invalid filter 'colour'"), ("type=odd", "invalid filter: 'type'='odd'")):
        r = tuiker("network", "ls", "-f", bad)
        assert r.returncode != 0 and message in one_line_error(r)
    ok(tuiker("network", "rm", "flt-a", "flt-b"))


def test_engine_errors_carry_docker_statuses(engine_root):
    from tuiker.engine import ConflictError, Engine, ForbiddenError, InvalidArgument, NotFoundError

    engine = Engine(engine_root)
    with pytest.raises(ForbiddenError):
        engine.networks.remove("bridge")
    with pytest.raises(ForbiddenError):
        engine.networks.create("host")
    with pytest.raises(InvalidArgument):
        engine.networks.create("sub", subnet="10.300.0.0/24")  # the monitor's error, its class kept
    engine.networks.create("dup")
    with pytest.raises(ConflictError):
        engine.networks.create("dup")
    engine.networks.remove("dup")
    with pytest.raises(NotFoundError):
        engine.volumes.create("v", driver="flocker")
    with pytest.raises(InvalidArgument):
        engine.volumes.create("/abs")
