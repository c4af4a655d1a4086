"""The image commands end to end through the CLI, as a user types them."""

from __future__ import annotations

import json
import os

import imagebuilder as ib
from registry import push


def _push_two(registry) -> tuple[ib.BuiltImage, ib.BuiltImage]:
    """Two images sharing the busybox base layer."""
    base = ib.make_tar(ib.busybox_rootfs_entries())
    one = ib.build_image([base, ib.make_tar([ib.File("one", b"1")])], cmd=["sh"])
    two = ib.build_image([base, ib.make_tar([ib.File("two", b"2")])], cmd=["sh"])
    push(registry, "cli/one", "latest", one)
    push(registry, "cli/two", "v2", two)
    return one, two


def test_pull_output_images_table_and_inspect(registry, tuiker):
    one, _ = _push_two(registry)
    pulled = tuiker("pull", f"{registry.host}/cli/one")
    assert pulled.returncode == 0, pulled.stderr
    lines = pulled.stdout.splitlines()
    assert lines[0] == f"latest: Pulling from 127.0.0.1:{registry.port}/cli/one"
    assert f"{one.layer_digests[0][7:19]}: Pull complete" in lines
    assert f"Digest: {one.manifest_digest}" in lines
    assert f"Status: Downloaded newer image for {registry.host}/cli/one:latest" in lines
    assert lines[-1] == f"{registry.host}/cli/one:latest"

    table = tuiker("images").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = table[1].split()
    assert row[:3] == [f"{registry.host}/cli/one", "latest", one.config_digest[7:19]]
    assert row[-1].endswith("MB")  # busybox-static is a couple of MB unpacked
    digests = tuiker("images", "--digests").stdout.splitlines()[1].split()
    assert digests[2] == one.manifest_digest
    assert tuiker("images", "-q").stdout.split() == [one.config_digest[7:19]]

    info = json.loads(tuiker("image", "inspect", f"{registry.host}/cli/one").stdout)[0]
    assert info["Id"] == one.config_digest
    assert info["RepoTags"] == [f"{registry.host}/cli/one:latest"]
    assert info["RepoDigests"] == [f"{registry.host}/cli/one@{one.manifest_digest}"]
    assert info["RootFS"] == {"Type": "layers", "Layers": one.diff_ids}
    assert info["Config"]["Cmd"] == ["sh"] and info["Architecture"] == "amd64" and info["Os"] == "linux"
    assert info["Size"] > 1_000_000 and info["Created"]
    fmt = tuiker("inspect", "--format", "{{.Id}} {{json .RepoTags}}", one.config_digest[7:15])
    assert fmt.stdout.strip() == f'{one.config_digest} ["{registry.host}/cli/one:latest"]'


def test_tag_rmi_shares_layers_and_untags_before_deleting(registry, tuiker, engine_root):
    one, two = _push_two(registry)
    for name in ("cli/one", "cli/two:v2"):
        assert tuiker("pull", "-q", f"{registry.host}/{name}").returncode == 0
    layers = engine_root / "layers"
    assert len(os.listdir(layers)) == 3  # base layer stored once

    assert tuiker("tag", f"{registry.host}/cli/one", "mine/one:dev").returncode == 0
    # By ID with two tags: refused unless forced, as docker does.
    refused = tuiker("rmi", one.config_digest[7:19])
    assert refused.returncode == 1 and "must be forced" in refused.stderr
    # By tag while another tag remains: only untagged.
    out = tuiker("rmi", "mine/one:dev")
    assert out.stdout.splitlines() == ["Untagged: mine/one:dev"]
    assert len(os.listdir(layers)) == 3
    # The last tag: the image goes, with its own layer but not the shared base.
    out = tuiker("rmi", f"{registry.host}/cli/one")
    assert out.returncode == 0
    assert f"Untagged: {registry.host}/cli/one:latest" in out.stdout
    assert f"Deleted: {one.config_digest}" in out.stdout
    assert f"Deleted: {one.diff_ids[1]}" in out.stdout and one.diff_ids[0] not in out.stdout
    assert sorted(os.listdir(layers)) == sorted(d[7:] for d in two.diff_ids)
    missing = tuiker("rmi", "nosuch:image")
    assert missing.returncode == 1 and missing.stderr.strip() == "Error: No such image: nosuch:image"
    # rmi by a unique ID prefix removes the rest, layers and blobs included.
    assert tuiker("rmi", two.config_digest[7:11]).returncode == 0
    assert os.listdir(layers) == [] and os.listdir(engine_root / "blobs/sha256") == []
    assert os.listdir(engine_root / "images") == []


def test_image_prune_removes_dangling_and_all(registry, tuiker, engine_root):
    old = ib.build_image([ib.make_tar([ib.File("v", b"old")])])
    new = ib.build_image([ib.make_tar([ib.File("v", b"new")])])
    push(registry, "cli/app", "latest", old)
    assert tuiker("pull", "-q", f"{registry.host}/cli/app").returncode == 0
    push(registry, "cli/app", "latest", new)
    assert tuiker("pull", "-q", f"{registry.host}/cli/app").returncode == 0
    rows = tuiker("images").stdout.splitlines()[1:]
    assert any(r.split()[:2] == ["<none>", "<none>"] for r in rows)  # the old one is dangling
    out = tuiker("image", "prune", "-f")
    assert f"deleted: {old.config_digest}" in out.stdout and "Total reclaimed space: 3B" in out.stdout
    assert tuiker("images", "-q").stdout.split() == [new.config_digest[7:19]]
    out = tuiker("image", "prune", "-a", "-f")
    assert f"untagged: {registry.host}/cli/app:latest" in out.stdout
    assert tuiker("images", "-q").stdout == ""


def test_bad_input_gets_one_line_and_changes_nothing(tuiker, engine_root):
    for args, expected in [
        (["pull", "team/App"], "repository name must be lowercase"),
        (["pull", "a" * 64], "cannot specify 64-byte hexadecimal strings"),
        (["pull", "--platform", "linux", "alpine"], "invalid platform"),
        (["tag", "nosuch", "x:y"], "No such image: nosuch"),
        (["image", "inspect", "nosuch"], "No such image: nosuch"),
    ]:
        out = tuiker(*args)
        assert out.returncode == 1, (args, out)
        assert out.stderr.count("\n") == 1 and expected in out.stderr, (args, out.stderr)
    assert os.listdir(engine_root / "images") == [] and os.listdir(engine_root / "tmp") == []
