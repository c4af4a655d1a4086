"""What an image's config says is checked before it is used: the config comes from a registry (or an archive)
that may send any JSON, and its fields reach a container's command, its environment, and (ExposedPorts,
through `run -P`) the nftables rules every container of the root shares.

Before, a string Cmd ran `s` `h`, a string Env was taken letter by letter, `"http/tcp"` was a traceback, and
`"99999/tcp"` or `"80/sctp"` went on to the firewall's rules.
"""

from __future__ import annotations

import json
import os

import imagebuilder as ib
import pytest
from conftest import ok, one_line_error
from registry import push

BAD_FIELDS = [
    ({"Env": "PATH=/bin"}, "Env is not a list of strings"),
    ({"Cmd": "sh"}, "Cmd is not a list of strings"),
    ({"Entrypoint": ["sh", 1]}, "Entrypoint is not a list of strings"),
    ({"WorkingDir": 7}, "WorkingDir is not a string"),
    ({"User": ["root"]}, "User is not a string"),
    ({"StopSignal": 9}, "StopSignal is not a string"),
    ({"Labels": {"a": 1}}, "Labels is not an object"),
    ({"ExposedPorts": {"http/tcp": {}}}, "invalid ExposedPorts entry 'http/tcp'"),
    ({"ExposedPorts": {"99999/tcp": {}}}, "invalid ExposedPorts entry '99999/tcp'"),
    ({"ExposedPorts": {"80/sctp": {}}}, "invalid ExposedPorts entry '80/sctp'"),
    ({"ExposedPorts": {"1-65535/tcp": {}}}, "invalid ExposedPorts entry '1-65535/tcp'"),
    ({"ExposedPorts": {"80/tcp\nx": {}}}, "invalid ExposedPorts entry"),
    ({"ExposedPorts": ["80/tcp"]}, "ExposedPorts is not an object"),
]


def _push(registry, name: str, **kwargs) -> str:
    layer = ib.make_tar(ib.busybox_rootfs_entries())
    push(registry, f"test/{name}", "latest", ib.build_image([layer], **kwargs))
    return f"{registry.host}/test/{name}:latest"


@pytest.mark.parametrize(("extra", "message"), BAD_FIELDS, ids=[str(e) for e, _ in BAD_FIELDS])
def test_a_config_field_of_the_wrong_shape_is_one_line(engine_root, registry, tuiker, extra, message):
    ref = _push(registry, f"badconfig{BAD_FIELDS.index((extra, message))}", config_extra=extra)
    ok(tuiker("pull", "-q", ref))  # (the pull prints progress on stderr; create's error is then its one line)
    for args in (["create"], ["run", "-P"]):
        r = tuiker(*args, ref, *([] if "Cmd" in extra or "Entrypoint" in extra else ["true"]))
        assert r.returncode != 0
        line = one_line_error(r)
        assert message in line, line
    assert not (engine_root / "containers").exists() or os.listdir(engine_root / "containers") == []


def test_a_config_that_is_well_formed_still_runs(engine_root, registry, tuiker):
    ref = _push(registry, "goodconfig", config_extra={"ExposedPorts": {"80": {}, "53/UDP": {}},
                                                       "Labels": {"a": "b"}, "StopSignal": "SIGINT"})
    cid = ok(tuiker("create", ref, "true")).strip()
    assert json.loads(ok(tuiker("inspect", cid)))[0]["Config"]["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}


def test_a_created_time_that_is_not_a_string_does_not_break_images(engine_root, registry, tuiker, busybox_image):
    """`images` sorts every image by its creation time: one image's int there made it a traceback for all."""
    ok(tuiker("pull", "-q", busybox_image[0]))
    ok(tuiker("pull", "-q", _push(registry, "oddcreated", created=5)))
    assert "oddcreated" in ok(tuiker("images"))
