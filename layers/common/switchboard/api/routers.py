"""Route modules loaded on demand: an API function includes a route module's router at the first request for
a path that module owns, not at cold start.

A ``RouterTable`` names a function's route modules in the order they are included (the order Powertools tries
their routes in) and the paths each owns, written like route rules: ``<name>`` is any one path segment, and a
rule ending in ``/*`` owns its path and everything below it. A request loads every module that owns its
path, judged as Powertools routes it (stage and ``strip_prefixes`` removed); a path no module owns, or an
event whose path cannot be read, loads them all, so an unknown path is answered exactly as with every router
included. Each module is included once per execution environment, and its routes take their place in the
table's order whatever the order of the requests. ``load_all`` includes every module: for whatever
enumerates the routes (the OpenAPI document).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import Route


class RouterTable:
    def __init__(self, package: str, owners: Mapping[str, tuple[str, ...]]) -> None:
        """``owners``: each module of ``package`` (its ``router``), in inclusion order, and the paths it
        owns."""
        self.package = package
        self.modules = tuple(owners)
        self._rules = {module: [rule.split("/") for rule in rules] for module, rules in owners.items()}

    def modules_for(self, path: str | None) -> tuple[str, ...]:
        """The modules owning ``path`` (as routed); all of them when none does or the path is unknown."""
        if path is None:
            return self.modules
        segments = path.split("/")
        owning = tuple(
            module for module, rules in self._rules.items() if any(_owns(rule, segments) for rule in rules)
        )
        return owning or self.modules


def _owns(rule: list[str], segments: list[str]) -> bool:
    if rule[-1] == "*":
        head = rule[:-1]
        return len(segments) >= len(head) and _same(head, segments[: len(head)])
    return len(segments) == len(rule) and _same(rule, segments)


def _same(rule: list[str], segments: list[str]) -> bool:
    return all(
        part == segment or (part.startswith("<") and bool(segment))
        for part, segment in zip(rule, segments, strict=True)
    )


class OnDemandResolver(APIGatewayHttpResolver):
    """A resolver that includes its table's routers as requests need them (all of them without a table)."""

    def __init__(self, *, routers: RouterTable | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._router_table = routers
        self._route_ranks: dict[Route, int] = {}
        self._loaded: set[str] = set()

    def load_routers_for(self, event: Mapping[str, Any]) -> None:
        """Include the routers owning the event's path, before anything routes it."""
        if self._router_table is None:
            return
        try:
            path: str | None = self._remove_prefix(self._to_proxy_event(cast(dict[str, Any], event)).path)
        except (KeyError, TypeError, AttributeError):
            path = None
        self._include(self._router_table.modules_for(path))

    def load_all(self) -> None:
        if self._router_table is not None:
            self._include(self._router_table.modules)

    def _include(self, modules: tuple[str, ...]) -> None:
        table = self._router_table
        assert table is not None
        missing = [module for module in modules if module not in self._loaded]
        for module in missing:
            known = set(self._static_routes + self._dynamic_routes)
            self.include_router(importlib.import_module(f"{table.package}.{module}").router)
            rank = table.modules.index(module)
            for route in self._static_routes + self._dynamic_routes:
                if route not in known:
                    self._route_ranks[route] = rank
            self._loaded.add(module)
        if missing:
            # The resolver's own routes (declared on it at import) stay after every router's, as at import.
            last = len(table.modules)
            self._static_routes.sort(key=lambda route: self._route_ranks.get(route, last))
            self._dynamic_routes.sort(key=lambda route: self._route_ranks.get(route, last))
