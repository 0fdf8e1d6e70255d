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

from tests.e2e.conftest import LocalStackProcess
from tests.support.http import request
from tests.support.workflows import lookup_workflow
from tests.support.world import Builder, HttpTransport

CONNECTION_KEY = "sk-contract-SECRET-7311"
"""Marked like every test secret (tests/conftest.py): a response or printed report that held it fails."""
SPARE_CONNECTION_KEY = "sk-contract-spare-SECRET-7312"
END_USER = "contract-end-user"


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


def build_world(stack: LocalStackProcess, target_url: str) -> World:
    builder = Builder(HttpTransport(stack.base_url), stack.pat, stack.org_id)
    project_id = builder.project("Contract")
    spare_project_id = builder.project("Contract spare")
    shared_id = builder.connection(project_id, "target", target_url, CONNECTION_KEY)
    spare_connection_id = builder.connection(project_id, "spare", target_url, SPARE_CONNECTION_KEY)
    workflow_id = builder.workflow(project_id, "lookup", lookup_workflow(shared_id))
    spare_workflow_id = builder.workflow(project_id, "spare", lookup_workflow(shared_id))
    app = builder.app(project_id, "Contract", workflow_id)
    builder.deploy(app.id)
    spare_app = builder.app(project_id, "Contract spare", workflow_id)
    builder.deploy(spare_app.id)
    key = builder.access_key("contract")
    spare_key = builder.access_key("contract spare")
    spare_token = builder.data("POST", "/v1/tokens", {"name": "contract spare"})
    member_id, _ = builder.join("member@contract.test")
    viewer = {"email": "member@contract.test", "role": "viewer"}
    builder.data("POST", f"/v1/projects/{project_id}/members", viewer)

    # A finished run of an end user in a session, so runs, events, traces and sessions have something real.
    session_id = str(uuid.uuid4())
    run = request(
        "POST",
        f"{stack.base_url}/apps/{app.id}/v1/runs",
        token=key.token,
        json_body={"input": {"question": "ping"}, "user_id": END_USER, "session_id": session_id},
    )
    assert run.status == 200, f"POST /v1/runs: {run.status} {run.text[:500]}"
    finished = run.body["data"]
    assert finished["status"] == "completed", finished
    return World(
        base_url=stack.base_url,
        pat=stack.pat,
        org_id=stack.org_id,
        project_id=project_id,
        connection_id=shared_id,
        workflow_id=workflow_id,
        app_id=app.id,
        access_key=key.token,
        access_key_id=key.id,
        run_id=finished["id"],
        session_id=session_id,
        spare_project_id=spare_project_id,
        spare_connection_id=spare_connection_id,
        spare_workflow_id=spare_workflow_id,
        spare_app_id=spare_app.id,
        spare_access_key_id=spare_key.id,
        spare_token_id=spare_token["id"],
        member_id=member_id,
    )
