"""The template as CloudFormation receives it: ``template.yaml`` run through SAM's own translator, offline.

The translator runs in a child process, in whichever interpreter has ``aws-sam-translator``: this one if
it is installed here, else the SAM CLI's environment that ``make validate`` builds (``.sam-venv``), which
holds the very translator ``sam deploy`` uses. It pins pydantic exactly, so like the SAM CLI it is kept out
of ours.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from switchboard_cli.local.template import StackContext, Template, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAM_PYTHON = ROOT / ".sam-venv" / "bin" / "python"

STACK = StackContext(stack_name="switchboard-infra-test")
"""The pseudo parameters intrinsic functions resolve with: a stack name found nowhere in the template."""

APPS_DOMAIN = "apps.example.com"
APPS_CERTIFICATE_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
WITH_APPS_DOMAIN = {"AppsDomain": APPS_DOMAIN, "AppsCertificateArn": APPS_CERTIFICATE_ARN}

_TRANSLATE = """
import json, sys
from samtranslator.translator.transform import transform

class FakeManagedPolicyArns(dict):
    # SAM asks IAM for the ARN of a managed policy named in Policies; offline every name gets a plausible one.
    def get(self, name, default=None):
        return "arn:aws:iam::aws:policy/" + name

class OfflineManagedPolicyLoader:
    def load(self):
        return FakeManagedPolicyArns()

request = json.load(sys.stdin)
json.dump(transform(request["template"], request["parameters"], OfflineManagedPolicyLoader()), sys.stdout)
"""


def _translator_python() -> str:
    if importlib.util.find_spec("samtranslator") is not None:
        return sys.executable
    if SAM_PYTHON.exists():
        return str(SAM_PYTHON)
    pytest.fail(
        "aws-sam-translator is not installed: run `make validate` (it builds .sam-venv with the SAM CLI)",
        pytrace=False,
    )


def _packaged(template: dict[str, Any]) -> dict[str, Any]:
    """What ``sam package`` hands the transform: local code directories replaced by S3 locations."""
    packaged: dict[str, Any] = json.loads(json.dumps(template))
    for logical_id, resource in packaged["Resources"].items():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://switchboard-artifacts/{logical_id}.zip"
    return packaged


def transform(parameters: Mapping[str, str]) -> dict[str, Any]:
    request = {"template": _packaged(load_template(TEMPLATE)), "parameters": dict(parameters)}
    result = subprocess.run(
        [_translator_python(), "-c", _TRANSLATE],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": STACK.region},
    )
    if result.returncode != 0:
        pytest.fail(f"the SAM transform rejected template.yaml:\n{result.stderr}", pytrace=False)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    """template.yaml as written (SAM resources, short tags in long form)."""
    return load_template(TEMPLATE)


@pytest.fixture(scope="session")
def cfn() -> Template:
    """The transformed template with default parameters; ``resolve`` evaluates intrinsics for STACK."""
    return Template(transform({}), ROOT, {}, STACK)


@pytest.fixture(scope="session")
def cfn_with_apps_domain() -> Template:
    """The transformed template deployed with an Apps domain and its certificate."""
    return Template(transform(WITH_APPS_DOMAIN), ROOT, WITH_APPS_DOMAIN, STACK)
