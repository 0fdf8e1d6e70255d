"""The guard's special paths on a bare resolver: connect paths take only a connect token of the addressed App
(judged after the resolver's strip_prefixes), page paths skip Authorization and take form bodies, and the
body is judged (413, 415) before any token everywhere."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.api import errors
from switchboard.api.guards import CurrentGrant, GuardedResolver, OptionalPrincipal
from switchboard.auth import tokens
from switchboard.domain.ids import utcnow
from switchboard.domain.models import TokenKind
from switchboard.domain.runs import ConnectToken
from switchboard.store import connect_tokens
from tests.support.stack import LambdaContextStub, http_event

FORM = {"content-type": "application/x-www-form-urlencoded"}


def _resolver() -> GuardedResolver:
    resolver = GuardedResolver(
        token_kind=TokenKind.access_key,
        token_optional=True,
        strip_prefixes=[re.compile(r"^/apps/[^/]+")],
        connect_paths=("/v1/connect/requirements",),
        page_paths=frozenset({"/connect"}),
    )

    @resolver.get("/connect")
    def get_page(principal: OptionalPrincipal) -> dict[str, Any]:
        return {"principal": principal is not None, "body": resolver.current_event.body}

    @resolver.post("/connect")
    def post_page(principal: OptionalPrincipal) -> dict[str, Any]:
        return {"principal": principal is not None, "body": resolver.current_event.body}

    @resolver.get("/v1/connect/requirements")
    def requirements(grant: CurrentGrant) -> dict[str, Any]:
        return {"app_id": grant.app_id, "user_id": grant.user_id}

    @resolver.post("/v1/connect/requirements/<requirement_id>/credentials")
    def credentials(requirement_id: str, grant: CurrentGrant) -> dict[str, Any]:
        return {"requirement_id": requirement_id, "user_id": grant.user_id}

    @resolver.post("/v1/other")
    def other(principal: OptionalPrincipal) -> dict[str, Any]:
        return {"principal": principal is not None}

    errors.register(resolver)
    return resolver


@pytest.fixture
def resolve(stack: None) -> Any:
    resolver = _resolver()

    def call(method: str, path: str, app_id: str = "app-x", **options: Any) -> tuple[int, Any]:
        event = http_event(
            method,
            f"/apps/{app_id}{path}",
            route_key="ANY /apps/{app_id}/{proxy+}",
            path_parameters={"app_id": app_id, "proxy": path.strip("/")},
            **options,
        )
        result = resolver.resolve(event, cast(LambdaContext, LambdaContextStub()))
        body = result.get("body") or ""
        return result["statusCode"], json.loads(body) if body else None

    return call


def _connect_token(app_id: str, user_id: str) -> str:
    issued = tokens.issue(TokenKind.connect)
    now = utcnow()
    connect_tokens.create_connect_token(
        ConnectToken(
            id=issued.token_id,
            token_hash=issued.token_hash,
            app_id=app_id,
            user_id=user_id,
            csrf_secret="csrf",
            created_at=now,
            created_by="ak-test",
            expires_at=now + timedelta(hours=1),
            ttl=int((now + timedelta(days=2)).timestamp()),
        )
    )
    return issued.token


def _code(answer: tuple[int, Any]) -> tuple[int, str]:
    status, body = answer
    return status, body["error"]["code"]


def test_a_connect_path_puts_the_grant_of_the_addressed_apps_token_in_the_context(resolve: Any) -> None:
    # Given a connect token of app-x for user-42
    token = _connect_token("app-x", "user-42")
    # When the connect paths are called with it on app-x
    # Then each handler sees the token's grant: its App and user
    assert resolve("GET", "/v1/connect/requirements", token=token) == (
        200,
        {"app_id": "app-x", "user_id": "user-42"},
    )
    body = {"type": "t", "config": {}}
    assert resolve("POST", "/v1/connect/requirements/crm/credentials", token=token, body=body) == (
        200,
        {"requirement_id": "crm", "user_id": "user-42"},
    )
    # The same token addressed at another App is unknown there
    assert _code(resolve("GET", "/v1/connect/requirements", app_id="app-y", token=token)) == (
        401,
        "invalid_token",
    )


def test_a_connect_path_refuses_every_other_credential(resolve: Any) -> None:
    # Given an access key, a personal access token, no token and a string that is no token
    # When each calls a connect path / Then each is refused: 403 wrong_token_type, 401 missing or invalid
    for kind in (TokenKind.access_key, TokenKind.pat):
        other = tokens.issue(kind).token
        assert _code(resolve("GET", "/v1/connect/requirements", token=other)) == (403, "wrong_token_type")
    assert _code(resolve("GET", "/v1/connect/requirements")) == (401, "missing_token")
    assert _code(resolve("GET", "/v1/connect/requirements", token="nonsense")) == (401, "invalid_token")


def test_a_connect_token_elsewhere_is_the_wrong_kind(resolve: Any) -> None:
    # Given a connect token of app-x
    token = _connect_token("app-x", "user-42")
    # When it is used on a path that is not a connect path / Then it is 403 wrong_token_type
    assert _code(resolve("POST", "/v1/other", token=token)) == (403, "wrong_token_type")
    # A path that merely starts like a connect path is not one
    assert _code(resolve("GET", "/v1/connect/requirementsX", token=token)) == (403, "wrong_token_type")


def test_a_page_path_skips_authorization_and_takes_a_form(resolve: Any) -> None:
    # Given Authorization headers holding nonsense, a personal access token and a connect token
    # When the page is opened with each / Then it is reached, without a principal
    # Whatever the Authorization header holds, the page is reached without a principal
    for token in ("nonsense", tokens.issue(TokenKind.pat).token, _connect_token("app-x", "user-42")):
        assert resolve("GET", "/connect", token=token) == (200, {"principal": False, "body": None})
    # And a form body reaches it, untouched
    # When a form body is posted to the page / Then it reaches the page as sent
    assert resolve("POST", "/connect", raw_body="token=t&csrf=c", headers=FORM) == (
        200,
        {"principal": False, "body": "token=t&csrf=c"},
    )


def test_form_bodies_are_for_the_page_only_and_bodies_are_judged_before_tokens(resolve: Any) -> None:
    # Given no token at all
    # When JSON is posted to the page, or a form to another path or a connect path
    # Then each is 415 unsupported_media_type, judged before any token
    # JSON on the page, a form anywhere else: 415, token or not
    assert _code(resolve("POST", "/connect", body={"token": "t"})) == (415, "unsupported_media_type")
    assert _code(resolve("POST", "/v1/other", raw_body="a=b", headers=FORM)) == (
        415,
        "unsupported_media_type",
    )
    form_to_connect_api = resolve(
        "POST", "/v1/connect/requirements/crm/credentials", raw_body="a=b", headers=FORM
    )
    assert _code(form_to_connect_api) == (415, "unsupported_media_type")
    # When a body over a megabyte is posted to the page or a connect path / Then it is 413 payload_too_large
    # Too large: 413, even on the page
    huge = "a=" + "x" * (1024 * 1024)
    assert _code(resolve("POST", "/connect", raw_body=huge, headers=FORM)) == (413, "payload_too_large")
    assert _code(resolve("POST", "/v1/connect/requirements/crm/credentials", raw_body=huge)) == (
        413,
        "payload_too_large",
    )
