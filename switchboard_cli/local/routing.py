"""Route selection as API Gateway HTTP APIs do it, from the template's ``HttpApi`` events.

Within one API the most specific route wins: segment by segment a literal beats a ``{param}``, which beats
a greedy ``{proxy+}`` (which needs at least one segment); a route for the request's method beats ``ANY``;
``$default`` comes last. Which API a request reaches is data: a host under a custom domain goes to the API
mapped to that domain only; any other host tries ``api_order`` in turn (the management API, then Apps),
except that a route spelled out in full (no parameter) beats a route with parameters of an API before it:
on AWS each API has its own host, so the Apps API's ``GET /v1/oauth2/callback`` is its own, not the
management API's ``/v1/{proxy+}``.
A single trailing slash is ignored when matching, so ``/apps/<id>/`` reaches ``/apps/{app_id}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import unquote

from switchboard_cli.local.functions import FunctionSpec
from switchboard_cli.local.template import Template


class SegmentKind(IntEnum):
    LITERAL = 0
    PARAMETER = 1
    GREEDY = 2
    DEFAULT = 3


@dataclass(frozen=True)
class Segment:
    kind: SegmentKind
    text: str
    """The literal text, or the parameter's name."""


DEFAULT_ROUTE = "$default"


def parse_route_path(path: str) -> tuple[Segment, ...]:
    if path == DEFAULT_ROUTE:
        return (Segment(SegmentKind.DEFAULT, ""),)
    segments: list[Segment] = []
    parts = [part for part in path.strip("/").split("/") if part]
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("+}"):
            if index != len(parts) - 1:
                raise ValueError(f"greedy path variable must be the last segment: {path}")
            segments.append(Segment(SegmentKind.GREEDY, part[1:-2]))
        elif part.startswith("{") and part.endswith("}"):
            segments.append(Segment(SegmentKind.PARAMETER, part[1:-1]))
        else:
            segments.append(Segment(SegmentKind.LITERAL, part))
    return tuple(segments)


@dataclass(frozen=True)
class Route:
    api_id: str
    method: str
    path: str
    function_id: str

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"

    @property
    def segments(self) -> tuple[Segment, ...]:
        return parse_route_path(self.path)

    @property
    def literal(self) -> bool:
        """Spelled out in full: no parameter, no greedy segment (and not ``$default``)."""
        return all(segment.kind is SegmentKind.LITERAL for segment in self.segments)

    @property
    def rank(self) -> tuple[tuple[int, ...], bool]:
        """Smaller is more specific."""
        return tuple(segment.kind for segment in self.segments), self.method == "ANY"

    def match(self, method: str, request_segments: Sequence[str]) -> dict[str, str] | None:
        """The path parameters when this route takes the request, else None."""
        if self.method not in ("ANY", method):
            return None
        parameters: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.kind is SegmentKind.DEFAULT:
                return parameters
            if segment.kind is SegmentKind.GREEDY:
                rest = request_segments[index:]
                if not rest or not any(rest):
                    return None
                parameters[segment.text] = "/".join(rest)
                return parameters
            if index >= len(request_segments):
                return None
            value = request_segments[index]
            if segment.kind is SegmentKind.LITERAL and value != segment.text:
                return None
            if segment.kind is SegmentKind.PARAMETER:
                if not value:
                    return None
                parameters[segment.text] = value
        return parameters if len(request_segments) == len(self.segments) else None


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


def split_request_path(raw_path: str) -> list[str]:
    path = raw_path.split("?", 1)[0]
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return [unquote(part) for part in path.split("/")[1:]] if path != "/" else []


@dataclass(frozen=True)
class HostBinding:
    """Requests whose host (port stripped) ends with ``.<domain>`` go to ``api_id`` only."""

    domain: str
    api_id: str

    def matches(self, host: str) -> bool:
        return host.lower().endswith("." + self.domain.lower())


@dataclass(frozen=True)
class Router:
    routes: tuple[Route, ...]
    api_order: tuple[str, ...]
    host_bindings: tuple[HostBinding, ...] = ()

    def apis_for_host(self, host: str) -> tuple[str, ...]:
        hostname = strip_port(host)
        for binding in self.host_bindings:
            if binding.matches(hostname):
                return (binding.api_id,)
        return self.api_order

    def match(self, host: str, method: str, raw_path: str) -> RouteMatch | None:
        segments = split_request_path(raw_path)
        found: list[tuple[bool, int, RouteMatch]] = []
        for order, api_id in enumerate(self.apis_for_host(host)):
            candidates = [
                (route, parameters)
                for route in self.routes
                if route.api_id == api_id
                and (parameters := route.match(method.upper(), segments)) is not None
            ]
            if candidates:
                route, parameters = min(candidates, key=lambda candidate: candidate[0].rank)
                found.append((not route.literal, order, RouteMatch(route, parameters)))
        return min(found, key=lambda entry: entry[:2])[2] if found else None


def strip_port(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


PREFERRED_API_ORDER = ("ManagementApi", "AppsApi")
"""For a host under no custom domain: the management API's routes first, then the Apps API's."""


def router_from_template(
    template: Template, specs: Iterable[FunctionSpec], preferred: Sequence[str] = PREFERRED_API_ORDER
) -> Router:
    routes = tuple(
        Route(event.api_id, event.method, event.path, spec.logical_id)
        for spec in specs
        for event in spec.http_events
    )
    declared = template.resources_of_type("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api")
    api_order = ordered_apis([*declared, *(route.api_id for route in routes)], preferred)
    return Router(routes, api_order, tuple(host_bindings(template)))


def host_bindings(template: Template) -> list[HostBinding]:
    """A custom domain mapped to an API (``AWS::ApiGatewayV2::ApiMapping``) binds its hosts to that API."""
    bindings = []
    domains = template.resources_of_type("AWS::ApiGatewayV2::DomainName")
    for mapping in template.resources_of_type("AWS::ApiGatewayV2::ApiMapping").values():
        properties = mapping.get("Properties", {})
        domain_id = str(template.resolve(properties.get("DomainName")))
        domain = domains[domain_id]["Properties"]["DomainName"] if domain_id in domains else domain_id
        hostname = strip_port(str(template.resolve(domain))).removeprefix("*.")
        if hostname:
            bindings.append(HostBinding(hostname, str(template.resolve(properties.get("ApiId")))))
    return bindings


def ordered_apis(api_ids: Iterable[str], preferred: Sequence[str]) -> tuple[str, ...]:
    """``preferred`` first (those that exist), then the remaining APIs in template order."""
    existing = list(dict.fromkeys(api_ids))
    return tuple(
        [api for api in preferred if api in existing] + [api for api in existing if api not in preferred]
    )
