"""Browser fixtures: one headless Chromium per session, handed to each test in a clean state.

    def test_something(browser: Chrome, screenshot: Screenshot) -> None:
        browser.get(url)
        ...
        screenshot("something-done")  # test-output/browser/something-done.png

The ``Screenshot`` type and helpers (``PHONE``, ``console_errors`` …) live in ``tests.browser.chromium``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver import Chrome

from tests.browser.chromium import Screenshot, require_browser, reset, save_screenshot, start_chromium


@pytest.fixture(scope="session")
def browser_session() -> Iterator[Chrome]:
    require_browser()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")
        driver = start_chromium()
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def browser(browser_session: Chrome) -> Iterator[Chrome]:
    """The session's browser with the previous test's tabs, cookies, cache and console log gone."""
    reset(browser_session)
    yield browser_session
    browser_session.get("about:blank")


@pytest.fixture
def screenshot(browser: Chrome) -> Screenshot:
    """``screenshot(name)`` saves the whole current page as ``test-output/browser/<name>.png``."""
    return lambda name: save_screenshot(browser, name)
