"""Nodes that call out go through the egress guard (``steps.outbound``): a non-public address fails the node
with ``egress_blocked`` before anything is sent, the connection goes to the address that was checked, and
redirects are not followed. "Public" upstreams are the loopback targets, behind the explicit local switch or a
deployment's allowed CIDR."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from switchboard.egress import EgressPolicy, EgressRefused
from switchboard.engine.contracts import Credential
from switchboard.engine.steps.outbound import guarded_client
from switchboard.engine.steps.tls import http_ssl_context
from tests.support.fakes import Completion, FakeOpenAI, HttpTarget, Reply
from tests.unit.engine.harness import (
    LOOPBACK_ALLOWED,
    OPENAI,
    OPENAI_KEY,
    output,
    run,
    serialized,
    workflow,
)

PUBLIC_ONLY = EgressPolicy()
URL_INPUT = {"id": "in", "type": "input", "fields": [{"name": "url", "type": "string"}]}
FETCH = {"id": "fetch", "type": "http", "config": {"url": "$.input.url"}}


def _port(target: HttpTarget) -> int:
    return int(target.url.rsplit(":", 1)[1])


def _fetch_definition() -> Any:
    return workflow(URL_INPUT, FETCH, output(body="$.fetch.output.body"))


@pytest.mark.parametrize(
    "spelling",
    [
        "http://127.0.0.1:{port}/secret",
        "http://localhost:{port}/secret",
        "http://2130706433:{port}/secret",
        "http://0x7f000001:{port}/secret",
        "http://127.1:{port}/secret",
        "http://[::ffff:127.0.0.1]:{port}/secret",
        "http://user:pass@127.0.0.1:{port}/secret",
    ],
)
def test_a_url_from_the_run_input_cannot_reach_loopback_in_any_spelling(
    target: HttpTarget, spelling: str
) -> None:
    # Given a workflow whose http node takes its URL from the run input, on a deployment with no allow list,
    # and a loopback service holding a secret
    target.respond("/secret", Reply(body={"secret": "internal"}))
    url = spelling.format(port=_port(target))

    # When the caller points it at the service, in one of the spellings the OS reads as 127.0.0.1
    result, sink = run(_fetch_definition(), {"url": url}, egress=PUBLIC_ONLY)

    # Then the node failed egress_blocked (not retried), nothing reached the service, no body came back
    assert result.status == "failed"
    error = result.nodes["fetch"].error
    assert error is not None
    assert (error.type, error.details) == ("egress_blocked", {"reason": "address_not_allowed"})
    assert target.requests == []
    assert "internal" not in serialized(result, sink)


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/", "http://127.0.0.1:9001/2018-06-01/"],
)
def test_metadata_private_and_runtime_api_addresses_are_blocked_when_sending(url: str) -> None:
    # Given a URL from the run input to the metadata service, a private host or the Lambda Runtime API
    # When the node runs on a deployment with no allow list
    result, _ = run(_fetch_definition(), {"url": url}, egress=PUBLIC_ONLY)

    # Then it fails egress_blocked without a connection attempt (which would be a connection error)
    error = result.nodes["fetch"].error
    assert error is not None
    assert error.type == "egress_blocked"
    assert url not in error.message


def test_a_public_upstream_still_works_behind_the_local_switch(target: HttpTarget) -> None:
    # Given the same workflow, and the loopback target standing for a public upstream (the local switch on)
    target.respond("/ok", Reply(body={"fine": True}))
    url = f"http://localhost:{_port(target)}/ok"

    # When the caller points the node at it
    result, _ = run(_fetch_definition(), {"url": url}, egress=LOOPBACK_ALLOWED)

    # Then the request went out and the body came back
    assert result.status == "completed", result.error
    assert result.output == {"body": {"fine": True}}
    assert len(target.requests_to("/ok")) == 1


def test_a_deployment_allowed_cidr_is_reached_without_the_local_switch(target: HttpTarget) -> None:
    # Given a deployment that allows 127.0.0.0/8 through its allow list (the local switch off)
    target.respond("/ok", Reply(body={"fine": True}))
    allowed = EgressPolicy.parse("127.0.0.0/8")
    other = EgressPolicy.parse("10.0.0.0/8")
    url = f"http://127.0.0.1:{_port(target)}/ok"

    # When the node calls an address in that CIDR, and then under another allow list
    reached, _ = run(_fetch_definition(), {"url": url}, egress=allowed)
    refused, _ = run(_fetch_definition(), {"url": url}, egress=other)

    # Then the allowed CIDR is reached, and the other allow list does not open it
    assert reached.status == "completed", reached.error
    assert reached.output == {"body": {"fine": True}}
    assert refused.nodes["fetch"].error is not None
    assert refused.nodes["fetch"].error.type == "egress_blocked"
    assert len(target.requests_to("/ok")) == 1


def test_a_redirect_is_returned_not_followed(target: HttpTarget) -> None:
    # Given an allowed upstream that redirects to the metadata service
    target.respond("/start", Reply(status=302, headers={"Location": "http://169.254.169.254/latest/"}))
    node = FETCH | {"config": {"url": "$.input.url", "success_codes": [302]}}
    definition = workflow(URL_INPUT, node, output(status="$.fetch.output.status"))

    # When the node calls it
    result, _ = run(definition, {"url": f"{target.url}/start"}, egress=LOOPBACK_ALLOWED)

    # Then the 302 is the node's answer, and only the first request was made
    assert result.status == "completed", result.error
    assert result.output == {"status": 302}
    assert [request.path for request in target.requests] == ["/start"]


class CountingResolver:
    """Answers every name with ``addresses`` and counts the lookups."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = list(addresses)
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.addresses


def test_the_client_connects_to_the_checked_address_under_the_host_name(target: HttpTarget) -> None:
    # Given a name that only the guard's resolver knows (".invalid" never resolves in DNS), answered with the
    # target's address
    target.respond("/in", Reply(body={"ok": True}))
    resolver = CountingResolver("127.0.0.1")
    url = f"http://upstream.invalid:{_port(target)}/in?x=1"

    # When a guarded client sends a request there
    with guarded_client(LOOPBACK_ALLOWED, http_ssl_context(), 5, resolver) as client:
        response = client.get(url)

    # Then it was resolved once, connected to the checked address, and the Host header kept the name
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert resolver.lookups == ["upstream.invalid"]
    [request] = target.requests
    assert request.headers["host"] == f"upstream.invalid:{_port(target)}"
    assert request.query == {"x": ["1"]}


def test_a_name_resolving_inside_is_refused_before_connecting(target: HttpTarget) -> None:
    # Given a name that resolves to a public and a private address (a rebinding answer)
    resolver = CountingResolver("93.184.215.14", "10.0.0.5")

    # When a guarded client is asked to send there / Then the guard refuses and nothing was sent
    with (
        guarded_client(PUBLIC_ONLY, http_ssl_context(), 5, resolver) as client,
        pytest.raises(EgressRefused) as refused,
    ):
        client.get(f"http://upstream.invalid:{_port(target)}/in")
    assert refused.value.code == "address_not_allowed"
    assert target.requests == []


def test_an_unresolvable_name_is_a_connection_error_as_before_the_guard() -> None:
    with (
        guarded_client(PUBLIC_ONLY, http_ssl_context(), 5, CountingResolver()) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get("http://upstream.invalid/")


def _llm_node() -> dict[str, Any]:
    return {
        "id": "ask",
        "type": "llm",
        "connection": {"connection_id": OPENAI},
        "config": {"model": "gpt-test", "messages": [{"role": "user", "content": "Hi"}]},
    }


def test_an_llm_base_url_is_guarded_too(llm: FakeOpenAI) -> None:
    # Given an openai connection whose base_url is on loopback (the model on 127.0.0.1)
    llm.script(Completion(content="hello"))
    credential = Credential(
        f"connection:{OPENAI}", "openai", {"api_key": OPENAI_KEY, "base_url": llm.base_url}, (OPENAI_KEY,)
    )
    definition = workflow(URL_INPUT, _llm_node(), output(answer="$.ask.output.content"))

    # When it runs without the local switch, then with it
    blocked, _ = run(definition, {"url": "-"}, credentials=[credential], egress=PUBLIC_ONLY)
    assert llm.requests == []
    allowed, _ = run(definition, {"url": "-"}, credentials=[credential], egress=LOOPBACK_ALLOWED)

    # Then the first failed egress_blocked before any request, and the second reached the model
    error = blocked.nodes["ask"].error
    assert error is not None
    assert (error.type, error.details) == ("egress_blocked", {"reason": "address_not_allowed"})
    assert allowed.status == "completed", allowed.error
    assert allowed.output == {"answer": "hello"}
    assert len(llm.requests) == 1
