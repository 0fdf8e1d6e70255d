"""The end users' story over real HTTP on the local stack: a builder's backend finds user-42 incomplete, gets
connect tokens, user-42 links through the connect API and user-43 through the hosted page; two runs of the
same version differing only in user_id reach the upstream each with its user's key, while the node bound to
a concrete connection sends the shared key in both; the upstream rejects user-43's key once, so that link
becomes unauthorized, the status says so and the pre-flight refuses user-43's runs until they link again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.e2e.conftest import LocalStackProcess, Story
from tests.e2e.requirement_world import RequirementApp, build_requirement_app
from tests.support.connect_forms import read_page
from tests.support.fakes import HttpTarget, Recorded
from tests.support.fakes import Reply as Answer
from tests.support.http import Reply, request
from tests.support.workflows import REQUIREMENT_ID

pytestmark = pytest.mark.e2e

SHARED_KEY = "sk-shared-E2E-SECRET-1001"
KEYS = {
    "user-42": "sk-user-42-E2E-SECRET-4242",
    "user-43": "sk-user-43-E2E-SECRET-4343",
}
RELINKED_KEY = "sk-user-43-new-E2E-SECRET-4344"
SECRETS = (SHARED_KEY, *KEYS.values(), RELINKED_KEY)


@pytest.fixture(scope="module")
def upstream() -> Iterator[HttpTarget]:
    with HttpTarget() as target:
        target.respond("/personal", Answer(body={"crm": "ok"}))
        target.respond("/shared", Answer(body={"audit": "ok"}))
        yield target


@pytest.fixture(scope="module")
def app(local_stack_with_callbacks: LocalStackProcess, upstream: HttpTarget) -> RequirementApp:
    return build_requirement_app(
        local_stack_with_callbacks, name="Support desk", shared=(upstream.url, SHARED_KEY)
    )


def link_through_the_api(app: RequirementApp, user_id: str, key: str, upstream: HttpTarget) -> dict[str, Any]:
    """The end user's side of the connect API, with the connect token the builder's backend handed over."""
    token = app.connect_token(user_id)["token"]
    listed = app.call("GET", "/v1/connect/requirements", token=token)
    assert listed.status == 200, listed.text
    assert [(entry["id"], entry["status"]) for entry in listed.body["data"]["requirements"]] == [
        (REQUIREMENT_ID, "missing")
    ]
    linked = app.call(
        "POST",
        f"/v1/connect/requirements/{REQUIREMENT_ID}/credentials",
        token=token,
        json_body={"type": "http_api_key", "config": {"url": upstream.url, "api_key": key}},
    )
    assert linked.status == 201, linked.text
    found: dict[str, Any] = linked.body["data"]
    return found


def link_through_the_page(app: RequirementApp, user_id: str, key: str, upstream: HttpTarget) -> str:
    """What a browser does with the connect URL, over plain HTTP: open the page, send the requirement's form
    with the values its fields hold plus the URL and key typed in; the notice of the page that answers."""
    url = app.connect_token(user_id)["url"]
    opened = request("GET", url)
    assert opened.status == 200, opened.text
    assert opened.headers["content-type"].startswith("text/html")
    form = read_page(opened.text).forms[REQUIREMENT_ID]
    fields = {**form.values, "url": upstream.url, "api_key": key}
    sent = request(
        "POST",
        f"{app.stack.base_url}{form.action}",
        data=urlencode(fields).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "null",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    app.replies.extend([opened, sent])
    assert sent.status == 200, sent.text
    page = read_page(sent.text)
    assert page.forms[REQUIREMENT_ID].status == "Connected"
    return page.notice


def statuses(app: RequirementApp, user_id: str) -> tuple[str, list[tuple[str, str]]]:
    status = app.status(user_id)
    return status["status"], [(entry["id"], entry["status"]) for entry in status["requirements"]]


def sent_since(upstream: HttpTarget, path: str, count: int) -> list[Recorded]:
    return upstream.requests_to(path)[count:]


def bearer(recorded: Recorded) -> str:
    return recorded.headers["authorization"]


def completed(reply: Reply) -> dict[str, Any]:
    assert reply.status == 200, reply.text
    run: dict[str, Any] = reply.body["data"]
    assert run["status"] == "completed", run
    return run


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


def test_a_user_who_linked_nothing_is_incomplete_with_a_connect_url(
    app: RequirementApp, story: Story
) -> None:
    # Given the deployed App, and user-42 who has linked nothing yet
    # When the builder's backend asks for user-42's requirement status
    before = app.status("user-42")
    # Then user-42 is incomplete, the requirement missing, with a connect URL
    assert before["status"] == "incomplete"
    [unsatisfied] = before["unsatisfied"]
    assert (unsatisfied["id"], unsatisfied["status"]) == (REQUIREMENT_ID, "missing")
    assert unsatisfied["connect_url"].startswith(f"{app.url('/connect')}?token=sb_ct_")
    story.finished("nothing linked")


def test_users_link_through_the_connect_api_and_the_hosted_page(
    app: RequirementApp, upstream: HttpTarget, story: Story
) -> None:
    # Given the App's users, incomplete
    story.needs("nothing linked")
    # When user-42 links through the connect API and user-43 through the hosted page
    link = link_through_the_api(app, "user-42", KEYS["user-42"], upstream)
    notice = link_through_the_page(app, "user-43", KEYS["user-43"], upstream)

    # Then both links are active and both users complete
    assert (link["user_id"], link["status"], link["secret_fields"]) == ("user-42", "active", ["api_key"])
    assert notice == "CRM is connected."
    for user_id in KEYS:
        assert statuses(app, user_id) == ("complete", [(REQUIREMENT_ID, "active")])
    story.finished("linked")


def test_runs_that_differ_only_in_user_id_send_each_users_own_key(
    app: RequirementApp, upstream: HttpTarget, story: Story
) -> None:
    # Given both users linked
    story.needs("linked")
    # When the same version runs for each user, the input identical, only user_id differs
    seen_personal, seen_shared = len(upstream.requests_to("/personal")), len(upstream.requests_to("/shared"))
    runs = [completed(app.run(user_id, "who is my customer?")) for user_id in KEYS]

    # Then the requirement's node sent each user's own key, the concrete connection's node the shared one
    assert {run["version"] for run in runs} == {1}
    assert [bearer(r) for r in sent_since(upstream, "/personal", seen_personal)] == [
        f"Bearer {KEYS['user-42']}",
        f"Bearer {KEYS['user-43']}",
    ]
    assert [bearer(r) for r in sent_since(upstream, "/shared", seen_shared)] == [f"Bearer {SHARED_KEY}"] * 2
    assert [run["output"] for run in runs] == [{"personal": {"crm": "ok"}, "shared": {"audit": "ok"}}] * 2
    story.finished("ran for each")


def test_a_key_the_upstream_rejects_makes_that_link_unauthorized(
    app: RequirementApp, upstream: HttpTarget, story: Story
) -> None:
    # Given both users' runs completed
    story.needs("ran for each")
    # When the upstream rejects user-43's key once
    upstream.respond("/personal", Answer(status=401, body={"error": "bad key"}), Answer(body={"crm": "ok"}))
    rejected = app.run("user-43", "who is my customer?")

    # Then that run failed, and user-43's link became unauthorized, with the reason
    assert rejected.status == 200, rejected.text
    assert rejected.body["data"]["status"] == "failed"
    after = app.status("user-43")
    assert after["status"] == "incomplete"
    [entry] = after["unsatisfied"]
    assert entry["status"] == "unauthorized"
    assert "upstream answered 401 to node 'personal'" in entry["reason"]
    assert entry["connect_url"].startswith(f"{app.url('/connect')}?token=sb_ct_")
    # ... user-42 is untouched
    assert statuses(app, "user-42") == ("complete", [(REQUIREMENT_ID, "active")])
    story.finished("rejected")


def test_the_pre_flight_refuses_the_next_run_of_the_unauthorized_user(
    app: RequirementApp, story: Story
) -> None:
    # Given user-43's link is unauthorized
    story.needs("rejected")
    # When user-43's next run is asked for
    runs_before = app.call("GET", "/v1/runs?user_id=user-43")
    refused = app.run("user-43", "and now?")

    # Then the pre-flight refuses it, pointing at the page to link again, and creates no run
    assert refused.status == 422, refused.text
    error = refused.body["error"]
    assert error["code"] == "requirement_not_satisfied"
    assert error["details"]["status"] == "incomplete"
    [detail] = error["details"]["requirements"]
    assert (detail["id"], detail["status"]) == (REQUIREMENT_ID, "unauthorized")
    assert detail["connect_url"].startswith(f"{app.url('/connect')}?token=sb_ct_")
    assert app.call("GET", "/v1/runs?user_id=user-43").body == runs_before.body
    story.finished("refused")


def test_linking_again_with_a_new_key_completes_the_user_and_runs_use_it(
    app: RequirementApp, upstream: HttpTarget, story: Story
) -> None:
    # Given user-43's run was refused for the unauthorized link
    story.needs("refused")
    # When user-43 links again on the page, with a new key
    assert link_through_the_page(app, "user-43", RELINKED_KEY, upstream) == "CRM is connected."

    # Then user-43 is complete again and runs with the new key
    assert statuses(app, "user-43") == ("complete", [(REQUIREMENT_ID, "active")])
    seen_personal = len(upstream.requests_to("/personal"))
    completed(app.run("user-43", "who is my customer?"))
    assert [bearer(r) for r in sent_since(upstream, "/personal", seen_personal)] == [f"Bearer {RELINKED_KEY}"]
    story.finished("linked again")


def test_no_answer_of_the_whole_story_held_a_secret_value(app: RequirementApp, story: Story) -> None:
    # Given the whole story told
    story.needs("linked again")
    # When every answer of the Apps API it got is read
    answers = [reply.text for reply in app.replies]
    # Then none holds a secret value
    assert answers
    for text in answers:
        assert not any(secret in text for secret in SECRETS)
