"""Names a user gives (containers, networks, aliases, hostnames) follow docker's rules, in the engine itself.

A container's name and its network aliases are written into every peer's /etc/hosts: a newline in one
would add lines of the attacker's choosing to other containers' name resolution (`6.6.6.6 db`). A `/` or
`..` would make a name a path. Each rule is enforced by the engine (ContainerStore, NetworkStore, the
Engine facade), so the CLI, the TUI and any other caller get the same refusal, and the hosts file writer
drops any token that is not a plain name (records written by older versions).
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import ok, one_line_error, read_stream

from tuiker.base import names
from tuiker.base.errors import NotFoundError, TuikerError
from tuiker.engine import Engine, RunOptions
from tuiker.image.store import Store
from tuiker.net import hostsfile
from tuiker.net.network import NetworkStore
from tuiker.runtime.containers import ContainerStore

# What a peer's /etc/hosts would gain from each: a line mapping a name the attacker picks to their address.
INJECTIONS = ["x\n6.6.6.6 victim-db", "x\r\n6.6.6.6 victim-db", "x 6.6.6.6", "x\t6.6.6.6", "x#y"]
BAD_NAMES = ["a\nb", "ab\n", "a/b", "..", "../etc", ".hidden", "-flag", "_x", "a b", "a", "é1", "a:b",
             "\x1b[31mred", "x" * 254, *INJECTIONS]
GOOD_NAMES = ["ab", "web.1_x-y", "A1", "1-2", "x" * 253]


def _containers_dir(root) -> list[str]:
    return sorted(os.listdir(root / "containers")) if (root / "containers").exists() else []


def _cat_hosts(engine: Engine, cid: str) -> str:
    code, out, _ = read_stream(engine.containers.exec(cid, ["cat", "/etc/hosts"]))
    assert code == 0
    return out


# -- the rules, through the engine -----------------------------------------------------------------------

@pytest.mark.parametrize("name", BAD_NAMES)
def test_engine_refuses_container_names_docker_refuses(engine_root, image, name):
    engine = Engine(engine_root)
    with pytest.raises(TuikerError, match=r"^Invalid container name \(.*\), only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\] "
                                          r"are allowed"):
        engine.containers.create(RunOptions(image=image, command=["true"], name=name))
    assert _containers_dir(engine_root) == []


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_engine_accepts_dockers_names(engine_root, image, name):
    c = Engine(engine_root).containers.create(RunOptions(image=image, command=["true"], name=name))
    assert c.name == name


def test_a_leading_slash_is_dropped_as_docker_does(engine_root, image):
    c = Engine(engine_root).containers.create(RunOptions(image=image, command=["true"], name="/web"))
    assert c.name == "web"


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_container_store_itself_refuses(engine_root, name):
    """The check is in ContainerStore.create, below the facade: no caller can get around it."""
    with pytest.raises(TuikerError, match="Invalid container name"):
        ContainerStore(engine_root).create({"Config": {"Hostname": ""}}, name)
    assert _containers_dir(engine_root) == []


@pytest.mark.parametrize("name", ["a\nb", "../x", "a", "x 6.6.6.6"])
def test_rename_refuses_them_too(engine_root, image, name):
    engine = Engine(engine_root)
    c = engine.containers.create(RunOptions(image=image, command=["true"], name="before"))
    with pytest.raises(TuikerError, match="Invalid container name"):
        engine.containers.rename(c.id, name)
    assert engine.containers.get(c.id).name == "before"


@pytest.mark.parametrize("hostname", ["a\nb", "a b", "-a", "a-", "a..b", "a_b", "x" * 64, "a.b-.c", "é"])
def test_hostnames_must_be_rfc_1123(engine_root, image, hostname):
    with pytest.raises(TuikerError, match="^invalid hostname format: "):
        Engine(engine_root).containers.create(RunOptions(image=image, command=["true"], hostname=hostname))
    assert _containers_dir(engine_root) == []


@pytest.mark.parametrize("hostname", ["web", "web-1", "a.b.c", "x" * 63, "1box"])
def test_rfc_1123_hostnames_are_kept(engine_root, image, hostname):
    c = Engine(engine_root).containers.create(RunOptions(image=image, command=["true"], hostname=hostname))
    assert c.config["Config"]["Hostname"] == hostname
    assert (c.dir / "hostname").read_text() == hostname + "\n"


@pytest.mark.parametrize("name", ["a\nb", "a/b", "..", "-x", "a b", "x" * 254])
def test_network_names_follow_the_same_rule(engine_root, name):
    with pytest.raises(TuikerError, match="invalid network name"):
        Engine(engine_root).networks.create(name)
    # NetworkStore.create (what the monitor calls) checks again.
    with pytest.raises(TuikerError, match="invalid network name"):
        NetworkStore(engine_root).create(name)
    assert [n.name for n in NetworkStore(engine_root).list()] == []


@pytest.mark.parametrize("alias", INJECTIONS + ["", "a/b", "x" * 254])
def test_aliases_are_names_too(engine_root, image, alias):
    engine = Engine(engine_root)
    NetworkStore(engine_root).create("app")  # the definition is enough: create() only checks it exists
    with pytest.raises(TuikerError, match="invalid network alias"):
        engine.containers.create(RunOptions(image=image, command=["true"], network="app", network_aliases=[alias]))
    assert _containers_dir(engine_root) == []
    c = engine.containers.create(RunOptions(image=image, command=["true"], network="app"))
    with pytest.raises(TuikerError, match="invalid network alias"):
        engine.networks.connect("app", c.id, [alias])


def test_a_64_character_reference_is_not_a_path(engine_root):
    """Lookup by full ID used the reference as a directory name: 64 characters of `../` led anywhere."""
    fake = engine_root / "elsewhere" / "fake"
    fake.mkdir(parents=True)
    (fake / "config.json").write_text(json.dumps({"Name": "fake", "Config": {}}))
    (fake / "state.json").write_text(json.dumps({"Status": "exited"}))
    store = ContainerStore(engine_root)
    ref = ".." + "/" * (64 - len("..") - len("elsewhere/fake")) + "elsewhere/fake"
    assert len(ref) == 64 and (store.root / ref / "config.json").exists()
    with pytest.raises(NotFoundError):
        store.get(ref)


# -- the attack: a peer's /etc/hosts -----------------------------------------------------------------------

def test_a_name_cannot_write_lines_into_another_containers_hosts_file(engine_root, image):
    """The victim resolves names of its network through /etc/hosts; the attacker's name (or alias) holds
    a newline and a line of their own. On the code before the names were checked, the victim's file got
    `6.6.6.6 victim-db`; now the engine refuses the name and nothing reaches the file."""
    engine = Engine(engine_root)
    engine.networks.create("app")
    victim = engine.containers.create(RunOptions(image=image, command=["sleep", "60"], network="app", name="victim"))
    engine.containers.start(victim.id)
    refused = []
    for opts in ({"name": INJECTIONS[0]}, {"name": "attacker", "network_aliases": [INJECTIONS[0]]}):
        try:
            attacker = engine.containers.create(RunOptions(image=image, command=["sleep", "60"], network="app", **opts))
            engine.containers.start(attacker.id)
        except TuikerError as e:
            refused.append(str(e))
    hosts = _cat_hosts(engine, victim.id)
    assert "6.6.6.6" not in hosts, hosts
    assert len(refused) == 2, refused


def test_the_hosts_file_drops_what_is_not_a_name():
    """Records written before names were checked (or by hand) may still hold anything: the writer keeps
    only plain names, so a bad record costs its own resolution and nothing else."""
    text = hostsfile.render("box", ["10.0.0.2"], [("10.0.0.3", ["x\n6.6.6.6 evil", "good", "a b", "ok-1"]),
                                                   ("10.0.0.4\n6.6.6.6", ["spoof"])])
    assert "6.6.6.6" not in text and "evil" not in text and "spoof" not in text
    assert "10.0.0.3\tgood ok-1\n" in text
    assert hostsfile.render("a\nb", ["10.0.0.2"], []).count("\n") == 2  # no line for a bad own hostname


def test_long_alias_lists_are_split_into_short_lines():
    """musl reads /etc/hosts in 512-byte pieces (fgets into a fixed buffer): a longer line is read as
    several, and a piece that starts with an address would map names the attacker chose. Every line the
    writer makes stays well under that, however many and however long the aliases."""
    aliases = ["a" * 253, "10.9.9.9", "victim", *[f"alias{i}" for i in range(200)]]
    text = hostsfile.render("box", ["10.0.0.2"], [("10.0.0.3", aliases)])
    lines = text.splitlines()
    assert max(len(line) for line in lines) < 511  # what musl's fgets reads as one line, newline included
    assert all(line.split("\t")[0] in ("127.0.0.1", "::1", "10.0.0.2", "10.0.0.3") for line in lines)
    named = {n for line in lines if line.startswith("10.0.0.3\t") for n in line.split("\t")[1].split(" ")}
    assert named == set(aliases)


def test_names_module_agrees_with_the_hosts_writer():
    for good in GOOD_NAMES:
        names.check_container_name(good)
    for bad in BAD_NAMES:
        with pytest.raises(TuikerError):
            names.check_container_name(bad)


# -- the CLI ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--name", "a\nb"], ["--name", "../x"], ["-h", "a\nb"],
                                  ["--network-alias", "x\n6.6.6.6 y", "--network", "app"]])
def test_the_cli_prints_one_line(engine_root, image, tuiker, args):
    NetworkStore(engine_root).create("app")
    r = tuiker("create", *args, image, "true")
    assert r.returncode != 0
    line = one_line_error(r)
    assert "\\n" in line or "../x" in line
    assert _containers_dir(engine_root) == []


def test_the_cli_rename_and_network_create(engine_root, image, tuiker):
    cid = ok(tuiker("create", "--name", "first", image, "true")).strip()
    assert "Invalid container name" in one_line_error(tuiker("rename", cid, "a\n6.6.6.6 b"))
    assert "invalid network name" in one_line_error(tuiker("network", "create", "a\nb"))


# -- image references ------------------------------------------------------------------------------------

@pytest.mark.parametrize("ref", ["alpine\n:latest", "127.0.0.1:5000\n/x/y:1", "x/y\n@sha256:" + "a" * 64,
                                 "alpine:l\u00e4test"])
def test_a_reference_holding_a_newline_is_not_a_name(engine_root, image, tuiker, ref):
    """The reference patterns ended in `$`, which also matches before a trailing newline: `alpine\\n:latest`
    became a tag (in tags.json, in `images`, and in archives' RepoTags on load). fullmatch now."""
    r = tuiker("tag", image, ref)
    assert r.returncode != 0
    assert "invalid reference format" in one_line_error(r)
    assert all(t.isprintable() for t in Store(engine_root).tags())
