"""Each App documents itself: ``GET /openapi.json`` and ``GET /docs`` on an App, by path and by host, give the
Apps API document with the deployed version's input fields as ``input``; it follows deploys and rollbacks;
who may read it is who may call the App."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.runtime.identity.bootstrap import bootstrap_admin
from switchboard.runtime.runs.uploads import FileReference
from switchboard_cli.openapi import APPS_DOCUMENT
from tests.integration.apps_runtime import Runtime, app_runtime, deploy, new_app
from tests.integration.conftest import World, error_of
from tests.support import workflows
from tests.support.world import Builder

BASE_URLS = {
    "path": "https://apps-api.example.test/apps/{app_id}",
    "host": "https://{app_id}.apps.example.test",
}
FILES_INPUT = {
    "type": "object",
    "properties": {
        "question": {"type": "string"},
        "count": {"type": "integer"},
        "doc": FileReference.model_json_schema(),
        "files": {"type": "array"},
    },
    "required": ["question"],
    "additionalProperties": False,
}
"""The input fields of ``workflows.files_workflow`` (the runtime's deployed version) as a JSON Schema."""
ROUTED = {
    "nodes": [
        workflows.start(
            {**workflows.ROUTE, "description": "fast or slow"},
            {"name": "mode", "type": "string", "required": True, "description": "<script>alert(1)</script>"},
        ),
        workflows.shout(),
        workflows.finish(["shout"], {"answer": "$.shout.output"}),
    ]
}
ROUTED_INPUT = {
    "type": "object",
    "properties": {
        "question": {"type": "string"},
        "route": {"type": "string", "description": "fast or slow", "default": "fast"},
        "mode": {"type": "string", "description": "<script>alert(1)</script>"},
    },
    "required": ["question", "mode"],
    "additionalProperties": False,
}


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _input_schema(document: dict[str, Any]) -> dict[str, Any]:
    """The App's input schema, checked to be the ``input`` of both run requests (invoke, runs create)."""
    schemas = document["components"]["schemas"]
    for model in ("InvokeIn", "CreateRunIn"):
        assert schemas[model]["properties"]["input"] == {"$ref": "#/components/schemas/AppInput"}
    schema = dict(schemas["AppInput"])
    assert schema.pop("title") == "AppInput"
    schema.pop("description")
    return schema


@pytest.mark.parametrize("form", ["path", "host"])
def test_the_document_has_the_apps_url_and_the_deployed_input_fields(rt: Runtime, form: str) -> None:
    # Given an App with files_workflow deployed
    # When its document is read by path and by host
    reply = rt.call("GET", "/openapi.json", form=form)
    # Then it is the committed Apps API document at the App's own URL, with the deployed fields as input
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    document = reply.body
    assert document["servers"] == [
        {"url": BASE_URLS[form].format(app_id=rt.app_id), "description": "The App Triage"}
    ]
    assert _input_schema(document) == FILES_INPUT
    committed = json.loads(APPS_DOCUMENT.read_text(encoding="utf-8"))
    assert document["paths"] == committed["paths"]
    assert document["info"]["description"] == "Triage: version 2 is deployed."


def test_the_input_schema_follows_each_deploy_and_rollback(rt: Runtime) -> None:
    # Given the App's document with version 2 deployed
    before = _input_schema(rt.call("GET", "/openapi.json").body)
    # When a version with other fields is deployed, then rolled back
    version = deploy(rt.world, ROUTED)
    deployed = rt.call("GET", "/openapi.json").body
    rolled = rt.world.call("POST", f"/v1/apps/{rt.app_id}/rollback", token=rt.world.admin.token)
    after = rt.call("GET", "/openapi.json", form="host").body
    # Then the document takes the new fields (types, required, defaults, descriptions), and the old ones back
    assert before == FILES_INPUT
    assert _input_schema(deployed) == ROUTED_INPUT
    assert deployed["info"]["description"] == f"Triage: version {version} is deployed."
    assert rolled.status == 201
    assert _input_schema(after) == FILES_INPUT
    # And the schema says what the run check accepts: the new version refused a run missing `mode`
    deploy(rt.world, ROUTED)
    refused = rt.call("POST", "/v1/runs", body={"input": {"question": "hi"}})
    assert error_of(refused, 422, "validation_failed")["details"] == [
        {"loc": ["input", "mode"], "code": "missing", "message": "the field is required"}
    ]


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_a_private_apps_documents_need_one_of_its_keys(rt: Runtime, path: str) -> None:
    # Given a private App, and an access key of another organization
    stranger = bootstrap_admin("stranger@example.org", "Elsewhere")
    foreign_key = Builder(rt.world.call, stranger.token, stranger.org_id).access_key().token
    # When its documents are read without a key, with the other org's key, and with its own key
    missing = rt.call("GET", path, token=None)
    foreign = rt.call("GET", path, token=foreign_key)
    own = rt.call("GET", path)
    # Then only its own key reads them: no key is 401, another org's key sees no such App
    error_of(missing, 401, "missing_token")
    error_of(foreign, 404, "not_found")
    assert own.status == 200
    assert rt.app_id in own.raw


def test_a_public_apps_documents_need_no_key(rt: Runtime) -> None:
    # Given the App made public
    rt.world.call("PATCH", f"/v1/apps/{rt.app_id}", token=rt.world.admin.token, body={"access": "public"})
    # When its document is read without a key, and with a management token
    anonymous = rt.call("GET", "/openapi.json", token=None, form="host")
    management_token = rt.call("GET", "/openapi.json", token=rt.world.admin.token)
    # Then anyone reads it; a PAT is still not an Apps credential
    assert anonymous.status == 200
    assert _input_schema(anonymous.body) == FILES_INPUT
    error_of(management_token, 403, "wrong_token_type")


@pytest.mark.parametrize("form", ["path", "host"])
def test_the_docs_page_lists_operations_and_fields_without_any_script(rt: Runtime, form: str) -> None:
    # Given a deployed version whose field description is markup
    deploy(rt.world, ROUTED)
    # When the page is read
    reply = rt.call("GET", "/docs", form=form)
    # Then it is HTML under the hosted page's strict CSP, with the fields and operations, and no script at all
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    policy = reply.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; style-src 'nonce-")
    assert "script-src" not in policy
    assert (reply.headers["x-frame-options"], reply.headers["x-content-type-options"]) == ("DENY", "nosniff")
    page = reply.raw
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<code>route</code>" in page
    assert "&#x27;fast&#x27;" in page
    assert "<code>POST</code></td><td><code>/v1/runs</code>" in page
    assert f"<code>{BASE_URLS[form].format(app_id=rt.app_id)}</code>" in page
    assert " src=" not in page
    assert "<link" not in page


def test_an_app_with_no_deployment_says_so_and_keeps_input_open(rt: Runtime) -> None:
    # Given an App of the same project that was never deployed
    undeployed = new_app(rt.world)
    # When its document is read with the org's key
    reply = rt.call("GET", "/openapi.json", app_id=undeployed)
    # Then it has the App's URL, says there is no deployment, and documents no input fields
    assert reply.status == 200
    assert reply.body["servers"][0]["url"] == BASE_URLS["path"].format(app_id=undeployed)
    assert reply.body["info"]["description"] == "The App has no deployment yet: runs are refused (409)."
    assert "AppInput" not in reply.body["components"]["schemas"]
    assert reply.body["components"]["schemas"]["CreateRunIn"]["properties"]["input"]["type"] == "object"
