"""Reading compose files as the compose-spec says: interpolation and .env, the project's name, -f merges,
profiles, the normalised services, and a one-line error naming every key tuiker does not implement."""

from __future__ import annotations

import pytest

from tuiker.compose import ComposeError, load
from tuiker.compose.interpolate import interpolate, parse_env_file
from tuiker.compose.loader import normalize_project_name
from tuiker.compose.project import parse_duration
from tuiker.engine import RunOptions

# The volumes and health parts of issue 12 add these RunOptions in their own branches (the shared contract).
NEEDS_VOLUMES_AND_HEALTH = pytest.mark.skipif(
    not {"volumes", "mounts", "tmpfs", "healthcheck", "no_healthcheck"} <= set(RunOptions.__annotations__),
    reason="needs RunOptions.volumes/mounts/tmpfs/healthcheck/no_healthcheck (volumes and health branches)")

ENV = {"SET": "v", "EMPTY": ""}


@pytest.mark.parametrize("text, expected", [
    ("$SET ${SET}", "v v"), ("${UNSET}", ""), ("$$SET $${SET}", "$SET ${SET}"),
    ("${UNSET:-d} ${EMPTY:-d} ${SET:-d}", "d d v"), ("${UNSET-d} ${EMPTY-d}", "d "),
    ("${SET:+r} ${EMPTY:+r} ${EMPTY+r} ${UNSET+r}", "r  r "), ("${UNSET:-${SET}x}", "vx"),
    ("a$SET.b", "av.b"),
])
def test_interpolation(text, expected):
    assert interpolate(text, ENV, "x") == expected


@pytest.mark.parametrize("text, message", [
    ("${UNSET:?need it}", "error while interpolating services.web.image: required variable UNSET is missing a value:"
                          " need it"),
    ("${EMPTY:?}", "required variable EMPTY is missing a value"),
    ("${UNSET?gone}", "required variable UNSET is missing a value: gone"),
    ("${SET", "invalid interpolation format for services.web.image"), ("$ x", "invalid interpolation format"),
])
def test_interpolation_errors(text, message):
    with pytest.raises(ComposeError) as e:
        interpolate(text, ENV, "services.web.image")
    assert message in str(e.value)
    assert interpolate("${EMPTY?x}", ENV, "x") == ""  # set, though empty: no error without the colon


def test_env_file_syntax(tmp_path):
    f = tmp_path / ".env"
    f.write_text("# comment\n\nA=1\nexport B = two words \nC='$A literal'\nD=\"x\\ny $A\"\nE=${A}-e # note\nF\n")
    assert parse_env_file(str(f)) == {"A": "1", "B": "two words", "C": "$A literal", "D": "x\ny 1", "E": "1-e",
                                      "F": None}


@pytest.mark.parametrize("folder, name", [("My App", "myapp"), ("__x.Y-z", "xy-z"), ("Stack_One", "stack_one")])
def test_project_name_from_the_folder(folder, name):
    assert normalize_project_name(folder) == name


def write(folder, text, name="compose.yaml"):
    (folder / name).write_text(text)
    return folder


def test_project_name_precedence(tmp_path):
    folder = write(tmp_path / "Dir" if (tmp_path / "Dir").mkdir() is None else None, "services: {a: {image: x}}\n")
    assert load(workdir=str(folder), environ={}).name == "dir"
    write(folder, "name: fromfile\nservices: {a: {image: x}}\n")
    assert load(workdir=str(folder), environ={}).name == "fromfile"
    write(folder, "COMPOSE_PROJECT_NAME=fromdotenv\n", ".env")
    assert load(workdir=str(folder), environ={}).name == "fromdotenv"
    assert load(workdir=str(folder), environ={"COMPOSE_PROJECT_NAME": "fromenv"}).name == "fromenv"
    assert load(project_name="flag", workdir=str(folder), environ={"COMPOSE_PROJECT_NAME": "fromenv"}).name == "flag"
    with pytest.raises(ComposeError, match='invalid project name "Flag"'):
        load(project_name="Flag", workdir=str(folder), environ={})


def test_dotenv_and_environment_interpolate_and_the_environment_wins(tmp_path):
    write(tmp_path, "TAG=1.0\nPORT=8080\n", ".env")
    write(tmp_path, "services:\n  web:\n    image: app:${TAG}\n    ports: ['${PORT}:80']\n"
                    "    environment: [FROM_SHELL, NOT_SET]\n")
    p = load(workdir=str(tmp_path), environ={"PORT": "9090", "FROM_SHELL": "yes"})
    web = p.services["web"]
    assert web["image"] == "app:1.0" and web["ports"][0]["published"] == "9090"
    assert web["environment"] == {"FROM_SHELL": "yes", "NOT_SET": None}
    assert p.run_options("web", 1).env == ["FROM_SHELL=yes"]  # a variable with no value is not set at all


def test_files_merge_in_order_and_the_override_file_is_read(tmp_path):
    write(tmp_path, """
services:
  web:
    image: a
    command: [one]
    environment: {A: "1", B: "1"}
    ports: ["80"]
    volumes: ["./x:/data", "./y:/y"]
    labels: [k=1]
""")
    write(tmp_path, """
services:
  web:
    command: two
    environment: [B=2]
    ports: ["81"]
    volumes: ["./z:/data"]
""", "compose.override.yaml")
    web = load(workdir=str(tmp_path), environ={}).services["web"]
    assert web["command"] == ["two"] and web["environment"] == {"A": "1", "B": "2"}
    assert [p["target"] for p in web["ports"]] == [80, 81]
    assert {v["target"]: v["source"] for v in web["volumes"]} == {"/data": f"{tmp_path}/z", "/y": f"{tmp_path}/y"}
    write(tmp_path, "services:\n  web:\n    image: c\n", "other.yaml")
    p = load(["compose.yaml", "other.yaml"], workdir=str(tmp_path), environ={})  # -f: no override file
    assert p.services["web"]["image"] == "c" and p.services["web"]["command"] == ["one"]
    assert p.config_files == [str(tmp_path / "compose.yaml"), str(tmp_path / "other.yaml")]


def test_profiles_enable_services(tmp_path):
    write(tmp_path, "services:\n  a: {image: x}\n  dbg: {image: x, profiles: [debug]}\n")
    assert list(load(workdir=str(tmp_path), environ={}).services) == ["a"]
    assert list(load(workdir=str(tmp_path), profiles=["debug"], environ={}).services) == ["a", "dbg"]
    assert list(load(workdir=str(tmp_path), environ={"COMPOSE_PROFILES": "debug"}).services) == ["a", "dbg"]


def test_the_run_options_of_a_plain_service(tmp_path):
    write(tmp_path, """
services:
  db:
    image: busybox
    entrypoint: /bin/sh -c
    command: ["echo hi"]
    deploy: {resources: {limits: {cpus: "0.5", memory: 64M, pids: 50}}}
    restart: on-failure:2
    user: "1000"
    working_dir: /w
    ports: [{target: 5432, published: "15432", host_ip: 127.0.0.1}, "8080:80/udp"]
    networks:
      back: {aliases: [database]}
networks:
  back: {name: shared}
""")
    p = load(workdir=str(tmp_path), project_name="proj", environ={})
    o = p.run_options("db", 2)
    assert o.name == "proj-db-2" and o.entrypoint == ["/bin/sh", "-c"] and o.command == ["echo hi"]
    assert (o.cpus, o.memory, o.pids_limit) == (0.5, 64 << 20, 50)
    assert (o.restart, o.user, o.workdir, o.network) == ("on-failure:2", "1000", "/w", "shared")
    assert o.ports == ["127.0.0.1:15432:5432/tcp", "8080:80/udp"] and o.network_aliases == ["db", "database"]
    assert o.labels["com.docker.compose.project"] == "proj" and o.labels["com.docker.compose.service"] == "db"
    assert o.labels["com.docker.compose.container-number"] == "2"


@NEEDS_VOLUMES_AND_HEALTH
def test_the_run_options_of_a_service(tmp_path):
    write(tmp_path, """
services:
  db:
    image: busybox
    entrypoint: /bin/sh -c
    command: ["echo hi"]
    volumes: [data:/var/lib/db, "./conf:/etc/db:ro", {type: tmpfs, target: /tmp},
              {type: volume, source: data, target: /b, volume: {nocopy: true}}]
    healthcheck: {test: pg_isready, interval: 1m30s, timeout: 500ms, retries: 3, start_period: 2s}
    deploy: {resources: {limits: {cpus: "0.5", memory: 64M, pids: 50}}}
    restart: on-failure:2
    user: "1000"
    working_dir: /w
    container_name: the-db
    ports: [{target: 5432, published: "15432", host_ip: 127.0.0.1}]
  off:
    image: busybox
    healthcheck: {disable: true}
volumes:
  data: {}
""")
    p = load(workdir=str(tmp_path), project_name="proj", environ={})
    o = p.run_options("db", 1)
    assert o.name == "the-db" and o.entrypoint == ["/bin/sh", "-c"] and o.command == ["echo hi"]
    assert o.volumes == ["proj_data:/var/lib/db", f"{tmp_path}/conf:/etc/db:ro"]
    assert o.mounts == ["type=volume,source=proj_data,target=/b,volume-nocopy"] and o.tmpfs == ["/tmp"]
    assert o.healthcheck == {"Test": ["CMD-SHELL", "pg_isready"], "Interval": 90_000_000_000,
                             "Timeout": 500_000_000, "StartPeriod": 2_000_000_000, "Retries": 3}
    assert (o.cpus, o.memory, o.pids_limit) == (0.5, 64 << 20, 50)
    assert (o.restart, o.user, o.workdir, o.network) == ("on-failure:2", "1000", "/w", "proj_default")
    assert o.ports == ["127.0.0.1:15432:5432/tcp"] and o.network_aliases == ["db"]
    assert o.labels["com.docker.compose.project"] == "proj" and o.labels["com.docker.compose.service"] == "db"
    assert p.run_options("off", 1).no_healthcheck is True


def test_the_config_hash_follows_the_config_not_the_scale(tmp_path):
    write(tmp_path, "services:\n  a: {image: x, environment: [A=1]}\n")
    first = load(workdir=str(tmp_path), environ={}).config_hash("a")
    write(tmp_path, "services:\n  a: {image: x, environment: {A: '1'}, scale: 3}\n")
    assert load(workdir=str(tmp_path), environ={}).config_hash("a") == first
    write(tmp_path, "services:\n  a: {image: x, environment: [A=2]}\n")
    assert load(workdir=str(tmp_path), environ={}).config_hash("a") != first


@pytest.mark.parametrize("text, message", [
    ("services: {a: {image: x, logging: {driver: none}}}", "services.a.logging is not supported by tuiker"),
    ("services: {a: {image: x, secrets: [s]}}", "services.a.secrets is not supported by tuiker"),
    ("services: {a: {image: x, sysctls: {a: 1}}}", "services.a.sysctls is not supported by tuiker"),
    ("services: {a: {image: x, network_mode: host}}", "services.a.network_mode is not supported by tuiker"),
    ("services: {a: {image: x, deploy: {placement: {}}}}", "services.a.deploy.placement is not supported by tuiker"),
    ("services: {a: {image: x, deploy: {resources: {reservations: {}}}}}",
     "services.a.deploy.resources.reservations is not supported by tuiker"),
    ("services: {a: {image: x, bogus: 1}}", "additional properties 'bogus' not allowed"),
    ("services: {a: {image: x}}\nsecrets: {}", "top-level key 'secrets' is not supported by tuiker"),
    ("services: {a: {image: x}}\nnetworks: {n: {driver: overlay}}", "only the bridge driver is supported"),
    ("services: {a: {image: x}}\nvolumes: {v: {driver_opts: {}}}", "volumes.v.driver_opts is not supported"),
    ("services: {a: {image: x, volumes: [nope:/x]}}", 'service "a" refers to undefined volume nope'),
    ("services: {a: {image: x, networks: [nope]}}", 'service "a" refers to undefined network nope'),
    ("services: {a: {image: x, depends_on: [b]}, b: {image: x, depends_on: [a]}}", "dependency cycle detected"),
    ("services: {a: {image: x, depends_on: {b: {condition: sometime}}}, b: {image: x}}", "is not one of"),
    ("services: {a: {image: x, healthcheck: {interval: soon}}}", "invalid duration 'soon'"),
    ("services: {a: {command: x}}", "has neither an image nor a build context"),
    ("services: [", "yaml: line 2"),
])
def test_what_is_not_supported_or_wrong_is_one_line_naming_it(tmp_path, text, message):
    write(tmp_path, text + "\n")
    with pytest.raises(ComposeError) as e:
        load(workdir=str(tmp_path), environ={})
    assert message in str(e.value) and "\n" not in str(e.value)


def test_durations():
    assert parse_duration("1m30s", "x") == 90 * 10**9 and parse_duration("10", "x") == 10 * 10**9
    assert parse_duration("1h2m3.5s", "x") == (3723.5 * 10**9) and parse_duration("250us", "x") == 250_000


def test_yaml_booleans_are_yaml_1_2s(tmp_path):
    """compose's parser reads YAML 1.2: `off`, `yes`, `on` are strings (PyYAML's 1.1 would make them booleans)."""
    write(tmp_path, "services:\n  off: {image: x, environment: {A: on, B: yes, C: true}}\n")
    assert load(workdir=str(tmp_path), environ={}).services["off"]["environment"] == {"A": "on", "B": "yes",
                                                                                       "C": "true"}
