"""What `sam build` installs: the common layer's and the executor's requirements files cover every
third-party package the layer imports, every requirements file has the same ranges as pyproject.toml, and
every function gets one boto3/botocore pair (the layer's), never a botocore that shadows the runtime's under
the runtime's boto3."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.support.packages import sdk_problems

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common"
FUNCTION_REQUIREMENTS = sorted((ROOT / "functions").glob("*/requirements.txt"))
"""Functions with their own dependencies: the executor's engine, the credentials function's OAuth client."""
RUNTIME_PROVIDED = {"boto3", "botocore"}
"""The Lambda Python runtime ships these (the layer ships its own pair, which takes precedence)."""
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
    installed = (
        _requirements(LAYER / "requirements.txt")
        | _requirements(ROOT / "functions" / "executor" / "requirements.txt")
        # httpx2: imported only by the credentials function's OAuth modules (runtime/credentials)
        | _requirements(ROOT / "functions" / "credentials" / "requirements.txt")
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
    for path in (LAYER / "requirements.txt", *FUNCTION_REQUIREMENTS):
        for name, spec in _requirements(path).items():
            assert declared.get(name) == spec, f"{path.name}: {spec!r} differs from pyproject.toml"


def _closure(names: set[str]) -> set[str]:
    """The distributions pip installs for ``names``, read from this environment's installed metadata."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for spec in importlib.metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": "tracer"}):
                pending.append(requirement.name.lower().replace("_", "-"))
    return seen


def test_the_layer_ships_boto3_with_the_botocore_its_dependencies_pull_in() -> None:
    # Given what the layer's requirements install (the X-Ray SDK and the durable execution SDK need botocore)
    layer = _closure(set(_requirements(LAYER / "requirements.txt")))
    # When a layer ships botocore, it shadows the runtime's for every function
    # Then boto3 is installed beside it, resolved together by pip
    assert "botocore" in layer
    assert "boto3" in _requirements(LAYER / "requirements.txt")


@pytest.mark.parametrize("path", FUNCTION_REQUIREMENTS, ids=lambda path: path.parent.name)
def test_no_function_ships_a_second_botocore_of_its_own(path: Path) -> None:
    # Given a function's own requirements
    installed = _closure(set(_requirements(path)))
    # When they are installed into /var/task, which comes before the layer on sys.path
    # Then they bring no boto3/botocore that would differ from the layer's
    assert not installed & {"boto3", "botocore", "s3transfer"}


def test_the_credentials_function_ships_its_oauth_client() -> None:
    # Given the credentials function's own requirements and the layer's (the Apps function builds
    # authorization URLs with Authlib too, so it is in the layer)
    credentials = _requirements(ROOT / "functions" / "credentials" / "requirements.txt")
    layer = _requirements(LAYER / "requirements.txt")
    # Then the credentials function gets Authlib and its HTTP client, httpx2, which no other function needs
    assert "authlib" in layer
    assert "httpx2" in credentials


def _install(directory: Path, name: str, version: str, *requires: str) -> None:
    info = directory / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = [f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {spec}" for spec in requires)]
    (info / "METADATA").write_text("\n".join(["Metadata-Version: 2.1", *lines]) + "\n")


@pytest.fixture
def task_and_layer(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "task").mkdir()
    (tmp_path / "layer").mkdir()
    return tmp_path / "task", tmp_path / "layer"


def test_a_matching_pair_in_the_layer_passes(task_and_layer: tuple[Path, Path]) -> None:
    # Given a layer with boto3 and the botocore it requires
    task, layer = task_and_layer
    _install(layer, "boto3", "1.44.18", "botocore (<1.45.0,>=1.44.18)")
    _install(layer, "botocore", "1.44.18")
    # When the package is checked
    # Then nothing is wrong
    assert sdk_problems([task, layer]) == []


def test_a_layer_with_botocore_but_no_boto3_fails(task_and_layer: tuple[Path, Path]) -> None:
    # Given a layer that ships botocore (pulled in by aws-xray-sdk) and leaves boto3 to the runtime
    task, layer = task_and_layer
    _install(layer, "aws-xray-sdk", "2.15.0", "botocore>=1.11.3")
    _install(layer, "botocore", "1.44.18")
    # When the package is checked
    # Then it is reported: the runtime's boto3 would run on the layer's botocore
    assert sdk_problems([task, layer]) == [
        "botocore without boto3: it shadows the runtime's botocore under the runtime's boto3"
    ]


def test_two_botocores_fail(task_and_layer: tuple[Path, Path]) -> None:
    # Given a function that ships its own boto3/botocore over the layer's
    task, layer = task_and_layer
    for directory in (task, layer):
        _install(directory, "boto3", "1.44.18", "botocore (<1.45.0,>=1.44.18)")
        _install(directory, "botocore", "1.44.18")
    # When the package is checked
    # Then two botocores are reported
    assert sdk_problems([task, layer]) == ["2 botocores: ['task 1.44.18', 'layer 1.44.18']"]


def test_a_boto3_on_a_botocore_it_was_not_released_for_fails(task_and_layer: tuple[Path, Path]) -> None:
    # Given a layer whose boto3 requires a newer botocore than the one shipped
    task, layer = task_and_layer
    _install(layer, "boto3", "1.44.18", "botocore (<1.45.0,>=1.44.18)")
    _install(layer, "botocore", "1.35.0")
    # When the package is checked
    # Then the mismatch is reported
    assert sdk_problems([task, layer]) == ["boto3 1.44.18 needs botocore<1.45.0,>=1.44.18, not 1.35.0"]
