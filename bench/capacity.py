"""Measure 10: a capacity-and-cost model. Prices and quotas are inputs (``bench/prices.json``: each with its
source, all checked on one date, us-east-1); the per-run figures are measured by measure 1 (AWS calls, items
written and read, durable operations, handler times, stored item sizes) and the memory of each function comes
from ``template.yaml``. Everything here is arithmetic, unit-tested in ``tests/unit/test_capacity_model.py``.

Billing of waits (per the Lambda pricing page): a durable function is billed like any function for the time it
runs; while it is suspended (a durable wait, a callback) it is not billed. An LLM call is an HTTP request made
inside a step, so the executor runs (and is billed) for the whole call, and a sync request's Apps function
waits (and is billed) too. The model bills both for the call; the credentials function is not waiting.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchboard.store.keys import RUN_SHARDS

PRICES = Path(__file__).with_name("prices.json")
DESIGNS = ("secrets_manager_per_link", "dynamodb_kms_envelope")
LLM_WORKLOADS = {"no LLM": 0.0, "3 s LLM call": 3.0, "15 s LLM call": 15.0}
FUNCTIONS = {"apps": "AppsFunction", "executor": "ExecutorFunction", "credentials": "CredentialsFunction"}
WAITING = ("apps", "executor")  # billed while an LLM call is in flight
KB_PER_GB = 1024 * 1024
RUNS_TARGET_COST = 40.0  # dollars per 1 M runs without LLM
USERS_TARGET_COST = 100.0  # dollars a month for 1 M linked users
APP_RUNS_TARGET = 1000.0  # runs per second for one App
RESOLUTIONS_TARGET = 10000.0  # credential resolutions per second per region
CALLING_NODES = 3  # the measured run's nodes that call out (http): each is checkpointed when it ends
FLOOR_RUN_ITEM_WRITES = 2  # created, ended: the least a run that is listed and read back can be written


@dataclass(frozen=True)
class RunFigures:
    """What one warm sync run takes, as measured."""

    handler_seconds: dict[str, float]  # billed time per function (the Apps function waits for the run)
    memory_gb: dict[str, float]  # MemorySize per function, from template.yaml
    durable_operations: int
    write_units: float  # WRU: items written (1 KB each at most), transactional ones twice, index entries
    read_units: float  # RRU: items read (4 KB each at most), counted as strongly consistent
    run_item_writes: int  # writes of the run item: each rewrites its entry under gsi1 APP#<app>#RUNS
    run_item_bytes: int
    sqs_requests: int = 0


def item_bytes(item: dict[str, Any]) -> int:
    """A DynamoDB item's size in wire format: attribute names plus values (a number: half its digits)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: dict[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return math.ceil(len(str(inner).lstrip("-").replace(".", "")) / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + item_bytes(inner)
    if kind == "L":
        return 3 + sum(_value_bytes(element) + 1 for element in inner)
    return sum(len(str(element).encode()) for element in inner)  # SS, NS, BS


def _is_run_item(item: dict[str, Any]) -> bool:
    pk, sk = str(item.get("pk", {}).get("S", "")), str(item.get("sk", {}).get("S", ""))
    return pk.startswith("RUN#") and sk == "RUN"


def _written(item: dict[str, Any], times: int) -> dict[str, int]:
    """One item written ``times`` over (2 in a transaction): a run item is counted apart (its size and its
    index entries are added by ``write_units``); any other item by its size (a key alone: 1 KB at most)."""
    if _is_run_item(item):
        return {"run_item_writes": 1, "run_item_transact_writes": int(times == 2)}
    return {"write_units": times * max(1, math.ceil(item_bytes(item) / 1024))}


def dynamodb_units(operation: str, body: dict[str, Any]) -> Counter[str]:
    """What one DynamoDB request writes and reads, from its wire body: ``write_units`` (WRU of items that are
    not run items), ``run_item_writes`` (``run_item_transact_writes`` of them in a transaction) and
    ``read_items``."""
    written: list[tuple[dict[str, Any], int]] = []
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        written = [(body.get("Item") or body["Key"], 1)]
    elif operation == "BatchWriteItem":
        requests = [r for table in body["RequestItems"].values() for r in table]
        written = [
            ((r.get("PutRequest") or {}).get("Item") or r["DeleteRequest"]["Key"], 1) for r in requests
        ]
    elif operation == "TransactWriteItems":  # a condition check is billed as a write too
        written = [(e.get("Item") or e["Key"], 2) for entry in body["TransactItems"] for e in entry.values()]
    units: Counter[str] = Counter()
    for item, times in written:
        units.update(_written(item, times))
    if operation == "BatchGetItem":
        units["read_items"] += sum(len(table["Keys"]) for table in body["RequestItems"].values())
    elif operation in ("GetItem", "Query", "Scan"):
        units["read_items"] += 1
    return units


def load_inputs(path: Path = PRICES) -> dict[str, Any]:
    """The prices file, with the runs listing's shard count from its one home (``store/keys.py``)."""
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    loaded.setdefault("app_run_shards", RUN_SHARDS)
    return loaded


def value(inputs: dict[str, Any], section: str, name: str) -> float:
    return float(inputs[section][name]["value"])


def write_units(units: dict[str, int], run_item_bytes: int) -> float:
    """WRU of one run: the other items' units, plus each run item write: one WRU per KB of the run item
    (twice in a transaction) in the table, as many in gsi1 (ALL projection), one in gsi2 (sparse, small)."""
    per_item = math.ceil(run_item_bytes / 1024)
    writes, transact = units.get("run_item_writes", 0), units.get("run_item_transact_writes", 0)
    return float(units.get("write_units", 0) + per_item * (writes + transact) + (per_item + 1) * writes)


def credential_call_cost(inputs: dict[str, Any], design: str) -> float:
    """Dollars for 1 M credential resolutions that miss the cache: a secret read, or a KMS ``Decrypt``."""
    name = "secrets_manager_api_calls_per_10k" if design == DESIGNS[0] else "kms_requests_per_10k"
    return value(inputs, "prices", name) * 100


def cost_per_million_runs(
    figures: RunFigures, inputs: dict[str, Any], llm_seconds: float, design: str
) -> dict[str, float]:
    """Dollars per 1 M sync runs, by line; ``llm_seconds`` of LLM call billed to the waiting functions."""
    price = lambda name: value(inputs, "prices", name)  # noqa: E731
    cache_hit = value(inputs, "assumptions", "credential_cache_hit")
    gb_seconds = sum(
        figures.memory_gb[name] * (seconds + (llm_seconds if name in WAITING else 0.0))
        for name, seconds in figures.handler_seconds.items()
    )
    credential_calls = 1.0 - cache_hit  # one secret (or one data key) per run's user
    lines = {
        "lambda_requests": len(figures.handler_seconds) * price("lambda_requests_per_million"),
        "lambda_compute": gb_seconds * 1_000_000 * price("lambda_arm_gb_second"),
        "durable_operations": figures.durable_operations * price("lambda_durable_operations_per_million"),
        "dynamodb": figures.write_units * price("dynamodb_write_request_units_per_million")
        + figures.read_units * price("dynamodb_read_request_units_per_million"),
        "credentials": credential_calls * credential_call_cost(inputs, design),
        "http_api": price("http_api_requests_per_million"),
        "sqs": figures.sqs_requests * price("sqs_standard_requests_per_million"),
    }
    return {name: round(amount, 2) for name, amount in {**lines, "total": sum(lines.values())}.items()}


def floor_per_million_runs(
    inputs: dict[str, Any], design: str, calling_nodes: int = CALLING_NODES
) -> dict[str, float]:
    """The least 1 M runs of the measured shape can cost in this design, whatever our code does: the
    execution's start and one checkpoint per node that calls out (so a finished call is never made again
    after a crash, the guarantee of durable runs), a request to each of the three functions, the HTTP API
    request, the run's credential resolution, and the run item written twice (created, ended) at 1 KB at most,
    each write with its two index entries. No compute, no events, no trace: a floor, not an estimate."""
    price = lambda name: value(inputs, "prices", name)  # noqa: E731
    lines = {
        "durable_operations": (1 + calling_nodes) * price("lambda_durable_operations_per_million"),
        "lambda_requests": len(FUNCTIONS) * price("lambda_requests_per_million"),
        "http_api": price("http_api_requests_per_million"),
        "credentials": credential_call_cost(inputs, design),
        "dynamodb": FLOOR_RUN_ITEM_WRITES * 3 * price("dynamodb_write_request_units_per_million"),
    }
    return {name: round(amount, 2) for name, amount in {**lines, "total": sum(lines.values())}.items()}


def monthly_cost_of_links(users: int, design: str, link_item_bytes: int, inputs: dict[str, Any]) -> float:
    """Dollars a month to keep ``users`` links: one secret per link plus its DynamoDB item (today), or one
    customer-managed KMS key plus an envelope-encrypted DynamoDB item per link."""
    storage = value(inputs, "prices", "dynamodb_storage_gb_month")
    if design == DESIGNS[0]:
        per_link = (
            value(inputs, "prices", "secrets_manager_secret_month")
            + link_item_bytes / 1024 / KB_PER_GB * storage
        )
        return round(users * per_link, 2)
    kb = value(inputs, "assumptions", "link_item_kb_envelope")
    return round(value(inputs, "prices", "kms_key_month") + users * kb / KB_PER_GB * storage, 2)


def app_runs_per_second(figures: RunFigures, shards: int, inputs: dict[str, Any]) -> float:
    """Runs per second one App sustains before its hottest partition (gsi1 ``APP#<app>#RUNS``, one per shard)
    reaches the partition's WCU: each run item write costs one WCU per KB there."""
    wcu_per_run = figures.run_item_writes * math.ceil(figures.run_item_bytes / 1024)
    return round(shards * value(inputs, "quotas", "dynamodb_partition_wcu") / wcu_per_run, 1)


def region_runs_per_second(
    figures: RunFigures, llm_seconds: float, inputs: dict[str, Any]
) -> dict[str, float]:
    """Sync runs per second each regional quota allows (Lambda concurrency held for the run's billed time)."""
    concurrency_seconds = sum(
        seconds + (llm_seconds if name in WAITING else 0.0)
        for name, seconds in figures.handler_seconds.items()
    )
    return {
        "lambda_concurrency": round(value(inputs, "quotas", "lambda_concurrency") / concurrency_seconds, 1),
        "http_api_rps": value(inputs, "quotas", "http_api_rps"),
    }


def resolutions_per_second(
    design: str, credentials_seconds: float, inputs: dict[str, Any]
) -> dict[str, float]:
    """Credential resolutions per second per region each quota allows (a resolution: one credentials
    invoke, one link read, one secret read or one KMS Decrypt on a cache miss)."""
    quota = lambda name: value(inputs, "quotas", name)  # noqa: E731
    limits = {
        "lambda_concurrency": round(quota("lambda_concurrency") / credentials_seconds, 1),
        "dynamodb_table_rru_per_second": quota("dynamodb_table_rru_per_second"),
    }
    if design == DESIGNS[0]:
        limits["secrets_manager_batch_get_secret_value_rps"] = quota(
            "secrets_manager_batch_get_secret_value_rps"
        )
    else:
        limits["kms_symmetric_cryptographic_rps"] = quota("kms_symmetric_cryptographic_rps")
    return limits


def binding(limits: dict[str, float]) -> tuple[str, float]:
    """The quota that binds first: the smallest."""
    name = min(limits, key=lambda key: limits[key])
    return name, limits[name]


def memory_gb(template: dict[str, Any]) -> dict[str, float]:
    default = template["Globals"]["Function"]["MemorySize"]
    resources = template["Resources"]
    return {
        name: resources[logical]["Properties"].get("MemorySize", default) / 1024
        for name, logical in FUNCTIONS.items()
    }


def figures_of(aws_calls: dict[str, Any], template: dict[str, Any]) -> RunFigures:
    """The model's inputs from measure 1's warm run of 3 http nodes."""
    run = aws_calls["runs"][str(aws_calls["node_counts"][0])]["warm_run"]
    units = run["dynamodb_units"]
    return RunFigures(
        handler_seconds={name: run["handler_ms"].get(name, 0.0) / 1000 for name in FUNCTIONS},
        memory_gb=memory_gb(template),
        durable_operations=run["durable_operations"],
        write_units=write_units(units, run["run_item_bytes"]),
        read_units=float(units.get("read_items", 0)),
        run_item_writes=units.get("run_item_writes", 0),
        run_item_bytes=run["run_item_bytes"],
        sqs_requests=sum(count for op, count in run["by_operation"].items() if op.startswith("sqs.")),
    )


def model(figures: RunFigures, link_item_bytes: int, inputs: dict[str, Any]) -> dict[str, Any]:
    """Every figure the bench prints, for each credential design (``credential_design`` is today's)."""
    today = inputs["credential_design"]
    shards = int(inputs["app_run_shards"])
    per_app = app_runs_per_second(figures, shards, inputs)
    designs: dict[str, dict[str, Any]] = {}
    for design in DESIGNS:
        costs = {w: cost_per_million_runs(figures, inputs, s, design) for w, s in LLM_WORKLOADS.items()}
        users = {
            str(n): monthly_cost_of_links(n, design, link_item_bytes, inputs) for n in (10_000, 1_000_000)
        }
        limits = resolutions_per_second(design, figures.handler_seconds["credentials"], inputs)
        bound, resolutions = binding(limits)
        floor = floor_per_million_runs(inputs, design)
        designs[design] = {
            "cost_per_million_runs": costs,
            "floor_per_million_runs": floor,
            "monthly_cost_of_links": users,
            "resolutions_per_second": limits,
            "resolutions_binding": bound,
            "verdicts": {
                "runs_cost": costs["no LLM"]["total"] <= RUNS_TARGET_COST,
                "users_cost": users["1000000"] <= USERS_TARGET_COST,
                "app_runs": per_app >= APP_RUNS_TARGET,
                "resolutions": resolutions >= RESOLUTIONS_TARGET,
            },
        }
    app_limits = {"dynamodb_partition_wcu": per_app, **region_runs_per_second(figures, 0.0, inputs)}
    return {
        "inputs": {"path": PRICES.name, "checked": inputs["checked"], "region": inputs["region"]},
        "figures": {**figures.__dict__, "link_item_bytes": link_item_bytes, "app_run_shards": shards},
        "credential_design": today,
        "app_runs_per_second": per_app,
        "app_runs_limits": app_limits,
        "app_runs_binding": binding(app_limits)[0],
        "designs": designs,
        "pass": all(designs[today]["verdicts"].values()),
    }


def measure(aws_calls: dict[str, Any]) -> dict[str, Any]:
    from bench.support import TEMPLATE
    from switchboard_cli.local.template import load_template

    figures = figures_of(aws_calls, load_template(TEMPLATE))
    return model(figures, aws_calls["link_item_bytes"], load_inputs())
