"""Contract test: every operation of both committed OpenAPI documents, fuzzed by schemathesis against the
local stack over real HTTP, answers within its contract and never with a 5xx.

The management API (``docs/openapi.json``, with the bootstrap PAT) goes first, while the runs table is
small; then the Apps API (``docs/openapi-apps.json``, under ``/apps/<app_id>`` with an access key) on the
world's deployed App. Operations run in document order except DELETEs, which come last, dependents first;
whatever may change or destroy something only ever finds the world's spares (``world.py``), so the App the
Apps API is fuzzed on keeps its one deployed version and its loopback connection. Each operation has a
fixed budget of requests and seconds (``exploration.Budget``), and Hypothesis is derandomized, so a run is
repeatable and bounded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.contract.conftest import APPS_DOCUMENT, MANAGEMENT_DOCUMENT
from tests.contract.exploration import Budget, Exploration, Operation, Target
from tests.contract.world import World

pytestmark = pytest.mark.e2e

READ_BUDGET = Budget(coverage_cases=24, examples_per_mode=8, seconds=15)
WRITE_BUDGET = Budget(coverage_cases=10, examples_per_mode=4, seconds=15)
"""Fewer writes: the local stack saves its whole state after each one (a scan of every table, 0.1-0.3 s)."""
DELETE_ORDER = (
    "/v1/projects/{project_id}/members/{user_id}",
    "/v1/orgs/{org_id}/members/{user_id}",
    "/v1/tokens/{token_id}",
    "/v1/access-keys/{key_id}",
    "/v1/apps/{app_id}",
    "/v1/workflows/{workflow_id}",
    "/v1/connections/{connection_id}",
    "/v1/projects/{project_id}",
)
"""Dependents before what they depend on: an App before its workflow, a project's members before it."""


def labels(document: Path) -> list[str]:
    """``METHOD /path`` of every operation: document order, DELETEs last in ``DELETE_ORDER``."""
    paths = json.loads(document.read_text(encoding="utf-8"))["paths"]
    found = [f"{method.upper()} {path}" for path, operations in paths.items() for method in operations]
    kept = [label for label in found if not label.startswith("DELETE ")]
    deletes = [label for label in found if label.startswith("DELETE ")]
    rank = {f"DELETE {path}": index for index, path in enumerate(DELETE_ORDER)}
    return kept + sorted(deletes, key=lambda label: rank.get(label, len(rank)))


def budget_for(method: str) -> Budget:
    return READ_BUDGET if method == "GET" else WRITE_BUDGET


def operation_of(schema: OpenApiSchema, label: str) -> Operation:
    method, path = label.split(" ", 1)
    return schema[path][method]


@pytest.mark.parametrize("label", labels(MANAGEMENT_DOCUMENT))
def test_the_management_api_keeps_its_contract(
    label: str, management_schema: OpenApiSchema, world: World
) -> None:
    # Given the world, with spares for whatever the operation may change or destroy
    method, path = label.split(" ", 1)
    target = Target(
        base_url=world.base_url,
        token=world.pat,
        ids=world.management_ids(method, path),
        body_values={
            "org_id": world.org_id,
            "project_id": world.project_id,
            "workflow_id": world.workflow_id,
        },
    )

    # When the operation is fuzzed
    outcome = Exploration(operation_of(management_schema, label), target, budget_for(method)).run()

    # Then every answer kept the documented contract, and none was a 5xx
    assert outcome.sent > 0, outcome.report()
    assert not outcome.findings, outcome.report()


@pytest.mark.parametrize("label", labels(APPS_DOCUMENT))
def test_the_apps_api_keeps_its_contract(label: str, apps_schema: OpenApiSchema, world: World) -> None:
    # Given the deployed App, its access key and a finished run of an end user in a session
    target = Target(
        base_url=world.apps_base_url,
        token=world.access_key,
        ids=world.apps_ids(),
        body_values={"input": {"question": "contract"}},
    )

    # When the operation is fuzzed
    outcome = Exploration(
        operation_of(apps_schema, label), target, budget_for(label.split(maxsplit=1)[0])
    ).run()

    # Then every answer kept the documented contract, and none was a 5xx
    assert outcome.sent > 0, outcome.report()
    assert not outcome.findings, outcome.report()
