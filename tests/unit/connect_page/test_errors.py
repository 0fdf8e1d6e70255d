"""The wording of the connect page's error pages (no AWS)."""

from __future__ import annotations

import pytest

from switchboard.connect_page import error_wording


@pytest.mark.parametrize("code", ["invalid_token", "wrong_token_type"])
def test_a_token_problem_only_says_the_link_is_not_valid(code: str) -> None:
    # Given an error about the token, whatever its own message says
    # When the page words it
    title, message = error_wording(code, 401, "token sb_ct_x is unknown to app_1")
    # Then the end user learns only that the link is not valid, and what to do
    assert title == "This link is not valid"
    assert "ask it for a new link" in message
    assert "sb_ct_" not in message
    assert "app_1" not in message


def test_an_expired_token_says_so() -> None:
    assert error_wording("token_expired", 410, "expired at 12:00")[0] == "This link has expired"


@pytest.mark.parametrize(
    ("code", "status", "title"),
    [
        ("malformed_form", 400, "Bad request"),
        ("app_not_deployed", 409, "Not available yet"),
        ("upstream_failed", 502, "Error"),
    ],
)
def test_other_errors_get_a_title_for_their_status_and_keep_their_message(
    code: str, status: int, title: str
) -> None:
    assert error_wording(code, status, "the form could not be read") == (title, "the form could not be read")
