from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from switchboard.runtime.bootstrap import BootstrapResult, bootstrap_admin
from tests.support.stack import LambdaContextStub, http_event, load_function, moto_stack


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    raw: str


Call = Callable[..., Reply]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with moto_stack(monkeypatch):
        yield


@pytest.fixture
def management(stack: None) -> Call:
    handler = load_function("management").lambda_handler

    def call(method: str, path: str, **kwargs: Any) -> Reply:
        result = handler(http_event(method, path, **kwargs), LambdaContextStub())
        raw = result.get("body") or ""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        return Reply(result["statusCode"], {k.lower(): v for k, v in (result.get("headers") or {}).items()}, body, raw)

    return call


@pytest.fixture
def admin(stack: None) -> BootstrapResult:
    return bootstrap_admin("owner@example.com", "Acme")
