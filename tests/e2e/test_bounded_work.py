"""Bounded node work on the local stack, over real HTTP: a sync run whose template would compute for many
seconds ends ``timeout`` at its node's timeout while another caller is served, and an App with an everyday
template on the same stack completes."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.e2e.app_world import ManagementApi
from tests.e2e.conftest import LocalStackProcess
from tests.support.http import Reply, request

pytestmark = pytest.mark.e2e

TIMEOUT_S = 2


def _app(stack: LocalStackProcess, name: str, template: str) -> str:
    """A deployed App of ``start → work (template) → finish``; its id."""
    api = ManagementApi(stack)
    project = api("POST", "/v1/projects", {"org_id": stack.org_id, "name": name}, expect=201)
    definition = {
        "nodes": [
            {"id": "start", "type": "input", "fields": [{"name": "who", "type": "string"}]},
            {
                "id": "work",
                "type": "transform",
                "depends": ["start"],
                "inputs": {"who": "$.input.who"},
                "config": {"template": template},
                "error_handling": {"timeout_seconds": TIMEOUT_S},
            },
            {"id": "finish", "type": "output", "depends": ["work"], "mappings": {"text": "$.work.output"}},
        ]
    }
    return api.builder.deployed_app(project["id"], name, definition).id


def _sync_run(stack: LocalStackProcess, app_id: str, key: str, run_input: dict[str, Any]) -> Reply:
    url = f"{stack.base_url}/apps/{app_id}/v1/runs"
    return request("POST", url, token=key, json_body={"input": run_input})


def test_a_heavy_template_ends_timeout_while_another_caller_is_served(local_stack: LocalStackProcess) -> None:
    # Given an App whose template would hold a CPU for many seconds, and one with an everyday template
    heavy = _app(local_stack, "Heavy", "{{ (3**30000000) % 7 }}")
    normal = _app(local_stack, "Normal", "Hello {{ who }}!")
    key = ManagementApi(local_stack).access_key(local_stack.org_id).token
    # When the heavy App runs synchronously while another caller asks GET /v1/me
    served: list[int] = []

    def other_caller() -> None:
        time.sleep(0.5)
        served.append(request("GET", f"{local_stack.base_url}/v1/me", token=local_stack.pat).status)

    caller = threading.Thread(target=other_caller)
    started = time.monotonic()
    caller.start()
    reply = _sync_run(local_stack, heavy, key, {"who": "Ada"})
    elapsed = time.monotonic() - started
    caller.join(timeout=30)
    # Then the run fails at its node's timeout, with the node named
    assert reply.status == 200, reply.text
    run = reply.body["data"]
    assert run["status"] == "failed"
    assert run["error"]["type"] == "timeout"
    assert elapsed < TIMEOUT_S + 3
    # And the other caller was answered meanwhile
    assert served == [200]
    # And the everyday template on the same stack completes
    ok = _sync_run(local_stack, normal, key, {"who": "Ada"})
    assert ok.status == 200, ok.text
    assert ok.body["data"]["status"] == "completed"
    assert ok.body["data"]["output"] == {"text": "Hello Ada!"}
