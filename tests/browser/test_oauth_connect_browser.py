"""The hosted connect page's OAuth button in headless Chromium, on the local stack, through the real
authorization server's login and consent pages: the end user opens the connect URL, presses "Connect", signs
in, consents, lands on the stack's callback page, and the App's backend finds them linked as that account."""

from __future__ import annotations

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.chromium import Screenshot, console_errors
from tests.e2e.conftest import LocalStackProcess
from tests.e2e.oauth_world import CLIENT, deploy_oauth_app, stack_and_provider
from tests.support.oauth_provider import OAuthProvider

pytestmark = pytest.mark.e2e


__all__ = ["stack_and_provider"]  # the fixture, from its shared home


def test_an_end_user_connects_an_oauth_account_from_the_hosted_page(
    browser: Chrome, screenshot: Screenshot, stack_and_provider: tuple[LocalStackProcess, OAuthProvider]
) -> None:
    # Given a deployed App whose crm requirement is an account at the provider, and the user's connect URL
    stack, provider = stack_and_provider
    app = deploy_oauth_app(stack, provider, "Acme OAuth")
    browser.get(app.connect_token("browser-user-9")["url"])
    wait = WebDriverWait(browser, 15)
    # When they press the requirement's Connect button
    section = browser.find_element(By.ID, "crm")
    assert section.find_element(By.CSS_SELECTOR, ".status").text == "Not connected"
    section.find_element(By.CSS_SELECTOR, "a.button").click()
    # And sign in at the provider as carol, and consent
    wait.until(expected_conditions.presence_of_element_located((By.NAME, "login"))).send_keys("carol")
    browser.find_element(By.NAME, "password").send_keys("any")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "input[name=prompt]")))
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # Then the stack's callback page says the account is connected, with no console error
    # (the callback's URL first: the provider's pages have an h1 too, which goes stale as the page leaves)
    wait.until(lambda driver: driver.current_url.startswith(f"{stack.base_url}/v1/oauth2/callback"))
    heading = wait.until(expected_conditions.presence_of_element_located((By.TAG_NAME, "h1")))
    assert heading.text == "Account connected"
    assert "Linked as carol@example.test" in browser.page_source
    assert console_errors(browser) == []
    assert screenshot("oauth-connect-linked").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # And the App's backend finds the requirement active as carol, and no secret is on the page
    entry = app.requirement("browser-user-9")
    assert (entry["status"], entry["upstream"]["sub"]) == ("active", "carol")
    assert provider.clients[CLIENT].client_secret not in browser.page_source
