"""An OAuth 2.0 state names what its authorization is for: an end user's link (App, user, requirement,
connect token) or a project connection (the connection, the builder, the hash of the state's random part)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from switchboard.domain.runs import OAuth2State, OAuth2Target

NOW = datetime(2026, 1, 1, tzinfo=UTC)
COMMON: dict[str, Any] = {
    "id": "ost-aaaaaaaaaaaaaaaaaaaa",
    "app_connection_id": "con-aaaaaaaaaaaaaaaaaaaa",
    "redirect_uri": "https://apps.example.test/v1/oauth2/callback",
    "sealed_verifier": "sealed",
    "created_at": NOW,
    "expires_at": NOW + timedelta(minutes=10),
    "ttl": 0,
}
LINK = {"app_id": "app-1", "user_id": "user-42", "requirement_id": "crm", "connect_token_id": "ct-1"}
CONNECTION = {
    "connection_id": "con-bbbbbbbbbbbbbbbbbbbb",
    "started_by": "usr-1",
    "state_secret_hash": "0" * 64,
}


def test_a_stored_state_without_a_target_is_a_links_and_each_target_validates_with_its_names() -> None:
    # Given a link's state as stored before targets existed, and a connection's state
    # When both are read
    link = OAuth2State.model_validate({**COMMON, **LINK})
    connection = OAuth2State.model_validate({**COMMON, "target": "connection", **CONNECTION})
    # Then the first is a link's, the second a connection's, each with what names it
    assert (link.target, link.requirement_id, link.connection_id) == (OAuth2Target.link, "crm", None)
    assert (connection.target, connection.connection_id) == (
        OAuth2Target.connection,
        CONNECTION["connection_id"],
    )
    assert connection.app_id is None


@pytest.mark.parametrize(
    ("target", "names", "left_out"),
    [
        ("link", LINK, "requirement_id"),
        ("connection", CONNECTION, "state_secret_hash"),
        ("connection", LINK, None),
    ],
)
def test_a_state_that_does_not_name_its_target_is_refused(
    target: str, names: dict[str, str], left_out: str | None
) -> None:
    # Given a state of a target with one of that target's names left out (or another target's names instead)
    fields = {name: value for name, value in names.items() if name != left_out}
    # When it is read / Then it is refused
    with pytest.raises(ValidationError, match=f"an authorization of a {target} names it"):
        OAuth2State.model_validate({**COMMON, "target": target, **fields})
