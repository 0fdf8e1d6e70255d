"""``python -m bench.run``: every measure, in one bounded run; prints the table and writes
``bench/results/latest.json``."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.support import ROOT, apply_env

RESULTS = ROOT / "bench" / "results" / "latest.json"


def main() -> None:
    apply_env()
    from bench import (
        aws_calls,
        capacity,
        cold_import,
        comparison,
        cross_caller,
        durable_engine,
        parallel_http,
        recovery,
        report,
        runtime_api,
    )

    started = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    steps = [
        ("aws_calls", aws_calls.measure),
        ("engine", comparison.measure),
        ("parallel_http", parallel_http.measure),
        ("cold_import", cold_import.measure),
        ("runtime_api", runtime_api.measure),
        ("durable_engine", durable_engine.measure),
        ("recovery", recovery.measure),
        ("cross_caller", cross_caller.measure),
    ]
    for name, measure in steps:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        results[name] = measure()
    aws = results["aws_calls"]
    results["capacity"] = capacity.measure(aws)
    durable = results["durable_engine"]
    durable["verdicts"] = durable_engine.verdicts(durable, results["engine"].get("rivals") or {})
    durable["pass"] = all(found["pass"] for found in durable["verdicts"].values())
    results["summary"] = {
        "credential_resolution_o1": aws["credential_resolution_constant"],
        "warm_sync_run_calls": aws["warm_sync_run_pass"],
        "engine_overhead": results["engine"]["pass"],
        "parallel_http": results["parallel_http"]["pass"],
        "cold_import": results["cold_import"]["pass"],
        "apps_api_sync_run_calls": results["runtime_api"]["warm_sync_run_pass"],
        "apps_api_overhead": results["runtime_api"]["overhead_pass"],
        "durable_engine_overhead": durable["pass"],
        "recovery": results["recovery"]["pass"],
        "cross_caller_delay": results["cross_caller"]["pass"],
        "capacity": results["capacity"]["pass"],
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["path"] = str(RESULTS.relative_to(ROOT))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(report.render(results))


if __name__ == "__main__":
    main()
