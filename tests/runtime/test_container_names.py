"""The store's names index (container-names/<name> -> <id>): a name resolves, and a new one is checked, by one
link instead of every container's config, and the index keeps the store's crash safety: concurrent creates of
one name leave exactly one container, a kill -9 between the link and the container's directory leaves a link
the next create takes back, and an index that is missing or damaged is rebuilt from the configs.

Real processes racing on a real file system; a kill -9 in the middle of a create is a real SIGKILL, sent by
the child to itself right after the link is made (the one place a hook is needed: the window is microseconds).
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from tuiker.base.errors import NotFoundError, TuikerError
from tuiker.runtime import containers
from tuiker.runtime.containers import ContainerStore


def config() -> dict:
    return {"Config": {"Hostname": ""}}


def link(store: ContainerStore, name: str) -> str | None:
    try:
        return os.readlink(store.names_dir / name)
    except FileNotFoundError:
        return None


def in_children(count: int, body) -> list[str]:
    """Fork `count` children that wait on one pipe, then all run body() at once; each child's result
    (body's return value or "error: ...") comes back through its own pipe."""
    go_r, go_w = os.pipe()
    children = []
    for _ in range(count):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report through w, then out without running pytest's teardown
            code = 1
            try:
                os.close(r)
                os.close(go_w)
                os.read(go_r, 1)
                try:
                    result = body()
                except TuikerError as e:
                    result = f"error: {e}"
                os.write(w, result.encode())
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        children.append((pid, r))
    os.close(go_r)
    os.close(go_w)  # EOF for every child at once: the start of the race
    results = []
    for pid, r in children:
        with os.fdopen(r, "rb") as f:
            results.append(f.read().decode())
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    return results


def test_concurrent_creates_of_one_name_exactly_one_wins(engine_root):
    store = ContainerStore(engine_root)
    results = in_children(12, lambda: ContainerStore(engine_root).create(config(), "web").id)
    won = [r for r in results if not r.startswith("error:")]
    lost = [r for r in results if r.startswith("error:")]
    assert len(won) == 1, results
    assert len(lost) == 11 and all('The container name "/web" is already in use' in r for r in lost), lost
    assert [c.id for c in store.list()] == won
    assert store.get("web").id == won[0] == link(store, "web")
    assert sorted(os.listdir(store.root)) == won  # no staging directory left by the losers


def test_concurrent_generated_names_are_unique(engine_root):
    store = ContainerStore(engine_root)

    def five() -> str:
        s = ContainerStore(engine_root)
        return " ".join(s.create(config(), None).name for _ in range(5))

    made = " ".join(in_children(8, five)).split()
    assert len(made) == 40 and len(set(made)) == 40
    assert sorted(c.name for c in store.list()) == sorted(made)
    assert sorted(os.listdir(store.names_dir)) == sorted(made)


def test_rename_moves_the_name_and_conflicts_are_refused(engine_root):
    store = ContainerStore(engine_root)
    a = store.create(config(), "alpha")
    b = store.create(config(), "beta")
    store.rename(a, "gamma")
    assert store.get("gamma").id == a.id
    with pytest.raises(NotFoundError):
        store.get("alpha")
    assert link(store, "alpha") is None and link(store, "gamma") == a.id
    with pytest.raises(TuikerError, match='The container name "/beta" is already in use'):
        store.rename(store.get("gamma"), "beta")
    with pytest.raises(TuikerError, match='The container name "/gamma" is already in use'):
        store.rename(store.get("gamma"), "gamma")
    assert store.get("beta").id == b.id and store.get("gamma").id == a.id
    assert store.create(config(), "alpha").id not in (a.id, b.id)  # the old name is free again


def test_rm_frees_the_name(engine_root):
    store = ContainerStore(engine_root)
    first = store.create(config(), "web")
    store.delete_files(first)
    assert link(store, "web") is None
    with pytest.raises(NotFoundError):
        store.get("web")
    second = store.create(config(), "web")
    assert second.id != first.id and store.get("web").id == second.id


def test_name_lookup_and_create_read_no_other_containers_config(engine_root, monkeypatch):
    """O(1): with 30 containers, resolving a name reads its own container's two files, and a create (named or
    not) reads none (counted at read_json, the store's only reader)."""
    store = ContainerStore(engine_root)
    for i in range(30):
        store.create(config(), f"c{i}")
    reads = []
    real = containers.read_json
    monkeypatch.setattr(containers, "read_json", lambda path, kind=dict: reads.append(path) or real(path, kind))
    assert store.get("c17").name == "c17"
    assert {p.name for p in reads} == {"config.json", "state.json"} and len(reads) == 2
    assert {p.parent for p in reads} == {store.get("c17").dir}
    reads.clear()
    store.create(config(), "new")
    store.create(config(), None)
    with pytest.raises(TuikerError, match="already in use"):
        store.create(config(), "c3")
    # the two new containers read back once each, and the holder of "c3" looked at
    assert len({p.parent for p in reads}) == 3


def test_a_kill_between_the_link_and_the_directory_leaves_a_reclaimable_link(engine_root, monkeypatch):
    store = ContainerStore(engine_root)
    claim = ContainerStore._claim

    def claim_then_die(self, name, cid):
        claim(self, name, cid)
        os.kill(os.getpid(), signal.SIGKILL)

    pid = os.fork()
    if pid == 0:
        try:
            monkeypatch.setattr(ContainerStore, "_claim", claim_then_die)
            ContainerStore(engine_root).create(config(), "web")
        finally:
            os._exit(0)  # never reached: the child dies in _claim
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    dead_id = link(store, "web")
    assert dead_id is not None and not (store.root / dead_id).exists()  # the link, and no container
    with pytest.raises(NotFoundError):
        store.get("web")  # a stale link names nothing
    c = store.create(config(), "web")  # taken back (the dead create's lock went with it)
    assert link(store, "web") == c.id and store.get("web").id == c.id

    # Another one left stale, then swept (as the monitor does when it starts).
    pid = os.fork()
    if pid == 0:
        try:
            monkeypatch.setattr(ContainerStore, "_claim", claim_then_die)
            ContainerStore(engine_root).create(config(), "db")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert link(store, "db") is not None
    store.sweep()
    assert link(store, "db") is None and link(store, "web") == c.id


def test_a_missing_index_is_rebuilt_from_the_configs(engine_root):
    """A root made before the index existed has none; nor has one whose index was removed by hand."""
    import shutil

    store = ContainerStore(engine_root)
    made = {name: store.create(config(), name).id for name in ("one", "two", "three")}
    shutil.rmtree(store.names_dir)
    assert store.get("two").id == made["two"]
    assert {n: link(store, n) for n in os.listdir(store.names_dir)} == made
    shutil.rmtree(store.names_dir)
    with pytest.raises(TuikerError, match="already in use"):
        store.create(config(), "one")  # the check rebuilds it first: never a second "one"
    assert {n: link(store, n) for n in os.listdir(store.names_dir)} == made


@pytest.mark.parametrize("damage", ["file", "garbage link", "other id", "directory", "index is a file"])
def test_a_damaged_index_is_rebuilt(engine_root, damage):
    store = ContainerStore(engine_root)
    web = store.create(config(), "web")
    other = store.create(config(), "other")
    entry = store.names_dir / "web"
    if damage == "index is a file":
        import shutil

        shutil.rmtree(store.names_dir)
        store.names_dir.write_text("not an index")
    else:
        os.unlink(entry)
        if damage == "file":
            entry.write_text(web.id)
        elif damage == "garbage link":
            os.symlink("../../etc/passwd", entry)
        elif damage == "other id":
            os.symlink(other.id, entry)  # a well-formed link to the wrong container: stale, not trusted
        else:
            entry.mkdir()
    with pytest.raises(TuikerError, match="already in use"):
        store.create(config(), "web")  # never a second "web"
    assert store.get("web").id == web.id
    assert link(store, "web") == web.id and link(store, "other") == other.id
    assert sorted(os.listdir(store.names_dir)) == ["other", "web"]


def test_a_damaged_container_is_listed_dead_and_removable_and_frees_its_name(engine_root):
    store = ContainerStore(engine_root)
    web = store.create(config(), "web")
    (web.dir / "config.json").write_text('{"Name": "web", "Con')  # torn by a crash of the host
    (dead,) = store.list()
    assert dead.status == "dead" and dead.id == web.id
    assert store.get(web.id[:12]).id == web.id  # by its ID prefix, its name being unknown
    replacement = store.create(config(), "web")  # its name can no longer be read: free
    store.delete_files(store.get(web.id))
    assert not web.dir.exists()
    assert [c.id for c in store.list()] == [replacement.id] and store.get("web").id == replacement.id


def test_list_shows_no_half_created_or_half_removed_container(engine_root):
    """A create's staging directory and an rm's renamed one hold a whole config: neither is a container."""
    store = ContainerStore(engine_root)
    c = store.create(config(), "web")
    for leftover in (f".new-{'a' * 64}", f".rm-{'b' * 64}"):
        (store.root / leftover).mkdir()
        for name in ("config.json", "state.json"):
            (store.root / leftover / name).write_text((c.dir / name).read_text())
    assert [x.id for x in store.list()] == [c.id]
    store.sweep()
    assert os.listdir(store.root) == [c.id]
    assert json.loads((c.dir / "config.json").read_text())["Name"] == "web"
