"""The hosted connect page in headless Chromium, served with its security headers from a loopback server.

The server plays the Apps API's part: it renders the page for a known token, checks the CSRF value, parses
the submitted form with ``form_config`` and the connection type's model, and answers with the new state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from switchboard.connect_page import (
    HTML_CONTENT_TYPE,
    ConnectPageView,
    Notice,
    RequirementView,
    field_errors,
    form_config,
    form_fields,
    new_nonce,
    refill_values,
    render_error,
    render_page,
    security_headers,
)
from switchboard.domain.connection_types import HttpApiKeyConfig, parse_config
from switchboard.domain.errors import ValidationFailed
from tests.browser.chromium import PHONE, Screenshot, console_errors

TOKEN = "sb_ct_browser-test-token"
CSRF = "csrf-for-crm"
API_KEY = "SECRET-browser-api-key"
BLUE_BUTTON = "rgba(9, 105, 218, 1)"


CRM = RequirementView(
    id="crm",
    title="CRM",
    description="Your CRM account, used to look up customers.",
    connection_type="http_api_key",
    status="missing",
    csrf=CSRF,
    fields=form_fields(HttpApiKeyConfig),
)


@dataclass
class ConnectPageServer:
    """One App with one ``http_api_key`` requirement; records every accepted config."""

    base_url: str = ""
    linked: list[dict[str, Any]] = field(default_factory=list)
    requirement: RequirementView = CRM

    def page(self, requirement: RequirementView, notice: Notice | None, nonce: str) -> str:
        view = ConnectPageView(
            app_name="Acme Support",
            token=TOKEN,
            action="/connect",
            nonce=nonce,
            requirements=(requirement,),
            notice=notice,
        )
        return render_page(view)

    def get(self, query: dict[str, list[str]], nonce: str) -> tuple[int, str]:
        if query.get("token") != [TOKEN]:
            return 401, render_error(
                401, "This link is not valid", "Ask the app for a new link.", nonce=nonce
            )
        return 200, self.page(self.requirement, None, nonce)

    def post(self, form: dict[str, list[str]], nonce: str) -> tuple[int, str]:
        if form.get("token") != [TOKEN] or form.get("csrf") != [CSRF]:
            return 403, render_error(403, "Request refused", "Open the link again and retry.", nonce=nonce)
        try:
            config = parse_config("http_api_key", form_config(HttpApiKeyConfig, form))
        except ValidationFailed as error:
            failed = replace(
                self.requirement,
                values=refill_values(HttpApiKeyConfig, form),
                errors=field_errors(error.details),
            )
            notice = Notice("error", "Check the highlighted fields.")
            return 422, self.page(failed, notice, nonce)
        self.linked.append(config.public_part() | config.secret_part())
        self.requirement = replace(self.requirement, status="active")
        return 200, self.page(self.requirement, Notice("success", "CRM is connected."), nonce)


@pytest.fixture
def connect_server() -> Iterator[ConnectPageServer]:
    app = ConnectPageServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            nonce, url = new_nonce(), urlsplit(self.path)
            if url.path != "/connect":
                self.answer(nonce, 404, render_error(404, "Not found", "No such page.", nonce=nonce))
                return
            self.answer(nonce, *app.get(parse_qs(url.query), nonce))

        def do_POST(self) -> None:
            nonce = new_nonce()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            self.answer(nonce, *app.post(parse_qs(body, keep_blank_values=True), nonce))

        def answer(self, nonce: str, status: int, html: str) -> None:
            payload = html.encode()
            self.send_response(status)
            for name, value in {**security_headers(nonce), "Content-Type": HTML_CONTENT_TYPE}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on what it needs."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    app.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _notice(browser: Chrome) -> str:
    wait = WebDriverWait(browser, 10)
    return str(wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".notice"))).text)


def test_an_end_user_links_a_connection_through_the_page(
    browser: Chrome, screenshot: Screenshot, connect_server: ConnectPageServer
) -> None:
    # Given the connect page opened from its connect URL
    browser.get(f"{connect_server.base_url}/connect?token={TOKEN}#crm")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Acme Support"
    assert browser.find_element(By.CSS_SELECTOR, "#crm .status").text == "Not connected"
    # ... styled by its nonce'd stylesheet, which the strict CSP lets through
    button = browser.find_element(By.CSS_SELECTOR, "#crm button[type=submit]")
    assert button.value_of_css_property("background-color") == BLUE_BUTTON

    # When the end user fills in the form and submits it
    browser.find_element(By.ID, "r0-url").send_keys("https://crm.example.com/api")
    browser.find_element(By.ID, "r0-api_key").send_keys(API_KEY)
    header = browser.find_element(By.ID, "r0-header")
    header.clear()
    header.send_keys("X-Api-Key")
    button.click()

    # Then the page shows the success state
    assert _notice(browser) == "CRM is connected."
    assert browser.find_element(By.CSS_SELECTOR, "#crm .status").text == "Connected"
    # ... the server received exactly the config that was typed, secret included
    assert connect_server.linked == [
        {"url": "https://crm.example.com/api", "api_key": API_KEY, "header": "X-Api-Key", "scheme": "Bearer"}
    ]
    # ... the secret is not echoed, and the browser saw no policy violation
    assert API_KEY not in browser.page_source
    assert console_errors(browser) == []
    # ... and a screenshot of the result is written
    path = screenshot("connect-page-linked")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert path.stat().st_size > 5_000


def test_a_rejected_submit_on_a_phone_keeps_what_was_typed_except_the_secret(
    browser: Chrome, screenshot: Screenshot, connect_server: ConnectPageServer
) -> None:
    # Given the page on a phone-sized window
    browser.set_window_size(*PHONE)
    browser.get(f"{connect_server.base_url}/connect?token={TOKEN}")
    # When a URL the browser accepts but the connection type refuses is submitted
    browser.find_element(By.ID, "r0-url").send_keys("ftp://crm.example.com")
    browser.find_element(By.ID, "r0-api_key").send_keys(API_KEY)
    browser.find_element(By.CSS_SELECTOR, "#crm button[type=submit]").click()
    # Then the error sits next to the URL, the URL is kept, the secret is not, and nothing is linked
    assert _notice(browser) == "Check the highlighted fields."
    assert "URL scheme should be 'http' or 'https'" in browser.find_element(By.ID, "r0-url-error").text
    assert browser.find_element(By.ID, "r0-url").get_attribute("value") == "ftp://crm.example.com"
    assert browser.find_element(By.ID, "r0-api_key").get_attribute("value") == ""
    assert API_KEY not in browser.page_source
    assert connect_server.linked == []
    # ... and the page fits the phone's width without sideways scrolling
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    screenshot("connect-page-phone-error")


def test_an_unknown_token_gets_the_error_page(browser: Chrome, connect_server: ConnectPageServer) -> None:
    browser.get(f"{connect_server.base_url}/connect?token=sb_ct_unknown")
    assert browser.find_element(By.TAG_NAME, "h1").text == "This link is not valid"
    assert browser.find_elements(By.TAG_NAME, "form") == []
