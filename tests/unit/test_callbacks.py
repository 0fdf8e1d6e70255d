"""Validating a run's callbacks, and the forms a callback is stored and shown in (no AWS)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.domain.errors import ValidationFailed
from switchboard.runtime.webhooks.callbacks import (
    MAX_METADATA_BYTES,
    parse_stored,
    public_view,
    validate_callbacks,
)
from switchboard.settings import get_settings
from tests.support.stack import SETTINGS_ENV

TOKEN = "caller-SECRET-token-123"
PUBLIC = "https://93.184.215.14/hooks/run"


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in SETTINGS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ALLOW_LOOPBACK_EGRESS", raising=False)
    monkeypatch.delenv("ALLOW_LOOPBACK_CALLBACKS", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _local_switch(monkeypatch: pytest.MonkeyPatch, on: bool, variable: str = "ALLOW_LOOPBACK_EGRESS") -> None:
    monkeypatch.setenv(variable, "true" if on else "false")
    get_settings.cache_clear()


def _refusal(raw: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as refused:
        validate_callbacks(raw)
    return refused.value


def test_valid_callbacks_come_back_typed() -> None:
    # Given two callbacks, one with a bearer token and metadata
    raw = [
        {"url": PUBLIC, "auth": {"type": "bearer", "token": TOKEN}, "metadata": {"order": 7}},
        {"url": "https://8.8.8.8:8443/x?y=1"},
    ]
    # When they are validated
    callbacks = validate_callbacks(raw)
    # Then they keep their content, and the token is there to deliver but hidden from repr
    assert [c.url for c in callbacks] == [PUBLIC, "https://8.8.8.8:8443/x?y=1"]
    assert callbacks[0].bearer_token == TOKEN
    assert callbacks[0].metadata == {"order": 7}
    assert callbacks[1].auth is None
    assert TOKEN not in repr(callbacks) + str(callbacks)


def test_the_stored_form_round_trips_and_the_public_view_drops_the_token() -> None:
    (callback,) = validate_callbacks(
        [{"url": PUBLIC, "auth": {"type": "bearer", "token": TOKEN}, "metadata": {"a": 1}}]
    )
    stored = callback.stored()
    assert stored == {"url": PUBLIC, "auth": {"type": "bearer", "token": TOKEN}, "metadata": {"a": 1}}
    assert parse_stored([stored]) == [callback]
    view = public_view(stored)
    assert view == {"url": PUBLIC, "auth": {"type": "bearer"}, "metadata": {"a": 1}}
    assert TOKEN not in json.dumps(view)
    assert public_view(view) == view
    assert public_view({"url": PUBLIC}) == {"url": PUBLIC}


@pytest.mark.parametrize(
    ("raw", "loc", "code"),
    [
        ("https://example.com", ["callbacks"], "list_type"),
        ([{"url": PUBLIC}] * 6, ["callbacks"], "too_long"),
        ([{"url": PUBLIC, "headers": {}}], ["callbacks", 0, "headers"], "extra_forbidden"),
        ([{}], ["callbacks", 0, "url"], "missing"),
        (
            [{"url": PUBLIC, "auth": {"type": "basic", "token": TOKEN}}],
            ["callbacks", 0, "auth", "type"],
            "literal_error",
        ),
        ([{"url": PUBLIC, "auth": {"type": "bearer"}}], ["callbacks", 0, "auth", "token"], "missing"),
        (
            [{"url": PUBLIC, "auth": {"type": "bearer", "token": "a b"}}],
            ["callbacks", 0, "auth", "token"],
            "value_error",
        ),
        (
            [{"url": PUBLIC, "auth": {"type": "bearer", "token": "SECRET-x\r\nX-Evil: 1"}}],
            ["callbacks", 0, "auth", "token"],
            "value_error",
        ),
        ([{"url": PUBLIC, "metadata": ["not", "an", "object"]}], ["callbacks", 0, "metadata"], "dict_type"),
        (
            [{"url": PUBLIC, "metadata": {"blob": "x" * MAX_METADATA_BYTES}}],
            ["callbacks", 0, "metadata"],
            "value_error",
        ),
        ([{"url": "https://example.com/" + "a" * 2048}], ["callbacks", 0, "url"], "string_too_long"),
    ],
)
def test_malformed_callbacks_are_422_with_their_location(raw: Any, loc: list[Any], code: str) -> None:
    refused = _refusal(raw)
    assert refused.status == 422
    assert {"loc": loc, "code": code} in [{"loc": d["loc"], "code": d["code"]} for d in refused.details]
    assert "SECRET-" not in json.dumps(refused.details) + refused.message


def test_each_refused_url_is_named_by_its_index_and_never_echoed() -> None:
    # Given a valid callback between two refused ones
    raw = [
        {"url": "https://169.254.169.254/latest/meta-data/"},
        {"url": PUBLIC},
        {"url": "http://example.com/hook"},
    ]
    # When they are validated
    refused = _refusal(raw)
    # Then each refused URL has its own detail, without the URL itself
    assert [(d["loc"], d["code"]) for d in refused.details] == [
        (["callbacks", 0, "url"], "address_not_allowed"),
        (["callbacks", 2, "url"], "scheme_not_allowed"),
    ]
    assert "169.254" not in json.dumps(refused.details)


def test_a_hostname_resolving_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def private(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", port))]

    monkeypatch.setattr(socket, "getaddrinfo", private)
    refused = _refusal([{"url": "https://hooks.example.com/in"}])
    assert refused.details == [
        {
            "loc": ["callbacks", 0, "url"],
            "code": "address_not_allowed",
            "message": "the host is or resolves to a non-public address (private)",
        }
    ]


def test_loopback_needs_the_local_switch_and_private_ranges_stay_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the switch off, a loopback http URL is refused
    assert _refusal([{"url": "http://127.0.0.1:9000/hook"}]).details[0]["code"] == "scheme_not_allowed"
    assert _refusal([{"url": "https://127.0.0.1:9000/hook"}]).details[0]["code"] == "address_not_allowed"
    # When the switch is on
    _local_switch(monkeypatch, on=True)
    # Then loopback over http is allowed, private addresses still are not
    assert validate_callbacks([{"url": "http://127.0.0.1:9000/hook"}])[0].url == "http://127.0.0.1:9000/hook"
    assert _refusal([{"url": "http://10.0.0.1/hook"}]).details[0]["code"] == "address_not_allowed"
    assert _refusal([{"url": "http://192.168.1.20/hook"}]).details[0]["code"] == "address_not_allowed"


def test_the_older_switch_name_still_allows_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given only the older variable, ALLOW_LOOPBACK_CALLBACKS=true
    _local_switch(monkeypatch, on=True, variable="ALLOW_LOOPBACK_CALLBACKS")
    # When a loopback callback is validated / Then it is accepted, as before the egress guard
    assert validate_callbacks([{"url": "http://127.0.0.1:9000/hook"}])[0].url == "http://127.0.0.1:9000/hook"
    # And the current name wins when both are set
    _local_switch(monkeypatch, on=False)
    assert _refusal([{"url": "http://127.0.0.1:9000/hook"}]).details[0]["code"] == "scheme_not_allowed"


def test_no_callbacks_is_an_empty_list() -> None:
    assert validate_callbacks([]) == []
