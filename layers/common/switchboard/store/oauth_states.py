"""OAuth 2.0 states (links table, ``ttl``): one item per authorization the hosted page, the connect API or a
builder (a project connection) started, used once by the callback.

Its PKCE verifier and, once the provider returned, its authorization code are sealed under the link secrets
key (``switchboard.store.envelope``) for this state's record only: the Apps function (and the management
function, starting a connection's) seals them (GenerateDataKey), only the credentials function's role can open
them (Decrypt).
"""

from __future__ import annotations

from datetime import datetime

from switchboard.domain.runs import OAuth2State, OAuth2StateStatus, OAuth2Target, UpstreamIdentity
from switchboard.settings import get_settings
from switchboard.store import keys
from switchboard.store.control import from_item, to_item
from switchboard.store.envelope import open_sealed, seal
from switchboard.store.links import links_table
from switchboard.store.table import put_op, update_op


def _context(state: OAuth2State, part: str) -> dict[str, str]:
    """The state, and what it is for: a link's App and user, or the connection."""
    named = (
        {"switchboard:app": state.app_id, "switchboard:user": state.user_id}
        if state.target is OAuth2Target.link
        else {"switchboard:connection": state.connection_id}
    )
    return {
        "switchboard:oauth2_state": state.id,
        **{name: str(value) for name, value in named.items()},
        "switchboard:part": part,
    }


def seal_part(state: OAuth2State, part: str, value: str) -> str:
    """``value`` (the verifier or the code) sealed for this state's record."""
    return seal(get_settings().link_secrets_key, _context(state, part), value.encode())


def open_part(state: OAuth2State, part: str, sealed: str) -> str:
    """A part ``seal_part`` sealed (the credentials function only)."""
    return open_sealed(get_settings().link_secrets_key, _context(state, part), sealed).decode()


def create_state(state: OAuth2State) -> None:
    table = links_table()
    table.write(
        put_op(table.name, to_item(state, keys.oauth2_state(state.id)), "attribute_not_exists(pk)"),
        "the state already exists",
    )


def get_state(state_id: str) -> OAuth2State | None:
    item = links_table().get(keys.oauth2_state(state_id))
    return from_item(OAuth2State, item) if item else None


def use_state(state: OAuth2State, sealed_code: str | None, outcome: str | None, now: datetime) -> bool:
    """Mark a pending, unexpired state used, with the sealed code to exchange (or the provider's error as its
    outcome); False when it was used already or has expired (nothing changes then)."""
    table = links_table()
    status = OAuth2StateStatus.exchanging if sealed_code is not None else OAuth2StateStatus.done
    values: dict[str, object] = {
        ":pending": OAuth2StateStatus.pending.value,
        ":status": status.value,
        ":now": now.isoformat().replace("+00:00", "Z"),
    }
    expression = "SET #status = :status"
    if sealed_code is not None:
        expression += ", sealed_code = :code"
        values[":code"] = sealed_code
    if outcome is not None:
        expression += ", outcome = :outcome"
        values[":outcome"] = outcome
    applied, _ = table.update_or_current(
        update_op(
            table.name,
            keys.oauth2_state(state.id),
            expression,
            "#status = :pending AND expires_at > :now",
            values,
        )
    )
    return applied


def start_token_request(state: OAuth2State, now: datetime) -> bool:
    """Record, before the token endpoint is called, that this state's code is being exchanged; False when an
    exchange already started (a redelivered message: the code is spent once, never sent again)."""
    table = links_table()
    applied, _ = table.update_or_current(
        update_op(
            table.name,
            keys.oauth2_state(state.id),
            "SET token_requested_at = :now",
            "#status = :exchanging AND attribute_not_exists(token_requested_at)",
            {
                ":exchanging": OAuth2StateStatus.exchanging.value,
                ":now": now.isoformat().replace("+00:00", "Z"),
            },
        )
    )
    return applied


def interrupt_state(state: OAuth2State) -> bool:
    """End an exchange that started and never answered (its function stopped after calling the token
    endpoint) with ``exchange_interrupted``; False when it has answered meanwhile."""
    table = links_table()
    applied, _ = table.update_or_current(
        update_op(
            table.name,
            keys.oauth2_state(state.id),
            "SET #status = :done, outcome = :outcome REMOVE sealed_code",
            "#status = :exchanging",
            {
                ":done": OAuth2StateStatus.done.value,
                ":exchanging": OAuth2StateStatus.exchanging.value,
                ":outcome": "exchange_interrupted",
            },
        )
    )
    return applied


def finish_state(state: OAuth2State, outcome: str, upstream: UpstreamIdentity | None) -> None:
    """Record the exchange's outcome (non-secret) and forget the sealed code."""
    table = links_table()
    values: dict[str, object] = {":done": OAuth2StateStatus.done.value, ":outcome": outcome}
    expression = "SET #status = :done, outcome = :outcome REMOVE sealed_code"
    if upstream is not None:
        expression = "SET #status = :done, outcome = :outcome, upstream = :upstream REMOVE sealed_code"
        values[":upstream"] = upstream.model_dump(mode="json", exclude_none=True)
    table.write(update_op(table.name, keys.oauth2_state(state.id), expression, None, values))
