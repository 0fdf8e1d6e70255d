"""The local stack's presigned download route (``/_local/s3/…``): it answers a URL the platform signed, as
S3 would, and refuses one that was altered, has expired or was never signed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from switchboard import aws
from switchboard.runtime.runs import artifacts
from switchboard.settings import get_settings
from switchboard_cli.local.downloads import serve_download
from switchboard_cli.local.events import HttpRequest
from tests.support.stack import moto_stack

BUCKET = "downloads-test"
ENDPOINT = "http://127.0.0.1:3999/_local/s3"


@pytest.fixture(autouse=True)
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("FILES_BUCKET", BUCKET)
    monkeypatch.setenv("FILES_DOWNLOAD_ENDPOINT", ENDPOINT)
    with moto_stack(monkeypatch):
        get_settings.cache_clear()
        aws.client("s3").create_bucket(Bucket=BUCKET)
        yield


def _signed_url(value: object) -> str:
    ref = artifacts.store(artifacts.RunFiles("app-1", "run-1"), "output", value)
    return str(artifacts.presigned(ref)["$artifact"]["url"])


def _get(url: str, method: str = "GET", now: datetime | None = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    request = HttpRequest(method=method, target=target, headers=[("Host", parts.netloc)])
    response = serve_download(request, now)
    return response.status, response.body


def test_a_signed_url_downloads_the_object_byte_for_byte() -> None:
    value = {"text": "é" * 40_000}
    status, body = _get(_signed_url(value))
    assert status == 200
    assert body == artifacts._encode(value)


@pytest.mark.parametrize(
    "alter",
    [
        lambda url: url.replace("X-Amz-Signature=", "X-Amz-Signature=0"),
        lambda url: url.replace("/output.json", "/other.json"),
        lambda url: url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"),
        lambda url: url.split("?", 1)[0],
        lambda url: url.replace("127.0.0.1:3999", "127.0.0.1:4000"),
    ],
    ids=["signature", "key", "expiry", "unsigned", "host"],
)
def test_an_altered_url_is_403(alter: object) -> None:
    url = _signed_url({"a": 1})
    status, body = _get(alter(url))  # type: ignore[operator]
    assert status == 403
    assert b"AccessDenied" in body


def test_an_expired_url_is_403() -> None:
    url = _signed_url({"a": 1})
    later = datetime.now(UTC) + timedelta(seconds=artifacts.PRESIGNED_SECONDS + 5)
    assert _get(url, now=later)[0] == 403


def test_a_missing_object_is_404_and_other_methods_405() -> None:
    url = _signed_url({"a": 1})
    aws.client("s3").delete_object(Bucket=BUCKET, Key="apps/app-1/runs/run-1/output.json")
    assert _get(url)[0] == 404
    assert _get(url, method="PUT")[0] == 405
