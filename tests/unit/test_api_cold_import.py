"""What an API function's cold start imports and builds (no AWS): only what every request needs.

Each check imports a handler in a fresh interpreter, with the function's directory and the layer first on
``sys.path`` and its environment from the template (as ``make bench`` measure 4 does), and reads
``sys.modules`` or the classes built: no timing, which would depend on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from switchboard.api.envelopes import Data, Page, documented

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common"
API_FUNCTIONS = ("management", "apps")
ENGINE_LIBRARIES = ("jinja2", "jsonschema", "re2", "openai", "httpx")
"""What the API functions never need at cold start: the executor's engine libraries."""
ROUTE_ONLY_MODULES = ("switchboard.connect_page", "apps_routes.connect_page_flow", "email.policy")
"""What only one route of the Apps function needs: the hosted connect page, and the multipart parser's email
header registry."""


def _after_import(function: str, expression: str) -> Any:
    """``expression`` evaluated right after ``import app`` of ``function``, in a fresh interpreter."""
    from bench.cold_import import _environment, functions

    found = functions()[function]
    paths = [str(found.directory), str(LAYER)]
    code = f"import json, sys; sys.path[:0] = {paths!r}\nimport app\nprint(json.dumps({expression}))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=_environment(found.environment),
        cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _imported(function: str, modules: tuple[str, ...]) -> dict[str, bool]:
    expression = f"{{name: name in sys.modules for name in {modules!r}}}"
    result: dict[str, bool] = _after_import(function, expression)
    return result


def test_the_api_handlers_import_none_of_the_engines_heavy_libraries() -> None:
    # Given a fresh interpreter with each API function's handler directory and the layer, as on Lambda
    for function in API_FUNCTIONS:
        # When it imports the handler (what a cold start does before the first request)
        imported = _imported(function, ENGINE_LIBRARIES)
        # Then none of the engine's heavy libraries came with it
        assert imported == dict.fromkeys(ENGINE_LIBRARIES, False), function


def test_the_apps_handler_leaves_the_connect_page_and_the_multipart_parser_to_their_routes() -> None:
    # Given a fresh interpreter with the Apps function's directory and the layer
    # When it imports the handler
    imported = _imported("apps", ROUTE_ONLY_MODULES)
    # Then neither the connect page's views and flow nor the email header registry were imported
    assert imported == dict.fromkeys(ROUTE_ONLY_MODULES, False)


def test_the_connect_page_route_imports_its_flow_when_it_is_requested() -> None:
    # Given a fresh interpreter with the Apps handler imported, and a browser's GET of an App's connect page
    # that carries no connect token
    event = json.loads((ROOT / "events" / "apps-get-root-by-path.json").read_text())
    del event["headers"]["authorization"]
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"{event['rawPath']}/connect"
    # When the handler's resolver answers it
    expression = (
        f"(lambda answer: [answer['statusCode'], answer['headers']['Content-Type'], "
        f"'apps_routes.connect_page_flow' in sys.modules])(app.app.resolve({event!r}, None))"
    )
    status, content_type, imported = _after_import("apps", expression)
    # Then the page answered as before (401 as an HTML page: the link has no token), its flow imported for it
    assert (status, content_type, imported) == (401, "text/html; charset=utf-8", True)


def test_the_api_handlers_build_no_response_envelope_when_their_routers_are_included() -> None:
    # Given a fresh interpreter with each API function's handler directory and the layer
    expression = (
        "app.app.load_all() or sorted(cls.__name__ for envelope in "
        "(sys.modules['switchboard.api.envelopes'].Data, sys.modules['switchboard.api.envelopes'].Page) "
        "for cls in envelope.__subclasses__())"
    )
    # When it imports the management handler and includes every router, whose routes document 41 Data/Page
    # responses (what a request for a path no router owns does)
    built = _after_import("management", expression)
    # Then none of them was parametrized (each would be a class build at the first request)
    assert built == []


class _Item(BaseModel):
    name: str


def test_a_documented_envelope_is_the_parametrized_model_when_read() -> None:
    # Given the route arguments documenting a page of items
    route = documented(200, Page, _Item)
    # When Powertools reads the success response's model (a route's first request, or the OpenAPI document)
    content = route["responses"][200]["content"]["application/json"]
    # Then it is Page[_Item], the same class each time, under the one key "model"
    assert route["status_code"] == 200
    assert "model" in content
    assert content["model"] is Page[_Item]
    assert content["model"] is content["model"]
    assert dict(content) == {"model": Page[_Item]}
    # and a model given as it is stays as it is
    plain = documented(201, Data[_Item])["responses"][201]["content"]["application/json"]
    assert plain == {"model": Data[_Item]}
