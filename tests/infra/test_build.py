"""How `sam build` packages the stack: every function and the common layer build through packaging/Makefile,
which installs wheels for the Lambda platform and compiles bytecode for the runtime's CPython, so no module
compiles at a cold start. The checks on the built output (``.aws-sam/build``) run after `make build-check`."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from switchboard_cli.local.template import load_template
from tests.infra.conftest import ROOT, TEMPLATE
from tests.support.packages import sdk_problems

MAKEFILE = ROOT / "packaging" / "Makefile"
BUILT = Path(os.environ.get("SWITCHBOARD_BUILT_DIR", ROOT / ".aws-sam" / "build"))
RESOURCES = load_template(TEMPLATE)["Resources"]
PACKAGED = sorted(
    logical_id
    for logical_id, resource in RESOURCES.items()
    if resource["Type"] in {"AWS::Serverless::Function", "AWS::Serverless::LayerVersion"}
)
FUNCTIONS = [logical_id for logical_id in PACKAGED if RESOURCES[logical_id]["Type"].endswith("Function")]
RUNTIME = load_template(TEMPLATE)["Globals"]["Function"]["Runtime"]
BYTECODE_TAG = "cpython-" + RUNTIME.removeprefix("python").replace(".", "")


def _make_targets() -> list[str]:
    return re.findall(r"^(build-[\w%]+):", MAKEFILE.read_text(), flags=re.MULTILINE)


def _has_target(logical_id: str) -> bool:
    patterns = [re.escape(target).replace("%", r"\w+") for target in _make_targets()]
    return any(re.fullmatch(pattern, f"build-{logical_id}") for pattern in patterns)


@pytest.mark.parametrize("logical_id", PACKAGED)
def test_every_function_and_layer_builds_with_the_packaging_makefile(logical_id: str) -> None:
    # Given a function or layer in template.yaml
    metadata = RESOURCES[logical_id].get("Metadata", {})
    # When sam build picks its builder
    # Then it is packaging/Makefile, which has a target for it
    assert metadata.get("BuildMethod") == "makefile", logical_id
    assert (ROOT / metadata["ContextPath"] / "Makefile") == MAKEFILE
    assert _has_target(logical_id), f"packaging/Makefile has no build-{logical_id} target"


def test_the_makefile_compiles_bytecode_with_the_runtimes_python_for_its_platform() -> None:
    # Given the packaging Makefile and the template's runtime and architecture
    text = MAKEFILE.read_text()
    architectures = load_template(TEMPLATE)["Globals"]["Function"]["Architectures"]
    # When it installs and compiles
    # Then it compiles with the runtime's interpreter, bytecode valid whatever the zip's timestamps,
    # and installs wheels for the runtime's version and architecture
    assert f"RUNTIME_PYTHON ?= {RUNTIME}\n" in text
    assert "$(RUNTIME_PYTHON) -m compileall" in text
    assert "--invalidation-mode unchecked-hash" in text
    assert f"--python-version {RUNTIME.removeprefix('python')}" in text
    assert architectures == ["arm64"]
    assert "aarch64" in text
    assert "x86_64" not in text


def test_a_make_target_that_names_no_resource_is_caught() -> None:
    # Given a logical id that is neither a function nor a layer, and one that is
    # When the target lookup runs
    # Then only the real one has a target (the pattern is not a catch-all)
    assert not _has_target("ControlTable")
    assert _has_target("CommonLayer")
    assert _has_target("ManagementFunction")


def _built(logical_id: str) -> Path:
    path = BUILT / logical_id
    if not BUILT.is_dir():
        pytest.skip("no .aws-sam/build: `make build-check` builds it and runs these checks")
    assert path.is_dir(), f"sam build did not produce {logical_id}"
    return path


@pytest.mark.parametrize("logical_id", PACKAGED)
def test_built_modules_ship_bytecode_for_the_runtime(logical_id: str) -> None:
    # Given the output of sam build for a function or the layer
    built = _built(logical_id)
    # When its Python sources are compared with the bytecode beside them
    sources = [path for path in built.rglob("*.py") if "bin" not in path.relative_to(built).parts[:2]]
    missing = [
        str(source.relative_to(built))
        for source in sources
        if not (source.parent / "__pycache__" / f"{source.stem}.{BYTECODE_TAG}.pyc").exists()
    ]
    # Then every module has its compiled form for the runtime's CPython
    assert sources, logical_id
    assert not missing, f"{len(missing)} modules without {BYTECODE_TAG} bytecode, e.g. {missing[:5]}"


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_each_built_function_imports_one_matching_boto3_and_botocore(function_id: str) -> None:
    # Given a built function and the common layer it runs with (Lambda puts /var/task before /opt/python)
    directories = [_built(function_id), _built("CommonLayer") / "python"]
    # When the AWS SDK distributions in them are read
    # Then there is one botocore and the boto3 it was released with
    assert sdk_problems(directories) == []
    assert "boto3" in {path.name.split("-")[0] for path in directories[1].glob("*.dist-info")}
