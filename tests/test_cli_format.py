"""`--format` through the CLI, as docker evaluates it: Go templates over docker's field names for ps, images,
inspect, stats and network ls/inspect, `table` headers aligned by tabwriter, `json`, and docker's errors
(exit 1 for a template that fails or does not parse; 64 for an inspect template that does not parse)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ok, one_line_error

# The command's words come back through strconv.Quote: the inner quotes escaped, <&> kept.
COMMAND = ["sh", "-c", 'sleep 999 # "a" <&>']


@pytest.fixture
def web(tuiker, image):
    """One running container, `web`, with a 64 MiB memory limit; removed afterwards."""
    cid = ok(tuiker("run", "-d", "--name", "web", "-m", "64m", image, *COMMAND)).strip()
    yield cid
    ok(tuiker("rm", "-f", cid))


def error_of(result, code: int = 1) -> str:
    assert result.returncode == code, (result.args, result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    return one_line_error(result)


def test_ps_fields_quoting_table_and_json(tuiker, web):
    line = ok(tuiker("ps", "--format", "{{.Names}}|{{.Command}}|{{.State}}|{{.ID}}|{{.Networks}}|{{.Size}}"))
    names, command, state, cid, networks, size = line.rstrip("\n").split("|")
    assert (names, state, cid, networks) == ("web", "running", web[:12], "bridge")
    assert command == '"sh -c sleep 999 # \\"…"'  # 19 characters, then docker's ellipsis, then quoted
    assert re.fullmatch(r"\d+(\.\d+)?k?B \(virtual \d+(\.\d+)?MB\)", size), size
    full = ok(tuiker("ps", "--no-trunc", "--format", "{{.Command}} {{.ID}}")).strip()
    assert full == f'"sh -c sleep 999 # \\"a\\" <&>" {web}'

    created = ok(tuiker("ps", "--format", "{{.CreatedAt}}\\t{{.RunningFor}}\\n{{if eq .State \"running\"}}up{{end}}"))
    at, ago, up = created.split("\n")[0].split("\t") + created.split("\n")[1:2]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \S+", at), at  # Go's time.Time.String()
    assert ago.endswith(" ago") and up == "up"

    table = ok(tuiker("ps", "--format", "table {{.ID}}\\t{{.Names}}\\t{{.Status}}")).splitlines()
    assert table[0] == "CONTAINER ID   NAMES     STATUS"  # tabwriter: cells padded by 3, columns >= 10 wide
    assert table[1].startswith(f"{web[:12]}   web       Up ")

    raw = ok(tuiker("ps", "--no-trunc", "--format", "json"))
    assert "\\u003c\\u0026\\u003e" in raw  # docker's formatter marshals with Go's HTML escaping
    row = json.loads(raw)
    assert sorted(row) == ["Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names",
                           "Networks", "Ports", "RunningFor", "Size", "State", "Status"]
    assert row["Command"] == '"sh -c sleep 999 # \\"a\\" <&>"' and row["ID"] == web
    assert ok(tuiker("ps", "--format", "{{json .Names}}")) == '"web"\n'

    default = ok(tuiker("ps")).splitlines()
    assert default[0].startswith("CONTAINER ID   IMAGE") and default[0].endswith("PORTS     NAMES")
    assert default[1].startswith(f'{web[:12]}   {image_column(default)}"sh -c sleep 999 # \\"…"   ')
    # "table" alone is the default table. Its titles, not their spacing: CREATED and STATUS may have ticked in
    # between ("Less than a second ago", then "1 second ago"), and a column is as wide as its widest cell.
    header = ok(tuiker("ps", "--format", "table")).splitlines()[0]
    assert re.split(r"\s{2,}", header) == re.split(r"\s{2,}", default[0])


def image_column(table: list[str]) -> str:
    """The IMAGE cell of a table's first row, padded to the COMMAND column."""
    start, end = table[0].index("IMAGE"), table[0].index("COMMAND")
    return table[1][start:end]


def test_ps_unknown_field_and_malformed_template_are_docker_errors(tuiker, web):
    assert error_of(tuiker("ps", "--format", "{{.Foo}}")) == (
        "template parsing error: template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type"
        " *formatter.ContainerContext")
    assert error_of(tuiker("ps", "--format", "{{.Names")) == "template parsing error: template: :1: unclosed action"
    assert error_of(tuiker("ps", "--format", "{{nosuch .Names}}")) == (
        'template parsing error: template: :1: function "nosuch" not defined')
    assert error_of(tuiker("ps", "--format", "{{if .Names}}")) == "template parsing error: template: :1: unexpected EOF"


def test_inspect_templates_errors_and_json(tuiker, web):
    out = ok(tuiker("inspect", "-f", "{{.Name}} {{.State.Status}} {{json .Config.Cmd}} {{join .Args \",\"}} "
                    "{{index .Config.Labels \"nope\"}}|{{.Config.Labels.nope}}", "web"))
    assert out == '/web running ["sh","-c","sleep 999 # \\"a\\" <&>"] -c,sleep 999 # "a" <&> |<no value>\n'
    assert ok(tuiker("container", "inspect", "--format", "{{range $i, $a := .Args}}{{$i}}={{$a}};{{end}}",
                     web[:8])) == '0=-c;1=sleep 999 # "a" <&>;\n'

    # An unknown field fails that object only, after the others are printed; docker's raw-JSON fallback says it.
    both = tuiker("inspect", "-f", "{{.Name}}{{if .Name}}{{.Nope}}{{end}}", "web")
    assert both.returncode == 1 and both.stdout == "\n"
    assert one_line_error(both) == ('template parsing error: template: :1:23: executing "" at <.Nope>:'
                                    ' map has no entry for key "Nope"')
    # A template that does not parse is exit status 64, before any lookup.
    assert error_of(tuiker("inspect", "-f", "{{.Name", "nosuchthing"), 64) == (
        "template parsing error: template: :1: unclosed action")
    compact = ok(tuiker("inspect", "--format", "json", "web"))
    assert compact.count("\n") == 1 and json.loads(compact)[0]["Name"] == "/web"


def test_images_format_table_json_and_digest(tuiker, image):
    repo = image.rsplit(":", 1)[0]
    line = ok(tuiker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}} {{.Containers}}"))
    name, short_id, size, containers = line.split()
    assert name == image and re.fullmatch(r"[0-9a-f]{12}", short_id) and size.endswith("MB")
    assert containers == "N/A"
    table = ok(tuiker("images", "--format", "table {{.Repository}}\\t{{.Tag}}")).splitlines()
    assert table[0] == "REPOSITORY" + " " * (len(repo) + 3 - len("REPOSITORY")) + "TAG"
    assert table[1] == f"{repo}   latest"
    row = json.loads(ok(tuiker("images", "--format", "json")))
    assert sorted(row) == ["Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize",
                           "Size", "Tag", "UniqueSize", "VirtualSize"]
    assert row["Digest"] == "<none>" and row["ID"] == short_id
    # Asking for .Digest fills it in, as docker does.
    assert ok(tuiker("images", "--format", "{{.Digest}}")).startswith("sha256:")
    assert error_of(tuiker("images", "--format", "{{.Nope}}")) == (
        "template parsing error: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type"
        " *formatter.imageContext")


def test_stats_format_memory_in_binary_units(tuiker, web):
    name, mem, pids = ok(tuiker("stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}",
                                "web")).strip().split("|")
    assert name == "web" and pids in ("1", "2")
    assert re.fullmatch(r"\d+(\.\d+)?(B|KiB|MiB) / 64MiB", mem), mem
    table = ok(tuiker("stats", "--no-stream", "--format", "table {{.Name}}\\t{{.PIDs}}", "web")).splitlines()
    assert table[0] == "NAME      PIDS" and table[1].startswith("web       ")
    row = json.loads(ok(tuiker("stats", "--no-stream", "--format", "json", "web")))
    assert sorted(row) == ["BlockIO", "CPUPerc", "Container", "ID", "MemPerc", "MemUsage", "Name", "NetIO", "PIDs"]
    assert row["Container"] == "web" and row["ID"] == web[:12]
    default = ok(tuiker("stats", "--no-stream")).splitlines()
    assert default[0].split("   ")[:2] == ["CONTAINER ID", "NAME"] and "/ 64MiB" in default[1]


def test_network_ls_and_inspect_format(tuiker, web):
    names = ok(tuiker("network", "inspect", "bridge", "-f", "{{range .Containers}}{{.Name}}{{end}}"))
    assert names == "web\n"
    ids = ok(tuiker("network", "inspect", "-f", "{{range $id, $c := .Containers}}{{$id}} {{end}}", "bridge"))
    assert ids == f"{web} \n"
    table = ok(tuiker("network", "ls", "--format", "table {{.Name}}\\t{{.Driver}}\\t{{.Internal}}")).splitlines()
    assert table[:2] == ["NAME      DRIVER    INTERNAL", "bridge    bridge    false"]
    rows = [json.loads(line) for line in ok(tuiker("network", "ls", "--format", "json")).splitlines()]
    assert [r["Name"] for r in rows[:3]] == ["bridge", "host", "none"]
    assert sorted(rows[0]) == ["CreatedAt", "Driver", "ID", "IPv4", "IPv6", "Internal", "Labels", "Name", "Scope"]
    assert error_of(tuiker("network", "ls", "--format", "{{.Id}}")) == (
        "template parsing error: template: :1:2: executing \"\" at <.Id>: can't evaluate field Id in type"
        " *network.networkContext")
    assert error_of(tuiker("network", "inspect", "-f", "{{range}}", "bridge"), 64) == (
        "template parsing error: template: :1: missing value for range")
