"""`--label`/`--label-file` on run and create, `Config.Labels` in inspect (the image's labels with the
container's on top, as docker merges them), and `ps --filter label=` and `{{.Labels}}`/`{{.Label "k"}}`."""

from __future__ import annotations

import json

import imagebuilder
import pytest
from conftest import ok, one_line_error
from registry import push


@pytest.fixture(scope="module")
def labelled_image(registry, busybox_image) -> str:
    """busybox with two labels in its config."""
    _, busybox = busybox_image
    image = imagebuilder.build_image([busybox.layers[0]], cmd=["sh"],
                                     config_extra={"Labels": {"maker": "image", "tier": "base"}})
    push(registry, "test/labelled", "latest", image)
    return f"{registry.host}/test/labelled:latest"


def test_labels_merge_over_the_image_and_show_in_inspect(tuiker, engine_root, labelled_image, tmp_path):
    label_file = tmp_path / "labels"
    label_file.write_text("# a comment\n\nfrom.file=1\ntier=file\nbare\n")
    ok(tuiker("pull", "-q", labelled_image))
    ok(tuiker("create", "--name", "c1", "--label-file", str(label_file), "--label", "tier=flag", "-l", "x=a=b",
              labelled_image, "true"))
    labels = json.loads(ok(tuiker("inspect", "-f", "{{json .Config.Labels}}", "c1")))
    # the flag beats the file, both beat the image; `bare` is an empty label; only the first `=` splits
    assert labels == {"maker": "image", "tier": "flag", "from.file": "1", "bare": "", "x": "a=b"}


def test_ps_filters_and_formats_labels(tuiker, engine_root, image):
    ok(tuiker("create", "--name", "one", "--label", "app=web", "--label", "env=prod", image, "true"))
    ok(tuiker("create", "--name", "two", "--label", "app=db", image, "true"))
    ok(tuiker("create", "--name", "three", image, "true"))
    names = lambda *filters: sorted(ok(tuiker("ps", "-a", *[a for f in filters for a in ("--filter", f)],  # noqa: E731
                                              "--format", "{{.Names}}")).split())
    assert names("label=app") == ["one", "two"]
    assert names("label=app=db") == ["two"]
    assert names("label=app", "label=env=prod") == ["one"]  # several label filters: all must hold
    assert names("label=nope") == []
    out = ok(tuiker("ps", "-a", "--filter", "name=one", "--format", '{{.Labels}}|{{.Label "app"}}|{{.Label "x"}}|'))
    assert out == "app=web,env=prod|web||\n"


def test_a_missing_label_file_is_one_line_125_and_creates_nothing(tuiker, engine_root, image, tmp_path):
    r = tuiker("run", "--label-file", str(tmp_path / "nope"), image, "true")
    assert r.returncode == 125
    assert "no such file or directory" in one_line_error(r)
    assert not list(engine_root.glob("containers/*"))
