"""What JSON from a client may hold, judged on its text before any parser runs (``json_limits``): the
nesting depth, numbers DynamoDB can store, and no NaN or Infinity; strings never count."""

from __future__ import annotations

import json

import pytest

from switchboard import json_limits
from switchboard.json_limits import MAX_JSON_DEPTH, UnsafeJson


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_json_at_the_depth_limit_parses_and_one_level_more_is_refused() -> None:
    # Given documents nested to the limit, one level more, and 100 000 levels
    # When each is checked / Then the first parses and the others are refused as too deep, without recursion
    assert json_limits.loads(_nested(MAX_JSON_DEPTH)) == json.loads(_nested(MAX_JSON_DEPTH))
    for text in (_nested(MAX_JSON_DEPTH + 1), '{"a": ' * 100_000):
        with pytest.raises(UnsafeJson) as refused:
            json_limits.check_text(text)
        assert refused.value.code == "json_too_deep"


def test_brackets_and_numbers_inside_strings_do_not_count() -> None:
    # Given a string holding brackets, escaped quotes and long digits / When loaded / Then it is the value
    text = json.dumps({"a": "[{" * 1_000 + '\\"]' + "9" * 100, "b": "NaN"})
    assert json_limits.loads(text) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"n": ' + "9" * 39 + "}", "number_out_of_range"),
        ('{"n": 1e400}', "number_out_of_range"),
        ('{"n": 1e-200}', "number_out_of_range"),
        ('{"n": NaN}', "malformed_json"),
        ('{"n": -Infinity}', "malformed_json"),
    ],
)
def test_numbers_dynamodb_cannot_store_are_refused(text: str, code: str) -> None:
    # Given a number DynamoDB cannot store exactly / When checked / Then it is refused with its code
    with pytest.raises(UnsafeJson) as refused:
        json_limits.check_text(text)
    assert refused.value.code == code


@pytest.mark.parametrize("number", ["9" * 38, "-1.5e125", "1e-129", "0", "0.0", "12.75"])
def test_storable_numbers_pass(number: str) -> None:
    # Given a number within DynamoDB's range / When loaded / Then it is its value
    assert json_limits.loads('{"n": ' + number + "}") == {"n": json.loads(number)}
