"""Property: no request answers 5xx (issue 12, point 6). Every operation of both committed OpenAPI documents
is sent, through its handler on moto, requests Hypothesis draws: bodies nested far deeper than the JSON limit,
huge, of odd types (huge and non-finite numbers, lone surrogates, text where numbers go) and odd encodings
(UTF-16, a BOM, bytes that are not UTF-8, truncated JSON), under odd content types; odd values in every
documented header and query parameter; real identifiers or odd ones in the path. Each answer must be below 500
and, when it is an error, the project's envelope.

The budget is fixed (``EXAMPLES`` per operation, derandomized, no shrinking): every finding is collected and
reported at the end rather than raised, so the test takes the same ~30 s whether or not it fails.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.integration.apps_runtime import Runtime, app_runtime
from tests.integration.conftest import World
from tests.support.stack import LambdaContextStub, http_event, load_function

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 16
"""Requests per operation: 79 operations, about 1 260 requests in all (about 30 s on 2 cores)."""
Send = Callable[["Request"], "Answer"]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def describe(self) -> str:
        body = (self.body or b"")[:200]
        headers = {name: value[:60] for name, value in self.headers.items()}
        query = {name: value[:60] for name, value in self.query.items()}
        return f"{self.method} {self.path[:120]} headers={headers} query={query} body={body!r}"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    text: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    query: tuple[str, ...]
    headers: tuple[str, ...]
    fields: tuple[str, ...]
    """The top-level properties of its JSON request body."""


def operations(document: str) -> list[Operation]:
    spec = json.loads((ROOT / "docs" / document).read_text(encoding="utf-8"))
    found = []
    for path, by_method in spec["paths"].items():
        for method, operation in by_method.items():
            parameters = operation.get("parameters", [])
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    query=tuple(p["name"] for p in parameters if p["in"] == "query"),
                    headers=tuple(p["name"] for p in parameters if p["in"] == "header"),
                    fields=tuple(_body_fields(spec, operation)),
                )
            )
    return found


def _body_fields(spec: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    content: dict[str, dict[str, Any]] = operation.get("requestBody", {}).get("content", {})
    schema: dict[str, Any] = next(iter(content.values()), {}).get("schema", {})
    variants: list[dict[str, Any]] = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    for variant in variants:
        named = variant.get("$ref", "").rsplit("/", 1)[-1]
        properties = (spec["components"]["schemas"][named] if named else variant).get("properties")
        if properties:
            return list(properties)
    return []


# ------------------------------------------------------------------------------------------ strategies

ODD_TEXTS = [
    "",
    " ",
    "1",
    "-1",
    "1.5",
    "1e999",
    "NaN",
    "true",
    "null",
    "9" * 400,
    "2099-01-01T00:00:00",
    "../../etc/passwd",
    "\x00",
    "A" * 5000,
    "%00%ff",
    "é" * 300,
    "[" * 5000,
    base64.urlsafe_b64encode(b'{"pk": "ORG#x"}').decode(),
    base64.urlsafe_b64encode(b'{"pk": 1, "sk": []}').decode(),
]
header_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=30)
odd_text = st.sampled_from(ODD_TEXTS) | header_text
json_scalar = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**39), 2**63])
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(ODD_TEXTS)
)
json_value = st.recursive(
    json_scalar,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-16",
    "APPLICATION/JSON",
    "text/plain",
    "multipart/form-data; boundary=x",
    "multipart/form-data",
    "application/x-www-form-urlencoded",
    "",
]


def _deep(depth: int, opener: str) -> str:
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a": ' * depth + "1" + "}" * depth


@st.composite
def bodies(draw: st.DrawFn, fields: tuple[str, ...]) -> bytes:
    kind = draw(st.sampled_from(["fields", "value", "deep", "huge", "encoded"]))
    if kind == "fields" and fields:
        names = draw(st.lists(st.sampled_from(fields), unique=True, max_size=len(fields)))
        return json.dumps({name: draw(json_value) for name in names}).encode()
    if kind == "deep":
        deep = _deep(draw(st.integers(33, 20_000)), draw(st.sampled_from("[{")))
        name = draw(st.sampled_from(fields)) if fields else "input"
        return (deep if draw(st.booleans()) else f'{{"{name}": {deep}}}').encode()
    if kind == "huge":
        size = draw(st.sampled_from([100_001, 1_100_000]))
        name = draw(st.sampled_from(fields)) if fields else "input"
        return f'{{"{name}": "{"x" * size}"}}'.encode()
    if kind == "encoded":
        text = json.dumps({name: draw(json_value) for name in fields[:3]})
        return draw(
            st.sampled_from(
                [
                    text.encode("utf-16"),
                    b"\xef\xbb\xbf" + text.encode(),
                    b'{"name": "\xff\xfe"}',
                    text.encode()[: len(text) // 2],
                    b"\x00" * 8,
                    b"--x\r\nContent-Disposition: form-data; name=input\r\n\r\n{[\r\n--x--\r\n",
                ]
            )
        )
    return json.dumps(draw(json_value)).encode()


@st.composite
def requests_for(
    draw: st.DrawFn, operation: Operation, ids: dict[str, str], headers: dict[str, str]
) -> Request:
    path = operation.path
    for name in re.findall(r"{(\w+)}", path):
        real = ids.get(name) if operation.method != "DELETE" else None
        value = real if real is not None and draw(st.booleans()) else draw(odd_text.filter(_path_safe))
        path = path.replace(f"{{{name}}}", value or "x")
    request = Request(operation.method, path, dict(headers))
    for name in operation.query:
        if draw(st.booleans()):
            request.query[name] = ids[name] if name in ids and draw(st.booleans()) else draw(odd_text)
    for name in operation.headers:
        if draw(st.booleans()):
            request.headers[name.lower()] = draw(odd_text)
    if operation.method in {"POST", "PUT", "PATCH"}:
        request.body = draw(bodies(operation.fields))
        request.headers["content-type"] = (
            "application/json" if draw(st.booleans()) else draw(st.sampled_from(CONTENT_TYPES))
        )
    return request


def _path_safe(text: str) -> bool:
    return bool(text) and not re.search(r"[/?#%\s]", text)


# ------------------------------------------------------------------------------------------ transports


def _answer(status: int, headers: dict[str, str], text: str) -> Answer:
    lowered = {name.lower(): value for name, value in headers.items()}
    return Answer(status, lowered.get("content-type", ""), text)


def management_sender() -> Send:
    handler = load_function("management").lambda_handler

    def send(request: Request) -> Answer:
        event = http_event(request.method, request.path, headers=request.headers, query=request.query or None)
        if request.body is not None:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
        result = handler(event, LambdaContextStub())
        return _answer(result["statusCode"], result.get("headers") or {}, result.get("body") or "")

    return send


def apps_sender(rt: Runtime) -> Send:
    def send(request: Request) -> Answer:
        reply = rt.call(
            request.method,
            request.path,
            token=None,
            raw_body=request.body,
            headers=request.headers,
            query=request.query or None,
        )
        return _answer(reply.status, reply.headers, reply.raw)

    return send


# ------------------------------------------------------------------------------------------ the property


def problem(answer: Answer) -> str | None:
    """What is wrong with an answer: a 5xx, or a JSON error that is not the project's envelope (the hosted
    connect page answers its errors as HTML pages)."""
    status = answer.status
    if status >= 500:
        return f"HTTP {status}"
    if status < 400 or answer.content_type.startswith("text/html"):
        return None
    try:
        body = json.loads(answer.text)
    except ValueError:
        return f"HTTP {status} without a JSON error body"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or set(error) != {"code", "message", "details"}:
        return f"HTTP {status} without the error envelope"
    return None


@dataclass
class Exploration:
    send: Send
    ids: dict[str, str]
    headers: dict[str, str]
    statuses: Counter[int] = field(default_factory=Counter)
    findings: list[str] = field(default_factory=list)

    def run(self, operations: list[Operation]) -> None:
        for operation in operations:
            explore(operation, self)

    def report(self) -> str:
        return f"statuses {dict(sorted(self.statuses.items()))}\n" + "\n".join(self.findings[:20])


def explore(operation: Operation, exploration: Exploration) -> None:

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(request=requests_for(operation, exploration.ids, exploration.headers))
    def one(request: Request) -> None:
        answer = exploration.send(request)
        exploration.statuses[answer.status] += 1
        found = problem(answer)
        if found is not None:
            exploration.findings.append(f"{found}: {request.describe()} -> {answer.text[:300]}")

    one()


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def test_no_management_operation_answers_5xx_whatever_it_is_sent(world: World) -> None:
    # Given the world's resources and its admin's PAT
    ids = {
        "org_id": world.org_id,
        "project_id": world.project_id,
        "workflow_id": world.workflow_id,
        "app_id": world.app_id,
        "connection_id": world.connection_id,
        "user_id": world.admin.user_id,
        "number": "1",
    }
    exploration = Exploration(management_sender(), ids, {"authorization": f"Bearer {world.admin.token}"})
    # When every operation is sent odd requests
    exploration.run(operations("openapi.json"))
    # Then none answered 5xx or without the error envelope, and the requests reached past authentication
    # to every kind of refusal and to successes
    assert exploration.findings == [], exploration.report()
    assert {200, 400, 404, 413, 415, 422} <= set(exploration.statuses), exploration.report()


def test_no_apps_operation_answers_5xx_whatever_it_is_sent(rt: Runtime) -> None:
    # Given a finished run and the App's access key
    created = rt.call("POST", "/v1/runs", body={"input": {"question": "q"}, "user_id": "u-1"})
    assert created.status == 200, created.body
    ids = {"run_id": created.body["data"]["id"], "user_id": "u-1", "requirement_id": "crm"}
    exploration = Exploration(apps_sender(rt), ids, {"authorization": f"Bearer {rt.key}"})
    # When every operation is sent odd requests, with the key
    exploration.run(operations("openapi-apps.json"))
    # Then none answered 5xx or without the error envelope, and the requests reached past authentication
    assert exploration.findings == [], exploration.report()
    assert {200, 400, 413, 415, 422} <= set(exploration.statuses), exploration.report()
