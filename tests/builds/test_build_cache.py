"""The build cache (the classic builder's rules): an unchanged rebuild is the same image, a changed COPY source
rebuilds from its step, a changed build arg misses at its first use, --no-cache; and the cache's images against
`images`, `image prune`, `rmi` and `builder prune`."""

from __future__ import annotations

import os

from buildtools import build, built_steps, cached_steps, config, write_context
from conftest import ok

DOCKERFILE = """FROM busybox
WORKDIR /app
COPY deps.txt ./
RUN cp deps.txt installed
COPY src/ ./src/
RUN ls src > listing
CMD ["cat", "/app/listing"]
"""


def _context(tmp_path):
    return write_context(tmp_path / "ctx", {"Dockerfile": DOCKERFILE, "deps.txt": "a\nb\n", "src/main.sh": "main",
                                            "src/util.sh": "util"})


def test_unchanged_rebuild_is_the_same_image(engine, tmp_path):
    ctx = _context(tmp_path)
    first, events = build(engine, ctx, ["cached"])
    assert cached_steps(events) == []
    os.utime(ctx / "src" / "main.sh", (1, 1))  # a touched file (mtime only) keeps its hash
    second, events = build(engine, ctx, ["cached"])
    assert second == first
    assert len(cached_steps(events)) == 6 and built_steps(events) == []


def test_a_changed_copy_source_rebuilds_from_its_step(engine, tmp_path):
    ctx = _context(tmp_path)
    first, _ = build(engine, ctx, ["changed"])
    (ctx / "src" / "util.sh").write_text("util v2")
    second, events = build(engine, ctx, ["changed"])
    assert second != first
    assert [t.split("] ")[1] for t in cached_steps(events)] == ["WORKDIR /app", "COPY deps.txt ./",
                                                                "RUN cp deps.txt installed"]
    assert [t.split("] ")[1] for t in built_steps(events)] == ["COPY src/ ./src/", "RUN ls src > listing",
                                                               'CMD ["cat", "/app/listing"]']
    (ctx / "src" / "util.sh").chmod(0o700)  # metadata is content too
    _, events = build(engine, ctx, ["changed"])
    assert "COPY src/ ./src/" in [t.split("] ")[1] for t in built_steps(events)]


def test_a_changed_build_arg_misses_at_its_first_use(engine, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": (
        "FROM busybox\nENV BEFORE=1\nARG MODE=debug\nENV AFTER=2\nRUN echo $MODE > /mode\nRUN echo done\n")})
    build(engine, ctx, ["args"])
    _, events = build(engine, ctx, ["args"], build_args={"MODE": "release"})
    assert [t.split("] ")[1] for t in cached_steps(events)] == ["ENV BEFORE=1", "ARG MODE=debug", "ENV AFTER=2"]
    assert [t.split("] ")[1] for t in built_steps(events)] == ["RUN echo $MODE > /mode", "RUN echo done"]
    again, events = build(engine, ctx, ["args"], build_args={"MODE": "release"})
    assert built_steps(events) == []
    history = [h["created_by"] for h in config(engine, "args")["history"]]
    assert "RUN |1 MODE=release /bin/sh -c echo $MODE > /mode # buildkit" in history


def test_no_cache_rebuilds_every_step(engine, tmp_path):
    ctx = _context(tmp_path)
    first, _ = build(engine, ctx, ["nocache"])
    second, events = build(engine, ctx, ["nocache"], no_cache=True)
    assert second != first and cached_steps(events) == [] and len(built_steps(events)) == 6
    third, _ = build(engine, ctx, ["nocache"])
    assert third == second  # the cache now points at the newest steps


def test_cache_images_against_prune_rmi_and_builder_prune(engine, tuiker, tmp_path):
    ctx = _context(tmp_path)
    app, _ = build(engine, ctx, ["app"])
    other = write_context(tmp_path / "other", {"Dockerfile": "FROM busybox\nWORKDIR /app\nRUN echo other > /o\n"})
    second, events = build(engine, other, ["other"])
    assert cached_steps(events) == ["[2/3] WORKDIR /app"]  # the same parent and step: shared with `app`
    hidden = engine.images.build_intermediates()
    assert len(hidden) == 5  # app's WORKDIR (shared), COPY, RUN, COPY, RUN; not the results (CMD, other's RUN)
    ok(tuiker("image", "prune", "-f"))
    assert engine.images.build_intermediates() == hidden  # the cache's images survive
    _, events = build(engine, ctx, ["app"])
    assert len(cached_steps(events)) == 6
    # rmi of one built image breaks neither the other nor the cache of the steps they share.
    ok(tuiker("rmi", "app"))
    assert ok(tuiker("run", "--rm", "--network", "none", "other", "cat", "/o")) == "other\n"
    _, events = build(engine, ctx, ["app"])
    assert len(cached_steps(events)) == 5 and built_steps(events) == ['[7/7] CMD ["cat", "/app/listing"]']
    out = ok(tuiker("builder", "prune", "-f"))
    assert out.startswith("Deleted build cache objects:") and "Total reclaimed space:" in out
    assert engine.images.build_intermediates() == set()
    everything = ok(tuiker("images", "-a", "--format", "{{.Repository}}")).split()
    assert "<none>" not in everything
    assert ok(tuiker("run", "--rm", "--network", "none", "app")) == "main.sh\nutil.sh\n"
    assert ok(tuiker("run", "--rm", "--network", "none", "other", "cat", "/o")) == "other\n"
    _, events = build(engine, ctx, ["app"])
    assert cached_steps(events) == []
