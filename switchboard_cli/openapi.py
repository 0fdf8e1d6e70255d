"""The OpenAPI documents of the management API (``docs/openapi.json``) and the Apps API
(``docs/openapi-apps.json``), generated from each function's own resolver, routes and models.

``python -m switchboard_cli.openapi`` prints the management document (``--api apps``: the Apps one),
``--write`` refreshes the files (``make openapi``: both) and ``--check`` exits 1 when a file no longer matches
the routes. The management document is the one its handler serves at ``/v1/openapi.json``. The Apps API's
routes that read their body themselves (a direct invoke may be multipart) declare it in
``apps_routes.models.REQUEST_BODIES`` (with its media type: the connect page takes a form), which the Apps
document adds to those operations (``apps_routes.app_document``; each App serves it at ``/openapi.json``).
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from switchboard.api.openapi import openapi_document
from switchboard.api.routers import OnDemandResolver
from switchboard.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "openapi.json"
APPS_DOCUMENT = ROOT / "docs" / "openapi-apps.json"
MANAGEMENT_FUNCTION = ROOT / "functions" / "management"
APPS_FUNCTION = ROOT / "functions" / "apps"
MODULE_NAME = "switchboard_function_management"
"""The name the test harness imports the handler under too, so a process holds one copy of it."""
APPS_MODULE_NAME = "switchboard_function_apps"
APPS_SERVERS = [
    {
        "url": "https://{app_id}.{apps_domain}",
        "description": "Host addressing, when the stack has an Apps domain",
        "variables": {"app_id": {"default": "app-id"}, "apps_domain": {"default": "apps.example.com"}},
    },
    {
        "url": "{apps_api_url}/apps/{app_id}",
        "description": "Path addressing: the stack's AppsApiUrl output (locally http://127.0.0.1:3000)",
        "variables": {"apps_api_url": {"default": "http://127.0.0.1:3000"}, "app_id": {"default": "app-id"}},
    },
]

IMPORT_ENVIRONMENT = {
    "CONTROL_TABLE": "ControlTable",
    "RUNS_TABLE": "RunsTable",
    "LINKS_TABLE": "LinksTable",
    "IDEMPOTENCY_TABLE": "IdempotencyTable",
    "SECRET_PREFIX": "switchboard/switchboard-local/",
    "POWERTOOLS_SERVICE_NAME": "management",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
"""What the handler's settings require at import, used only where the environment does not say; generating
the document calls no AWS service, so the values are never used."""

_DIFF_LINES = 40


@contextmanager
def _import_environment() -> Iterator[None]:
    added = [name for name in IMPORT_ENVIRONMENT if name not in os.environ]
    os.environ.update({name: IMPORT_ENVIRONMENT[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            del os.environ[name]
        get_settings.cache_clear()


def _import_handler(directory: Path, module_name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` the way Lambda does: its directory first on ``sys.path``."""
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    spec = importlib.util.spec_from_file_location(module_name, directory / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {directory / 'app.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with _import_environment():
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _load_app(directory: Path, module_name: str) -> tuple[ModuleType, APIGatewayHttpResolver]:
    module = sys.modules.get(module_name) or _import_handler(directory, module_name)
    app = getattr(module, "app", None)
    if not isinstance(app, APIGatewayHttpResolver):
        raise TypeError(f"{directory / 'app.py'} has no module-level APIGatewayHttpResolver `app`")
    if isinstance(app, OnDemandResolver):
        app.load_all()
    return module, app


def load_management_app() -> APIGatewayHttpResolver:
    """The management function's resolver, with every router included."""
    return _load_app(MANAGEMENT_FUNCTION, MODULE_NAME)[1]


def load_apps_app() -> APIGatewayHttpResolver:
    """The Apps function's resolver, with every router included."""
    return _load_app(APPS_FUNCTION, APPS_MODULE_NAME)[1]


def generate() -> dict[str, Any]:
    return openapi_document(load_management_app())


def generate_apps() -> dict[str, Any]:
    app = load_apps_app()
    document: dict[str, Any] = importlib.import_module("apps_routes.app_document").apps_document(app)
    document["servers"] = APPS_SERVERS
    return document


DOCUMENTS: dict[str, tuple[Path, Callable[[], dict[str, Any]]]] = {
    "management": (DOCUMENT, generate),
    "apps": (APPS_DOCUMENT, generate_apps),
}


def render(document: dict[str, Any]) -> str:
    """The file's exact text: stable key order, so a diff shows only real changes."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _display(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def check(path: Path, expected: str) -> list[str]:
    """Problems with the file at ``path``, as lines to print; empty when it is current."""
    if not path.exists():
        return [f"{_display(path)} does not exist: run `make openapi`"]
    current = path.read_text(encoding="utf-8")
    if current == expected:
        return []
    diff = list(
        difflib.unified_diff(
            current.splitlines(),
            expected.splitlines(),
            fromfile=f"{_display(path)} (committed)",
            tofile="generated from the routes",
            lineterm="",
        )
    )
    shown = diff[:_DIFF_LINES] + (
        [f"… {len(diff) - _DIFF_LINES} more diff lines"] if len(diff) > _DIFF_LINES else []
    )
    return [f"{_display(path)} is out of date with the API's routes: run `make openapi`", *shown]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m switchboard_cli.openapi",
        description="Print, write or check the OpenAPI documents of the management and Apps APIs.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the document(s)")
    mode.add_argument("--check", action="store_true", help="exit 1 if a document differs from the routes")
    parser.add_argument(
        "--api",
        choices=sorted(DOCUMENTS),
        help="one API (default: both for --write/--check without --output, else management)",
    )
    parser.add_argument("--output", type=Path, help="the file for --api (default: its file under docs/)")
    arguments = parser.parse_args(argv)

    both = arguments.api is None and arguments.output is None and (arguments.write or arguments.check)
    names = sorted(DOCUMENTS) if both else [arguments.api or "management"]
    problems: list[str] = []
    for name in names:
        default_path, build = DOCUMENTS[name]
        path = arguments.output or default_path
        text = render(build())
        if arguments.check:
            problems += check(path, text)
        elif arguments.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {_display(path)}")
        else:
            sys.stdout.write(text)
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
