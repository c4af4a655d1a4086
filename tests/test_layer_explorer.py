"""engine.images.layers (the layer explorer's dive-like view) and engine.containers.diff_entries (the file
browser over a container's diff), against an image built by tuiker's own builder."""

from __future__ import annotations

import stat

import pytest

from tuiker.engine import BuildOptions


def build_layered(engine, context) -> str:
    """busybox + COPY one (1000 B) + COPY two (2000 B) + RUN that removes one and overwrites two (300 B), as
    `layered:1`; its ID."""
    (context / "one").write_bytes(b"1" * 1000)
    (context / "two").write_bytes(b"2" * 2000)
    (context / "Dockerfile").write_text(
        "FROM busybox\n"
        "COPY one /data/one\n"
        "COPY two /data/two\n"
        "RUN rm /data/one && head -c 300 /dev/zero > /data/two && mkdir /data/new\n")
    return engine.builds.build(BuildOptions(str(context), tags=["layered:1"])).image_id


@pytest.fixture
def layered(engine, tmp_path):
    yield build_layered(engine, tmp_path)
    engine.images.remove("layered:1", force=True)


def _files(layer) -> dict:
    return {f.path: f for f in layer.files}


def test_layers_kinds_and_wasted_space(engine, layered):
    report = engine.images.layers("layered:1")
    assert len(report.layers) == 4
    assert [layer.diff_id for layer in report.layers] == engine.images.get("layered:1").layers
    assert "COPY one /data/one" in report.layers[1].created_by
    assert "rm /data/one" in report.layers[3].created_by
    assert all(layer.size > 0 for layer in report.layers)

    base = _files(report.layers[0])
    assert base["/bin/busybox"].kind == "added" and base["/bin/busybox"].size > 100_000
    first, second, third = (_files(layer) for layer in report.layers[1:])
    assert first["/data"].kind == "added" and first["/data"].is_dir
    assert (first["/data/one"].kind, first["/data/one"].size) == ("added", 1000)
    assert first["/data/one"].mode & 0o777 and stat.S_ISREG(first["/data/one"].mode)
    assert second["/data"].kind == "modified"
    assert (second["/data/two"].kind, second["/data/two"].size) == ("added", 2000)
    assert (third["/data/one"].kind, third["/data/one"].size) == ("removed", 1000)
    assert stat.S_ISREG(third["/data/one"].mode)  # the mode of the file it hid
    assert (third["/data/two"].kind, third["/data/two"].size) == ("modified", 300)
    assert third["/data/new"].kind == "added"

    assert report.wasted == 1000 + 2000
    assert report.wasted_files == [("/data/two", 2000, 1), ("/data/one", 1000, 1)]
    files_total = sum(f.size for layer in report.layers for f in layer.files if f.kind != "removed")
    assert report.size == files_total
    assert report.efficiency == pytest.approx((files_total - 3000) / files_total)
    assert not report.truncated


def test_layers_of_a_clean_image_waste_nothing(engine):
    report = engine.images.layers("busybox")
    assert report.wasted == 0 and report.efficiency == 1.0 and report.wasted_files == []
    assert {f.kind for f in report.layers[0].files} == {"added"}


def test_layers_walk_is_bounded(engine, layered):
    from tuiker.engine.layertree import layer_report

    report = layer_report(engine.images, "layered:1", limit=10)
    assert report.truncated and sum(len(layer.files) for layer in report.layers) == 10


def test_layers_of_a_missing_image(engine):
    from tuiker.engine import NotFoundError

    with pytest.raises(NotFoundError):
        engine.images.layers("nosuch:image")


def test_diff_entries_have_sizes_and_never_follow_symlinks(engine):
    from tuiker.engine import RunOptions

    c = engine.containers.create(RunOptions(image="busybox", command=[
        "sh", "-c", "head -c 4321 /dev/zero > /added && echo x >> /etc/passwd && rm /bin/ls"
                    " && ln -s /bin/busybox /link"]))
    try:
        engine.containers.start(c.id)
        engine.containers.wait(c.id)
        entries = {path: (kind, size, mode) for kind, path, size, mode in engine.containers.diff_entries(c.id)}
        assert entries["/added"][:2] == ("A", 4321)
        assert entries["/etc/passwd"][0] == "C" and entries["/etc/passwd"][1] > 0
        assert entries["/bin/ls"] == ("D", 0, 0)
        assert entries["/link"][0] == "A" and stat.S_ISLNK(entries["/link"][2])
        assert entries["/link"][1] == len("/bin/busybox")  # the link's own size, not its target's
        assert [(k, p) for k, p, _, _ in engine.containers.diff_entries(c.id)] == engine.containers.diff(c.id)
    finally:
        engine.containers.remove(c.id, force=True)
