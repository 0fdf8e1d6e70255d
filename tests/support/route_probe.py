"""Each request answered by a fresh execution environment of an API function, and which route handles it.

``probe_fresh`` runs in a fresh interpreter that has just imported a handler (``import app``; nothing routed
yet): for each event it forks a child, a copy of that cold environment, which resolves the event and reports
the route modules it then had included and the route Powertools picks for the event (the resolver's own
matching: static routes, then dynamic ones, first match of method and path); the parent then includes every
router and reports the route it picks, and its answer. No AWS is reached: events carry no valid token.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from switchboard.api.routers import OnDemandResolver


def picked_route(app: OnDemandResolver, event: dict[str, Any]) -> str | None:
    """The route function that handles ``event``, as ``module.name``, or None (a 404)."""
    proxy = app._to_proxy_event(event)
    path = app._remove_prefix(proxy.path)
    for route in app._static_routes + app._dynamic_routes:
        if route.method == proxy.http_method.upper() and route.rule.match(path):
            return f"{route.func.__module__}.{route.func.__qualname__}"
    return None


def included_modules(app: OnDemandResolver) -> list[str]:
    return sorted({route.func.__module__ for route in app._static_routes + app._dynamic_routes})


def _in_fresh_child(app: OnDemandResolver, event: dict[str, Any]) -> dict[str, Any]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and never return into the parent's loop
        try:
            os.close(read_end)
            answer = app.resolve(event, None)  # type: ignore[arg-type]
            report = {"answer": answer, "included": included_modules(app), "route": picked_route(app, event)}
            with os.fdopen(write_end, "w") as out:
                json.dump(report, out)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as found:
        reported: dict[str, Any] = json.load(found)
    os.waitpid(pid, 0)
    return reported


def probe_fresh(app: OnDemandResolver) -> None:
    """Reads a JSON list of events on stdin; prints, for each, the fresh child's report and the fully loaded
    resolver's route and answer."""
    events: list[dict[str, Any]] = json.load(sys.stdin)
    fresh = [_in_fresh_child(app, event) for event in events]
    app.load_all()
    loaded = [{"route": picked_route(app, event), "answer": app.resolve(event, None)} for event in events]  # type: ignore[arg-type]
    print(json.dumps([{"fresh": one, "loaded": all_} for one, all_ in zip(fresh, loaded, strict=True)]))
