"""The hosted connect page's use cases (``links.visit_page``, ``links.submit_form``), called without HTTP on
moto: who may visit, the cross-site refusal next to a same-site link, and a config the connection type
refuses shown again without its secret."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from switchboard.domain.errors import Forbidden, NotFound, Unauthorized
from switchboard.domain.runs import LinkStatus
from switchboard.runtime import links
from switchboard.runtime.links.connect_tokens import csrf_token, grant_for
from switchboard.store import links as link_store
from tests.integration.conftest import World
from tests.integration.links_world import USER_KEYS, LinksWorld, links_world


@pytest.fixture
def scene(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinksWorld]:
    with links_world(world, monkeypatch) as built:
        yield built


def _post(
    scene: LinksWorld, token: str, *, origin: str, fetch_site: str = "", **config: str
) -> links.FormPost:
    """The crm form of user-42's page as a browser sends it to the App's host."""
    fields = {
        "token": token,
        "requirement_id": "crm",
        "csrf": csrf_token(grant_for(token), "crm"),
        "url": scene.target.url,
        "header": "X-Api-Key",
        **config,
    }
    host = f"{scene.app_id}.apps.example.test"
    return links.FormPost(host=host, origin=origin, fetch_site=fetch_site, body=urlencode(fields))


def test_the_page_is_for_a_token_of_the_addressed_app_only(scene: LinksWorld) -> None:
    # Given a connect token for user-42
    token = scene.connect_token("user-42").token
    # When the page is visited with no App addressed, or with no token
    with pytest.raises(NotFound):
        links.visit_page(None, token)
    with pytest.raises(Unauthorized) as missing:
        links.visit_page(scene.app_id, None)
    # Then there is no page (404; 401 invalid_token)
    assert missing.value.error_code == "invalid_token"

    # When it is visited on the App with the token
    page = links.visit_page(scene.app_id, token)
    # Then it shows the App's requirement, unlinked, with the CSRF value of its form
    assert page.app_name == scene.app().name
    assert [(shown.entry.id, shown.entry.status) for shown in page.requirements] == [("crm", "missing")]
    assert page.requirements[0].csrf == csrf_token(grant_for(token), "crm")
    assert page.return_url is None


def test_a_cross_site_form_links_nothing_and_the_same_form_from_the_app_links(scene: LinksWorld) -> None:
    # Given user-42's token and their CRM key typed into the form
    token = scene.connect_token("user-42").token
    key = USER_KEYS["user-42"]
    # When the form comes from another site (by Sec-Fetch-Site, or by Origin)
    for post in (
        _post(scene, token, origin="null", fetch_site="cross-site", api_key=key),
        _post(scene, token, origin="https://attacker.example.test", api_key=key),
    ):
        with pytest.raises(Forbidden) as refused:
            links.submit_form(scene.app_id, post)
        # Then it is refused, and nothing is linked
        assert refused.value.error_code == "cross_site_request"
    assert link_store.get_link(scene.app_id, "user-42", "crm") is None

    # When it comes from the App's own page (its host as Origin)
    submitted = links.submit_form(
        scene.app_id, _post(scene, token, origin=f"https://{scene.app_id}.apps.example.test", api_key=key)
    )
    # Then the requirement is linked, and the page shows it (no return URL to go back to)
    assert (submitted.linked, submitted.redirect, submitted.rejected) == ("CRM", None, None)
    assert submitted.page is not None
    assert [shown.entry.status for shown in submitted.page.requirements] == ["active"]
    link = link_store.get_link(scene.app_id, "user-42", "crm")
    assert link is not None
    assert link.status is LinkStatus.active


def test_a_refused_config_comes_back_with_its_errors_and_without_its_secret(scene: LinksWorld) -> None:
    # Given user-42's token
    token = scene.connect_token("user-42").token
    # When the form is sent with its URL not a URL (and a key typed in)
    post = _post(scene, token, origin="null", url="not a url", api_key=USER_KEYS["user-42"])
    submitted = links.submit_form(scene.app_id, post)
    # Then it is rejected with an error on the url field, its values re-filled but never the key
    assert submitted.rejected is not None
    assert submitted.rejected.requirement_id == "crm"
    assert set(submitted.rejected.errors) == {"url"}
    assert submitted.rejected.values["url"] == "not a url"
    assert USER_KEYS["user-42"] not in submitted.rejected.values.values()
    # ... and nothing is linked
    assert link_store.get_link(scene.app_id, "user-42", "crm") is None
