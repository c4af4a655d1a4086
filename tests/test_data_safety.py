"""No lost data: removing an image never takes the files of a container made from it, as docker refuses, and one
damaged file (a full disk, a host that crashed mid-write) never locks out the engine."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO_ROOT, ok, one_line_error, wait_for

from tuiker.engine import Engine


def image_id(engine_root, ref: str) -> str:
    return Engine(engine_root).images.get(ref).id


def layer_dirs(engine_root) -> list[str]:
    return sorted(p.name for p in (engine_root / "layers").iterdir())


def test_rmi_refuses_the_image_of_a_running_container(tuiker, engine_root, image):
    layers = layer_dirs(engine_root)
    ok(tuiker("run", "-d", "--name", "user", image, "sleep", "300"))
    result = tuiker("rmi", image)
    assert result.returncode == 1
    line = one_line_error(result)
    assert line.startswith(f'Error: conflict: unable to remove repository reference "{image}" (must force) -'
                           " container "), line
    # -f untags; the image stays, dangling, while the running container uses it, and so do its layers.
    out = ok(tuiker("rmi", "-f", image))
    assert out.startswith("Untagged: ") and "Deleted" not in out, out
    assert ok(tuiker("images", "-q", "--no-trunc")).split() != []
    assert layer_dirs(engine_root) == layers
    assert ok(tuiker("exec", "user", "ls", "/bin/busybox")).strip() == "/bin/busybox"
    # By ID it cannot be forced while the container runs.
    digest = ok(tuiker("images", "-q", "--no-trunc")).split()[0]
    result = tuiker("rmi", "-f", digest)
    assert "(cannot be forced) - image is being used by running container" in one_line_error(result)
    # Nor does a prune take it.
    ok(tuiker("image", "prune", "-a", "-f"))
    assert layer_dirs(engine_root) == layers
    ok(tuiker("stop", "-t", "0", "user"))
    ok(tuiker("start", "user"))
    assert ok(tuiker("exec", "user", "echo", "still-whole")).strip() == "still-whole"


def test_a_stopped_container_keeps_its_layers_through_rmi_f(tuiker, engine_root, image):
    layers = layer_dirs(engine_root)
    ok(tuiker("create", "--name", "later", image, "echo", "started-after-rmi"))
    result = tuiker("rmi", image)
    assert "container" in one_line_error(result) and result.returncode == 1
    by_id = tuiker("rmi", image_id(engine_root, image))
    assert "(must be forced) - image is being used by stopped container" in one_line_error(by_id)
    out = ok(tuiker("rmi", "-f", image_id(engine_root, image)))
    assert "Deleted: sha256:" in out  # the image record goes, as docker's -f does ...
    assert ok(tuiker("images", "-q")).strip() == ""
    assert layer_dirs(engine_root) == layers  # ... but never the layers under a container
    assert ok(tuiker("start", "-a", "later")).strip() == "started-after-rmi"
    ok(tuiker("rm", "later"))
    ok(tuiker("image", "prune", "-a", "-f"))
    assert layer_dirs(engine_root) == []  # no container uses them any more


def test_prune_a_keeps_images_in_use(tuiker, engine_root, image):
    ok(tuiker("create", "--name", "holder", image, "true"))
    ok(tuiker("image", "prune", "-a", "-f"))
    assert ok(tuiker("images", "-q")).strip() != ""
    ok(tuiker("rm", "holder"))
    ok(tuiker("image", "prune", "-a", "-f"))
    assert ok(tuiker("images", "-q")).strip() == ""


def test_a_create_holds_its_image_against_a_concurrent_rmi(engine_root, image):
    """While a create holds its lease (from reading the image to writing the container), an rmi's garbage
    collection takes none of the image's layers; once written, the container's config holds them."""
    engine = Engine(engine_root)
    layers = layer_dirs(engine_root)
    with engine.images.store.lease():
        rmi = subprocess.run([sys.executable, "-m", "tuiker", "rmi", "-f", image], capture_output=True, text=True,
                             env={"TUIKER_ROOT": str(engine_root), "PYTHONPATH": str(REPO_ROOT)}, timeout=60)
        assert rmi.returncode == 0, rmi.stderr
        assert layer_dirs(engine_root) == layers


def test_run_and_rmi_at_once_never_leave_a_container_without_its_files(tuiker, engine_root, image):
    env = {"TUIKER_ROOT": str(engine_root), "PYTHONPATH": str(REPO_ROOT), "NO_PROXY": "127.0.0.1"}
    for i in range(4):
        run = subprocess.Popen([sys.executable, "-m", "tuiker", "run", "-d", "--name", f"race{i}", image,
                                "sleep", "300"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rmi = subprocess.run([sys.executable, "-m", "tuiker", "rmi", "-f", image], env=env, capture_output=True,
                             text=True, timeout=60)
        _, run_error = run.communicate(timeout=60)
        if run.returncode == 0:
            assert ok(tuiker("exec", f"race{i}", "ls", "/bin/busybox")).strip() == "/bin/busybox"
        else:
            assert "No such image" in run_error or "Unable to find image" in run_error, (run_error, rmi.stderr)
        ok(tuiker("pull", "-q", image))


# -- damaged files ---------------------------------------------------------------------------------------

def container_dir(engine_root, name: str):
    for config in engine_root.glob("containers/*/config.json"):
        if json.loads(config.read_text())["Name"] == name:
            return config.parent
    raise AssertionError(f"no container {name}")


def test_a_torn_state_or_config_file_makes_one_dead_container(tuiker, engine_root, image):
    ok(tuiker("create", "--name", "torn-state", image, "true"))
    ok(tuiker("create", "--name", "torn-config", image, "true"))
    ok(tuiker("run", "-d", "--name", "healthy", image, "sleep", "300"))
    state_dir, config_dir = container_dir(engine_root, "torn-state"), container_dir(engine_root, "torn-config")
    (state_dir / "state.json").write_text('{"Status": "cre')
    (config_dir / "config.json").write_text("")
    listing = ok(tuiker("ps", "-a", "--format", "{{.Names}} {{.Status}}")).splitlines()
    assert "torn-state Dead" in listing and f"{config_dir.name[:12]} Dead" in listing, listing
    assert any(line.startswith("healthy Up") for line in listing), listing
    assert ok(tuiker("exec", "healthy", "echo", "fine")).strip() == "fine"
    inspected = json.loads(ok(tuiker("inspect", "torn-state")))[0]
    assert inspected["State"]["Dead"] and "damaged file" in inspected["State"]["Error"]
    result = tuiker("start", "torn-state")
    assert result.returncode == 1 and "is dead" in one_line_error(result)
    ok(tuiker("rm", "-f", "torn-state", config_dir.name[:12]))
    assert not state_dir.exists() and not config_dir.exists()
    assert ok(tuiker("ps", "-a", "--format", "{{.Names}}")).split() == ["healthy"]


def test_torn_image_records_and_tags(tuiker, engine_root, image):
    digest = image_id(engine_root, image)
    (engine_root / "tags.json").write_text('{"docker.io/li')
    assert [i.repo_tags for i in Engine(engine_root).images.list()] == [[]]
    assert "<none>" in ok(tuiker("images"))
    assert list(engine_root.glob("tags.json.damaged-*")), "the damaged tags file is kept for recovery"
    ok(tuiker("tag", digest, "again:1"))
    assert [i.repo_tags for i in Engine(engine_root).images.list()] == [["docker.io/library/again:1"]]
    (engine_root / "images" / f"{digest.removeprefix('sha256:')}.json").write_text("{")
    assert ok(tuiker("images", "-q")).strip() == ""
    ok(tuiker("image", "prune", "-a", "-f"))
    assert not list((engine_root / "images").iterdir())


def test_a_torn_log_line_is_skipped(tuiker, engine_root, image):
    ok(tuiker("run", "--name", "talker", image, "sh", "-c", "echo one; echo two"))
    log = container_dir(engine_root, "talker") / "log.json"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0][:10] + b"\n" + lines[1])
    assert ok(tuiker("logs", "talker")).split() == ["two"]


def test_torn_network_documents(tuiker, engine_root, image):
    ok(tuiker("run", "--rm", image, "true"))  # makes the default network and its leases
    wait_for(lambda: (engine_root / "networks" / "leases.json").exists(), 10, "the leases file")
    (engine_root / "networks" / "leases.json").write_text('{"networks": {"')
    assert ok(tuiker("run", "--rm", image, "echo", "networked")).strip() == "networked"
    ok(tuiker("network", "create", "side"))
    record = next(p for p in (engine_root / "networks").glob("*.json") if p.name != "leases.json"
                  and json.loads(p.read_text()).get("Name") == "side")
    record.write_text("{")
    assert "bridge" in ok(tuiker("network", "ls"))
