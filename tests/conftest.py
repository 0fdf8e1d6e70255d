"""Suite-wide guard: no secret value may reach a log line or printed output of any test.

Every secret value the tests create contains ``SECRET_MARKER``; a test whose captured stdout, stderr or log
records contain it fails, whatever it asserted itself. ``tests.support.stack.moto_stack`` applies the same
rule to every DynamoDB item (records, events, traces) a test leaves behind.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

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
