"""Standard Webhooks signatures and their verifier, and posting to a checked destination (no AWS; the address
rule itself is the egress guard's: tests/unit/test_egress.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
from typing import Any

import pytest

from switchboard.egress import Destination
from switchboard.runtime.webhooks.sending import post
from switchboard.runtime.webhooks.signing import (
    WebhookVerificationError,
    new_signing_secret,
    signature,
    signature_headers,
    verify_webhook,
)
from tests.support.fakes import HttpTarget
from tests.support.fakes import Reply as Answer

KEY = b"SECRET-0123456789abcdef01234567"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
BODY = b'{"id":"run-abc","status":"completed","output":{"answer":42},"error":null,"metadata":null}'


def _reference_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks reference algorithm, written out independently of the code under test."""
    content = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = new_signing_secret(), new_signing_secret()
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert first != second


def test_the_signature_is_the_standard_webhooks_hmac() -> None:
    # Given a message id, a timestamp and a body
    # When the body is signed
    signed = signature(SECRET, "dlv-abc", 1_700_000_000, BODY)
    # Then it equals the reference HMAC-SHA256 over "id.timestamp.body" keyed with the decoded secret
    assert signed == _reference_signature(KEY, "dlv-abc", 1_700_000_000, BODY)


def test_the_signature_headers_name_the_message_and_the_moment() -> None:
    headers = signature_headers(SECRET, "dlv-abc", 1_700_000_000, BODY)
    assert headers == {
        "webhook-id": "dlv-abc",
        "webhook-timestamp": "1700000000",
        "webhook-signature": _reference_signature(KEY, "dlv-abc", 1_700_000_000, BODY),
    }


def test_the_verifier_accepts_a_fresh_authentic_message_with_any_header_case() -> None:
    headers = signature_headers(SECRET, "dlv-abc", 1_700_000_000, BODY)
    verify_webhook(SECRET, headers, BODY, now=1_700_000_100)
    verify_webhook(SECRET, {k.upper(): v for k, v in headers.items()}, BODY, now=1_700_000_000)


def test_the_verifier_accepts_one_matching_signature_among_several() -> None:
    headers = signature_headers(SECRET, "dlv-abc", 1_700_000_000, BODY)
    headers["webhook-signature"] = f"v1,bm90LWl0 v2,whatever {headers['webhook-signature']}"
    verify_webhook(SECRET, headers, BODY, now=1_700_000_000)


@pytest.mark.parametrize(
    ("change", "now"),
    [
        ({"webhook-signature": "v1,AAAA"}, 1_700_000_000),
        ({"webhook-id": "dlv-other"}, 1_700_000_000),
        ({"webhook-timestamp": "1700000001"}, 1_700_000_000),
        ({"webhook-timestamp": "yesterday"}, 1_700_000_000),
        ({}, 1_700_000_301),
        ({}, 1_699_999_699),
    ],
    ids=["bad-signature", "other-id", "other-timestamp", "non-numeric-timestamp", "stale", "future"],
)
def test_the_verifier_rejects_forged_or_stale_messages(change: dict[str, str], now: int) -> None:
    headers = {**signature_headers(SECRET, "dlv-abc", 1_700_000_000, BODY), **change}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, headers, BODY, now=now)


def test_the_verifier_rejects_a_changed_body_another_secret_or_missing_headers() -> None:
    headers = signature_headers(SECRET, "dlv-abc", 1_700_000_000, BODY)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, headers, BODY + b" ", now=1_700_000_000)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(new_signing_secret(), headers, BODY, now=1_700_000_000)
    without_signature = {k: v for k, v in headers.items() if k != "webhook-signature"}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, without_signature, BODY, now=1_700_000_000)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_post_connects_to_the_checked_address_whatever_the_host_resolves_to_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a destination checked as 127.0.0.1 for a host name that would now resolve elsewhere
    real_getaddrinfo = socket.getaddrinfo

    def resolve_elsewhere(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        assert host != "hooks.example.com", "a delivery must not resolve the host again"
        return real_getaddrinfo(host, *args, **kwargs)

    with HttpTarget() as target:
        target.respond("/in", Answer(status=204))
        port = int(target.url.rsplit(":", 1)[1])
        monkeypatch.setattr(socket, "getaddrinfo", resolve_elsewhere)
        destination = Destination("http", "hooks.example.com", port, "/in?x=1", ("127.0.0.1",))
        # When it is posted to
        result = post(destination, b"{}", {"Content-Type": "application/json"})
        # Then the checked address received it, under the host's name
        assert result.status_code == 204
        assert result.succeeded
        assert result.error is None
        (request,) = target.requests
        assert request.headers["host"] == f"hooks.example.com:{port}"
        assert request.query == {"x": ["1"]}
        assert request.body == b"{}"


def test_a_slow_receiver_is_a_timeout_and_no_listener_a_connection_error() -> None:
    with HttpTarget() as target:
        target.respond("/slow", Answer(status=200, delay_ms=1500))
        port = int(target.url.rsplit(":", 1)[1])
        slow = post(Destination("http", "127.0.0.1", port, "/slow", ("127.0.0.1",)), b"{}", {}, timeout=0.3)
    assert (slow.status_code, slow.error, slow.succeeded) == (None, "timeout", False)
    closed = post(Destination("http", "127.0.0.1", _free_port(), "/", ("127.0.0.1",)), b"{}", {}, timeout=1)
    assert (closed.status_code, closed.error) == (None, "connection_error")
    closed_tls = post(Destination("https", "hooks.example.com", _free_port(), "/", ("127.0.0.1",)), b"{}", {})
    assert (closed_tls.status_code, closed_tls.error) == (None, "connection_error")


def test_https_to_a_receiver_without_tls_is_a_tls_error() -> None:
    with HttpTarget() as target:
        target.respond("/in", Answer(status=200))
        port = int(target.url.rsplit(":", 1)[1])
        result = post(
            Destination("https", "hooks.example.com", port, "/in", ("127.0.0.1",)), b"{}", {}, timeout=2
        )
    assert (result.status_code, result.error) == (None, "tls_error")


def test_a_non_2xx_answer_is_not_a_success() -> None:
    with HttpTarget() as target:
        target.respond("/in", Answer(status=302, headers={"Location": "http://169.254.169.254/"}))
        port = int(target.url.rsplit(":", 1)[1])
        result = post(Destination("http", "127.0.0.1", port, "/in", ("127.0.0.1",)), b"{}", {})
    assert result.status_code == 302
    assert not result.succeeded
    assert len(target.requests) == 1
