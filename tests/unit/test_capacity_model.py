"""The capacity-and-cost model of ``make bench`` (measure 10): its arithmetic on given inputs, each expected
number computed by hand in the comments, and its inputs file (every price and quota dated and sourced)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench import capacity
from bench.capacity import RunFigures
from bench.support import TEMPLATE
from switchboard_cli.local.template import load_template


def _entry(amount: float) -> dict[str, Any]:
    return {"value": amount, "source": "https://example.com/test"}


# Round prices so that the sums below can be done by hand.
INPUTS: dict[str, Any] = {
    "region": "us-east-1",
    "checked": "2026-12-07",
    "credential_design": "secrets_manager_per_link",
    "app_run_shards": 1,
    "prices": {
        "lambda_arm_gb_second": _entry(0.00001),
        "lambda_requests_per_million": _entry(0.20),
        "lambda_durable_operations_per_million": _entry(8.00),
        "dynamodb_write_request_units_per_million": _entry(0.625),
        "dynamodb_read_request_units_per_million": _entry(0.125),
        "dynamodb_storage_gb_month": _entry(0.25),
        "secrets_manager_secret_month": _entry(0.40),
        "secrets_manager_api_calls_per_10k": _entry(0.05),
        "kms_key_month": _entry(1.00),
        "kms_requests_per_10k": _entry(0.03),
        "sqs_standard_requests_per_million": _entry(0.40),
        "http_api_requests_per_million": _entry(1.00),
    },
    "quotas": {
        "dynamodb_partition_wcu": _entry(1000),
        "dynamodb_table_rru_per_second": _entry(40000),
        "secrets_manager_batch_get_secret_value_rps": _entry(100),
        "kms_symmetric_cryptographic_rps": _entry(100000),
        "lambda_concurrency": _entry(1000),
        "http_api_rps": _entry(10000),
    },
    "assumptions": {"link_item_kb_envelope": _entry(1.0), "credential_cache_hit": _entry(0.0)},
}

FIGURES = RunFigures(
    handler_seconds={"apps": 0.1, "executor": 0.2, "credentials": 0.01},
    memory_gb={"apps": 0.5, "executor": 1.0, "credentials": 0.5},
    durable_operations=6,
    write_units=36.0,
    read_units=6.0,
    run_item_writes=3,
    run_item_bytes=1367,
)


def test_item_size_counts_names_and_values() -> None:
    # Given an item with a string, a number and a boolean
    item = {"pk": {"S": "RUN#ab"}, "n": {"N": "1234"}, "ok": {"BOOL": True}}
    # When its size is taken
    size = capacity.item_bytes(item)
    # Then: "pk" 2 + "RUN#ab" 6 = 8; "n" 1 + 4 digits / 2 + 1 = 4; "ok" 2 + 1 = 3; 8 + 4 + 3 = 15 bytes
    assert size == 15


def test_units_of_a_transaction_count_the_run_item_apart_and_bill_twice() -> None:
    # Given a transaction updating a run item, putting a small item and checking a condition
    body = {
        "TransactItems": [
            {
                "Update": {
                    "Key": {"pk": {"S": "RUN#r1"}, "sk": {"S": "RUN"}},
                    "UpdateExpression": "SET a = :a",
                }
            },
            {"Put": {"Item": {"pk": {"S": "RUN#r1"}, "sk": {"S": "EVENT#1"}}}},
            {
                "ConditionCheck": {
                    "Key": {"pk": {"S": "APP#a"}, "sk": {"S": "APP"}},
                    "ConditionExpression": "x",
                }
            },
        ]
    }
    # When its units are counted
    units = capacity.dynamodb_units("TransactWriteItems", body)
    # Then the run item is one (transactional) run item write; the put and the check are 1 KB each, twice: 4
    assert units == {"run_item_writes": 1, "run_item_transact_writes": 1, "write_units": 4}
    # And a batch read of 3 keys reads 3 items, a query 1
    batch: dict[str, Any] = {"RequestItems": {"t": {"Keys": [{}, {}, {}]}}}
    assert capacity.dynamodb_units("BatchGetItem", batch) == {"read_items": 3}
    assert capacity.dynamodb_units("Query", {}) == {"read_items": 1}


def test_write_units_add_the_run_item_size_and_its_index_entries() -> None:
    # Given 19 WRU of other items and 3 run item writes (1 in a transaction) of a 1,367-byte run item (2 KB)
    units = {"write_units": 19, "run_item_writes": 3, "run_item_transact_writes": 1}
    # When the run's WRU are added up
    total = capacity.write_units(units, 1367)
    # Then 19 + table 2 KB x (3 + 1 again for the transaction) = 8 + indexes (gsi1 2 + gsi2 1) x 3 = 9: 36
    assert total == 36.0


def test_cost_per_million_runs_by_workload_and_design() -> None:
    # Given the figures above and round prices
    # When the cost of 1 M runs without LLM is computed for today's design
    cost = capacity.cost_per_million_runs(FIGURES, INPUTS, 0.0, "secrets_manager_per_link")
    # Then requests 3 functions x $0.20 = 0.60; compute (0.5 x 0.1 + 1.0 x 0.2 + 0.5 x 0.01 = 0.255 GB-s)
    # x 1 M x $0.00001 = 2.55; durable 6 x $8 = 48; DynamoDB 36 x 0.625 + 6 x 0.125 = 23.25; one secret call
    # per run 1 M / 10k x $0.05 = 5; HTTP API 1; total 80.40
    assert cost == {
        "lambda_requests": 0.6,
        "lambda_compute": 2.55,
        "durable_operations": 48.0,
        "dynamodb": 23.25,
        "credentials": 5.0,
        "http_api": 1.0,
        "sqs": 0.0,
        "total": 80.4,
    }
    # And a 15 s LLM call bills the Apps function and the executor for it: (0.5 + 1.0) x 15 = 22.5 GB-s more,
    # x 1 M x $0.00001 = 225: compute 227.55, total 305.40
    long = capacity.cost_per_million_runs(FIGURES, INPUTS, 15.0, "secrets_manager_per_link")
    assert (long["lambda_compute"], long["total"]) == (227.55, 305.4)
    # And with envelope encryption a run pays one KMS Decrypt instead: 1 M / 10k x $0.03 = 3: total 78.40
    envelope = capacity.cost_per_million_runs(FIGURES, INPUTS, 0.0, "dynamodb_kms_envelope")
    assert (envelope["credentials"], envelope["total"]) == (3.0, 78.4)


def test_the_floor_of_a_run_with_a_checkpoint_per_calling_node() -> None:
    # Given the round prices above and a run of 3 nodes that call out
    # When the least 1 M such runs can cost is computed, for the envelope design
    floor = capacity.floor_per_million_runs(INPUTS, "dynamodb_kms_envelope")
    # Then durable (1 start + 3 checkpoints) x $8 = 32; 3 functions x $0.20 = 0.60; HTTP API 1; one KMS call
    # per run 1 M / 10k x $0.03 = 3; the run item written twice, 3 WRU each (table, gsi1, gsi2) x $0.625 =
    # 3.75: 40.35, above the $40 target before any compute, event or trace
    assert floor == {
        "durable_operations": 32.0,
        "lambda_requests": 0.6,
        "http_api": 1.0,
        "credentials": 3.0,
        "dynamodb": 3.75,
        "total": 40.35,
    }
    assert floor["total"] > capacity.RUNS_TARGET_COST
    # And a run with one calling node has 16 of durable operations: 24.35, under it
    assert capacity.floor_per_million_runs(INPUTS, "dynamodb_kms_envelope", calling_nodes=1)["total"] == 24.35


def test_monthly_cost_of_links_per_design() -> None:
    # Given 1 M linked users with 1 KB link items
    # When a month of their links is priced
    today = capacity.monthly_cost_of_links(1_000_000, "secrets_manager_per_link", 1024, INPUTS)
    envelope = capacity.monthly_cost_of_links(1_000_000, "dynamodb_kms_envelope", 1024, INPUTS)
    # Then one secret each: 1 M x $0.40 = 400,000, plus 1 M KB = 0.954 GB x $0.25 = 0.24: 400,000.24
    assert today == 400000.24
    # And envelope encryption: one key $1 + the same storage 0.24: 1.24
    assert envelope == 1.24


def test_runs_per_second_for_one_app_by_partition_arithmetic() -> None:
    # Given 3 writes per run of a 1,367-byte run item: 3 x 2 KB = 6 WCU per run on APP#<app>#RUNS
    # When one App's runs per second are computed with 1 shard, then 8
    one = capacity.app_runs_per_second(FIGURES, 1, INPUTS)
    eight = capacity.app_runs_per_second(FIGURES, 8, INPUTS)
    # Then 1,000 WCU / 6 = 166.7 runs/s; 8 x 1,000 / 6 = 1,333.3
    assert (one, eight) == (166.7, 1333.3)


def test_resolutions_per_second_and_the_quota_that_binds() -> None:
    # Given a credentials function that runs 10 ms (1,000 concurrency / 0.01 s = 100,000 invokes/s)
    # When the resolutions per second of each design are computed
    today = capacity.resolutions_per_second("secrets_manager_per_link", 0.01, INPUTS)
    envelope = capacity.resolutions_per_second("dynamodb_kms_envelope", 0.01, INPUTS)
    # Then BatchGetSecretValue's 100 calls/s binds today; the table's 40,000 RRU/s binds with envelopes
    assert capacity.binding(today) == ("secrets_manager_batch_get_secret_value_rps", 100.0)
    assert capacity.binding(envelope) == ("dynamodb_table_rru_per_second", 40000.0)
    assert envelope["lambda_concurrency"] == 100000.0


def test_the_credential_design_is_one_switch() -> None:
    # Given today's design (one secret per link), then the same inputs with the envelope design
    today = capacity.model(FIGURES, 1024, INPUTS)
    switched = copy.deepcopy(INPUTS)
    switched["credential_design"] = "dynamodb_kms_envelope"
    moved = capacity.model(FIGURES, 1024, switched)
    # Then today fails every target (80.40 > 40, 400,000.24 > 100, 166.7 < 1,000, 100 < 10,000)
    assert today["designs"]["secrets_manager_per_link"]["verdicts"] == {
        "runs_cost": False,
        "users_cost": False,
        "app_runs": False,
        "resolutions": False,
    }
    assert today["pass"] is False
    assert today["app_runs_binding"] == "dynamodb_partition_wcu"
    # And the switch makes the users' cost (1.24) and the resolutions (40,000) pass, the rest unchanged
    assert moved["credential_design"] == "dynamodb_kms_envelope"
    assert moved["designs"]["dynamodb_kms_envelope"]["verdicts"] == {
        "runs_cost": False,
        "users_cost": True,
        "app_runs": False,
        "resolutions": True,
    }


def test_memory_comes_from_the_template() -> None:
    # Given template.yaml
    template = load_template(TEMPLATE)
    # When the model reads each function's memory
    memory = capacity.memory_gb(template)
    # Then each is its MemorySize (or the Globals one) in GB
    default = template["Globals"]["Function"]["MemorySize"]
    for name, logical in capacity.FUNCTIONS.items():
        expected = template["Resources"][logical]["Properties"].get("MemorySize", default) / 1024
        assert memory[name] == expected
    assert memory["executor"] == 1.0


@pytest.mark.parametrize("section", ["prices", "quotas", "assumptions"])
def test_every_input_has_a_value_and_where_it_comes_from(section: str) -> None:
    # Given bench/prices.json
    inputs = capacity.load_inputs()
    # Then it is dated, names today's design, and each entry has a number and a source URL (or a note)
    assert inputs["checked"]
    assert inputs["credential_design"] in capacity.DESIGNS
    for name, entry in inputs[section].items():
        assert isinstance(entry["value"], int | float), name
        if section == "assumptions":
            assert entry["note"], name
        else:
            assert entry["source"].startswith(("https://aws.amazon.com/", "https://docs.aws.amazon.com/")), (
                name
            )
    # And every price and quota the model reads is there
    for name in INPUTS[section]:
        assert name in inputs[section], name
