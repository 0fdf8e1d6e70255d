"""Each App documents itself, over real HTTP on the local stack: ``GET /openapi.json`` and ``GET /docs`` by
path and by host, the deployed version's input fields as ``input``, following a deploy and a rollback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.app_world import AppWorld, Form, build_app_world, scripted_upstream
from tests.e2e.conftest import LocalStackProcess
from tests.support import workflows
from tests.support.fakes import HttpTarget

pytestmark = pytest.mark.e2e

FORMS: tuple[Form, ...] = ("path", "host")
NOTE = {"name": "note", "type": "string", "required": True, "description": "What to say"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[HttpTarget]:
    with scripted_upstream() as target:
        yield target


@pytest.fixture(scope="module")
def world(local_stack: LocalStackProcess, upstream: HttpTarget) -> AppWorld:
    return build_app_world(local_stack, upstream.url, name="Documented")


def _fields(world: AppWorld, form: Form) -> tuple[list[str], list[str]]:
    """The input fields the App's document gives (names, required ones), checked to be the ``input`` of both
    run requests, read in ``form``."""
    reply = world.call("GET", "/openapi.json", form=form)
    assert reply.status == 200, reply.text
    schemas = reply.body["components"]["schemas"]
    for model in ("InvokeIn", "CreateRunIn"):
        assert schemas[model]["properties"]["input"] == {"$ref": "#/components/schemas/AppInput"}
    return list(schemas["AppInput"]["properties"]), schemas["AppInput"].get("required", [])


def _declared(definition: dict[str, Any]) -> tuple[list[str], list[str]]:
    fields = definition["nodes"][0]["fields"]
    return [f["name"] for f in fields], [f["name"] for f in fields if f.get("required")]


@pytest.mark.parametrize("form", FORMS)
def test_the_document_is_served_at_the_apps_own_url(world: AppWorld, form: Form) -> None:
    # Given the deployed App
    # When its document is read by path and by host
    reply = world.call("GET", "/openapi.json", form=form)
    # Then its server is the URL it was read at, and its input is the deployed version's fields
    assert reply.status == 200, reply.text
    expected = world.url("", form=form) if form == "path" else f"http://{world.host}"
    assert reply.body["servers"][0]["url"] == expected
    assert _fields(world, form) == _declared(workflows.upstream_workflow(world.connection_id))


def test_a_deploy_and_a_rollback_change_the_document(world: AppWorld) -> None:
    # Given the App's fields before
    before = _fields(world, "host")
    # When a version with another input node is deployed, then rolled back
    routed = {
        "nodes": [
            workflows.start(NOTE),
            workflows.shout(),
            workflows.finish(["shout"], {"answer": "$.shout.output"}),
        ]
    }
    world.api.builder.deploy(world.app_id, world.api.builder.version(world.workflow_id, routed))
    deployed = _fields(world, "path")
    world.api("POST", f"/v1/apps/{world.app_id}/rollback", expect=201)
    after = _fields(world, "host")
    # Then the document gives the new fields, then the old ones again
    assert deployed == _declared(routed)
    assert before == after == _declared(workflows.upstream_workflow(world.connection_id))


@pytest.mark.parametrize("form", FORMS)
def test_the_docs_page_has_no_script_and_a_private_app_needs_its_key(world: AppWorld, form: Form) -> None:
    # Given the private App
    # When its page is read with its key, and without one
    page = world.call("GET", "/docs", form=form)
    refused = world.call("GET", "/docs", form=form, token=None)
    # Then the page is HTML under a CSP allowing nothing but its own style, without any script
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"].startswith("default-src 'none'; style-src 'nonce-")
    assert "<script" not in page.text
    assert "<code>doc</code>" in page.text
    # And without a key it is the error envelope's 401
    assert refused.status == 401
    assert refused.body["error"]["code"] == "missing_token"
