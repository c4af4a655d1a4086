"""GET /events through docker's own clients: docker-py's client.events() and Debian's docker CLI `docker events`,
over what the engine did meanwhile (engine calls in this process and tuiker CLI processes; the monitor's die)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time

from conftest import ok, wait_for

from tests.apiserver import DOCKER_CLI
from tuiker.engine import RunOptions


def _lifecycle(engine, tuiker) -> tuple[str, float, float]:
    """A container's life, a volume and a network; (container ID, a time before, a time after)."""
    t0 = time.time()
    c = engine.containers.create(RunOptions(image="busybox", command=["sh", "-c", "exit 7"], name="apiev",
                                            labels={"app": "web"}))
    engine.containers.start(c.id)
    assert engine.containers.wait(c.id) == 7
    engine.containers.remove(c.id)
    ok(tuiker("volume", "create", "apivol"))
    ok(tuiker("network", "create", "apinet"))
    ok(tuiker("network", "rm", "apinet"))
    time.sleep(0.05)
    return c.id, t0, time.time()


def test_docker_py_past_events_filtered(api, client, engine, tuiker):
    cid, t0, t1 = _lifecycle(engine, tuiker)
    found = list(client.events(since=t0, until=t1, decode=True))
    container = [e for e in found if e["Type"] == "container"]
    assert [e["Action"] for e in container] == ["create", "start", "die", "destroy"]
    die = container[2]
    assert die["status"] == "die" and die["id"] == cid and die["from"] == "busybox"
    assert die["Actor"]["Attributes"]["exitCode"] == "7"
    assert die["Actor"]["Attributes"]["name"] == "apiev" and die["Actor"]["Attributes"]["app"] == "web"
    assert [(e["Type"], e["Action"], e["Actor"]["Attributes"].get("name")) for e in found if e["Type"] != "container"] \
        == [("network", "connect", "bridge"), ("network", "disconnect", "bridge"), ("volume", "create", None),
            ("network", "create", "apinet"), ("network", "destroy", "apinet")]
    assert all(e["scope"] == "local" and t0 <= e["timeNano"] / 1e9 <= t1 for e in found)
    # filters as docker's: event, container (by name), label, type; several keys all apply
    assert [e["Action"] for e in client.events(since=t0, until=t1, decode=True,
                                               filters={"event": ["die", "destroy"], "container": "apiev"})] == \
        ["die", "destroy"]
    assert [e["Actor"]["ID"] for e in client.events(since=t0, until=t1, decode=True, filters={"type": "volume"})] \
        == ["apivol"]
    assert len(list(client.events(since=t0, until=t1, decode=True, filters={"label": "app=web"}))) == 4
    # docker-py's events() swallows an error status (APIError is an OSError, which its stream takes for the end):
    # the refusals, through its session
    url = client.api.base_url + "/v1.44/events"
    reply = client.api.get(url, params={"since": t0, "until": t1, "filters": json.dumps({"colour": ["red"]})})
    assert reply.status_code == 400 and reply.json() == {"message": "invalid filter 'colour'"}
    reply = client.api.get(url, params={"since": t1, "until": t0})
    assert reply.status_code == 400 and "cannot be after" in reply.json()["message"]

def test_docker_py_follow_then_close_ends_the_handler(api, client, engine):
    """A stream without until goes on with new events; when the client closes it, the service's thread ends."""
    tasks = f"/proc/{api.proc.pid}/task"
    before = len(os.listdir(tasks))
    stream = client.events(decode=True, filters={"type": "volume"})
    got: list[dict] = []

    def read() -> None:
        for event in stream:
            got.append(event)
            if len(got) == 2:
                return

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    engine.volumes.create("follow1")
    engine.volumes.create("follow2")
    reader.join(20)
    assert not reader.is_alive()
    assert [e["Actor"]["ID"] for e in got] == ["follow1", "follow2"]
    stream.close()
    wait_for(lambda: len(os.listdir(tasks)) <= before, 10, "the events handler's thread to end")


def test_debian_docker_cli_events(api, engine, tuiker):
    cid, t0, t1 = _lifecycle(engine, tuiker)
    run = api.docker("events", "--since", f"{t0:.9f}", "--until", f"{t1:.9f}", "--filter", "type=container",
                     "--filter", "event=die", "--format", "{{json .}}")
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(lines) == 1 and lines[0]["Actor"]["ID"] == cid and lines[0]["Actor"]["Attributes"]["exitCode"] == "7"
    # docker's default text line, and a relative --since (the CLI turns it into unix seconds)
    run = api.docker("events", "--since", "5m", "--until", f"{t1:.9f}", "--filter", "volume=apivol")
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) volume create apivol "
                        r"\(driver=local\)\n", run.stdout), run.stdout
    # the tuiker CLI prints the same line for the same event
    assert ok(tuiker("events", "--since", "5m", "--until", f"{t1:.9f}", "--filter", "volume=apivol")) == run.stdout
    # a refusal, as the CLI reports docker's
    run = api.docker("events", "--filter", "colour=red")
    assert run.returncode == 1 and run.stderr.strip() == "Error response from daemon: invalid filter 'colour'"
    # a follow that a future --until ends
    proc = subprocess.Popen([DOCKER_CLI, "events", "--until", f"{time.time() + 3:.9f}", "--filter", "type=network",
                             "--format", "{{.Action}} {{.Actor.Attributes.name}}"],
                            env=api.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    ok(tuiker("network", "create", "latenet"))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == "create latenet"
    ok(tuiker("network", "rm", "latenet"))
