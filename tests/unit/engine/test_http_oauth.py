"""The http step through an OAuth credential: the bearer access token, one refreshed token and one more try
on a 401 (the executor's refresher, ``RunContext.refresh_credential``, stands for the credentials function),
and a credential without a usable token."""

from __future__ import annotations

from typing import Any

from switchboard.engine.contracts import Credential, NodeError, RunResult
from tests.support.fakes import HttpTarget, Reply
from tests.unit.engine.harness import INPUT, OAUTH, output, run, serialized, spans_of, workflow

OLD_TOKEN = "access-SECRET-old-0123456789"
NEW_TOKEN = "access-SECRET-new-0123456789"
KEY = f"connection:{OAUTH}"


def _credential(target: HttpTarget, token: str, version: int) -> Credential:
    config = {"url": target.url, "access_token": token, "expires_at": 2_000_000_000, "token_version": version}
    return Credential(KEY, "oauth2", config, (token,))


class Refresher:
    """Answers each ask with the next token, and keeps what it was asked with."""

    def __init__(self, target: HttpTarget, token: str | None) -> None:
        self.target = target
        self.token = token
        self.asked: list[Credential] = []

    def __call__(self, used: Credential) -> Credential | None:
        self.asked.append(used)
        return None if self.token is None else _credential(self.target, self.token, 1)


def _definition(retries: int = 0, **config: Any) -> Any:
    node = {
        "id": "call",
        "type": "http",
        "connection": {"connection_id": OAUTH},
        "config": config,
        "error_handling": {"retries": retries, "backoff_seconds": 0},
    }
    return workflow(INPUT, node, output(b="$.call.output"))


def _bearers(target: HttpTarget) -> list[str]:
    return [request.headers["authorization"] for request in target.requests_to("/me")]


def _call_refusing_upstream(target: HttpTarget, refresher: Refresher) -> RunResult:
    """A node calls an upstream that answers every request 401, with the old token at version 0."""
    target.respond("/me", Reply(status=401, body={"error": "invalid_token"}))
    result, _ = run(
        _definition(path="/me"), credentials=[_credential(target, OLD_TOKEN, 0)], refresh_credential=refresher
    )
    return result


def test_an_oauth_credential_sends_its_access_token_and_the_output_never_shows_it(target: HttpTarget) -> None:
    # Given an upstream that echoes the request, and an OAuth credential
    target.respond("/me", Reply(echo=True))
    # When a node calls it
    result, sink = run(_definition(path="/me"), credentials=[_credential(target, OLD_TOKEN, 0)])
    # Then the request carried the bearer token, which nothing leaving the engine shows
    assert result.status == "completed"
    assert _bearers(target) == [f"Bearer {OLD_TOKEN}"]
    assert OLD_TOKEN not in serialized(result, sink)


def test_a_401_gets_one_refreshed_token_and_the_request_is_sent_once_more(target: HttpTarget) -> None:
    # Given an upstream that refuses the first token and then echoes, and a refresher with a newer token
    target.respond("/me", Reply(status=401, body={"error": "invalid_token"}), Reply(echo=True))
    refresher = Refresher(target, NEW_TOKEN)
    used = _credential(target, OLD_TOKEN, 0)
    # When a node calls it
    result, sink = run(_definition(path="/me"), credentials=[used], refresh_credential=refresher)
    # Then it asked once with the credential it used, retried with the new token and completed
    assert result.status == "completed", result.nodes["call"].error
    assert refresher.asked == [used]
    assert _bearers(target) == [f"Bearer {OLD_TOKEN}", f"Bearer {NEW_TOKEN}"]
    assert result.authorization_failures == []
    # And the attempt's span records the refresh; neither token leaves the engine
    (attempt,) = spans_of(result, "attempt")
    assert attempt.attributes["credential.refreshed"] is True
    assert attempt.attributes["http.status_code"] == 200
    shown = serialized(result, sink)
    assert OLD_TOKEN not in shown
    assert NEW_TOKEN not in shown


def test_a_401_to_the_refreshed_token_fails_unauthorized_after_one_retry(target: HttpTarget) -> None:
    # Given an upstream that refuses every token, and a refresher with a newer one
    refresher = Refresher(target, NEW_TOKEN)
    # When a node calls it
    result = _call_refusing_upstream(target, refresher)
    # Then one refresh, one retry, and the node fails unauthorized, reported for the credential with the
    # token version it had just been refreshed to
    error = result.nodes["call"].error
    assert error is not None
    assert error.type == "connection_unauthorized"
    assert len(refresher.asked) == 1
    assert len(target.requests_to("/me")) == 2
    assert [
        (f.credential_key, f.status_code, f.refreshed_token_version) for f in result.authorization_failures
    ] == [(KEY, 401, 1)]


def test_a_401_without_a_refreshed_token_fails_unauthorized_at_once(target: HttpTarget) -> None:
    # Given an upstream that refuses the token, and no refresh to be had
    refresher = Refresher(target, None)
    # When a node calls it
    result = _call_refusing_upstream(target, refresher)
    # Then the node fails unauthorized after the one request
    error = result.nodes["call"].error
    assert error is not None
    assert error.type == "connection_unauthorized"
    assert len(target.requests_to("/me")) == 1
    failures = result.authorization_failures
    assert [(f.status_code, f.refreshed_token_version) for f in failures] == [(401, None)]


def test_an_unusable_credential_fails_its_node_without_a_request_or_a_retry(target: HttpTarget) -> None:
    # Given an OAuth credential the credentials function could not refresh (the grant is gone)
    target.respond("/me", Reply(echo=True))
    expired = Credential(
        KEY,
        "oauth2",
        {"url": target.url},
        unusable=NodeError("oauth2_link_expired", "the provider refused the refresh token (invalid_grant)"),
    )
    # When a node with retries calls the upstream through it
    result, _ = run(_definition(retries=2, path="/me"), credentials=[expired])
    # Then it fails with the credential's own error after one attempt, and nothing was sent
    error = result.nodes["call"].error
    assert error is not None
    assert (error.type, error.message) == (
        "oauth2_link_expired",
        "the provider refused the refresh token (invalid_grant)",
    )
    assert len(spans_of(result, "attempt")) == 1
    assert target.requests_to("/me") == []
