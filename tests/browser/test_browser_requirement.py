"""The browser tests' rule for a missing browser: skip on a developer's machine, fail under CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import chromium


@pytest.fixture
def no_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chromium, "CHROMIUM", str(tmp_path / "chromium"))


def test_a_missing_browser_skips_locally(no_chromium: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"):
        chromium.require_browser()


@pytest.mark.parametrize("ci", ["true", "1"])
def test_a_missing_browser_fails_under_ci(
    no_chromium: None, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        chromium.require_browser()


def test_ci_set_to_false_counts_as_local(no_chromium: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        chromium.require_browser()
