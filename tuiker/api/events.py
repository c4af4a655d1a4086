"""`GET /events`: the engine's event journal as docker's stream of JSON messages, filtered.

`since` and `until` are unix seconds (`1700000000` or `1700000000.123456789`, as docker's clients send them;
Go durations and RFC 3339 times are taken too). Without `until` the stream goes on until the client goes away:
between events the connection is watched, so a client that closed it ends the handler (and its thread)."""

from __future__ import annotations

from tuiker.api.server import Api, Request


def events(api: Api, req: Request) -> None:
    # Parameters and filters are checked here, before the stream starts: a bad one is a 400, not a cut stream.
    stream = api.engine.events(req.query("since") or None, req.query("until") or None, req.filters(),
                               follow=True, alive=lambda: not req.client_gone())
    out = req.stream()  # headers now, as docker: a client waits for them before it reads any event
    try:
        for event in stream:
            out.write_json(event)
    except (BrokenPipeError, ConnectionResetError):
        return  # the client went away mid-write
    finally:
        stream.close()  # the journal's files
    out.close()


ROUTES = [
    ("GET", "/events", events),
]
