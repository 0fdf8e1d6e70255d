"""The executor reads the credentials function's answers tolerantly and its requests strictly."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from switchboard.runtime.credentials.contract import REQUEST_ADAPTER, CredentialsDocument


def test_an_answer_with_a_field_this_executor_does_not_know_is_still_read() -> None:
    # Given an answer from a newer credentials function (a field added in a later release)
    answer = {
        "credentials": {
            "connection:con-a": {"type": "http", "config": {"url": "https://x.test"}, "secret_fields": []}
        },
        "resolutions": [
            {
                "reference": "connection:con-a",
                "kind": "connection",
                "id": "con-a",
                "secret_version": "v1",
                "cached": True,
                "added_later": "anything",
            }
        ],
        "also_added_later": 1,
    }

    # Then it is read, and the unknown fields are dropped
    document = CredentialsDocument.model_validate(answer)
    assert document.resolutions[0].id == "con-a"
    assert "added_later" not in document.resolutions[0].model_dump()


def test_a_request_with_an_unknown_field_is_still_refused() -> None:
    with pytest.raises(ValidationError):
        REQUEST_ADAPTER.validate_python(
            {"run_id": "run-a", "app_id": "app-a", "connection_ids": [], "requirement_ids": [], "extra": 1}
        )
