"""Where webhooks may go, and sending one there.

Outbound rule (callbacks when they are given, and again at every delivery attempt): the URL is ``https``, has
a host and no credentials, and every address its host resolves to (``getaddrinfo``) is public. Loopback,
private (RFC 1918, IPv6 ULA), link-local (so the instance metadata service), CGNAT (100.64/10), multicast,
reserved, unspecified and documentation ranges are refused, in IPv4, IPv6, IPv4-mapped, 6to4 and NAT64
forms; a literal IP is judged the same way. Any port is allowed.

``ALLOW_LOOPBACK_CALLBACKS=true`` (settings ``allow_loopback_callbacks``; the local stack's
``--allow-loopback-callbacks``) additionally allows ``http`` and loopback addresses, never private ranges.
It exists for local development and must stay off in deployed stacks.

A delivery connects to the very addresses that were checked (the host's name still goes into ``Host`` and TLS
SNI, and the certificate is verified against it), so a DNS answer that changes between check and connect
cannot redirect it inside. Redirects are not followed; they count as failures.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
DEFAULT_TIMEOUT_SECONDS = 10.0
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HTTP_DEFAULT_PORTS = {"https": 443, "http": 80}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RejectionCode = Literal[
    "invalid_url", "scheme_not_allowed", "credentials_in_url", "unresolvable_host", "address_not_allowed"
]


class UrlRejected(Exception):
    """The URL may not receive webhooks; ``code`` says why, the message never repeats the URL."""

    def __init__(self, code: RejectionCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (the allowed addresses, IPv4 first) and what to ask for."""

    scheme: Literal["https", "http"]
    host: str
    port: int
    target: str
    addresses: tuple[str, ...]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _unwrapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return embedded
    return address


def is_allowed_address(address: IPAddress, allow_loopback: bool = False) -> bool:
    """Public unicast only; with ``allow_loopback``, loopback too."""
    address = _unwrapped(address)
    if address.is_loopback:
        return allow_loopback
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_reserved
        or address.is_link_local
        or address.is_unspecified
    )


def check_url_form(url: str, allow_loopback: bool = False) -> tuple[str, str, int, str]:
    """Scheme, host, port and request target of a syntactically acceptable URL (no resolution)."""
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UrlRejected("invalid_url", f"the URL must be at most {MAX_URL_LENGTH} characters, no spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRejected("invalid_url", "the URL cannot be parsed") from None
    scheme = parts.scheme.lower()
    if scheme != "https" and not (allow_loopback and scheme == "http"):
        raise UrlRejected("scheme_not_allowed", "the URL must use https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRejected("credentials_in_url", "the URL must not contain credentials; use auth instead")
    host = parts.hostname
    if not host:
        raise UrlRejected("invalid_url", "the URL has no host")
    if not host.isascii():
        raise UrlRejected("invalid_url", "write an internationalized host name in its xn-- (punycode) form")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return scheme, host, port or _HTTP_DEFAULT_PORTS[scheme], target


def resolve_allowed(host: str, port: int, allow_loopback: bool = False) -> tuple[str, ...]:
    """Every address of ``host``, IPv4 first; refused unless every one of them is allowed."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UrlRejected("unresolvable_host", "the URL's host does not resolve") from None
    addresses: dict[str, IPAddress] = {}
    for _family, _type, _proto, _canonical, sockaddr in answers:
        text = str(sockaddr[0]).split("%", 1)[0]
        try:
            addresses[text] = ipaddress.ip_address(text)
        except ValueError:
            raise UrlRejected("unresolvable_host", "the URL's host resolves to an invalid address") from None
    if not addresses:
        raise UrlRejected("unresolvable_host", "the URL's host does not resolve")
    if not all(is_allowed_address(address, allow_loopback) for address in addresses.values()):
        raise UrlRejected("address_not_allowed", "the URL's host resolves to a non-public address")
    return tuple(sorted(addresses, key=lambda text: addresses[text].version))


def check_url(url: str, allow_loopback: bool = False) -> Destination:
    """The outbound rule, resolution included; raises ``UrlRejected``."""
    scheme, host, port, target = check_url_form(url, allow_loopback)
    addresses = resolve_allowed(host, port, allow_loopback)
    return Destination("https" if scheme == "https" else "http", host, port, target, addresses)


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: Literal["timeout", "connection_error", "tls_error", "invalid_response"] | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _connect_to(addresses: tuple[str, ...], port: int, timeout: float) -> socket.socket:
    """Like ``socket.create_connection``, but only to the checked addresses."""
    last_error: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as error:
            last_error = error
    raise last_error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._create_connection = lambda *_args, **_kwargs: _connect_to(
            destination.addresses, destination.port, timeout
        )


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(
            destination.host, destination.port, timeout=timeout, context=ssl.create_default_context()
        )
        self._create_connection = lambda *_args, **_kwargs: _connect_to(
            destination.addresses, destination.port, timeout
        )


def post(
    destination: Destination, body: bytes, headers: dict[str, str], timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> PostResult:
    """POST once; ``timeout`` bounds connecting and each read. The response body is not read."""
    connection: http.client.HTTPConnection = (
        _PinnedHTTPSConnection(destination, timeout)
        if destination.scheme == "https"
        else _PinnedHTTPConnection(destination, timeout)
    )
    started = time.monotonic()
    status_code: int | None = None
    error: Literal["timeout", "connection_error", "tls_error", "invalid_response"] | None = None
    try:
        connection.request("POST", destination.target, body=body, headers=headers)
        status_code = connection.getresponse().status
    except TimeoutError:
        error = "timeout"
    except ssl.SSLError:
        error = "tls_error"
    except http.client.HTTPException:
        error = "invalid_response"
    except OSError:
        error = "connection_error"
    finally:
        connection.close()
    return PostResult(status_code, error, int((time.monotonic() - started) * 1000))
