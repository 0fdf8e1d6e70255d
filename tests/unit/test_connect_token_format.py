"""Connect tokens' format, and how bearer authentication answers one where another kind is expected (no
lookup), without AWS."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard.auth import tokens
from switchboard.auth.authenticate import authenticate
from switchboard.domain.errors import Forbidden
from switchboard.domain.models import App, AppAccess, TokenKind
from switchboard.runtime.links import connect_tokens
from switchboard.runtime.links.connect_tokens import ConnectGrant
from switchboard.store import identity


def test_a_connect_token_is_sb_ct_with_a_ctk_id_and_parses_back() -> None:
    issued = tokens.issue(TokenKind.connect)
    assert re.fullmatch(r"sb_ct_[a-z2-7]{20}[A-Za-z0-9_-]{43}", issued.token)
    assert re.fullmatch(r"ctk-[a-z2-7]{20}", issued.token_id)
    assert issued.token_id.removeprefix("ctk-") == issued.token[6:26]
    parsed = tokens.parse(issued.token)
    assert parsed is not None
    assert (parsed.kind, parsed.token_id, parsed.token_hash) == (
        TokenKind.connect,
        issued.token_id,
        issued.token_hash,
    )
    assert issued.token not in issued.preview


@pytest.mark.parametrize("expected", [TokenKind.access_key, TokenKind.pat])
def test_a_connect_token_where_another_kind_is_expected_is_403_without_a_lookup(
    expected: TokenKind, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_lookup(*_: Any) -> None:
        raise AssertionError("a connect token needs no lookup to be refused here")

    monkeypatch.setattr(identity, "get_token", no_lookup)
    with pytest.raises(Forbidden) as raised:
        authenticate(f"Bearer {tokens.issue(TokenKind.connect).token}", expected)
    assert (raised.value.status, raised.value.error_code) == (403, "wrong_token_type")


def _app(*return_urls: str) -> App:
    moment = "2026-01-01T00:00:00Z"
    return App.model_validate(
        {
            "id": "app-x",
            "org_id": "org-x",
            "project_id": "prj-x",
            "workflow_id": "wf-x",
            "name": "X",
            "access": AppAccess.private,
            "connect_return_urls": list(return_urls),
            "created_at": moment,
            "created_by": "t",
            "updated_at": moment,
            "updated_by": "t",
        }
    )


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.com/done", True),
        ("https://example.com/done?x=1", False),
        ("https://example.com/app/", True),
        ("https://example.com/app/deep/page?x=1", True),
        ("https://example.com/application", False),
        ("https://example.com.evil.test/app/", False),
    ],
)
def test_return_urls_match_exactly_or_under_a_folder(url: str, allowed: bool) -> None:
    app = _app("https://example.com/done", "https://example.com/app/")
    assert connect_tokens.return_url_allowed(app, url) is allowed


def test_csrf_tokens_are_an_hmac_of_token_and_requirement() -> None:
    grant = ConnectGrant("ctk-a", "app-x", "user-1", None, datetime.now(UTC), csrf_secret="k" * 43)
    other_secret = ConnectGrant("ctk-a", "app-x", "user-1", None, datetime.now(UTC), csrf_secret="j" * 43)
    token = connect_tokens.csrf_token(grant, "crm")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert token != connect_tokens.csrf_token(grant, "billing")
    assert token != connect_tokens.csrf_token(other_secret, "crm")
    assert "k" * 43 not in repr(grant)
    connect_tokens.check_csrf(grant, "crm", token)
    with pytest.raises(Forbidden):
        connect_tokens.check_csrf(other_secret, "crm", token)


@pytest.mark.parametrize(
    ("return_url", "destination"),
    [
        ("https://example.com/done", "https://example.com/done?requirement=crm&status=active"),
        ("https://example.com/app/x?tab=2", "https://example.com/app/x?tab=2&requirement=crm&status=active"),
        ("https://example.com/other", None),
        ("https://user:pw@example.com/app/", None),
        (None, None),
    ],
)
def test_the_page_returns_only_to_an_allowed_plain_url_with_the_outcome(
    return_url: str | None, destination: str | None
) -> None:
    app = _app("https://example.com/done", "https://example.com/app/", "https://user:pw@example.com/app/")
    grant = ConnectGrant("ctk-a", "app-x", "user-1", return_url, datetime.now(UTC), csrf_secret="k" * 43)
    assert connect_tokens.return_destination(app, grant, "crm") == destination
