"""The hosted connect page of a real deployed App, on the local stack, in headless Chromium: the builder's
backend mints a connect token, the end user opens its URL, fills in and submits the form, sees the success
state, and the requirement status then reports the user complete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.chromium import Screenshot, console_errors
from tests.e2e.conftest import LocalStackProcess, running_stack
from tests.e2e.requirement_world import build_requirement_app
from tests.support.workflows import REQUIREMENT_ID

pytestmark = pytest.mark.e2e

END_USER = "browser-user-7"
USER_API_KEY = "sk-browser-user-SECRET-8842"
CRM_URL = "https://crm.example.com/api"


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    """`switchboard local serve` in a subprocess, as the e2e tests run it."""
    yield from running_stack(tmp_path_factory)


def test_an_end_user_links_a_connection_on_the_hosted_page_and_becomes_complete(
    browser: Chrome, screenshot: Screenshot, local_stack: LocalStackProcess
) -> None:
    # Given a deployed App needing each end user's CRM key, and a connect URL its backend got for the user
    app = build_requirement_app(local_stack, name="Acme Support")
    assert app.status(END_USER)["status"] == "incomplete"
    url = app.connect_token(END_USER)["url"]
    assert url.startswith(f"{local_stack.base_url}/apps/{app.app_id}/connect?token=sb_ct_")

    # When the end user opens it
    browser.get(url)

    # Then the page names the App and shows the requirement, not yet connected
    assert browser.find_element(By.TAG_NAME, "h1").text == "Acme Support"
    section = browser.find_element(By.ID, REQUIREMENT_ID)
    assert section.find_element(By.TAG_NAME, "h2").text == "Connect your CRM"
    assert section.find_element(By.CSS_SELECTOR, ".status").text == "Not connected"

    # When they fill in the form and submit it
    browser.find_element(By.ID, "r0-url").send_keys(CRM_URL)
    browser.find_element(By.ID, "r0-api_key").send_keys(USER_API_KEY)
    section.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    # Then the page shows the success state
    notice = WebDriverWait(browser, 15).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".notice-success"))
    )
    assert notice.text == "CRM is connected."
    assert browser.find_element(By.CSS_SELECTOR, f"#{REQUIREMENT_ID} .status").text == "Connected"
    # ... without the key anywhere in it, and without a Content-Security-Policy violation
    assert USER_API_KEY not in browser.page_source
    assert console_errors(browser) == []
    # ... and a screenshot of it is written under the test output folder
    path = screenshot("connect-page-local-stack-linked")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    # And the App's backend now finds the user complete, the link active
    status = app.status(END_USER)
    assert status["status"] == "complete"
    assert [(entry["id"], entry["status"]) for entry in status["requirements"]] == [
        (REQUIREMENT_ID, "active")
    ]
    assert all(USER_API_KEY not in reply.text for reply in app.replies)
