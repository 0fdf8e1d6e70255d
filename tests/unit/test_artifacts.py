"""Big run values in S3 (``runtime.runs.artifacts``): what is kept inline, what is referenced, how a document
is shrunk to a budget without losing its shape, and how a reader gets values back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from switchboard import aws
from switchboard.runtime.runs import artifacts
from switchboard.settings import get_settings
from tests.support.stack import moto_stack

BUCKET = "artifacts-test"
FILES = artifacts.RunFiles("app-1", "run-1")


@pytest.fixture(autouse=True)
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FILES_BUCKET", BUCKET)
    with moto_stack(monkeypatch):
        get_settings.cache_clear()
        aws.client("s3").create_bucket(Bucket=BUCKET)
        yield


def _stored(key: str) -> Any:
    return json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_small_value_stays_inline_and_a_big_one_goes_to_the_runs_prefix() -> None:
    small = {"text": "x" * 1000}
    assert artifacts.offload(FILES, "output", small) is small
    big = {"text": "y" * 70_000}
    ref = artifacts.offload(FILES, "output", big)
    assert artifacts.is_ref(ref)
    details = ref["$artifact"]
    assert details["key"] == "apps/app-1/runs/run-1/output.json"
    assert details["bytes"] == artifacts.size_of(big)
    assert ref["preview"] == json.dumps(big, separators=(",", ":"))[:1000]
    assert _stored(details["key"]) == big
    assert artifacts.load(ref) == big
    # A reference is never referenced again
    assert artifacts.offload(FILES, "output", ref) is ref


def test_shrinking_references_the_big_leaves_and_keeps_lists_of_spans_as_lists() -> None:
    # Given a record whose two spans each carry a 100 KB output, and many small fields
    spans = [{"id": f"s{i}", "name": "node", "outputs": {"body": chr(97 + i) * 100_000}} for i in range(2)]
    document = {"node_id": "big", "spans": spans, "status": "completed"}
    # When it is shrunk to 20 KB
    shrunk = artifacts.shrink(FILES, "steps/big", document, 20_000)
    # Then it fits, its spans are still a list of spans, each big output referenced with a preview
    assert artifacts.size_of(shrunk) <= 20_000
    assert [span["id"] for span in shrunk["spans"]] == ["s0", "s1"]
    for index, span in enumerate(shrunk["spans"]):
        body = span["outputs"]["body"]
        assert artifacts.is_ref(body)
        assert artifacts.load(body) == chr(97 + index) * 100_000
    # And a document that already fits is returned as it is
    assert artifacts.shrink(FILES, "small", {"a": 1}, 20_000) == {"a": 1}


def test_load_items_reads_a_referenced_list_and_its_referenced_items() -> None:
    items = [{"n": index, "pad": "z" * 3000} for index in range(40)]
    referenced = artifacts.store(FILES, "spans", items)
    assert artifacts.load_items(referenced) == items
    assert artifacts.load_items([artifacts.store(FILES, "one", items[0]), items[1]]) == items[:2]
    assert artifacts.load_items(None) == []


def test_expand_answers_values_inline_within_the_budget_else_with_urls() -> None:
    value = "v" * 100_000
    document = {"output": artifacts.offload(FILES, "output", value)}
    assert artifacts.expand(document, 1_000_000) == {"output": value}
    linked = artifacts.expand(document, 50_000)["output"]
    assert linked["preview"] == value[:1000]
    assert linked["$artifact"]["url_expires_in"] == artifacts.PRESIGNED_SECONDS
    assert "key" not in linked["$artifact"]
    query = parse_qs(urlsplit(linked["$artifact"]["url"]).query)
    assert query["X-Amz-Expires"] == [str(artifacts.PRESIGNED_SECONDS)]
    assert urlsplit(linked["$artifact"]["url"]).path == f"/{BUCKET}/apps/app-1/runs/run-1/output.json"


def test_download_urls_point_at_the_configured_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILES_DOWNLOAD_ENDPOINT", "http://127.0.0.1:3999/_local/s3")
    get_settings.cache_clear()
    ref = artifacts.store(FILES, "output", {"a": "b" * 70_000})
    url = artifacts.presigned(ref)["$artifact"]["url"]
    assert url.startswith(f"http://127.0.0.1:3999/_local/s3/{BUCKET}/apps/app-1/runs/run-1/output.json?")
