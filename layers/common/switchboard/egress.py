"""The egress guard: where a request made on behalf of a workflow or an App may go.

Every outbound request asks it first: http nodes, connection and link base URLs, llm/agent ``base_url``, run
callbacks and ``event_url`` deliveries (and any future node that calls out). The rule:

- ``http`` or ``https`` only (callbacks and event URLs: ``https``, see ``https_only``), a host, no
  credentials;
- the host is resolved (a literal address in any spelling the OS accepts, ``2130706433`` or ``127.1``
  included, is judged as that address) and refused when **any** of its addresses is not public: loopback,
  private (RFC 1918), link-local (the instance metadata service), CGNAT (100.64/10), unique-local,
  multicast, unspecified, reserved, documentation or benchmarking ranges, and the IPv4-mapped,
  IPv4-compatible, 6to4 and NAT64 forms of those (``non_public_kind`` names the range);
- the request then connects to an address that was checked (the clients pin it: ``webhooks.post`` for
  deliveries, ``engine.steps.outbound`` for nodes), so a DNS answer that changes in between cannot send it
  inside; redirects are not followed.

A deployment widens it with ``EgressPolicy``: ``EGRESS_ALLOW_LIST`` (the ``EgressAllowList`` template
parameter) names CIDRs whose addresses are allowed and host names whose addresses are not judged, and
``ALLOW_LOOPBACK_EGRESS=true`` (``switchboard local serve --allow-loopback-egress``; the older
``ALLOW_LOOPBACK_CALLBACKS`` / ``--allow-loopback-callbacks`` mean the same) allows loopback addresses and
plain ``http`` callbacks for local development: never private ranges, never on a deployed stack.

Messages never repeat the URL: it may come from a run's caller and be shown to others.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
RefusalCode = Literal[
    "invalid_url", "scheme_not_allowed", "credentials_in_url", "unresolvable_host", "address_not_allowed"
]
Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port)`` → every address the name resolves to, as text; raises ``OSError`` when it does not."""


class EgressRefused(Exception):
    """The destination may not be reached; ``code`` says why, the message never repeats the URL."""

    def __init__(self, code: RefusalCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _ranges(*pairs: tuple[str, str]) -> tuple[tuple[IPNetwork, str], ...]:
    return tuple((ipaddress.ip_network(cidr), kind) for cidr, kind in pairs)


_NON_PUBLIC_V4 = _ranges(
    ("0.0.0.0/8", "unspecified"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)
_NON_PUBLIC_V6 = _ranges(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "NAT64 (local use)"),
    ("100::/64", "discard"),
    ("2001::/23", "reserved"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: IPv4-mapped, 6to4, NAT64 or IPv4-compatible forms."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _unwrapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address):
        return embedded_ipv4(address) or address
    return address


def non_public_kind(address: IPAddress) -> str | None:
    """The kind of range a non-public address is in (``loopback``, ``private``, ``link-local`` …); None
    for a public unicast address. IPv6 forms of an IPv4 address are judged as that address."""
    address = _unwrapped(address)
    ranges = _NON_PUBLIC_V4 if isinstance(address, ipaddress.IPv4Address) else _NON_PUBLIC_V6
    for network, kind in ranges:
        if address in network:
            return kind
    # Whatever else the standard library does not call global (its table grows with new assignments).
    return None if address.is_global else "reserved"


@dataclass(frozen=True)
class EgressPolicy:
    """What a deployment allows beyond public addresses (nothing, by default)."""

    allow_loopback: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, allow_list: str, *, allow_loopback: bool = False) -> EgressPolicy:
        """``allow_list``: comma- or space-separated CIDRs (``10.20.0.0/16``, ``fd00:ec2::/32``, a bare
        address) and host names (``api.internal.example``). Raises ``ValueError`` naming a bad entry."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in allow_list.replace(",", " ").split():
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            labels = entry.rstrip(".").split(".")
            if "/" in entry or labels[-1].isdigit():
                raise ValueError(f"'{entry}' is not a CIDR")
            if not all(label.isascii() and label.replace("-", "").isalnum() for label in labels):
                raise ValueError(f"'{entry}' is neither a CIDR nor a host name")
            hosts.add(_host_key(entry))
        return cls(allow_loopback, tuple(networks), frozenset(hosts))

    def allows_address(self, address: IPAddress) -> bool:
        plain = _unwrapped(address)
        if any(plain in network for network in self.allowed_networks):
            return True
        kind = non_public_kind(plain)
        return kind is None or (kind == "loopback" and self.allow_loopback)

    def trusts_host(self, host: str) -> bool:
        return _host_key(host) in self.allowed_hosts


def current_policy() -> EgressPolicy:
    """The deployment's policy, from its settings (read once at cold start)."""
    from switchboard.settings import get_settings

    return get_settings().egress_policy


def _host_key(host: str) -> str:
    return host.lower().rstrip(".")


def system_resolver(host: str, port: int) -> list[str]:
    return [
        str(sockaddr[0]).split("%", 1)[0]
        for _family, _type, _proto, _name, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    ]


def literal_address(host: str) -> IPAddress | None:
    """The address a host written as a number stands for, as the OS reads it (``127.0.0.1``, ``127.1``,
    ``0x7f000001``, ``2130706433``, ``::ffff:127.0.0.1``); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, UnicodeError, ValueError):
        return None


def _resolved(host: str, port: int, resolver: Resolver | None) -> dict[str, IPAddress]:
    literal = literal_address(host)
    if literal is not None:
        return {str(literal): literal}
    try:
        answers = (resolver or system_resolver)(host, port)
        addresses = {text: ipaddress.ip_address(text) for text in answers}
    except (OSError, UnicodeError, ValueError):
        raise EgressRefused("unresolvable_host", "the host does not resolve") from None
    if not addresses:
        raise EgressRefused("unresolvable_host", "the host does not resolve")
    return addresses


def checked_addresses(
    host: str, port: int, policy: EgressPolicy, resolver: Resolver | None = None
) -> tuple[str, ...]:
    """Every address of ``host`` (IPv4 first), all allowed by ``policy``; else ``EgressRefused``."""
    addresses = _resolved(host, port, resolver)
    if not policy.trusts_host(host):
        for address in addresses.values():
            if not policy.allows_address(address):
                kind = non_public_kind(address) or "not allowed"
                raise EgressRefused(
                    "address_not_allowed", f"the host is or resolves to a non-public address ({kind})"
                )
    return tuple(sorted(addresses, key=lambda text: addresses[text].version))


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (the allowed addresses, IPv4 first) and what to ask for."""

    scheme: Literal["https", "http"]
    host: str
    port: int
    target: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class _Parts:
    scheme: Literal["https", "http"]
    host: str
    port: int
    target: str


def _parts(url: str, policy: EgressPolicy, *, https_only: bool) -> _Parts:
    if len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise EgressRefused("invalid_url", f"the URL must be at most {MAX_URL_LENGTH} characters, no spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EgressRefused("invalid_url", "the URL cannot be parsed") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or (https_only and scheme == "http" and not policy.allow_loopback):
        raise EgressRefused("scheme_not_allowed", "the URL must use https" if https_only else "use http(s)")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise EgressRefused("credentials_in_url", "the URL must not contain credentials")
    host = parts.hostname
    if not host:
        raise EgressRefused("invalid_url", "the URL has no host")
    if not host.isascii():
        raise EgressRefused("invalid_url", "write an internationalized host name in its xn-- (punycode) form")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return _Parts("https" if scheme == "https" else "http", host, port or DEFAULT_PORTS[scheme], target)


def check_url_form(url: str, policy: EgressPolicy, *, https_only: bool = False) -> None:
    """The URL's form alone (no resolution): for URLs a browser follows, not this service."""
    _parts(url, policy, https_only=https_only)


def check_url(
    url: str, policy: EgressPolicy, *, https_only: bool = False, resolver: Resolver | None = None
) -> Destination:
    """The whole rule, resolution included, right before sending; raises ``EgressRefused``."""
    parts = _parts(url, policy, https_only=https_only)
    addresses = checked_addresses(parts.host, parts.port, policy, resolver)
    return Destination(parts.scheme, parts.host, parts.port, parts.target, addresses)


def check_saved_url(
    url: str, policy: EgressPolicy, *, https_only: bool = False, resolver: Resolver | None = None
) -> None:
    """The rule when a URL is saved (a workflow literal, a connection, a link): its form, a literal
    address, and the addresses its name resolves to now. A name that does not resolve (yet, or from here)
    passes: sending checks again, and that check is the one that counts."""
    parts = _parts(url, policy, https_only=https_only)
    try:
        checked_addresses(parts.host, parts.port, policy, resolver)
    except EgressRefused as refused:
        if refused.code != "unresolvable_host":
            raise


def send_pinned(
    request: Any, policy: EgressPolicy, pool: Any, http: Any, resolver: Resolver | None = None
) -> Any:
    """Send ``request`` through ``pool`` to one of its host's checked addresses: the one home of the pinning
    rule for the two HTTP clients that share its API (``http`` is the ``httpx`` module for the engine's
    requests, ``httpx2`` for Authlib's requests to OAuth providers). ``http(s)`` only; the host resolved
    once and every address judged by ``policy``; the URL handed to the pool carries the address while the
    ``Host`` header and TLS (``sni_hostname``) keep the name, so a DNS answer that changes after the check
    (rebinding) cannot send the request elsewhere. A refused destination raises ``EgressRefused``; a host
    that does not resolve, or no address that accepts the connection, is the client's ``ConnectError``."""
    url = request.url
    if url.scheme not in DEFAULT_PORTS:
        raise EgressRefused("scheme_not_allowed", "a request must use http(s)")
    host = url.raw_host.decode("ascii")
    try:
        addresses = checked_addresses(host, url.port or DEFAULT_PORTS[url.scheme], policy, resolver)
    except EgressRefused as refused:
        if refused.code == "unresolvable_host":
            raise http.ConnectError(refused.message, request=request) from None
        raise
    failure: Exception | None = None
    for address in addresses:
        pinned = http.Request(
            request.method,
            url.copy_with(host=address),
            headers=request.headers,  # its Host header names the host, not the address
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": host},
        )
        try:
            return pool.handle_request(pinned)
        except http.ConnectError as error:  # nothing was sent: the next checked address may answer
            failure = error
    assert failure is not None  # checked_addresses never answers an empty tuple
    raise failure
