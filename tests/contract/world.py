"""The world the contract test fuzzes, built over HTTP with the bootstrap PAT like a builder would.

Every identifier a generated request may carry has a real value here, so a good share of the requests
reaches past the 404 of an unknown resource into validation and the use cases. Whatever a request that
changes something could break (a deletion, a new deployment or version, a connection aimed elsewhere, a
member's role) gets a spare that nothing else uses, so the operations fuzzed after it, the Apps API's last,
still find the world they expect.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.conftest import LocalStackProcess
from tests.support.http import Reply, request

CONNECTION_KEY = "sk-contract-SECRET-7311"
"""Marked like every test secret (tests/conftest.py): a response or printed report that held it fails."""
SPARE_CONNECTION_KEY = "sk-contract-spare-SECRET-7312"
END_USER = "contract-end-user"


def definition(connection_id: str) -> dict[str, Any]:
    """input → an http node (the shared connection, the loopback target) → a transform → output; the input
    also takes a file and a list of files, so multipart parts have somewhere to go."""
    return {
        "nodes": [
            {
                "id": "start",
                "type": "input",
                "fields": [
                    {"name": "question", "type": "string", "required": True},
                    {"name": "count", "type": "integer"},
                    {"name": "doc", "type": "file"},
                    {"name": "files", "type": "array"},
                ],
            },
            {
                "id": "lookup",
                "type": "http",
                "depends": ["start"],
                "connection": {"connection_id": connection_id},
                "config": {"method": "GET", "path": "/search", "params": {"q": "$.input.question"}},
            },
            {
                "id": "shout",
                "type": "transform",
                "depends": ["lookup"],
                "inputs": {"question": "$.input.question"},
                "config": {"template": "{{ question }}!"},
            },
            {
                "id": "finish",
                "type": "output",
                "depends": ["shout"],
                "mappings": {"answer": "$.shout.output", "hits": "$.lookup.output"},
            },
        ]
    }


@dataclass(frozen=True)
class World:
    base_url: str
    pat: str = field(repr=False)
    org_id: str
    project_id: str
    connection_id: str
    workflow_id: str
    app_id: str
    access_key: str = field(repr=False)
    access_key_id: str
    run_id: str
    session_id: str
    spare_project_id: str
    spare_connection_id: str
    spare_workflow_id: str
    spare_app_id: str
    spare_access_key_id: str
    spare_token_id: str
    member_id: str

    @property
    def apps_base_url(self) -> str:
        return f"{self.base_url}/apps/{self.app_id}"

    def management_ids(self, method: str, path: str) -> dict[str, str]:
        """Real values for the identifiers of a management request. A request that may change something
        gets the spares instead: the App the Apps API is fuzzed on afterwards keeps its workflow, its one
        deployed version and its connection to the loopback target."""
        ids = {
            "org_id": self.org_id,
            "project_id": self.project_id,
            "connection_id": self.connection_id,
            "workflow_id": self.workflow_id,
            "app_id": self.app_id,
            "key_id": self.access_key_id,
            "token_id": self.spare_token_id,
            "user_id": self.member_id,
            "run_id": self.run_id,
            "trace_id": self.run_id,
            "session_id": self.session_id,
            "number": "1",
        }
        if method != "GET":
            ids |= {
                "connection_id": self.spare_connection_id,
                "workflow_id": self.spare_workflow_id,
                "app_id": self.spare_app_id,
                "key_id": self.spare_access_key_id,
            }
        if method == "DELETE" and path == "/v1/projects/{project_id}":
            ids["project_id"] = self.spare_project_id
        return ids

    def apps_ids(self) -> dict[str, str]:
        return {"run_id": self.run_id, "session_id": self.session_id, "user_id": END_USER}


class _Builder:
    def __init__(self, stack: LocalStackProcess) -> None:
        self.base_url = stack.base_url
        self.pat = stack.pat

    def __call__(self, method: str, path: str, body: Any) -> Any:
        reply = request(method, f"{self.base_url}{path}", token=self.pat, json_body=body)
        return _data(reply, 201, method, path)


def _data(reply: Reply, expect: int, method: str, path: str) -> Any:
    assert reply.status == expect, f"{method} {path}: {reply.status} {reply.text[:500]}"
    return reply.body["data"]


def build_world(stack: LocalStackProcess, target_url: str) -> World:
    call = _Builder(stack)
    org_id = stack.org_id
    project = call("POST", "/v1/projects", {"org_id": org_id, "name": "Contract"})
    spare_project = call("POST", "/v1/projects", {"org_id": org_id, "name": "Contract spare"})

    def connection(name: str, key: str) -> Any:
        config = {"url": target_url, "api_key": key}
        body = {"project_id": project["id"], "name": name, "type": "http_api_key", "config": config}
        return call("POST", "/v1/connections", body)

    shared = connection("target", CONNECTION_KEY)
    spare_connection = connection("spare", SPARE_CONNECTION_KEY)
    workflow = call(
        "POST",
        "/v1/workflows",
        {"project_id": project["id"], "name": "lookup", "definition": definition(shared["id"])},
    )
    spare_workflow = call(
        "POST",
        "/v1/workflows",
        {"project_id": project["id"], "name": "spare", "definition": definition(shared["id"])},
    )

    def deployed_app(name: str) -> Any:
        app = call(
            "POST", "/v1/apps", {"project_id": project["id"], "name": name, "workflow_id": workflow["id"]}
        )
        call("POST", f"/v1/apps/{app['id']}/deployments", {"version": 1})
        return app

    app = deployed_app("Contract")
    spare_app = deployed_app("Contract spare")
    key = call("POST", "/v1/access-keys", {"org_id": org_id, "name": "contract"})
    spare_key = call("POST", "/v1/access-keys", {"org_id": org_id, "name": "contract spare"})
    spare_token = call("POST", "/v1/tokens", {"name": "contract spare"})
    member = call("POST", f"/v1/orgs/{org_id}/members", {"email": "member@contract.test", "role": "member"})
    call("POST", f"/v1/projects/{project['id']}/members", {"email": "member@contract.test", "role": "viewer"})

    # A finished run of an end user in a session, so runs, events, traces and sessions have something real.
    session_id = str(uuid.uuid4())
    run = request(
        "POST",
        f"{stack.base_url}/apps/{app['id']}/v1/runs",
        token=key["token"],
        json_body={"input": {"question": "ping"}, "user_id": END_USER, "session_id": session_id},
    )
    finished = _data(run, 200, "POST", "/v1/runs")
    assert finished["status"] == "completed", finished
    return World(
        base_url=stack.base_url,
        pat=stack.pat,
        org_id=org_id,
        project_id=project["id"],
        connection_id=shared["id"],
        workflow_id=workflow["id"],
        app_id=app["id"],
        access_key=key["token"],
        access_key_id=key["id"],
        run_id=finished["id"],
        session_id=session_id,
        spare_project_id=spare_project["id"],
        spare_connection_id=spare_connection["id"],
        spare_workflow_id=spare_workflow["id"],
        spare_app_id=spare_app["id"],
        spare_access_key_id=spare_key["id"],
        spare_token_id=spare_token["id"],
        member_id=member["user_id"],
    )
