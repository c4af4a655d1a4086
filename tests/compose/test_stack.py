"""`tuiker compose` against the real kernel: a three-service stack (web, api, db) from the busybox image, up in
dependency order, its containers named and labelled as compose v2 names and labels them, `up` again changing
nothing, a changed service recreated alone, logs, exec, run, stop/start, down."""

from __future__ import annotations

import json

import pytest
from conftest import ok, wait_for

from tuiker.engine import Engine

STACK = """
services:
  db:
    image: busybox
    command: ["sh", "-c", "echo db ready; exec sleep 300"]
    stop_grace_period: 0s
    environment:
      ROLE: ${DB_ROLE:-database}
    labels: [tier=data]
  api:
    image: busybox
    command: sh -c 'echo api up; exec sleep 300'
    stop_grace_period: 0s
    environment: [ROLE=api, DB=db]
    depends_on: [db]
    networks:
      default:
      back:
        aliases: [backend]
  web:
    image: busybox
    command: sh -c 'echo web up; exec sleep 300'
    depends_on:
      api: {condition: service_started}
    ports: ["127.0.0.1::80"]
    stop_grace_period: 0s
networks:
  back: {}
"""


@pytest.fixture
def project(tmp_path, engine):
    """The stack's folder (named `Stack_One`: the project is `stack_one`) and a runner of compose in it."""
    folder = tmp_path / "Stack_One"
    folder.mkdir()
    (folder / "compose.yaml").write_text(STACK)

    def compose(*args: str, check: bool = True):
        from conftest import run_tuiker

        r = run_tuiker("compose", "--project-directory", str(folder), "-f", str(folder / "compose.yaml"), *args)
        if check:
            ok(r)
        return r
    compose.folder = folder
    compose.engine = engine
    yield compose
    compose("down", "-t", "0", check=False)


def labels(engine: Engine, name: str) -> dict:
    return engine.containers.get(name).config["Config"]["Labels"]


def test_up_names_labels_and_orders_the_stack(project):
    r = project("up", "-d")
    lines = r.stderr.splitlines()
    assert " Network stack_one_default  Created" in lines and " Network stack_one_back  Created" in lines
    started = [line.split()[1] for line in lines if line.endswith("  Started")]
    assert started == ["stack_one-db-1", "stack_one-api-1", "stack_one-web-1"]  # dependencies first
    e = project.engine
    lab = labels(e, "stack_one-api-1")
    assert lab["com.docker.compose.project"] == "stack_one" and lab["com.docker.compose.service"] == "api"
    assert lab["com.docker.compose.container-number"] == "1" and lab["com.docker.compose.oneoff"] == "False"
    assert lab["com.docker.compose.project.working_dir"] == str(project.folder)
    assert lab["com.docker.compose.project.config_files"] == str(project.folder / "compose.yaml")
    assert len(lab["com.docker.compose.config-hash"]) == 64
    assert labels(e, "stack_one-db-1")["tier"] == "data"
    assert "ROLE=database" in e.containers.get("stack_one-db-1").config["Config"]["Env"]
    # api is on both networks, as `api` on each and `backend` on back; web finds it by name
    api = e.containers.get("stack_one-api-1").config["NetworkingConfig"]["EndpointsConfig"]
    assert api["stack_one_default"]["Aliases"] == ["api"]
    assert api["stack_one_back"]["Aliases"] == ["api", "backend"]
    hosts = ok(project("exec", "-T", "web", "cat", "/etc/hosts"))
    assert " api" in hosts or "\tapi" in hosts, hosts
    assert ok(project("exec", "-T", "web", "ping", "-c", "1", "-W", "3", "db")).count("1 packets received") == 1
    # ps: compose's columns, the published port
    out = ok(project("ps"))
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    assert [r.split()[0] for r in rows] == ["stack_one-db-1", "stack_one-api-1", "stack_one-web-1"]
    assert "127.0.0.1:" in rows[2] and "->80/tcp" in rows[2]
    assert ok(project("ps", "--services")).split() == ["db", "api", "web"]
    assert json.loads(ok(project("ps", "--format", "json")).splitlines()[0])["Service"] == "db"
    # logs: prefixed as compose prefixes them, the names padded to the longest
    logs = wait_for(lambda: (out := ok(project("logs", "db", "api"))) and "api up" in out and out, 10, "logs")
    assert "db-1   | db ready\n" in logs and "api-1  | api up\n" in logs


def test_up_again_recreates_nothing_and_a_changed_service_only_that_one(project):
    project("up", "-d")
    e = project.engine
    before = {c.name: c.id for c in e.containers.list()}
    r = project("up", "-d")
    assert sorted(line for line in r.stderr.splitlines() if "Running" in line) == [
        f" Container stack_one-{s}-1  Running" for s in ("api", "db", "web")]
    assert {c.name: c.id for c in e.containers.list()} == before
    (project.folder / "compose.yaml").write_text(STACK.replace("ROLE=api", "ROLE=api2"))
    r = project("up", "-d")
    assert " Container stack_one-api-1  Recreated" in r.stderr.splitlines()
    after = {c.name: c.id for c in e.containers.list()}
    assert after["stack_one-api-1"] != before["stack_one-api-1"]
    assert after["stack_one-db-1"] == before["stack_one-db-1"] and after["stack_one-web-1"] == before["stack_one-web-1"]
    assert "ROLE=api2" in e.containers.get("stack_one-api-1").config["Config"]["Env"]
    r = project("up", "-d", "--force-recreate", "db", "--no-deps")
    assert " Container stack_one-db-1  Recreated" in r.stderr.splitlines()
    assert e.containers.get("stack_one-api-1").id == after["stack_one-api-1"]


def test_stop_start_run_and_down(project):
    project("up", "-d")
    e = project.engine
    r = project("stop", "-t", "0")
    stopped = [line.split()[1] for line in r.stderr.splitlines() if line.endswith("Stopped")]
    assert stopped == ["stack_one-web-1", "stack_one-api-1", "stack_one-db-1"]  # the reverse order
    assert ok(project("ps")).strip().count("\n") == 0  # the header only
    assert len(ok(project("ps", "-a", "-q")).split()) == 3
    project("start")
    assert {c.name for c in e.containers.list()} == {"stack_one-db-1", "stack_one-api-1", "stack_one-web-1"}
    # run: a one-off container of the service, its output, its exit code, gone with --rm
    r = project("run", "--rm", "-T", "api", "sh", "-c", "echo $ROLE; exit 3", check=False)
    assert r.returncode == 3 and r.stdout == "api\n", r
    assert not [c for c in e.containers.list(all=True) if "-run-" in c.name]
    r = project("down", "-t", "0")
    assert " Network stack_one_back  Removed" in r.stderr.splitlines()
    assert e.containers.list(all=True) == []
    assert not [n for n in e.networks.list() if n["Name"].startswith("stack_one")]


def test_orphans_are_reported_and_removed_on_request(project):
    project("up", "-d")
    (project.folder / "compose.yaml").write_text(STACK.replace("  web:\n", "  www:\n"))
    r = project("up", "-d")
    assert "Found orphan containers (stack_one-web-1)" in r.stderr
    assert project.engine.containers.get("stack_one-web-1")
    project("up", "-d", "--remove-orphans", "-t", "0")
    assert "stack_one-web-1" not in {c.name for c in project.engine.containers.list(all=True)}


def test_completed_successfully_waits_for_the_exit(project):
    (project.folder / "compose.yaml").write_text("""
services:
  migrate:
    image: busybox
    command: sh -c 'sleep 0.5; echo done > /dev/null'
  app:
    image: busybox
    command: sleep 300
    depends_on:
      migrate: {condition: service_completed_successfully}
  bad:
    image: busybox
    command: sh -c 'exit 4'
    profiles: [broken]
  after_bad:
    image: busybox
    command: sleep 300
    profiles: [broken]
    depends_on:
      bad: {condition: service_completed_successfully}
""")
    r = project("up", "-d")
    assert r.stderr.index("stack_one-migrate-1  Exited") < r.stderr.index("stack_one-app-1  Started")
    assert project.engine.containers.get("stack_one-migrate-1").state["ExitCode"] == 0
    r = project("--profile", "broken", "up", "-d", check=False)
    assert r.returncode == 1
    assert one_line_error_in(r.stderr) == 'Error: service "bad" didn\'t complete successfully: exit 4'


def one_line_error_in(stderr: str) -> str:
    return [line for line in stderr.splitlines() if line.startswith("Error")][0]


def test_up_attached_prints_prefixed_output_until_all_exit(project):
    (project.folder / "compose.yaml").write_text("""
services:
  one:
    image: busybox
    command: sh -c 'echo from one; exit 2'
  second:
    image: busybox
    command: ["echo", "from second"]
""")
    r = project("up")
    lines = r.stdout.splitlines()
    assert lines[0] == "Attaching to one-1, second-1"
    assert "one-1     | from one" in lines and "second-1  | from second" in lines
    assert "one-1 exited with code 2" in lines and "second-1 exited with code 0" in lines


def test_scale_up_and_down_and_down_by_project_name_alone(project):
    text = ("services:\n  worker:\n    image: busybox\n    command: sleep 300\n    stop_grace_period: 0s\n"
            "    scale: {}\n")
    (project.folder / "compose.yaml").write_text(text.format(3))
    project("up", "-d")
    e = project.engine
    assert sorted(c.name for c in e.containers.list()) == [f"stack_one-worker-{n}" for n in (1, 2, 3)]
    (project.folder / "compose.yaml").write_text(text.format(1).replace("scale: 1", "deploy: {replicas: 1}"))
    r = project("up", "-d")
    assert " Container stack_one-worker-1  Running" in r.stderr.splitlines()  # the scale is not in the hash
    assert [c.name for c in e.containers.list(all=True)] == ["stack_one-worker-1"]
    r = _in(project.folder.parent, "compose", "-p", "stack_one", "down", "-t", "0")  # no compose file there
    assert r.returncode == 0, r.stderr
    assert e.containers.list(all=True) == []


def test_config_warnings_and_refusals_through_the_cli(project):
    (project.folder / "compose.yaml").write_text("version: '3.8'\nservices:\n  a:\n    image: ${NOPE}busybox\n")
    r = project("config")
    assert "image: busybox" in r.stdout
    assert 'WARN[0000] The "NOPE" variable is not set. Defaulting to a blank string.' in r.stderr
    assert "the attribute `version` is obsolete" in r.stderr
    assert ok(project("config", "--services")) == "a\n"
    (project.folder / "compose.yaml").write_text("services:\n  a:\n    image: busybox\n    logging: {driver: x}\n")
    r = project("up", "-d", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: services.a.logging is not supported by tuiker"
    (project.folder / "compose.yaml").write_text("services:\n  a:\n    build: {context: ., ssh: [default]}\n")
    r = project("up", "-d", check=False)
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: services.a.build.ssh is not supported by tuiker"
    assert project.engine.containers.list(all=True) == []


def _in(folder, *args):
    import os
    import subprocess
    import sys

    from conftest import REPO_ROOT

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "tuiker", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120)
