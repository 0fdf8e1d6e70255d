"""Each capability package of ``switchboard.runtime`` has one public face, its ``__init__`` (no AWS).

The functions and the command-line package import a capability through its face, never a module inside it
(``switchboard.runtime.<package>.<module>``); a face names its modules' entry points lazily, so importing it
loads none of its modules and an API function's cold start stays what it was.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "layers" / "common" / "switchboard" / "runtime"
IMPORTERS = ("functions", "switchboard_cli")
PACKAGES = sorted(path.parent.name for path in RUNTIME.glob("*/__init__.py"))


def modules_behind_faces(source: str) -> list[str]:
    """The ``switchboard.runtime.<package>.<module>`` names ``source`` imports past a package's face."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        found += [name for name in names if name.startswith("switchboard.runtime.") and name.count(".") >= 3]
    return found


def test_an_import_past_a_face_is_found_and_an_import_of_the_face_is_not() -> None:
    # Given one import past the links face (eager and lazy), and imports through faces
    past = (
        "from switchboard.runtime.links.linking import LinkView\n"
        "def f():\n    import switchboard.runtime.runs.sweeper\n"
    )
    through = "from switchboard.runtime.links import LinkView\nfrom switchboard.runtime.runs import start\n"
    # When each is checked
    flagged, clean = modules_behind_faces(past), modules_behind_faces(through)
    # Then only the imports past a face are named
    assert flagged == ["switchboard.runtime.links.linking", "switchboard.runtime.runs.sweeper"]
    assert clean == []


def test_functions_and_the_cli_import_capabilities_only_through_their_faces() -> None:
    # Given every module of the functions and of the command-line package
    sources = [path for folder in IMPORTERS for path in sorted((ROOT / folder).rglob("*.py"))]
    # When their imports are read
    past = {str(path.relative_to(ROOT)): modules_behind_faces(path.read_text()) for path in sources}
    # Then none reaches past a face (and there were modules to check)
    assert len(sources) > 30
    assert {path: found for path, found in past.items() if found} == {}


def test_every_name_of_every_face_comes_from_its_module() -> None:
    # Given the capability packages
    assert PACKAGES == ["building", "credentials", "identity", "links", "runs", "triggers", "webhooks"]
    for package in PACKAGES:
        face = importlib.import_module(f"switchboard.runtime.{package}")
        homes: dict[str, str] = face._HOMES
        # When each name of its face is read
        for name in face.__all__:
            module = importlib.import_module(f"switchboard.runtime.{package}.{homes[name]}")
            # Then it is the very object its module defines, and the face names nothing it cannot give
            assert getattr(face, name) is getattr(module, name), (package, name)
        assert sorted(face.__all__) == sorted(homes)


def test_an_unknown_name_of_a_face_is_an_attribute_error() -> None:
    # Given the links face
    face = importlib.import_module("switchboard.runtime.links")
    # When a name it does not have is read, Then it is an AttributeError naming it (as for any module)
    with pytest.raises(AttributeError, match="no_such_name"):
        face.no_such_name  # noqa: B018


def test_importing_a_face_loads_none_of_its_modules() -> None:
    # Given a fresh interpreter with the common layer on its path
    code = (
        f"import json, sys; sys.path[:0] = [{str(ROOT / 'layers' / 'common')!r}]\n"
        f"for package in {PACKAGES!r}:\n"
        "    __import__('switchboard.runtime.' + package)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('switchboard.runtime.'))))"
    )
    # When every face is imported
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout)
    # Then only the faces themselves are loaded, no module behind them
    assert loaded == sorted(f"switchboard.runtime.{package}" for package in PACKAGES)
