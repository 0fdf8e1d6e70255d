"""What a built Lambda package holds: the distributions (``*.dist-info``) in the directories a function
imports from, and the rule that they carry exactly one botocore, with the boto3 it was released for."""

from __future__ import annotations

import re
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version


def distributions(directory: Path) -> dict[str, tuple[Version, list[Requirement]]]:
    """Name -> (version, requirements) of every distribution installed in ``directory``."""
    found: dict[str, tuple[Version, list[Requirement]]] = {}
    for metadata in directory.glob("*.dist-info/METADATA"):
        headers = Parser().parsestr(metadata.read_text(encoding="utf-8"), headersonly=True)
        name = re.sub(r"[-_.]+", "-", headers["Name"]).lower()
        requires = [Requirement(spec) for spec in headers.get_all("Requires-Dist") or []]
        found[name] = (Version(headers["Version"]), requires)
    return found


def sdk_problems(directories: list[Path]) -> list[str]:
    """Why the AWS SDK a function imports from ``directories`` (its code, then its layers) is not one
    consistent boto3/botocore pair; empty when it is (or when none ships botocore)."""
    problems: list[str] = []
    botocores = [(d, found["botocore"][0]) for d in directories if "botocore" in (found := distributions(d))]
    boto3s = [(d, found["boto3"]) for d in directories if "boto3" in (found := distributions(d))]
    if len(botocores) > 1:
        problems.append(f"{len(botocores)} botocores: {[f'{d.name} {v}' for d, v in botocores]}")
    if botocores and not boto3s:
        problems.append("botocore without boto3: it shadows the runtime's botocore under the runtime's boto3")
    for _, (version, requires) in boto3s:
        for requirement in requires:
            if requirement.name == "botocore" and requirement.marker is None:
                for _, botocore in botocores:
                    if botocore not in requirement.specifier:
                        needed = requirement.specifier
                        problems.append(f"boto3 {version} needs botocore{needed}, not {botocore}")
    return problems
