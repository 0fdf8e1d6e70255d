"""The hosted connect page's HTML: escaped, script-free, accessible, never echoing a secret (no AWS)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from switchboard.connect_page import (
    ConnectPageView,
    Notice,
    RequirementView,
    form_fields,
    new_nonce,
    render_error,
    render_page,
)
from switchboard.domain.connection_types import HttpApiKeyConfig, HttpConfig, PostgresConfig
from tests.unit.connect_page.html_probe import read

NONCE = "n0nce-0123456789abcdef"
CRM = RequirementView(
    id="crm",
    title="CRM",
    description="Your CRM account, used to look up customers.",
    connection_type="http_api_key",
    status="missing",
    csrf="csrf-crm",
    fields=form_fields(HttpApiKeyConfig),
)
WAREHOUSE = RequirementView(
    id="warehouse",
    title="Warehouse",
    description="",
    connection_type="postgres",
    status="active",
    csrf="csrf-warehouse",
    fields=form_fields(PostgresConfig),
    linked_at=datetime(2025, 3, 4, 5, 6, tzinfo=UTC),
)


def _view(*requirements: RequirementView, notice: Notice | None = None) -> ConnectPageView:
    return ConnectPageView(
        app_name="Acme Support",
        token="sb_ct_token",
        action="/apps/app-1/connect",
        nonce=NONCE,
        requirements=requirements or (CRM,),
        notice=notice,
    )


def test_the_page_names_the_app_and_each_requirement_with_its_state() -> None:
    page = read(render_page(_view(CRM, WAREHOUSE)))
    assert page.one("h1").text == "Acme Support"
    assert [heading.text for heading in page.all("h2")] == ["CRM", "Warehouse"]
    assert page.by_id("crm").tag == "section"
    assert page.by_id("warehouse").tag == "section"
    assert "Your CRM account, used to look up customers." in page.by_id("crm").text
    assert page.one("p", **{"class": "status status-missing"}).text == "Not connected"
    assert page.one("p", **{"class": "status status-active"}).text == "Connected"
    assert page.one("time").attrs["datetime"] == "2025-03-04T05:06:00+00:00"
    assert page.one("time").text == "2025-03-04 05:06 UTC"


def test_each_form_posts_the_token_its_csrf_value_and_its_requirement() -> None:
    page = read(render_page(_view(CRM, WAREHOUSE)))
    forms = page.all("form")
    assert [(form.attrs["method"], form.attrs["action"]) for form in forms] == [
        ("post", "/apps/app-1/connect")
    ] * 2
    hidden = [(element.attrs["name"], element.attrs["value"]) for element in page.all("input", type="hidden")]
    assert hidden == [
        ("token", "sb_ct_token"),
        ("csrf", "csrf-crm"),
        ("requirement_id", "crm"),
        ("token", "sb_ct_token"),
        ("csrf", "csrf-warehouse"),
        ("requirement_id", "warehouse"),
    ]


def test_an_active_requirement_offers_replacement_behind_a_disclosure() -> None:
    page = read(render_page(_view(WAREHOUSE)))
    assert page.one("summary").text == "Replace these credentials"
    assert page.one("button").text == "Replace Warehouse"


def test_unsatisfied_states_are_worded_for_the_end_user_with_the_reason() -> None:
    rejected = replace(CRM, status="unauthorized", reason="The service answered 401 on 2025-03-04.")
    page = read(render_page(_view(rejected)))
    assert page.one("p", **{"class": "status status-unauthorized"}).text == (
        "Rejected by the service: connect again"
    )
    assert "The service answered 401 on 2025-03-04." in page.by_id("crm").text
    assert page.all("details") == []
    revoked = read(render_page(_view(replace(WAREHOUSE, status="revoked"))))
    assert revoked.one("p", **{"class": "meta"}).text == "Last connected 2025-03-04 05:06 UTC"
    assert revoked.one("button").text == "Connect Warehouse"


def test_every_input_has_a_label_and_ids_are_unique_across_requirements() -> None:
    page = read(render_page(_view(CRM, WAREHOUSE)))
    controls = [
        element
        for element in page.elements
        if element.tag in ("input", "select", "textarea") and element.attrs.get("type") != "hidden"
    ]
    ids = [str(control.attrs["id"]) for control in controls]
    assert len(ids) == len(set(ids)) == 9
    for control in controls:
        assert page.label_for(str(control.attrs["id"])).text


def test_required_fields_are_marked_and_help_is_attached_to_its_input() -> None:
    page = read(render_page(_view()))
    url = page.one("input", name="url")
    assert url.has("required")
    assert "(required)" in page.label_for("r0-url").text
    scheme = page.one("input", name="scheme")
    assert not scheme.has("required")
    assert "(required)" not in page.label_for("r0-scheme").text
    assert scheme.attrs["aria-describedby"] == "r0-scheme-help"
    assert page.by_id("r0-scheme-help").text == "Prefix before the key; empty for none."


def test_inputs_match_the_field_kinds() -> None:
    http = replace(CRM, connection_type="http", fields=form_fields(HttpConfig))
    page = read(render_page(_view(http, WAREHOUSE)))
    assert page.one("input", name="url").attrs["type"] == "url"
    assert [option.attrs["value"] for option in page.all("option")][:2] == ["GET", "POST"]
    assert page.one("option", value="GET").has("selected")
    assert [area.attrs["name"] for area in page.all("textarea")] == ["headers", "params", "data"]
    port = page.one("input", name="port")
    assert (port.attrs["type"], port.attrs["value"], port.attrs["min"], port.attrs["max"]) == (
        "number",
        "5432",
        "1",
        "65535",
    )
    assert page.one("input", name="password").attrs["type"] == "password"


def test_defaults_are_shown_first_and_typed_values_after_a_failed_submit() -> None:
    first = read(render_page(_view()))
    assert first.one("input", name="header").attrs["value"] == "Authorization"
    assert first.one("input", name="url").attrs["value"] == ""
    failed = replace(CRM, values={"url": "https://crm.example", "header": "X-Key"}, errors={"url": "Bad URL"})
    again = read(render_page(_view(failed)))
    assert again.one("input", name="url").attrs["value"] == "https://crm.example"
    assert again.one("input", name="header").attrs["value"] == "X-Key"


def test_errors_sit_next_to_their_fields_and_mark_them_invalid() -> None:
    failed = replace(CRM, errors={"url": "Input should be a valid URL", "": "Could not save the connection."})
    page = read(render_page(_view(failed)))
    url = page.one("input", name="url")
    assert url.attrs["aria-invalid"] == "true"
    assert url.attrs["aria-describedby"] == "r0-url-error"
    assert page.by_id("r0-url-error").text == "Input should be a valid URL"
    assert page.one("p", **{"class": "error", "role": "alert"}).text == "Could not save the connection."
    assert not page.one("input", name="api_key").has("aria-invalid")


def test_a_failed_relink_of_an_active_requirement_shows_its_form_open() -> None:
    failed = replace(WAREHOUSE, errors={"port": "Enter a whole number."})
    assert read(render_page(_view(failed))).all("details") == []


def test_secret_values_are_never_echoed_even_when_handed_to_the_renderer() -> None:
    # Given a failed submit whose values (wrongly) include the secrets that were typed
    http = replace(
        CRM,
        connection_type="http",
        fields=form_fields(HttpConfig),
        values={"url": "https://a.example", "headers": "X-Key: SECRET-header", "params": "a: 1"},
    )
    api_key = replace(CRM, id="crm-2", values={"api_key": "SECRET-key", "url": "https://b.example"})
    # When the page is rendered
    html = render_page(_view(http, api_key))
    # Then no secret appears, while the non-secret values do
    assert "SECRET-" not in html
    page = read(html)
    assert not page.one("input", name="api_key").has("value")
    assert page.one("textarea", name="headers").text == ""
    assert page.one("textarea", name="params").text == "a: 1"


def test_a_requirement_title_with_markup_is_escaped_everywhere() -> None:
    # Given a builder-written title, description and reason carrying markup
    hostile = replace(
        CRM,
        id='crm"><script>alert(1)</script>',
        title="<script>alert('title')</script>",
        description="<img src=x onerror=alert(1)>",
        reason="<b>bold</b>",
        csrf='"><script>',
    )
    view = replace(
        _view(hostile), app_name="<script>app</script>", token='"><b>', notice=Notice("error", "<i>x</i>")
    )
    # When the page is rendered
    html = render_page(view)
    # Then no markup survives: there is no script and no injected element, only the literal text
    assert "<script" not in html
    assert "<img" not in html
    assert "<b>" not in html
    assert "<i>" not in html
    page = read(html)
    assert page.one("h2").text == "<script>alert('title')</script>"
    assert page.one("h1").text == "<script>app</script>"
    assert page.one("input", name="token").attrs["value"] == '"><b>'
    assert page.one("section").attrs["id"] == 'crm"><script>alert(1)</script>'


def test_the_page_is_phone_ready_and_script_free_with_one_nonced_style() -> None:
    nonce = new_nonce()
    page = read(render_page(replace(_view(), nonce=nonce, notice=Notice("success", "CRM is connected."))))
    assert page.one("meta", name="viewport").attrs["content"] == "width=device-width, initial-scale=1"
    assert page.one("html").attrs["lang"] == "en"
    assert page.one("style").attrs["nonce"] == nonce
    assert "@media" in page.one("style").text
    assert page.all("script") == []
    assert not any(element.has("style") for element in page.elements)
    assert page.one("div", role="status").text == "CRM is connected."


def test_an_error_notice_is_announced_as_an_alert() -> None:
    page = read(render_page(_view(notice=Notice("error", "The link could not be saved."))))
    assert page.one("div", role="alert").attrs["class"] == "notice notice-error"


def test_an_app_without_requirements_says_so() -> None:
    page = read(render_page(replace(_view(), requirements=())))
    assert "This App needs no connections." in page.text
    assert page.all("form") == []


def test_the_error_page_shows_the_status_title_and_message_escaped() -> None:
    html = render_error(410, "This link has expired", "Ask <the app> for a new link.", nonce=NONCE)
    page = read(html)
    assert page.one("title").text == "This link has expired"
    assert page.one("h1").text == "This link has expired"
    assert "Error 410" in page.text
    assert page.one("p", role="alert").text == "Ask <the app> for a new link."
    assert "<the app>" not in html
    assert page.one("style").attrs["nonce"] == NONCE
    assert page.all("form") == []
