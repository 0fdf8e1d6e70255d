"""Suite-wide guard: no secret value may reach a log line or printed output of any test.

Every secret value the tests create contains ``SECRET_MARKER``; a test whose captured stdout, stderr or log
records contain it fails, whatever it asserted itself. ``tests.support.stack.moto_stack`` applies the same
rule to every DynamoDB item (records, events, traces) a test leaves behind.

Suite-wide guard too: every AWS call a function's handler makes is allowed by that function's role in the
SAM-transformed template (``tests.support.aws_calls``); a test whose handlers made a call the role does not
allow fails at teardown, naming the call and where it was made.
"""

from __future__ import annotations

import functools
from collections.abc import Generator, Iterator

import pytest

from switchboard import aws
from tests.support.aws_calls import CHECK
from tests.support.oauth_provider import oauth_provider

__all__ = ["oauth_provider"]
"""A real OAuth 2.0 authorization server, for any test that names it (tests/support/oauth_provider.py)."""

SECRET_MARKER = "SECRET-"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, object, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.passed:
        return
    captured = report.capstdout + report.capstderr + report.caplog
    if SECRET_MARKER in captured:
        report.outcome = "failed"
        report.longrepr = f"a secret value (marked {SECRET_MARKER!r}) reached a log line or printed output"


@pytest.fixture(scope="session", autouse=True)
def _observed_aws_sessions() -> Iterator[None]:
    """Every boto3 session ``switchboard.aws`` makes reports its calls to the check."""
    make_session = aws._session.__wrapped__

    @functools.cache
    def observed_session() -> object:
        return CHECK.observe(make_session())

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aws, "_session", observed_session)
        aws.reset()
        yield
    aws.reset()


@pytest.fixture(autouse=True)
def _aws_calls_within_roles(_observed_aws_sessions: None) -> Iterator[None]:
    first = len(CHECK.denied)
    yield
    denied = CHECK.denied[first:]
    del CHECK.denied[first:]
    if denied:
        calls = "\n".join(str(call) for call in denied)
        pytest.fail(f"AWS calls the function's role does not allow in template.yaml:\n{calls}", pytrace=False)
