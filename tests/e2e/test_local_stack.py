"""`switchboard local serve` as a newcomer meets it: banner, PAT, management API, Apps, restarts, Ctrl-C."""

from __future__ import annotations

import json
import shlex
import shutil
import stat
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, LocalStackProcess
from tests.support.http import Reply, request

pytestmark = pytest.mark.e2e

WORKFLOW = {
    "requirements": [],
    "nodes": [
        {
            "id": "start",
            "type": "input",
            "fields": [{"name": "question", "type": "string", "required": True}],
        },
        {
            "id": "shout",
            "type": "transform",
            "depends": ["start"],
            "inputs": {"question": "$.input.question"},
            "config": {"template": "{{ question }}!"},
        },
        {"id": "finish", "type": "output", "depends": ["shout"], "mappings": {"answer": "$.shout.output"}},
    ],
}


def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "switchboard_cli.main", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def created(reply: Reply) -> dict[str, Any]:
    assert reply.status == 201, reply.text
    return reply.body["data"]  # type: ignore[no-any-return]


def test_the_printed_curl_line_works(local_stack: LocalStackProcess):
    # Given the banner's curl line, exactly as printed
    line = next(
        line.strip() for line in local_stack.stdout().splitlines() if line.strip().startswith("curl ")
    )
    arguments = shlex.split(line)
    assert arguments[-1] == f"{local_stack.base_url}/v1/me"
    assert f"Authorization: Bearer {local_stack.pat}" in arguments

    # When it is run (by curl when there is one, else by the same request)
    if shutil.which("curl"):
        done = subprocess.run(arguments, capture_output=True, text=True, timeout=30, check=True)
        body = json.loads(done.stdout)
    else:
        reply = request("GET", arguments[-1], token=local_stack.pat)
        assert reply.status == 200
        body = reply.body

    # Then it shows the bootstrapped admin
    assert body["data"]["email"] == "admin@switchboard.local"


def test_the_banner_names_the_addresses(local_stack: LocalStackProcess):
    # Given a started local stack
    # When its output is read
    out = local_stack.stdout()
    # Then the banner names the management API and both App addressing forms
    assert f"{local_stack.base_url}/v1" in out
    assert f"http://<app_id>.apps.localhost:{local_stack.port}/" in out
    assert f"{local_stack.base_url}/apps/<app_id>/" in out


def test_the_management_api_wants_a_pat(local_stack: LocalStackProcess):
    # Given a started local stack
    # When the management API is called without a PAT
    reply = request("GET", f"{local_stack.base_url}/v1/me")
    # Then 401 with the error envelope
    assert reply.status == 401
    assert set(reply.body["error"]) == {"code", "message", "details"}


def test_admin_bootstrap_against_the_local_stack_returns_a_working_pat(local_stack: LocalStackProcess):
    # Given a started local stack, already bootstrapped
    # When a second admin is bootstrapped through the CLI
    arguments = [
        "admin",
        "bootstrap",
        "--local-url",
        local_stack.base_url,
        "--state-file",
        str(local_stack.state_file),
    ]
    done = cli(*arguments, "--email", "x@y.z", "--org", "Other", "--json")

    # Then it prints the new admin, whose PAT works and sees only the new organization
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["token"].startswith("sb_pat_")
    me = request("GET", f"{local_stack.base_url}/v1/me", token=result["token"])
    assert (me.status, me.body["data"]["email"]) == (200, "x@y.z")
    orgs = request("GET", f"{local_stack.base_url}/v1/orgs", token=result["token"])
    assert [org["id"] for org in orgs.body["data"]] == [result["org_id"]]

    # And the same email again is a clear error
    again = cli(*arguments, "--email", "x@y.z", "--org", "Other")
    assert again.returncode == 1
    assert "x@y.z already has an account" in again.stderr


@pytest.mark.parametrize("form", ["host", "path"])
def test_an_unknown_app_is_the_apps_functions_404_in_both_forms(local_stack: LocalStackProcess, form: str):
    # Given a started local stack with no App "app-nope"
    # When an App that does not exist is addressed by host or by path
    if form == "host":
        reply = request(
            "GET", f"{local_stack.base_url}/", headers={"Host": f"app-nope.apps.localhost:{local_stack.port}"}
        )
    else:
        reply = request("GET", f"{local_stack.base_url}/apps/app-nope/")

    # Then the Apps function (not the gateway) answers with its error envelope
    assert reply.status == 404
    assert reply.body["error"]["code"] == "not_found"


def test_an_app_built_through_the_management_api_answers_in_both_forms(local_stack: LocalStackProcess):
    # Given a project, a workflow, a deployed App and an access key, all made over HTTP
    base, pat = local_stack.base_url, local_stack.pat
    project = created(
        request(
            "POST", f"{base}/v1/projects", token=pat, json_body={"org_id": local_stack.org_id, "name": "E2E"}
        )
    )
    workflow = created(
        request(
            "POST",
            f"{base}/v1/workflows",
            token=pat,
            json_body={"project_id": project["id"], "name": "w", "definition": WORKFLOW},
        )
    )
    app = created(
        request(
            "POST",
            f"{base}/v1/apps",
            token=pat,
            json_body={"project_id": project["id"], "name": "Echo", "workflow_id": workflow["id"]},
        )
    )
    created(request("POST", f"{base}/v1/apps/{app['id']}/deployments", token=pat, json_body={"version": 1}))
    key = created(
        request(
            "POST", f"{base}/v1/access-keys", token=pat, json_body={"org_id": local_stack.org_id, "name": "k"}
        )
    )

    # When the App is called by host and by path with the key
    by_host = request(
        "GET",
        f"{base}/",
        token=key["token"],
        headers={"Host": f"{app['id']}.apps.localhost:{local_stack.port}"},
    )
    by_path = request("GET", f"{base}/apps/{app['id']}", token=key["token"])

    # Then both reach it
    expected = {"id": app["id"], "name": "Echo", "access": "private", "deployed_version": 1}
    assert (by_host.status, by_host.body["data"]) == (200, expected)
    assert (by_path.status, by_path.body["data"]) == (200, expected)


def test_state_survives_a_restart_without_a_second_bootstrap(local_stack: LocalStackProcess):
    # Given a project made before the restart
    pat, org_id = local_stack.pat, local_stack.org_id
    project = created(
        request(
            "POST",
            f"{local_stack.base_url}/v1/projects",
            token=pat,
            json_body={"org_id": org_id, "name": "Kept"},
        )
    )

    # When the stack restarts on the same state file
    local_stack.restart()

    # Then the same admin (same PAT, same org) is back and so is the project
    assert (local_stack.pat, local_stack.org_id) == (pat, org_id)
    assert request("GET", f"{local_stack.base_url}/v1/me", token=pat).status == 200
    fetched = request("GET", f"{local_stack.base_url}/v1/projects/{project['id']}", token=pat)
    assert (fetched.status, fetched.body["data"]["name"]) == (200, "Kept")


def test_ctrl_c_stops_cleanly_and_leaves_a_private_state_file(local_stack: LocalStackProcess):
    # Given a write acknowledged just before (the background save has had no time for it)
    project = created(
        request(
            "POST",
            f"{local_stack.base_url}/v1/projects",
            token=local_stack.pat,
            json_body={"org_id": local_stack.org_id, "name": "Last write"},
        )
    )

    # When the server gets Ctrl-C
    code = local_stack.interrupt()

    # Then it exits 0 without a traceback, the state file is readable only by its owner and holds the write
    assert code == 0
    assert "Traceback" not in local_stack.stderr()
    assert stat.S_IMODE(local_stack.state_file.stat().st_mode) == 0o600
    saved = local_stack.state_file.read_text()
    assert json.loads(saved)["local_admin"]["token"] == local_stack.pat
    assert project["id"] in saved
    local_stack.start()
