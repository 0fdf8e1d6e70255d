"""A local stack started without `--allow-loopback-egress` is a deployed stack's egress guard: loopback is
refused at save; and its access log never shows a token query parameter."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import LocalStackProcess, running_stack
from tests.support.fakes import HttpTarget
from tests.support.http import request

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def public_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    yield from running_stack(tmp_path_factory, ())


def _connection(stack: LocalStackProcess, project_id: str, url: str) -> tuple[int, dict[str, object]]:
    body = {
        "project_id": project_id,
        "name": "crm",
        "type": "http_api_key",
        "config": {"url": url, "api_key": "crm-E2E-SECRET-4242"},
    }
    reply = request("POST", f"{stack.base_url}/v1/connections", token=stack.pat, json_body=body)
    return reply.status, reply.body


def test_without_the_flag_loopback_is_refused_and_a_public_host_accepted(
    public_only: LocalStackProcess,
) -> None:
    # Given a stack started without --allow-loopback-egress, a project, and a service on 127.0.0.1
    project = request(
        "POST",
        f"{public_only.base_url}/v1/projects",
        token=public_only.pat,
        json_body={"org_id": public_only.org_id, "name": "Egress"},
    )
    assert project.status == 201, project.text
    project_id = project.body["data"]["id"]
    with HttpTarget() as target:
        # When a connection to that service, then one to a public host, is created
        status, body = _connection(public_only, project_id, target.url)
        public_status, public_body = _connection(public_only, project_id, "https://crm.example.test")

    # Then the first is 422 address_not_allowed, the second is created
    assert status == 422, body
    assert body["error"] == {
        "code": "validation_failed",
        "message": "invalid connection config",
        "details": [
            {
                "loc": ["config", "url"],
                "code": "address_not_allowed",
                "message": "the host is or resolves to a non-public address (loopback)",
            }
        ],
    }
    assert public_status == 201, public_body


def test_the_access_log_redacts_token_query_parameters(public_only: LocalStackProcess) -> None:
    # Given a request that carries a connect token in its query (as a connect page link does)
    reply = request("GET", f"{public_only.base_url}/v1/me?token=sb_ct_E2ESECRET0042&view=full")
    assert reply.status == 401

    # When the access log is read
    deadline = time.monotonic() + 5
    while "/v1/me?" not in public_only.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = [line for line in public_only.stderr().splitlines() if "/v1/me?" in line]
    # Then its line shows the path and the parameter names, never the token
    assert '"GET /v1/me?token=[REDACTED]&view=full" 401' in line
    assert "E2ESECRET" not in public_only.stderr()
