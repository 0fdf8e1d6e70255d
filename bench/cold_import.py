"""Measure 4: cold import time of every function's handler module (each ``AWS::Serverless::Function`` of
template.yaml), relative to ``import boto3``, each import in a fresh interpreter, median of several.

The handler's directory and the common layer come first on ``sys.path``, like ``/var/task`` and
``/opt/python`` on Lambda, and the settings environment is set (settings are validated at import). Only
the import is timed, not the interpreter's start. For a function over its target, ``-X importtime`` shows
which top-level packages its import spends the time in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.support import ROOT, TEMPLATE, bench_env, median
from switchboard_cli.local.template import Template

REPETITIONS = 5
API_FUNCTIONS = frozenset({"management", "apps"})
API_TARGET_RATIO = 1.5
TIMEOUT_SECONDS = 60

_TIMED_IMPORT = """
import sys, time
sys.path[:0] = {paths!r}
started = time.perf_counter()
import {module}
print(time.perf_counter() - started)
"""


def functions() -> dict[str, Path]:
    """Directory name → directory of every function in the template."""
    template = Template.from_file(TEMPLATE)
    found: dict[str, Path] = {}
    for resource in template.resources_of_type("AWS::Serverless::Function").values():
        code_uri = str(resource.get("Properties", {}).get("CodeUri", "")).rstrip("/")
        if code_uri:
            directory = ROOT / code_uri
            found[directory.name] = directory
    return dict(sorted(found.items()))


def _environment() -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("PYTHON")}
    return {**inherited, **bench_env()}


def _import_seconds(module: str, paths: list[str]) -> float:
    code = _TIMED_IMPORT.format(paths=paths, module=module)
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=_environment(),
        cwd=ROOT,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"importing {module} failed: {completed.stderr[-2000:]}")
    return float(completed.stdout.strip().splitlines()[-1])


def _median_ms(module: str, paths: list[str]) -> dict[str, Any]:
    samples = [_import_seconds(module, paths) * 1000 for _ in range(REPETITIONS)]
    return {"median_ms": round(median(samples), 1), "min_ms": round(min(samples), 1)}


def heaviest_packages(directory: Path, top: int = 8) -> list[dict[str, Any]]:
    """Own import time per top-level package of one cold import of ``directory``'s handler."""
    paths = [str(directory), str(ROOT / "layers" / "common")]
    code = f"import sys; sys.path[:0] = {paths!r}; import app"
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=_environment(),
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


def measure() -> dict[str, Any]:
    baseline = _median_ms("boto3", [])
    results: dict[str, Any] = {}
    for name, directory in functions().items():
        timing = _median_ms("app", [str(directory), str(ROOT / "layers" / "common")])
        ratio = timing["median_ms"] / baseline["median_ms"]
        entry: dict[str, Any] = {
            **timing,
            "ratio_to_boto3": round(ratio, 2),
            "api_facing": name in API_FUNCTIONS,
        }
        if name in API_FUNCTIONS:
            entry["pass"] = ratio <= API_TARGET_RATIO
            if not entry["pass"]:
                entry["heaviest_packages"] = heaviest_packages(directory)
        results[name] = entry
    api = [entry for entry in results.values() if entry["api_facing"]]
    return {
        "repetitions": REPETITIONS,
        "boto3": baseline,
        "target_ratio": API_TARGET_RATIO,
        "functions": results,
        "pass": all(entry["pass"] for entry in api),
    }
