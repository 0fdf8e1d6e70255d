"""The management API's OpenAPI document, kept in ``docs/openapi.json``.

``python -m switchboard_cli.openapi`` prints it, ``--write`` refreshes the file (``make openapi``) and
``--check`` exits 1 when the file no longer matches the routes. The document is the one the handler serves at
``/v1/openapi.json``: generated from the management function's own resolver, routes and models.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from switchboard.api.openapi import openapi_document
from switchboard.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "openapi.json"
MANAGEMENT_FUNCTION = ROOT / "functions" / "management"
MODULE_NAME = "switchboard_function_management"
"""The name the test harness imports the handler under too, so a process holds one copy of it."""

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


def _import_management_handler() -> ModuleType:
    """Import ``functions/management/app.py`` the way Lambda does: its directory first on ``sys.path``."""
    if str(MANAGEMENT_FUNCTION) not in sys.path:
        sys.path.insert(0, str(MANAGEMENT_FUNCTION))
    spec = importlib.util.spec_from_file_location(MODULE_NAME, MANAGEMENT_FUNCTION / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {MANAGEMENT_FUNCTION / 'app.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    try:
        with _import_environment():
            spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[MODULE_NAME]
        raise
    return module


def load_management_app() -> APIGatewayHttpResolver:
    """The management function's resolver, with every router included."""
    module = sys.modules.get(MODULE_NAME) or _import_management_handler()
    app = getattr(module, "app", None)
    if not isinstance(app, APIGatewayHttpResolver):
        raise TypeError(f"{MANAGEMENT_FUNCTION / 'app.py'} has no module-level APIGatewayHttpResolver `app`")
    return app


def generate() -> dict[str, Any]:
    return openapi_document(load_management_app())


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
    return [f"{_display(path)} is out of date with the management API's routes: run `make openapi`", *shown]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m switchboard_cli.openapi",
        description="Print, write or check the management API's OpenAPI document.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the document to --output")
    mode.add_argument("--check", action="store_true", help="exit 1 if --output differs from the routes")
    parser.add_argument("--output", type=Path, default=DOCUMENT, help=f"default: {_display(DOCUMENT)}")
    arguments = parser.parse_args(argv)

    text = render(generate())
    if arguments.check:
        problems = check(arguments.output, text)
        for line in problems:
            print(line, file=sys.stderr)
        return 1 if problems else 0
    if arguments.write:
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        arguments.output.write_text(text, encoding="utf-8")
        print(f"wrote {_display(arguments.output)}")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
