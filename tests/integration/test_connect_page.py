"""The hosted connect page through the Apps handler on moto: the page for a connect token (both addressing
forms), the error pages of unknown, malformed, expired and foreign tokens, CSRF and cross-site refusals, a
config the connection type refuses (422, non-secret values re-filled), a link, and the redirect back to an
allowed return URL. Every answer is HTML with the page's security headers and never holds a secret value."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from switchboard.domain.ids import utcnow
from switchboard.domain.runs import LinkStatus
from switchboard.runtime.links import connect_tokens
from switchboard.runtime.links.connect_tokens import csrf_token
from switchboard.runtime.links.requirements import requirement_status
from switchboard.store import apps, link_secrets
from switchboard.store import links as link_store
from tests.integration.apps_runtime import new_app
from tests.integration.conftest import SECRET_KEY, Reply, World
from tests.integration.links_world import USER_KEYS, LinksWorld, links_world
from tests.support.connect_forms import ConnectPage, PageForm, read_page
from tests.support.throttled_aws import throttled_dynamodb

RETURN_URL = "https://builder.example.test/connected"
FORM_TYPE = {"content-type": "application/x-www-form-urlencoded"}
SECRETS = (*USER_KEYS.values(), SECRET_KEY)


@pytest.fixture
def scene(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinksWorld]:
    with links_world(world, monkeypatch) as built:
        yield built


def html(reply: Reply, status: int) -> str:
    """The page of an answer: its status, its content type and security headers checked, no secret in it."""
    assert reply.status == status, reply.raw[:2000]
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    secure(reply)
    return reply.raw


def secure(reply: Reply) -> None:
    """The page's headers, and its nonce'd stylesheet the only thing the CSP lets in; no secret anywhere."""
    policy = reply.headers["content-security-policy"]
    assert re.fullmatch(
        r"default-src 'none'; style-src 'nonce-[A-Za-z0-9_-]{16,}'; form-action 'self'( \S+)?; "
        r"frame-ancestors 'none'; base-uri 'none'",
        policy,
    ), policy
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["x-content-type-options"] == "nosniff"
    if reply.raw:
        nonce = re.search(r"'nonce-([^']+)'", policy)
        assert nonce is not None
        assert f'<style nonce="{nonce.group(1)}">' in reply.raw
    for secret in SECRETS:
        assert secret not in reply.raw
        assert all(secret not in value for value in reply.headers.values())


def open_page(scene: LinksWorld, token: str, *, form: str = "path") -> Reply:
    return scene.runtime.call("GET", "/connect", token=None, query={"token": token}, form=form)


def submit(
    scene: LinksWorld,
    fields: dict[str, str],
    *,
    headers: dict[str, str] | None = None,
    encoded: bool = False,
    form: str = "path",
) -> Reply:
    body = urlencode(fields)
    return scene.runtime.call(
        "POST",
        "/connect",
        token=None,
        raw_body=body.encode() if encoded else body,
        headers={**FORM_TYPE, **(headers or {})},
        form=form,
    )


def crm_form(page: ConnectPage) -> PageForm:
    return page.forms["crm"]


def filled(form: PageForm, **config: str) -> dict[str, str]:
    """The form's values as a browser sends them, with ``config`` typed in."""
    return {**form.values, **config}


def user_key(user_id: str = "user-42") -> str:
    return USER_KEYS[user_id]


# ---------------------------------------------------------------- the page


@pytest.mark.parametrize("addressing", ["path", "host"])
def test_a_connect_token_opens_the_page_with_each_requirement_and_its_form(
    scene: LinksWorld, addressing: str
) -> None:
    # Given a connect token for user-42
    issued = scene.connect_token("user-42")

    # When the end user opens the page, in either addressing form
    reply = open_page(scene, issued.token, form=addressing)

    # Then it is the App's page with the requirement, not connected, and a form posting back to this page
    page = read_page(html(reply, 200))
    assert page.title == "Triage"
    form = crm_form(page)
    assert form.status == "Not connected"
    assert form.action == (f"/apps/{scene.app_id}/connect" if addressing == "path" else "/connect")
    grant = connect_tokens.grant_for(issued.token)
    assert {name: form.values[name] for name in ("token", "csrf", "requirement_id")} == {
        "token": issued.token,
        "csrf": csrf_token(grant, "crm"),
        "requirement_id": "crm",
    }
    # ... built from the connection type: the key a password input, never pre-filled; defaults shown
    assert form.input_types["api_key"] == "password"
    assert (form.values["api_key"], form.values["header"], form.values["scheme"]) == (
        "",
        "Authorization",
        "Bearer",
    )
    assert '<h2 id="r0-title">Connect your CRM</h2><p class="status status-missing">' in reply.raw
    assert "<p>Your own CRM API key</p>" in reply.raw
    # ... and the policy allows forms to post to this page only
    assert "form-action 'self';" in reply.headers["content-security-policy"]


def test_every_answer_has_its_own_nonce(scene: LinksWorld) -> None:
    # Given a connect token for user-42
    issued = scene.connect_token("user-42")
    # When its page is opened twice
    first, second = open_page(scene, issued.token), open_page(scene, issued.token)
    # Then each answer's Content-Security-Policy carries its own nonce
    assert first.headers["content-security-policy"] != second.headers["content-security-policy"]


def test_unknown_malformed_missing_and_foreign_tokens_get_a_401_page(scene: LinksWorld) -> None:
    # Given a real token whose last characters are changed, a malformed one, and one of another App
    issued = scene.connect_token("user-42")
    forged = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    other_app = new_app(scene.world, deploy_version=1)
    foreign = scene.connect_token("user-42").token
    # When the page is opened with each, and with no token at all
    pages = [open_page(scene, token) for token in (forged, "not-a-token")]
    pages.append(scene.runtime.call("GET", "/connect", token=None))
    pages.append(
        scene.runtime.call("GET", "/connect", token=None, query={"token": foreign}, app_id=other_app)
    )

    # Then each is the "not valid" page, without a form
    for reply in pages:
        page = read_page(html(reply, 401))
        assert page.title == "This link is not valid"
        assert page.forms == {}
        assert "<form" not in reply.raw


def test_a_throttled_store_gets_a_503_page_that_says_when_to_retry(
    scene: LinksWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a valid connect token, and DynamoDB throttling every request
    issued = scene.connect_token("user-42")
    with throttled_dynamodb(monkeypatch):
        # When the page is opened
        reply = open_page(scene, issued.token)
    # Then the 503 page, with Retry-After like every 503, and no form
    page = read_page(html(reply, 503))
    assert (page.title, page.forms, reply.headers["retry-after"]) == ("Error", {}, "1")


def test_an_access_key_in_place_of_a_connect_token_is_refused(scene: LinksWorld) -> None:
    # Given the App's access key, not a connect token
    # When the page is opened with it
    reply = open_page(scene, scene.runtime.key)
    # Then it is a 403 page saying the link is not valid
    assert read_page(html(reply, 403)).title == "This link is not valid"


def test_an_expired_token_gets_a_410_page(scene: LinksWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a token used after its lifetime
    issued = scene.connect_token("user-42", ttl_seconds=60)
    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(connect_tokens, "utcnow", lambda: later)

    # When the page is opened, or a form of it submitted
    opened = open_page(scene, issued.token)
    submitted = submit(scene, {"token": issued.token, "csrf": "x", "requirement_id": "crm"})

    # Then both say the link expired
    for reply in (opened, submitted):
        page = read_page(html(reply, 410))
        assert page.title == "This link has expired"
        assert "ask it for a new one" in reply.raw


def test_an_app_without_a_deployment_gets_a_409_page_and_an_unknown_app_a_401(scene: LinksWorld) -> None:
    # Given a token for an App that was never deployed
    undeployed = apps.get_app(new_app(scene.world))
    assert undeployed is not None
    token = connect_tokens.issue_connect_token(undeployed, scene.key_principal, "user-42").token

    # When it opens that App's page, or the page of an App that does not exist
    not_ready = scene.runtime.call(
        "GET", "/connect", token=None, query={"token": token}, app_id=undeployed.id
    )
    unknown = scene.runtime.call("GET", "/connect", token=None, query={"token": token}, app_id="app-missing")

    # Then the first says the App is not available yet; the second that the link is not valid (for that App)
    assert read_page(html(not_ready, 409)).title == "Not available yet"
    assert read_page(html(unknown, 401)).title == "This link is not valid"


def test_a_link_a_run_found_unauthorized_is_shown_with_its_reason_and_a_form_to_connect_again(
    scene: LinksWorld,
) -> None:
    # Given user-42's link, which a run's upstream rejected
    link = scene.link("user-42")
    link_store.set_link_status(link, LinkStatus.unauthorized, "the upstream answered 401", utcnow())

    # When the user opens the page
    reply = open_page(scene, scene.connect_token("user-42").token)

    # Then the state and its reason are shown, with the form to connect again
    form = crm_form(read_page(html(reply, 200)))
    assert form.status == "Rejected by the service: connect again"
    assert '<p class="meta">the upstream answered 401</p>' in reply.raw
    assert form.input_types["api_key"] == "password"


# ---------------------------------------------------------------- submitting a form


@pytest.mark.parametrize("encoded", [False, True], ids=["text-body", "base64-body"])
def test_submitting_the_form_links_the_connection_and_shows_the_new_state(
    scene: LinksWorld, encoded: bool
) -> None:
    # Given the page of a token for user-42
    issued = scene.connect_token("user-42")
    form = crm_form(read_page(html(open_page(scene, issued.token), 200)))

    # When the user fills in the form and the browser sends it (Origin: null, as the page's no-referrer
    # policy makes it; the body base64-encoded, as API Gateway may pass a form)
    fields = filled(form, url=scene.target.url, api_key=user_key(), header="X-Api-Key")
    reply = submit(
        scene, fields, headers={"origin": "null", "sec-fetch-site": "same-origin"}, encoded=encoded
    )

    # Then the page says so and shows the requirement connected, with the form to replace it, empty
    page = read_page(html(reply, 200))
    assert page.notice == "CRM is connected."
    form = crm_form(page)
    assert form.status == "Connected"
    assert form.values["api_key"] == ""
    # ... the link is active with the non-secret fields, the key sealed in its item, and the user is complete
    link = link_store.get_link(scene.app_id, "user-42", "crm")
    assert link is not None
    assert link.status is LinkStatus.active
    assert link.config == {"url": f"{scene.target.url}/", "header": "X-Api-Key", "scheme": "Bearer"}
    assert link.secret_fields == ["api_key"]
    assert link_secrets.open_values(link) == {"api_key": user_key()}
    assert requirement_status(scene.app(), "user-42", connect_url_for=None).status == "complete"


def test_a_submit_from_an_origin_equal_to_the_host_is_accepted(scene: LinksWorld) -> None:
    # Given user-42's form as served on the App's host
    issued = scene.connect_token("user-42")
    form = crm_form(read_page(open_page(scene, issued.token, form="host").raw))
    # When it is submitted, filled in, with an Origin equal to that host
    origin = f"https://{scene.app_id}.apps.example.test"
    fields = filled(form, url=scene.target.url, api_key=user_key())
    reply = submit(scene, fields, headers={"origin": origin}, form="host")
    # Then the link is made: the page says CRM is connected
    assert read_page(html(reply, 200)).notice == "CRM is connected."


def test_with_an_allowed_return_url_the_page_allows_it_and_redirects_there_after_linking(
    scene: LinksWorld,
) -> None:
    # Given an App allowing returns under the builder's site, and a token returning to a page of it
    allow_returns(scene, ["https://builder.example.test/"])
    issued = scene.connect_token("user-42", return_url=f"{RETURN_URL}?session=7")

    # When the page is opened
    opened = open_page(scene, issued.token)

    # Then its forms may post here and follow the redirect to the builder's origin
    html(opened, 200)
    assert "form-action 'self' https://builder.example.test;" in opened.headers["content-security-policy"]

    # When the form is submitted
    fields = filled(crm_form(read_page(opened.raw)), url=scene.target.url, api_key=user_key())
    reply = submit(scene, fields)

    # Then the answer sends the browser back, saying which requirement became active
    assert reply.status == 303, reply.raw
    secure(reply)
    assert reply.headers["location"] == f"{RETURN_URL}?session=7&requirement=crm&status=active"
    link = link_store.get_link(scene.app_id, "user-42", "crm")
    assert link is not None
    assert link.status is LinkStatus.active


def test_a_return_url_no_longer_allowed_is_not_followed(scene: LinksWorld) -> None:
    # Given a token with a return URL that the App's allow-list dropped after it was issued
    allow_returns(scene, [RETURN_URL])
    issued = scene.connect_token("user-42", return_url=RETURN_URL)
    form = crm_form(read_page(open_page(scene, issued.token).raw))
    allow_returns(scene, [])

    # When the form is submitted
    reply = submit(scene, filled(form, url=scene.target.url, api_key=user_key()))

    # Then the link is made and the page shown here, its forms allowed to post here only
    assert read_page(html(reply, 200)).notice == "CRM is connected."
    assert "form-action 'self';" in reply.headers["content-security-policy"]


def allow_returns(scene: LinksWorld, urls: list[str]) -> None:
    updated = scene.world.call(
        "PATCH",
        f"/v1/apps/{scene.app_id}",
        token=scene.world.admin.token,
        body={"connect_return_urls": urls},
    )
    assert updated.status == 200, updated.body


def test_a_missing_or_wrong_csrf_value_is_refused_and_links_nothing(scene: LinksWorld) -> None:
    # Given the form of user-42's page, and the CSRF values of another form and of another token's page
    issued = scene.connect_token("user-42")
    form = crm_form(read_page(open_page(scene, issued.token).raw))
    grant = connect_tokens.grant_for(issued.token)
    other_token = connect_tokens.grant_for(scene.connect_token("user-42").token)
    fields = filled(form, url=scene.target.url, api_key=user_key())
    without = {name: value for name, value in fields.items() if name != "csrf"}
    attempts = [
        without,
        {**fields, "csrf": ""},
        {**fields, "csrf": csrf_token(grant, "other")},
        {**fields, "csrf": csrf_token(other_token, "crm")},
    ]

    # When each is submitted / Then each is refused, and nothing is linked
    for attempt in attempts:
        page = read_page(html(submit(scene, attempt), 403))
        assert page.title == "Request refused"
        assert page.forms == {}
    assert link_store.get_link(scene.app_id, "user-42", "crm") is None


@pytest.mark.parametrize(
    "headers",
    [{"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example.test"}],
    ids=["sec-fetch-site", "origin"],
)
def test_a_form_sent_from_another_site_is_refused(scene: LinksWorld, headers: dict[str, str]) -> None:
    # Given a complete, valid form of the user's page
    issued = scene.connect_token("user-42")
    fields = filled(
        crm_form(read_page(open_page(scene, issued.token).raw)), url=scene.target.url, api_key=user_key()
    )

    # When another site makes the browser send it
    reply = submit(scene, fields, headers=headers)

    # Then it is refused, and nothing is linked
    assert read_page(html(reply, 403)).title == "Request refused"
    assert "This form can only be sent from its own page." in reply.raw
    assert link_store.get_link(scene.app_id, "user-42", "crm") is None


def test_a_config_the_type_refuses_is_shown_again_with_errors_and_without_the_secret(
    scene: LinksWorld,
) -> None:
    # Given the page of a token for user-42
    issued = scene.connect_token("user-42")
    form = crm_form(read_page(open_page(scene, issued.token).raw))

    # When a URL the connection type refuses is submitted with the key and a custom header
    fields = filled(form, url="ftp://crm.example.test", api_key=user_key(), header="X-Key")
    reply = submit(scene, fields)

    # Then the page comes back 422: the error next to the URL, the non-secret values kept, the key not
    page = read_page(html(reply, 422))
    assert page.notice == "Check the highlighted fields."
    form = crm_form(page)
    assert "URL scheme should be 'http' or 'https'" in form.errors["r0-url"]
    assert (form.values["url"], form.values["header"], form.values["api_key"]) == (
        "ftp://crm.example.test",
        "X-Key",
        "",
    )
    assert form.status == "Not connected"
    assert link_store.get_link(scene.app_id, "user-42", "crm") is None


def test_an_empty_required_secret_is_an_error_on_its_field(scene: LinksWorld) -> None:
    # Given user-42's form
    issued = scene.connect_token("user-42")
    form = crm_form(read_page(open_page(scene, issued.token).raw))
    # When it is submitted with the URL but no API key
    page = read_page(html(submit(scene, filled(form, url=scene.target.url)), 422))
    # Then the page is 422 with an error on the api_key field only, and nothing is linked
    assert set(crm_form(page).errors) == {"r0-api_key"}
    assert link_store.get_link(scene.app_id, "user-42", "crm") is None


def test_a_form_for_a_requirement_the_app_does_not_declare_is_a_404_page(scene: LinksWorld) -> None:
    # Given user-42's token and a CSRF value made for a requirement the App does not declare (billing)
    issued = scene.connect_token("user-42")
    grant = connect_tokens.grant_for(issued.token)
    fields = {"token": issued.token, "csrf": csrf_token(grant, "billing"), "requirement_id": "billing"}
    # When a form for that requirement is submitted / Then it is a 404 page
    assert read_page(html(submit(scene, {**fields, "api_key": user_key()}), 404)).title == "Not found"


def test_a_body_that_is_not_a_readable_form_is_refused(scene: LinksWorld) -> None:
    # Given user-42's connect token
    issued = scene.connect_token("user-42")
    # When forms are posted that are not UTF-8, multipart or JSON
    # Then each is refused, by an error page or by the guards, and nothing is linked
    # A form whose bytes are not UTF-8 is malformed: an error page
    broken = scene.runtime.call(
        "POST", "/connect", token=None, raw_body=f"token={issued.token}&url=%ff", headers=FORM_TYPE
    )
    assert read_page(html(broken, 400)).title == "Bad request"
    # A multipart body is not a form this page takes: an error page
    multipart = scene.runtime.call(
        "POST",
        "/connect",
        token=None,
        raw_body=f'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\n{issued.token}\r\n--b--\r\n',
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert read_page(html(multipart, 415)).title == "Unsupported form"
    # A JSON body is refused by the guards before the page, like anywhere else
    as_json = scene.runtime.call("POST", "/connect", token=None, body={"token": issued.token})
    assert (as_json.status, as_json.body["error"]["code"]) == (415, "unsupported_media_type")
    assert link_store.get_link(scene.app_id, "user-42", "crm") is None


def test_an_access_key_in_the_authorization_header_is_ignored_by_the_page(scene: LinksWorld) -> None:
    # The token travels in the query: a (wrong) Authorization header neither helps nor hurts
    # Given user-42's connect token in the query, and an admin token in the Authorization header
    issued = scene.connect_token("user-42")
    # When the page is opened
    reply = scene.runtime.call(
        "GET", "/connect", token=scene.world.admin.token, query={"token": issued.token}
    )
    # Then it is the page for the token: CRM's form, not connected
    assert crm_form(read_page(html(reply, 200))).status == "Not connected"
