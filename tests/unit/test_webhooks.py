"""Standard Webhooks signatures and their verifier, and the outbound address rule of webhooks (no AWS)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
from typing import Any

import pytest

from switchboard.runtime.signing import (
    WebhookVerificationError,
    new_signing_secret,
    signature,
    signature_headers,
    verify_webhook,
)
from switchboard.runtime.webhooks import Destination, UrlRejected, check_url, is_allowed_address, post
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


def _resolving_to(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> list[tuple[str, Any]]:
    """Make every host resolve to ``addresses``; returns the (host, port) lookups made."""
    lookups: list[tuple[str, Any]] = []

    def fake_getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        lookups.append((host, port))
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (address, port, 0, 0) if ":" in address else (address, port),
            )
            for address in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    return lookups


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://127.0.0.1/hook", "address_not_allowed"),
        ("https://127.1.2.3:8443/hook", "address_not_allowed"),
        ("https://10.0.0.1/hook", "address_not_allowed"),
        ("https://172.16.5.4/hook", "address_not_allowed"),
        ("https://192.168.1.1/hook", "address_not_allowed"),
        ("https://169.254.169.254/latest/meta-data/", "address_not_allowed"),
        ("https://100.64.1.1/hook", "address_not_allowed"),
        ("https://0.0.0.0/hook", "address_not_allowed"),
        ("https://224.0.0.1/hook", "address_not_allowed"),
        ("https://240.0.0.1/hook", "address_not_allowed"),
        ("https://255.255.255.255/hook", "address_not_allowed"),
        ("https://[::1]/hook", "address_not_allowed"),
        ("https://[::]/hook", "address_not_allowed"),
        ("https://[fd00::1]/hook", "address_not_allowed"),
        ("https://[fe80::1]/hook", "address_not_allowed"),
        ("https://[ff02::1]/hook", "address_not_allowed"),
        ("https://[::ffff:10.0.0.1]/hook", "address_not_allowed"),
        ("https://[::ffff:169.254.169.254]/hook", "address_not_allowed"),
        ("https://[2002:a00:1::]/hook", "address_not_allowed"),
        ("https://[64:ff9b::a9fe:a9fe]/hook", "address_not_allowed"),
        ("https://2130706433/hook", "address_not_allowed"),
        ("http://example.com/hook", "scheme_not_allowed"),
        ("ftp://example.com/hook", "scheme_not_allowed"),
        ("https://user:pass@example.com/hook", "credentials_in_url"),
        ("https://token@example.com/hook", "credentials_in_url"),
        ("https:///hook", "invalid_url"),
        ("https://example.com/a b", "invalid_url"),
        ("https://example.com:99999/hook", "invalid_url"),
        ("https://bücher.example/hook", "invalid_url"),
        ("not a url", "invalid_url"),
    ],
)
def test_urls_that_may_not_receive_webhooks(url: str, code: str) -> None:
    with pytest.raises(UrlRejected) as rejected:
        check_url(url)
    assert rejected.value.code == code
    assert url not in rejected.value.message


@pytest.mark.parametrize(
    "url",
    ["https://8.8.8.8/hook", "https://93.184.215.14:8443/a?b=c", "https://[2606:4700:4700::1111]/hook"],
)
def test_public_literal_addresses_on_any_port_are_allowed(url: str) -> None:
    destination = check_url(url)
    assert destination.scheme == "https"
    assert destination.addresses


def test_a_hostname_is_judged_by_every_address_it_resolves_to(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a name that resolves to one public and one private address
    lookups = _resolving_to(monkeypatch, "93.184.215.14", "10.1.2.3")
    # When it is checked / Then it is refused, after asking DNS for that host and port
    with pytest.raises(UrlRejected) as rejected:
        check_url("https://hooks.example.com:8443/in")
    assert rejected.value.code == "address_not_allowed"
    assert lookups == [("hooks.example.com", 8443)]


def test_a_hostname_resolving_only_to_public_addresses_is_allowed_ipv4_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _resolving_to(monkeypatch, "2606:4700:4700::1111", "93.184.215.14")
    destination = check_url("https://hooks.example.com/in?x=1")
    assert destination.host == "hooks.example.com"
    assert destination.port == 443
    assert destination.target == "/in?x=1"
    assert destination.addresses == ("93.184.215.14", "2606:4700:4700::1111")


def test_a_hostname_that_does_not_resolve_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    with pytest.raises(UrlRejected) as rejected:
        check_url("https://nowhere.example.com/hook")
    assert rejected.value.code == "unresolvable_host"


def test_the_local_switch_allows_http_and_loopback_but_not_private_ranges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the local switch
    # Then loopback (literal or by name) and plain http are allowed
    assert check_url("http://127.0.0.1:8080/hook", allow_loopback=True).addresses == ("127.0.0.1",)
    assert check_url("https://[::1]:8443/hook", allow_loopback=True).scheme == "https"
    _resolving_to(monkeypatch, "127.0.0.1")
    assert check_url("http://localhost:3000/hook", allow_loopback=True).host == "localhost"
    # And private, link-local and CGNAT addresses are still refused
    for address in ("10.0.0.1", "192.168.0.10", "169.254.169.254", "100.64.1.1", "fd00::1"):
        _resolving_to(monkeypatch, address)
        with pytest.raises(UrlRejected):
            check_url("http://internal.example/hook", allow_loopback=True)


@pytest.mark.parametrize(
    ("address", "allowed", "with_loopback"),
    [
        ("8.8.8.8", True, True),
        ("127.0.0.1", False, True),
        ("::ffff:127.0.0.1", False, True),
        ("10.0.0.1", False, False),
        ("::ffff:8.8.8.8", True, True),
        ("192.0.2.1", False, False),
        ("2001:db8::1", False, False),
    ],
)
def test_address_rule(address: str, allowed: bool, with_loopback: bool) -> None:
    import ipaddress

    parsed = ipaddress.ip_address(address)
    assert is_allowed_address(parsed) is allowed
    assert is_allowed_address(parsed, allow_loopback=True) is with_loopback


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
