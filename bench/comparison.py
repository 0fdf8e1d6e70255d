"""Measure 2, put together: Switchboard in this interpreter, then the comparison libraries with Switchboard
again in the comparison interpreter (``BENCH_PYTHON``, default ``.bench-venv/bin/python``), the verdict per
graph shape, and, for a shape Switchboard loses, the profile of where its time goes."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import engine, profiling
from bench.support import ROOT

RIVALS_TIMEOUT_SECONDS = 420
SHAPES = tuple(engine.SHAPES)


def _bench_python() -> Path:
    return Path(os.environ.get("BENCH_PYTHON", ROOT / ".bench-venv" / "bin" / "python"))


def _run_rivals() -> dict[str, Any]:
    python = _bench_python()
    if not python.exists():
        return {"error": f"{python} not found: run `make bench`, which creates it"}
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory) / "rivals.json"
        environment = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        completed = subprocess.run(
            [str(python), "-m", "bench.rivals", str(out)],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=RIVALS_TIMEOUT_SECONDS,
            check=False,
        )
        if completed.returncode != 0 or not out.exists():
            return {"error": f"the comparison run failed: {completed.stderr[-3000:]}"}
        rivals: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    rivals["interpreter"] = str(python)
    return rivals


def _rows(rivals: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every measured library and variant, by name, with its per-shape results."""
    rows: dict[str, dict[str, Any]] = {}
    if "langgraph" in rivals:
        rows[f"langgraph {rivals['langgraph']['version']}"] = rivals["langgraph"]
    if "dynamiq" in rivals:
        dynamiq = rivals["dynamiq"]
        for variant in ("pass_jsonpath", "function_tool"):
            rows[f"dynamiq {dynamiq['version']} {variant}"] = dynamiq[variant]
    return rows


def _verdicts(ours: dict[str, Any], rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per shape: Switchboard against the fastest measured variant of each library, same node count."""
    verdicts: dict[str, Any] = {}
    for shape in SHAPES:
        best: dict[str, float] = {}
        for name, row in rows.items():
            if shape in row:
                library = name.split()[0]
                best[library] = min(row[shape]["median_ms"], best.get(library, float("inf")))
        mine = ours[shape]["median_ms"]
        verdicts[shape] = {
            "switchboard_ms": mine,
            "best_per_library_ms": best,
            "pass": set(best) == {"langgraph", "dynamiq"} and all(mine < value for value in best.values()),
        }
    return verdicts


def measure() -> dict[str, Any]:
    local = engine.measure_switchboard()
    rivals = _run_rivals()
    result: dict[str, Any] = {
        "switchboard_venv": {**local, "pydantic": metadata.version("pydantic")},
        "rivals": rivals,
        "scaling_chain_ms_per_node": engine.scaling(),
    }
    if "error" in rivals:
        result["pass"] = False
        return result
    same_process = rivals["switchboard"]
    verdicts = _verdicts(same_process, _rows(rivals))
    result["verdicts"] = verdicts
    result["pass"] = all(verdict["pass"] for verdict in verdicts.values())
    result["profiles"] = {
        shape: profiling.profile(shape) for shape, verdict in verdicts.items() if not verdict["pass"]
    }
    return result
