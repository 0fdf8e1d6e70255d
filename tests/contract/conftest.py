"""The local stack (a `switchboard local serve` subprocess, as in tests/e2e), a loopback target for the
App's http node, the world built over HTTP, and both OpenAPI documents loaded by schemathesis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.contract.world import World, build_world
from tests.e2e.conftest import ROOT, LocalStackProcess
from tests.support.fakes import HttpTarget, Reply

MANAGEMENT_DOCUMENT = ROOT / "docs" / "openapi.json"
APPS_DOCUMENT = ROOT / "docs" / "openapi-apps.json"


@pytest.fixture(scope="module")
def contract_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    stack = LocalStackProcess(tmp_path_factory.mktemp("contract-stack"))
    stack.start()
    yield stack
    if stack.process is not None:
        code = stack.interrupt()
        assert code == 0, stack.stderr()[-5000:]


@pytest.fixture(scope="module")
def upstream() -> Iterator[HttpTarget]:
    with HttpTarget() as target:
        target.respond("/search", Reply(body={"hits": [{"title": "contract"}]}))
        yield target


@pytest.fixture(scope="module")
def world(contract_stack: LocalStackProcess, upstream: HttpTarget) -> World:
    return build_world(contract_stack, upstream.url)


@pytest.fixture(scope="module")
def management_schema() -> OpenApiSchema:
    return schemathesis.openapi.from_path(MANAGEMENT_DOCUMENT)


@pytest.fixture(scope="module")
def apps_schema() -> OpenApiSchema:
    return schemathesis.openapi.from_path(APPS_DOCUMENT)
