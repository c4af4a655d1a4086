"""`tuiker events`: docker's event stream, as `docker events` prints it."""

from __future__ import annotations

import json
import sys
import time

from tuiker.cli.output import engine

# Go's field names (what a template sees) for the JSON keys of docker's events.Message.
_GO_NAMES = {"status": "Status", "id": "ID", "from": "From", "scope": "Scope", "time": "Time",
             "timeNano": "TimeNano"}


def cmd_events(args) -> int:
    filters: dict[str, list[str]] = {}
    for item in args.filter or []:
        key, sep, value = item.partition("=")
        if not sep:
            from tuiker.engine import TuikerError

            raise TuikerError(f"bad format of filter (expected name=value): {item}")
        filters.setdefault(key, []).append(value)
    template = None
    if args.format and args.format not in ("json", "{{json .}}"):
        from tuiker import gotemplate

        try:
            template = gotemplate.parse(args.format.replace("\\t", "\t").replace("\\n", "\n"))
        except gotemplate.TemplateError as e:
            print(f"template parsing error: {e}", file=sys.stderr)
            return 64
    for event in engine().events(args.since, args.until, filters, follow=True):
        if template is not None:
            line = template.execute(_struct(event))
        elif args.format:
            # Go's json.Marshal: docker's field order, <>& escaped
            line = json.dumps(event, ensure_ascii=False, separators=(",", ":")).replace(
                "<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        else:
            line = text_line(event)
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return 0


def _struct(event: dict):
    from tuiker.gotemplate import Struct

    actor = event.get("Actor") or {}
    fields = {_GO_NAMES.get(k, k): v for k, v in event.items() if k != "Actor"}
    fields["Actor"] = Struct("events.Actor", {"ID": actor.get("ID", ""),
                                              "Attributes": dict(actor.get("Attributes") or {})})
    return Struct("events.Message", fields)


def text_line(event: dict) -> str:
    """docker's prettyPrintEvent: `2026-12-06T01:02:03.000000000Z container start ID (image=busybox, name=x)`,
    the time in local time, the attributes sorted by name."""
    ns = event.get("timeNano") or event.get("time", 0) * 1_000_000_000
    seconds, frac = divmod(ns, 1_000_000_000)
    local = time.localtime(seconds)
    offset = local.tm_gmtoff or 0
    hours, minutes = divmod(abs(offset) // 60, 60)
    zone = "Z" if offset == 0 else f"{'+' if offset > 0 else '-'}{hours:02d}:{minutes:02d}"
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S', local)}.{frac:09d}{zone} "
    actor = event.get("Actor") or {}
    line += f"{event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    attributes = actor.get("Attributes") or {}
    if attributes:
        line += " (" + ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes)) + ")"
    return line


def add_parsers(sub) -> None:
    p = sub.add_parser("events", help="Get real time events from the engine")
    p.add_argument("--since", help="Show all events created since timestamp")
    p.add_argument("--until", help="Stream events until this timestamp")
    p.add_argument("-f", "--filter", action="append", help="Filter output based on conditions provided")
    p.add_argument("--format", help="Format the output using the given Go template")
    p.set_defaults(func=cmd_events)
