"""Idempotent creation without AWS: key rules, request fingerprints, and the claim → answer → store/replay
protocol against a fake record store."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.domain.errors import BadRequest, Conflict, ValidationFailed
from switchboard.runtime.runs import idempotency
from switchboard.runtime.runs.idempotency import StoredResponse, checked_key, fingerprint, once
from switchboard.store import idempotency as records
from switchboard.store.idempotency import COMPLETED, IN_PROGRESS, IdempotencyRecord, ResponseTooLarge


class FakeRecords:
    """The store's four operations over a dict, like the idempotency table."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.too_large = False

    def claim(self, app_id: str, key: str, fp: str, **_: int) -> IdempotencyRecord | None:
        held = self.items.get(f"{app_id}#{key}")
        if held is not None:
            return IdempotencyRecord(held["status"], held["fingerprint"], held.get("response"))
        self.items[f"{app_id}#{key}"] = {"status": IN_PROGRESS, "fingerprint": fp}
        return None

    def complete(self, app_id: str, key: str, fp: str, response: dict[str, Any]) -> None:
        if self.too_large:
            raise ResponseTooLarge("too large")
        self.items[f"{app_id}#{key}"] = {"status": COMPLETED, "fingerprint": fp, "response": response}

    def release(self, app_id: str, key: str, fp: str) -> None:
        self.items.pop(f"{app_id}#{key}", None)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeRecords:
    fake = FakeRecords()
    for name in ("claim", "complete", "release"):
        monkeypatch.setattr(records, name, getattr(fake, name))
    return fake


@pytest.mark.parametrize("key", ["a", "order-42", "x" * 255, "with space", "~!@#$%^&*()"])
def test_printable_keys_up_to_255_characters_are_accepted(key: str) -> None:
    assert checked_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\t", "new\nline", "é", "\x7f"])
def test_other_keys_are_400(key: str) -> None:
    with pytest.raises(BadRequest) as raised:
        checked_key(key)
    assert raised.value.error_code == "invalid_idempotency_key"


def test_no_key_means_no_idempotency() -> None:
    assert checked_key(None) is None


def test_a_fingerprint_ignores_key_order_but_not_values_or_the_operation() -> None:
    first = fingerprint("POST /v1/runs", {"input": {"a": 1, "b": [1, 2]}, "background": True})
    assert first == fingerprint("POST /v1/runs", {"background": True, "input": {"b": [1, 2], "a": 1}})
    assert first != fingerprint("POST /v1/runs", {"input": {"a": 1, "b": [2, 1]}, "background": True})
    assert first != fingerprint("POST /", {"input": {"a": 1, "b": [1, 2]}, "background": True})


def test_without_a_key_every_request_is_answered(store: FakeRecords) -> None:
    calls: list[int] = []

    def produce() -> StoredResponse:
        calls.append(1)
        return StoredResponse(200, {"n": len(calls)})

    assert once("app-1", None, "fp", produce).response.body == {"n": 1}
    assert once("app-1", None, "fp", produce).response.body == {"n": 2}
    assert store.items == {}


def test_the_first_answer_is_stored_and_replayed(store: FakeRecords) -> None:
    answer = StoredResponse(202, {"data": {"id": "run-1"}}, {"Location": "/v1/runs/run-1"})
    first = once("app-1", "k", "fp", lambda: answer)
    replay = once("app-1", "k", "fp", lambda: pytest.fail("a replay must not run again"))
    assert (first.replayed, replay.replayed) == (False, True)
    assert replay.response.status == 202
    assert replay.response.body == answer.body
    assert replay.response.headers == {"Location": "/v1/runs/run-1", "Idempotent-Replayed": "true"}


def test_a_stream_is_replayed_as_the_same_runs_stream(store: FakeRecords) -> None:
    once("app-1", "k", "fp", lambda: StoredResponse(200, stream_run_id="run-9"))
    assert once("app-1", "k", "fp", lambda: StoredResponse(500)).response.stream_run_id == "run-9"


def test_another_request_with_the_key_is_409_reused(store: FakeRecords) -> None:
    once("app-1", "k", "fp-1", lambda: StoredResponse(200, {}))
    with pytest.raises(Conflict) as raised:
        once("app-1", "k", "fp-2", lambda: StoredResponse(200, {}))
    assert raised.value.error_code == "idempotency_key_reused"


def test_the_same_request_while_the_first_is_answered_is_409_in_progress(store: FakeRecords) -> None:
    def produce() -> StoredResponse:
        with pytest.raises(Conflict) as raised:
            once("app-1", "k", "fp", lambda: StoredResponse(200, {}))
        assert raised.value.error_code == "idempotency_key_in_progress"
        return StoredResponse(200, {"first": True})

    assert once("app-1", "k", "fp", produce).response.body == {"first": True}


def test_a_request_that_fails_frees_its_key(store: FakeRecords) -> None:
    def refuse() -> StoredResponse:
        raise ValidationFailed("bad input")

    with pytest.raises(ValidationFailed):
        once("app-1", "k", "fp", refuse)
    assert store.items == {}
    assert once("app-1", "k", "fp", lambda: StoredResponse(200, {"ok": 1})).replayed is False


def test_an_answer_too_large_to_store_frees_the_key_instead(store: FakeRecords) -> None:
    store.too_large = True
    assert once("app-1", "k", "fp", lambda: StoredResponse(200, {})).response.status == 200
    assert store.items == {}


def test_keys_are_scoped_to_their_app(store: FakeRecords) -> None:
    once("app-1", "k", "fp-1", lambda: StoredResponse(200, {"app": 1}))
    assert once("app-2", "k", "fp-2", lambda: StoredResponse(200, {"app": 2})).response.body == {"app": 2}


def test_the_retention_is_a_day_and_the_lease_outlives_the_function_timeout() -> None:
    assert idempotency.RETENTION.total_seconds() == 24 * 3600
    assert idempotency.LEASE.total_seconds() > 29
