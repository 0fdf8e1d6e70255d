"""Security headers of every connect page response (no AWS)."""

from __future__ import annotations

import re

import pytest

from switchboard.connect_page import new_nonce, origin_of, security_headers

NONCE = "n0nce-0123456789abcdef"


def test_the_headers_are_exactly_the_strict_set() -> None:
    assert security_headers(NONCE) == {
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'nonce-n0nce-0123456789abcdef'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def test_the_return_origin_may_receive_the_redirect_after_a_submit() -> None:
    headers = security_headers(NONCE, "https://App.Example.com:8443/after/connect?x=1#y")
    assert "form-action 'self' https://app.example.com:8443;" in headers["Content-Security-Policy"]
    assert origin_of("http://127.0.0.1:9000/done") == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    "return_url",
    [
        "javascript:alert(1)",
        "https://app.example.com; script-src *",
        "https://user:pass@app.example.com/",
        "https:///no-host",
        "//app.example.com/",
        "https://app.example.com\r\nSet-Cookie: a=b",
    ],
)
def test_a_return_origin_that_is_not_a_plain_http_origin_is_refused(return_url: str) -> None:
    with pytest.raises(ValueError, match="return origin"):
        security_headers(NONCE, return_url)


def test_nonces_are_fresh_and_fit_the_policy() -> None:
    first, second = new_nonce(), new_nonce()
    assert first != second
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", first)
    assert security_headers(first)["Content-Security-Policy"].count(f"'nonce-{first}'") == 1


@pytest.mark.parametrize("nonce", ["short", "has space 0123456789", "quote'0123456789abcdef"])
def test_a_nonce_that_could_break_the_policy_is_refused(nonce: str) -> None:
    with pytest.raises(ValueError, match="nonce"):
        security_headers(nonce)
