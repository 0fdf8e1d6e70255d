"""What `sam build` installs: the common layer's and the executor's requirements files cover every
third-party package the layer imports, with the same ranges as pyproject.toml."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common"
RUNTIME_PROVIDED = {"boto3", "botocore"}
"""The Lambda Python runtime ships these."""
DISTRIBUTION_OF = {
    "aws_lambda_powertools": "aws-lambda-powertools",
    "pydantic_core": "pydantic",
    "jinja2": "jinja2",
    "referencing": "jsonschema",
    "re2": "google-re2",
}


def _requirements(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        spec = raw.split("#", 1)[0].strip()
        if spec:
            found[re.split(r"[\[<>=!~ ]", spec, maxsplit=1)[0].lower()] = spec
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (imports for the type checker only)."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def _third_party_imports() -> set[str]:
    modules: set[str] = set()
    for source in (LAYER / "switchboard").rglob("*.py"):
        for node in _runtime_nodes(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "switchboard"}


def test_every_third_party_import_of_the_layer_is_installed_by_sam_build() -> None:
    installed = _requirements(LAYER / "requirements.txt") | _requirements(
        ROOT / "functions" / "executor" / "requirements.txt"
    )
    missing = {
        module
        for module in _third_party_imports() - RUNTIME_PROVIDED
        if DISTRIBUTION_OF.get(module, module).replace("_", "-") not in installed
    }
    assert not missing, f"add to layers/common/requirements.txt: {sorted(missing)}"


def test_time_zone_data_ships_with_the_layer() -> None:
    assert "tzdata" in _requirements(LAYER / "requirements.txt")


def test_requirement_ranges_match_pyproject() -> None:
    declared = {
        re.split(r"[\[<>=!~ ]", spec, maxsplit=1)[0].lower(): spec
        for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    for path in (LAYER / "requirements.txt", ROOT / "functions" / "executor" / "requirements.txt"):
        for name, spec in _requirements(path).items():
            assert declared.get(name) == spec, f"{path.name}: {spec!r} differs from pyproject.toml"
