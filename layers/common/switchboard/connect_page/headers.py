"""Response headers of every connect page: a strict CSP whose only allowance is the page's own <style>."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

HTML_CONTENT_TYPE = "text/html; charset=utf-8"
_HOST = re.compile(r"^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$")


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def security_headers(nonce: str, return_origin: str | None = None) -> dict[str, str]:
    """``return_origin`` (the return URL or its origin) may receive the redirect that follows a submit."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,}", nonce):
        raise ValueError("a CSP nonce must be at least 16 base64url characters")
    form_action = "'self'" if return_origin is None else f"'self' {origin_of(return_origin)}"
    policy = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; form-action {form_action}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL; anything else (it lands in a header) is refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not _HOST.match(parts.netloc or ""):
        raise ValueError("a return origin must be an http(s) URL without credentials")
    return f"{parts.scheme}://{parts.netloc.lower()}"
