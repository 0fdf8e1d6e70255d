"""The egress guard (``switchboard.egress``): the address classifier, the URL rule, resolution through an
injected resolver, the local loopback switch and a deployment's allow list (no AWS, no network)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from switchboard.egress import (
    EgressPolicy,
    EgressRefused,
    check_saved_url,
    check_url,
    current_policy,
    literal_address,
    non_public_kind,
)
from switchboard.settings import SettingsError, get_settings
from tests.support.stack import SETTINGS_ENV

PUBLIC_ONLY = EgressPolicy()
LOOPBACK_ALLOWED = EgressPolicy(allow_loopback=True)


class Resolver:
    """A DNS stand-in: each name resolves to the addresses given; records every lookup."""

    def __init__(self, **answers: Sequence[str]) -> None:
        self.answers = {name.replace("_", "."): list(addresses) for name, addresses in answers.items()}
        self.lookups: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        if host not in self.answers:
            raise OSError("Name or service not known")
        return self.answers[host]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.1.1", "shared address space (CGNAT)"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address judged, not bound)
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "documentation"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fd00::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::127.0.0.1", "loopback"),
        ("2002:a00:1::", "private"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("64:ff9b::a00:5", "private"),
    ],
)
def test_the_classifier_names_the_range_of_a_non_public_address(address: str, kind: str) -> None:
    # Given a literal non-public address (IPv4, IPv6, or an IPv6 form of an IPv4 one)
    # When it is classified / Then its range is named, and no policy without an allow list accepts it
    parsed = ipaddress.ip_address(address)
    assert non_public_kind(parsed) == kind
    assert not PUBLIC_ONLY.allows_address(parsed)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_the_classifier_accepts_public_addresses(address: str) -> None:
    # Given a public unicast address (or an IPv6 form of one) / Then it is public and allowed
    parsed = ipaddress.ip_address(address)
    assert non_public_kind(parsed) is None
    assert PUBLIC_ONLY.allows_address(parsed)


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
        ("example.com", None),
    ],
)
def test_a_host_written_as_a_number_is_read_as_the_os_reads_it(spelling: str, address: str | None) -> None:
    expected = ipaddress.ip_address(address) if address else None
    assert literal_address(spelling) == expected


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://localhost:9001/2018-06-01/runtime/invocation/next", "address_not_allowed"),
        ("http://127.0.0.1:9001/", "address_not_allowed"),
        ("http://2130706433/", "address_not_allowed"),
        ("http://0x7f000001/", "address_not_allowed"),
        ("http://127.1/", "address_not_allowed"),
        ("http://[::ffff:127.0.0.1]/", "address_not_allowed"),
        ("http://user@127.0.0.1/", "credentials_in_url"),
        ("http://example.com@127.0.0.1/", "credentials_in_url"),
        ("http://169.254.169.254/latest/meta-data/", "address_not_allowed"),
        ("http://10.0.0.5/", "address_not_allowed"),
        ("https://[::1]:8443/", "address_not_allowed"),
        ("https://[fd00::1]/", "address_not_allowed"),
        ("https://[2002:a00:1::]/", "address_not_allowed"),
        ("https://[64:ff9b::a9fe:a9fe]/", "address_not_allowed"),
        ("ftp://example.com/", "scheme_not_allowed"),
        ("file:///etc/passwd", "scheme_not_allowed"),
        ("gopher://example.com/", "scheme_not_allowed"),
        ("https:///path", "invalid_url"),
        ("https://example.com/a b", "invalid_url"),
        ("https://example.com:99999/", "invalid_url"),
        ("https://bücher.example/", "invalid_url"),
        ("not a url", "invalid_url"),
    ],
)
def test_urls_the_guard_refuses(url: str, code: str) -> None:
    # Given a URL to a non-public address (in any spelling), another scheme, credentials or a bad form,
    # and a resolver that answers "localhost" with loopback
    resolver = Resolver(localhost=["127.0.0.1", "::1"])
    # When it is checked before sending / Then it is refused with a code, and the message omits the URL
    with pytest.raises(EgressRefused) as refused:
        check_url(url, PUBLIC_ONLY, resolver=resolver)
    assert refused.value.code == code
    assert url not in refused.value.message


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://example.com/hook", "scheme_not_allowed"),
        ("https://token@example.com/hook", "credentials_in_url"),
    ],
)
def test_webhook_urls_must_be_https_without_credentials(url: str, code: str) -> None:
    with pytest.raises(EgressRefused) as refused:
        check_url(url, PUBLIC_ONLY, https_only=True, resolver=Resolver(example_com=["93.184.215.14"]))
    assert refused.value.code == code


@pytest.mark.parametrize(
    "url", ["https://8.8.8.8/hook", "http://93.184.215.14:8443/a?b=c", "https://[2606:4700:4700::1111]/x"]
)
def test_public_literal_addresses_on_any_port_are_allowed(url: str) -> None:
    destination = check_url(url, PUBLIC_ONLY, resolver=Resolver())
    assert destination.addresses == (str(literal_address(destination.host)),)


def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    # Given a name that resolves to one public and one private address
    resolver = Resolver(api_example_com=["93.184.215.14", "10.1.2.3"])
    # When it is checked / Then it is refused, after asking the resolver for that host and port
    with pytest.raises(EgressRefused) as refused:
        check_url("https://api.example.com:8443/in", PUBLIC_ONLY, resolver=resolver)
    assert refused.value.code == "address_not_allowed"
    assert "private" in refused.value.message
    assert resolver.lookups == [("api.example.com", 8443)]


def test_a_name_resolving_only_to_public_addresses_is_allowed_ipv4_first() -> None:
    resolver = Resolver(api_example_com=["2606:4700:4700::1111", "93.184.215.14"])
    destination = check_url("https://api.example.com/in?x=1", PUBLIC_ONLY, resolver=resolver)
    assert (destination.scheme, destination.host, destination.port) == ("https", "api.example.com", 443)
    assert destination.target == "/in?x=1"
    assert destination.addresses == ("93.184.215.14", "2606:4700:4700::1111")


def test_a_name_that_does_not_resolve_is_refused_when_sending_but_passes_when_saving() -> None:
    # Given a name the resolver does not know
    resolver = Resolver()
    # When it is checked before sending / Then it is refused as unresolvable
    with pytest.raises(EgressRefused) as refused:
        check_url("https://nowhere.example.com/", PUBLIC_ONLY, resolver=resolver)
    assert refused.value.code == "unresolvable_host"
    # When it is saved / Then it passes (the check when sending is the one that counts)
    check_saved_url("https://nowhere.example.com/", PUBLIC_ONLY, resolver=resolver)
    # But a literal non-public address is refused at save
    with pytest.raises(EgressRefused):
        check_saved_url("http://169.254.169.254/", PUBLIC_ONLY, resolver=resolver)


def test_the_local_switch_allows_loopback_and_http_webhooks_but_never_private_ranges() -> None:
    # Given the local loopback switch
    resolver = Resolver(localhost=["127.0.0.1"], internal_example=["10.0.0.1"])
    # Then loopback, literal or by name, is allowed, and webhooks may use http
    literal = check_url("http://127.0.0.1:8080/", LOOPBACK_ALLOWED, resolver=resolver)
    assert literal.addresses == ("127.0.0.1",)
    named = check_url("http://localhost:3000/", LOOPBACK_ALLOWED, https_only=True, resolver=resolver)
    assert (named.scheme, named.addresses) == ("http", ("127.0.0.1",))
    # And private, link-local and CGNAT addresses are still refused
    inside = (
        "http://internal.example/",
        "http://169.254.169.254/",
        "http://100.64.1.1/",
        "http://[fd00::1]/",
    )
    for url in inside:
        with pytest.raises(EgressRefused):
            check_url(url, LOOPBACK_ALLOWED, resolver=resolver)


def test_a_deployment_allow_list_opens_its_cidrs_and_hosts_only() -> None:
    # Given a deployment that allows one private CIDR and one internal host name
    policy = EgressPolicy.parse("10.20.0.0/16, fd00:ec2::/32 api.internal.example,1st.internal.example")
    assert policy.trusts_host("1st.internal.example")
    resolver = Resolver(api_internal_example=["10.99.0.7"], other_internal_example=["10.99.0.8"])
    # Then addresses in the CIDR, and the named host whatever it resolves to, are allowed
    assert check_url("http://10.20.3.4/", policy, resolver=resolver).addresses == ("10.20.3.4",)
    assert check_url("http://[fd00:ec2::23]/", policy, resolver=resolver).addresses == ("fd00:ec2::23",)
    assert check_url("https://API.internal.example/x", policy, resolver=resolver).addresses == ("10.99.0.7",)
    # And the rest of the private ranges, other hosts and loopback stay refused
    for url in ("http://10.21.0.1/", "https://other.internal.example/", "http://127.0.0.1/"):
        with pytest.raises(EgressRefused):
            check_url(url, policy, resolver=resolver)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "10.0.0.300", "not a host!", "api_internal", "a..b"])
def test_an_allow_list_entry_that_is_neither_a_cidr_nor_a_host_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match=r"is not a CIDR|neither a CIDR nor a host name"):
        EgressPolicy.parse(entry)


def test_the_deployment_policy_is_read_from_the_environment_once_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the settings of a stack with an allow list and the local switch
    for name, value in SETTINGS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EGRESS_ALLOW_LIST", "10.20.0.0/16,api.internal.example")
    monkeypatch.setenv("ALLOW_LOOPBACK_EGRESS", "true")
    get_settings.cache_clear()
    try:
        # When the current policy is read / Then it holds both
        policy = current_policy()
        assert policy.allows_address(ipaddress.ip_address("10.20.0.1"))
        assert policy.allows_address(ipaddress.ip_address("127.0.0.1"))
        assert policy.trusts_host("api.internal.example")
        assert not policy.allows_address(ipaddress.ip_address("10.21.0.1"))
        # And an entry that is neither a CIDR nor a host name stops the cold start, naming the variable
        monkeypatch.setenv("EGRESS_ALLOW_LIST", "10.0.0.0/33")
        get_settings.cache_clear()
        with pytest.raises(SettingsError, match="EGRESS_ALLOW_LIST"):
            current_policy()
    finally:
        get_settings.cache_clear()
