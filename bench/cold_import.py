"""Measure 4: cold import time of every function's handler module (each ``AWS::Serverless::Function`` of
template.yaml), relative to ``import boto3``, each import in a fresh interpreter, median of several rounds.

Next to them: the stack floor (``bench/stack_floor``), the least a handler in the house style imports
(boto3, Powertools' logger, metrics and validating resolver, one pydantic model) and none of our code. Its
ratio says what the chosen stack costs by itself; a handler's distance to it is what our code costs, and the
API functions' target is at most ``OVER_FLOOR_TARGET_MS`` above it. Every module is compiled to bytecode
before the first round, as ``sam build`` does for the deployed package (packaging/Makefile), so no round pays
for compiling.

The handler's directory and the common layer come first on ``sys.path``, like ``/var/task`` and
``/opt/python`` on Lambda. Each function is imported with its own environment from the template (the
Globals' variables and the function's own, e.g. ``SWITCHBOARD_XRAY_SUBSEGMENTS``), over the settings
environment of ``bench_env``; a variable whose template value is a CloudFormation reference (a table, a
queue, the stage …) keeps its ``bench_env`` value, or the local stack's resolution of the reference when
``bench_env`` has none. Only the import is timed, not the interpreter's start. For a function over its
target, ``-X importtime`` shows which top-level packages its import spends the time in.
"""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.support import ROOT, TEMPLATE, bench_env, median
from switchboard_cli.local.template import NO_VALUE, Template

REPETITIONS = 9
STACK_FLOOR = "stack floor"
FLOOR_PARTS = {"boto3 + pydantic": "with_pydantic", "boto3 + Powertools resolver": "with_resolver"}
"""Parts of the floor, to show where its cost comes from (modules of ``bench/stack_floor``)."""
STACK_FLOOR_DIRECTORY = ROOT / "bench" / "stack_floor"
API_FUNCTIONS = frozenset({"management", "apps"})
API_TARGET_RATIO = 1.5
OVER_FLOOR_TARGET_MS = 60.0
"""What an API function's own modules may add to the stack floor's import (issue 13)."""
TIMEOUT_SECONDS = 60

_TIMED_IMPORT = """
import sys, time
sys.path[:0] = {paths!r}
started = time.perf_counter()
import {module}
print(time.perf_counter() - started)
"""


@dataclass(frozen=True)
class Function:
    directory: Path
    environment: dict[str, str]
    """The function's own variables from the template (see the module's docstring)."""


def _env_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _template_environment(template: Template, resource: dict[str, Any]) -> dict[str, str]:
    variables = {
        **template.function_globals.get("Environment", {}).get("Variables", {}),
        **resource.get("Properties", {}).get("Environment", {}).get("Variables", {}),
    }
    settings = bench_env()
    environment: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, dict | list) and name in settings:
            environment[name] = settings[name]  # a CloudFormation reference: the bench's value
        else:
            resolved = template.resolve(value)
            if resolved is not NO_VALUE:
                environment[name] = _env_value(resolved)
    return environment


def functions() -> dict[str, Function]:
    """Directory name → directory and environment of every function in the template."""
    template = Template.from_file(TEMPLATE)
    found: dict[str, Function] = {}
    for resource in template.resources_of_type("AWS::Serverless::Function").values():
        code_uri = str(resource.get("Properties", {}).get("CodeUri", "")).rstrip("/")
        if code_uri:
            directory = ROOT / code_uri
            found[directory.name] = Function(directory, _template_environment(template, resource))
    return dict(sorted(found.items()))


def _environment(function_environment: dict[str, str] | None = None) -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("PYTHON")}
    return {**inherited, **bench_env(), **(function_environment or {})}


def _import_seconds(module: str, paths: list[str], environment: dict[str, str] | None = None) -> float:
    code = _TIMED_IMPORT.format(paths=paths, module=module)
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_environment(environment),
        cwd=ROOT,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {completed.stderr[-2000:]}")
    return float(completed.stdout.strip().splitlines()[-1])


def _timing(samples: list[float]) -> dict[str, Any]:
    return {"median_ms": round(median(samples), 1), "min_ms": round(min(samples), 1)}


def heaviest_packages(function: Function, top: int = 8) -> list[dict[str, Any]]:
    """Own import time per top-level package of one cold import of ``function``'s handler."""
    paths = [str(function.directory), str(ROOT / "layers" / "common")]
    code = f"import sys; sys.path[:0] = {paths!r}; import app"
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=_environment(function.environment),
        cwd=ROOT,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    own: Counter[str] = Counter()
    for line in completed.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, _, name = (part.strip() for part in line.removeprefix("import time:").split("|", 2))
        own[name.split(".")[0]] += int(self_us)
    total = sum(own.values())
    return [
        {"package": name, "own_ms": round(us / 1000, 1), "share": round(us / total, 3)}
        for name, us in own.most_common(top)
    ]


Subject = tuple[str, list[str], dict[str, str] | None]
"""What one timed import is: module, paths in front of ``sys.path``, environment."""


def _subjects(found: dict[str, Function]) -> dict[str, Subject]:
    """What is imported, by name: ``boto3``, the stack floor and its parts, and every function. The floor is
    imported with the management function's environment (the Powertools variables)."""
    floor_environment = found["management"].environment
    floor_modules = {STACK_FLOOR: "app", **FLOOR_PARTS}
    layer = str(ROOT / "layers" / "common")
    return {
        "boto3": ("boto3", [], None),
        **{
            name: (module, [str(STACK_FLOOR_DIRECTORY)], floor_environment)
            for name, module in floor_modules.items()
        },
        **{
            name: ("app", [str(function.directory), layer], function.environment)
            for name, function in found.items()
        },
    }


def _relative(samples: list[float], baseline_ms: float) -> dict[str, Any]:
    timing = _timing(samples)
    return {**timing, "ratio_to_boto3": round(timing["median_ms"] / baseline_ms, 2)}


def precompile(found: dict[str, Function]) -> None:
    """Bytecode for our modules and the floor's, as deployed (timestamp-checked: sources change here)."""
    for directory in [ROOT / "layers" / "common" / "switchboard", STACK_FLOOR_DIRECTORY]:
        compileall.compile_dir(directory, quiet=1)
    for function in found.values():
        compileall.compile_dir(function.directory, quiet=1)


def measure() -> dict[str, Any]:
    """Imports in rounds (each round imports every subject once), so that a machine that slows down or
    speeds up during the measure moves the baseline and the handlers alike."""
    found = functions()
    precompile(found)
    subjects = _subjects(found)
    samples: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(REPETITIONS):
        for name, (module, paths, environment) in subjects.items():
            samples[name].append(_import_seconds(module, paths, environment) * 1000)
    baseline = _timing(samples["boto3"])
    floor = _relative(samples[STACK_FLOOR], baseline["median_ms"])
    floor["parts"] = {name: _relative(samples[name], baseline["median_ms"]) for name in FLOOR_PARTS}
    results: dict[str, Any] = {}
    for name, function in found.items():
        entry = _relative(samples[name], baseline["median_ms"])
        # Paired by round (both imported moments apart), so a machine busy with other work moves both alike.
        paired = [own - base for own, base in zip(samples[name], samples[STACK_FLOOR], strict=True)]
        entry["over_floor_ms"] = round(median(paired), 1)
        entry["api_facing"] = name in API_FUNCTIONS
        if name in API_FUNCTIONS:
            entry["over_floor_pass"] = entry["over_floor_ms"] <= OVER_FLOOR_TARGET_MS
            entry["ratio_pass"] = entry["median_ms"] / baseline["median_ms"] <= API_TARGET_RATIO
            entry["pass"] = entry["over_floor_pass"] and entry["ratio_pass"]
            if not entry["pass"]:
                entry["heaviest_packages"] = heaviest_packages(function)
        results[name] = entry
    api = [entry for entry in results.values() if entry["api_facing"]]
    return {
        "repetitions": REPETITIONS,
        "boto3": baseline,
        "stack_floor": floor,
        "target_ratio": API_TARGET_RATIO,
        "over_floor_target_ms": OVER_FLOOR_TARGET_MS,
        "bytecode": "precompiled",
        "floor_over_target": floor["ratio_to_boto3"] > API_TARGET_RATIO,
        "functions": results,
        "pass": all(entry["pass"] for entry in api),
    }
