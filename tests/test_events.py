"""The engine's event journal (runtime/events.py) and Engine.events(): events written by the processes that change
state (the CLI's, the monitor's, this test's), read back with docker's since/until/filters, following as they
come; the journal's bound and its safety with many writers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest
from conftest import REPO_ROOT, ok, wait_for

from tuiker.engine import InvalidArgument
from tuiker.runtime import events as journal


def past(engine, since: float, **filters: list[str]) -> list[dict]:
    """The events from `since` until now, as a client asking for past events gets them."""
    return list(engine.events(since=since, until=time.time(), filters=filters or None))


def actions(found: list[dict]) -> list[str]:
    return [e["Action"] for e in found]


def test_container_lifecycle_from_cli_processes(engine, tuiker):
    t0 = time.time()
    cid = ok(tuiker("run", "-d", "--name", "ev1", "--label", "team=blue", "busybox", "sleep", "60")).strip()
    ok(tuiker("pause", "ev1"))
    ok(tuiker("unpause", "ev1"))
    assert tuiker("exec", "ev1", "sh", "-c", "exit 4").returncode == 4
    ok(tuiker("stop", "-t", "1", "ev1"))
    ok(tuiker("rename", "ev1", "ev2"))
    ok(tuiker("rm", "ev2"))
    found = past(engine, t0, type=["container"])
    assert all(e["Actor"]["ID"] == cid and e["id"] == cid and e["status"] == e["Action"] for e in found)
    seq = actions(found)
    expected = ["create", "start", "pause", "unpause", "exec_create: sh -c exit 4", "exec_start: sh -c exit 4",
                "exec_die", "kill", "die", "stop", "rename", "destroy"]
    it = iter(seq)
    assert all(a in it for a in expected), seq  # in this order (a SIGKILL after the timeout may add a kill)
    by_action: dict[str, dict] = {}
    for e in found:
        by_action.setdefault(e["Action"], e)  # the first of each
    attrs = by_action["create"]["Actor"]["Attributes"]
    assert attrs == {"team": "blue", "image": "busybox", "name": "ev1"}
    assert by_action["create"]["from"] == "busybox" and by_action["create"]["scope"] == "local"
    assert by_action["kill"]["Actor"]["Attributes"]["signal"] == "15"
    assert by_action["exec_die"]["Actor"]["Attributes"]["exitCode"] == "4"
    assert by_action["exec_die"]["Actor"]["Attributes"]["execID"] == \
        by_action["exec_create: sh -c exit 4"]["Actor"]["Attributes"]["execID"]
    die = by_action["die"]["Actor"]["Attributes"]
    assert die["exitCode"] in ("143", "137") and die["name"] == "ev1"
    assert by_action["rename"]["Actor"]["Attributes"]["oldName"] == "/ev1"
    assert by_action["rename"]["Actor"]["Attributes"]["name"] == "ev2"
    assert by_action["destroy"]["Actor"]["Attributes"]["name"] == "ev2"
    nets = [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in past(engine, t0, type=["network"])
            if e["Actor"]["Attributes"].get("container") == cid]
    assert nets == [("connect", "bridge"), ("disconnect", "bridge")]  # at its start and its exit, from the monitor
    stamps = [e["timeNano"] for e in found]
    assert stamps == sorted(stamps) and all(e["time"] == e["timeNano"] // 10**9 for e in found)


def test_die_with_exit_code_from_the_monitor(engine):
    """A container that exits by itself: only the monitor sees it, and its die event says how."""
    from tuiker.engine import RunOptions

    t0 = time.time()
    stream = engine.events(since=t0, until=t0 + 30, filters={"event": ["die"]})
    c = engine.containers.create(RunOptions(image="busybox", command=["sh", "-c", "sleep 0.3; exit 3"], name="quits"))
    engine.containers.start(c.id)
    event = next(stream)
    stream.close()
    assert event["Action"] == "die" and event["Actor"]["ID"] == c.id
    assert event["Actor"]["Attributes"]["exitCode"] == "3"
    assert event["Actor"]["Attributes"]["name"] == "quits"
    assert engine.containers.inspect(c.id)["State"]["ExitCode"] == 3
    engine.containers.remove(c.id)


def test_restart_policy_and_health_events(engine, tuiker):
    t0 = time.time()
    cid = ok(tuiker("run", "-d", "--health-cmd", "true", "--health-interval", "100ms", "busybox",
                    "sleep", "60")).strip()
    wait_for(lambda: any(a == "health_status: healthy" for a in actions(past(engine, t0))), 20, "healthy")
    ok(tuiker("restart", "-t", "0", cid))
    ok(tuiker("rm", "-f", cid))
    seq = actions(past(engine, t0, container=[cid[:12]]))
    assert seq.count("health_status: healthy") >= 1
    it = iter(seq)
    assert all(a in it for a in ["create", "start", "kill", "die", "stop", "start", "restart", "kill", "die",
                                 "destroy"]), seq
    # docker's fuzzy event filter: `health_status` matches `health_status: healthy`
    assert actions(past(engine, t0, event=["health_status"]))[0] == "health_status: healthy"


def test_image_network_and_volume_events(engine, tuiker):
    t0 = time.time()
    ok(tuiker("tag", "busybox", "other:v1"))
    image_id = engine.images.get("busybox").id
    ok(tuiker("rmi", "other:v1"))
    ok(tuiker("network", "create", "evnet"))
    cid = ok(tuiker("create", "-v", "evvol:/data", "busybox", "true")).strip()
    ok(tuiker("network", "connect", "evnet", cid))
    ok(tuiker("network", "disconnect", "evnet", cid))
    ok(tuiker("start", "-a", cid))
    ok(tuiker("rm", cid))
    ok(tuiker("volume", "rm", "evvol"))
    ok(tuiker("network", "rm", "evnet"))
    found = past(engine, t0)
    images = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]["name"]) for e in found if e["Type"] == "image"]
    assert images == [("tag", image_id, "other:v1"), ("untag", image_id, image_id)]
    net_id = next(e["Actor"]["ID"] for e in found if e["Type"] == "network")
    nets = [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"].get("container")) for e in found
            if e["Type"] == "network" and e["Actor"]["Attributes"]["name"] == "evnet"]
    assert nets == [("create", net_id, None), ("connect", net_id, cid), ("disconnect", net_id, cid),
                    ("destroy", net_id, None)]
    vols = [(e["Action"], e["Actor"]["Attributes"].get("container")) for e in found if e["Type"] == "volume"]
    assert vols == [("create", None), ("mount", cid), ("unmount", cid), ("destroy", None)]
    # filters, as docker's: by name or ID prefix, by image (tag stripped), by type
    assert actions(past(engine, t0, network=["evnet"])) == ["create", "connect", "disconnect", "destroy"]
    assert actions(past(engine, t0, network=[net_id[:6]], event=["connect"])) == ["connect"]
    assert actions(past(engine, t0, image=["other"])) == ["tag"]
    assert actions(past(engine, t0, image=["busybox"], type=["container"])) == ["create", "attach", "start", "die",
                                                                                "destroy"]
    assert {e["Type"] for e in past(engine, t0, type=["volume", "network"])} == {"volume", "network"}
    assert past(engine, t0, container=["nothing-like-it"]) == []


def test_since_until_and_bad_arguments(engine):
    t0 = time.time()
    engine.volumes.create("one")
    time.sleep(0.05)
    t1 = time.time()
    time.sleep(0.05)
    engine.volumes.create("two")
    t2 = time.time()
    def names(**kw) -> list[str]:
        return [e["Actor"]["ID"] for e in engine.events(follow=False, **kw)]

    assert names(since=t0) == ["one", "two"]
    assert names(since=t1) == ["two"]
    assert names(since=t0, until=t1) == ["one"]
    assert names(until=t1)[-1] == "one"  # docker: an until alone reads from the journal's start
    assert actions(list(engine.events(until=t1)))[:2] == ["pull", "tag"]  # the fixture's
    assert names(since=str(t1)) == ["two"]  # docker's unix-seconds text
    assert names(since="10m", until=f"{t2:.9f}")[-2:] == ["one", "two"]  # a Go duration counts back from now
    assert list(engine.events(since=t2, until=time.time())) == []
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        engine.events(filters={"colour": ["red"]})
    with pytest.raises(InvalidArgument, match="cannot be after"):
        engine.events(since=t2, until=t1)
    with pytest.raises(InvalidArgument, match="failed to parse value as time or duration"):
        engine.events(since="yesterday")
    # a future until ends the stream when it passes
    begun = time.monotonic()
    assert next(engine.events(since=time.time(), until=time.time() + 1.0), None) is None
    assert 0.9 < time.monotonic() - begun < 5
    follow = engine.events(since=time.time(), until=time.time() + 20, filters={"volume": ["three"]})
    threading.Timer(0.3, engine.volumes.create, ("three",)).start()
    assert next(follow)["Actor"]["ID"] == "three"
    follow.close()


def test_follow_sees_other_processes_and_alive_ends_it(engine, tuiker):
    stop = threading.Event()
    seen: list[dict] = []

    def follow() -> None:
        for event in engine.events(alive=lambda: not stop.is_set()):
            seen.append(event)

    t = threading.Thread(target=follow)
    t.start()
    time.sleep(0.3)
    ok(tuiker("volume", "create", "from-cli"))
    wait_for(lambda: any(e["Actor"]["ID"] == "from-cli" for e in seen), 10, "the CLI's event")
    assert actions(seen) == ["create"]  # without since (or until), nothing from before is replayed
    stop.set()
    t.join(5)
    assert not t.is_alive()


def test_a_journal_that_cannot_be_written_never_fails_the_operation(engine, engine_root, tuiker):
    shutil.rmtree(engine_root / "events", ignore_errors=True)
    (engine_root / "events").write_text("not a directory")
    ok(tuiker("volume", "create", "still-made"))
    assert engine.volumes.get("still-made")["Name"] == "still-made"
    assert list(engine.events(since=0, until=time.time())) == []


def test_hostile_names_and_labels_stay_one_line(engine, engine_root):
    labels = {"evil\n{\"Type\":\"forged\"}": "a\nb\"c", "big": "x" * 100_000}
    shutil.rmtree(engine_root / "events")  # the fixture's pull and tag
    journal.emit(engine_root, "network", "create", "n1", {"name": "line\nbreak\u2028", **labels})
    lines = (engine_root / "events" / "events.log").read_bytes().splitlines()
    assert len(lines) == 1 and len(lines[0]) < journal.MAX_LINE
    event = json.loads(lines[0])
    assert event["Type"] == "network" and event["Actor"]["Attributes"]["name"] == "line\nbreak\u2028"
    assert "big" not in event["Actor"]["Attributes"]  # cut to fit: the core attributes stay
    wide = {k: "\U0001F600" * 1000 for k in ("name", "image", "exitCode", "signal", "container", "type")}
    journal.emit(engine_root, "container", "exec_create: " + "\U0001F600" * 5000, "c" * 300, wide)
    last = (engine_root / "events" / "events.log").read_bytes().splitlines()[-1]
    assert len(last) < journal.MAX_LINE and json.loads(last)["Actor"]["ID"] == "c" * 256


def test_rotation_bounds_the_journal(engine_root, monkeypatch):
    monkeypatch.setattr(journal, "MAX_BYTES", 20_000)
    t0 = time.time()
    for i in range(2000):
        journal.emit(engine_root, "volume", "create", f"v{i}", {"driver": "local"})
    files = sorted(os.listdir(engine_root / "events"))
    assert files == ["events.log", "events.log.1", "lock"]
    sizes = [os.path.getsize(engine_root / "events" / f) for f in files[:2]]
    assert all(s <= 20_000 + journal.MAX_LINE for s in sizes), sizes
    kept = [e["Actor"]["ID"] for e in journal.stream(engine_root, since=t0, follow=False)]
    # The newest survive, in order, without a gap: the journal keeps its last ~two files' worth.
    assert kept[-1] == "v1999" and 100 < len(kept) < 2000
    assert kept == [f"v{i}" for i in range(2000 - len(kept), 2000)]


WRITER = """
import sys
from tuiker.runtime import events
root, who, count, max_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
events.MAX_BYTES = max_bytes
for i in range(count):
    events.emit(root, "container", "create", who, {"seq": i, "pad": who * 1500})
"""


@pytest.mark.parametrize("max_bytes", [1 << 30, 200_000], ids=["one-file", "rotating"])
def test_concurrent_writers_never_interleave(engine_root, max_bytes):
    """Four processes appending ~6 KB lines at once: every line whole, each writer's in its order; while
    rotating, the journal stays bounded and what it keeps is still whole lines."""
    count = 400
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(engine_root), w, str(count), str(max_bytes)],
                              env=env) for w in "abcd"]
    assert [p.wait(120) for p in procs] == [0, 0, 0, 0]
    directory = engine_root / "events"
    names = ["events.log.1", "events.log"] if max_bytes < 1 << 30 else ["events.log"]
    data = b"".join((directory / n).read_bytes() for n in names if (directory / n).exists())
    lines = data.split(b"\n")
    assert lines[-1] == b""
    parsed = [json.loads(line) for line in lines[:-1]]  # any interleaving would break a line's JSON
    by_writer: dict[str, list[int]] = {}
    for e in parsed:
        attrs = e["Actor"]["Attributes"]
        assert attrs["pad"] == e["Actor"]["ID"] * 1500
        by_writer.setdefault(e["Actor"]["ID"], []).append(int(attrs["seq"]))
    for seqs in by_writer.values():
        assert seqs == sorted(seqs)
    if max_bytes == 1 << 30:
        assert {w: len(s) for w, s in by_writer.items()} == {w: count for w in "abcd"}
    else:
        assert all(os.path.getsize(directory / n) <= max_bytes + journal.MAX_LINE for n in names)


def test_events_cli_text_and_formats(engine, tuiker):
    t0 = time.time()
    ok(tuiker("volume", "create", "clivol"))
    ok(tuiker("network", "create", "--label", "k=v", "clinet"))
    t1 = time.time()
    text = ok(tuiker("events", "--since", f"{t0:.9f}", "--until", f"{t1:.9f}")).splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) volume create clivol "
                        r"\(driver=local\)", text[0]), text
    assert re.fullmatch(r"\S+ network create [0-9a-f]{64} \(k=v, name=clinet, type=bridge\)", text[1]), text
    as_json = ok(tuiker("events", "--since", f"{t0:.9f}", "--until", f"{t1:.9f}", "--filter", "type=network",
                        "--format", "{{json .}}")).splitlines()
    assert len(as_json) == 1 and json.loads(as_json[0])["Actor"]["Attributes"]["name"] == "clinet"
    templ = ok(tuiker("events", "--since", "1m", "--until", f"{t1:.9f}", "--filter", "label=k=v", "--format",
                      "{{.Type}} {{.Action}} {{.Actor.Attributes.name}} {{.Scope}}"))
    assert templ == "network create clinet local\n"
    bad = tuiker("events", "--filter", "colour=red", "--until", "0s")
    assert bad.returncode == 1 and bad.stderr.strip() == "Error: invalid filter 'colour'"
    ok(tuiker("network", "rm", "clinet"))


def test_oom_then_die(engine, tuiker):
    """A container over its memory limit: the kernel's OOM kill, seen by the monitor, is told before its die."""
    t0 = time.time()
    cid = ok(tuiker("run", "-d", "-m", "8m", "--memory-swap", "8m", "busybox", "tail", "/dev/zero")).strip()
    found = wait_for(lambda: (f := past(engine, t0, container=[cid], event=["oom", "die"])) and
                     f[-1]["Action"] == "die" and f, 30, "the die")
    assert actions(found) == ["oom", "die"] and found[1]["Actor"]["Attributes"]["exitCode"] == "137"
    ok(tuiker("rm", cid))


def test_copy_and_export_events(engine, tuiker, tmp_path):
    t0 = time.time()
    cid = ok(tuiker("create", "busybox", "true")).strip()
    (tmp_path / "f").write_text("x")
    ok(tuiker("cp", str(tmp_path / "f"), f"{cid}:/f"))
    ok(tuiker("cp", f"{cid}:/f", str(tmp_path / "back")))
    ok(tuiker("export", "-o", str(tmp_path / "fs.tar"), cid))
    ok(tuiker("rm", cid))
    assert actions(past(engine, t0, container=[cid])) == ["create", "extract-to-dir", "archive-path", "export",
                                                          "destroy"]


def test_build_tells_of_its_tag(engine, tuiker, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nLABEL built=yes\n")
    t0 = time.time()
    ok(tuiker("build", "-q", "-t", "evbuilt:v2", str(tmp_path)))
    image_id = engine.images.get("evbuilt:v2").id
    tags = [(e["Actor"]["ID"], e["Actor"]["Attributes"]["name"]) for e in past(engine, t0, type=["image"])]
    assert tags == [(image_id, "evbuilt:v2")]


def test_a_death_found_by_the_next_monitor_is_told(engine, tuiker):
    """The monitor and the container both die unseen (a host's crash in small): the next monitor finds it dead,
    and tells of its die (exit code 255, as its state says)."""
    import signal

    t0 = time.time()
    cid = ok(tuiker("run", "-d", "busybox", "sleep", "60")).strip()
    monitor_pid = engine.containers.monitor.request({"op": "ping"})[0]["pid"]
    pid = engine.containers.get(cid).pid
    os.kill(monitor_pid, signal.SIGKILL)
    wait_for(lambda: not engine.containers.monitor.alive(), 10, "the monitor's end")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{pid}/cmdline") or not open(f"/proc/{pid}/cmdline").read(), 10,
             "the container's end")
    ok(tuiker("ps"))  # starts a monitor, which reconciles
    found = past(engine, t0, container=[cid], event=["die"])
    assert [e["Actor"]["Attributes"]["exitCode"] for e in found] == ["255"]
    ok(tuiker("rm", cid))
