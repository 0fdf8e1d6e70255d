"""Big run values live in S3, referenced: no output size fails a run.

A value whose JSON is over ``INLINE_BYTES`` is written to the files bucket under
``apps/<app_id>/runs/<run_id>/<name>.json`` (encrypted by the bucket, expiring with the bucket's rule, which
matches the runs' retention) and replaced, wherever it is kept (the run record, an event, a span, a
checkpoint), by a reference::

    {"$artifact": {"key", "bytes", "sha256", "content_type": "application/json"},
     "preview": "<its first 1,000 characters>"}

``load`` reads a referenced value back (a node's output, for the nodes that use it); ``shrink`` replaces the
biggest parts of a document until it fits a budget (events, spans, checkpoints); ``expand`` gives a reader
the whole value when it fits a response, and otherwise a short-lived presigned download URL for each part.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from switchboard import aws
from switchboard.domain.errors import ServiceUnavailable
from switchboard.settings import get_settings

INLINE_BYTES = 64 * 1024
"""A value bigger than this (as JSON) is kept in S3."""
PREVIEW_CHARACTERS = 1000
PRESIGNED_SECONDS = 300
ARTIFACT = "$artifact"
CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class RunFiles:
    """Where one run's artifacts go."""

    app_id: str
    run_id: str

    def key(self, name: str) -> str:
        return f"apps/{self.app_id}/runs/{self.run_id}/{name}.json"


def size_of(value: Any) -> int:
    return len(_encode(value))


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False).encode()


def is_ref(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(ARTIFACT), dict)


def preview(value: Any) -> str:
    text = value if isinstance(value, str) else _encode(value).decode()
    return text[:PREVIEW_CHARACTERS]


def store(files: RunFiles, name: str, value: Any) -> dict[str, Any]:
    """Write ``value`` as JSON and answer its reference (the same name is overwritten: a retried node's
    output replaces the interrupted attempt's)."""
    body = _encode(value)
    key = files.key(name)
    bucket = _bucket()
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType=CONTENT_TYPE)
    _cache.put(key, value)
    return {
        ARTIFACT: {
            "key": key,
            "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "content_type": CONTENT_TYPE,
        },
        "preview": preview(value),
    }


def offload(files: RunFiles, name: str, value: Any, limit: int = INLINE_BYTES) -> Any:
    """``value`` itself when it is small enough, else its reference."""
    if is_ref(value) or size_of(value) <= limit:
        return value
    return store(files, name, value)


def load(value: Any) -> Any:
    """A referenced value read back (cached per process); any other value as it is."""
    if not is_ref(value):
        return value
    key = str(value[ARTIFACT]["key"])
    cached = _cache.get(key)
    if cached is not _MISSING:
        return cached
    response = aws.client("s3").get_object(Bucket=_bucket(), Key=key)
    loaded = json.loads(response["Body"].read())
    _cache.put(key, loaded)
    return loaded


def load_items(value: Any) -> list[Any]:
    """A list that ``shrink`` may have referenced, whole or item by item, read back as a list of items (the
    items' own parts stay referenced)."""
    loaded = load(value)
    return [load(item) for item in loaded] if isinstance(loaded, list) else []


def shrink(files: RunFiles, name: str, document: Any, budget: int) -> Any:
    """``document`` with its biggest parts replaced by references until its JSON fits ``budget`` bytes
    (the document itself when it already does). For what is shown (events, spans), not for values the run
    computes with: a reader of a shrunk value gets the references, not the value."""
    if size_of(document) <= budget:
        return document
    shrunk = json.loads(_encode(document))
    for part in range(1, 65):
        path = _biggest_part(shrunk)
        if path is None:
            break
        _replace(shrunk, path, store(files, f"{name}.{part}", _at(shrunk, path)))
        if size_of(shrunk) <= budget:
            return shrunk
    return store(files, name, document)


def _biggest_part(document: Any) -> tuple[str | int, ...] | None:
    """The path of the biggest part with no big part inside it (a long string, an array of small items),
    so what stays inline keeps its shape: a list of spans stays a list, each span's big output referenced."""
    best: tuple[int, tuple[str | int, ...]] | None = None
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        big_children = []
        for key, child in _children(value):
            size = size_of(child)
            if size > PREVIEW_CHARACTERS * 2:
                big_children.append((size, (*path, key), child))
        for size, child_path, child in big_children:
            if any(size_of(grandchild) > PREVIEW_CHARACTERS * 2 for _, grandchild in _children(child)):
                stack.append((child, child_path))
            elif best is None or size > best[0]:
                best = (size, child_path)
    return best[1] if best is not None else None


def _children(value: Any) -> list[tuple[str | int, Any]]:
    if isinstance(value, dict) and not is_ref(value):
        return [(key, child) for key, child in value.items() if not is_ref(child)]
    if isinstance(value, list):
        return [(index, child) for index, child in enumerate(value) if not is_ref(child)]
    return []


def _at(document: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


def _replace(document: Any, path: tuple[str | int, ...], value: Any) -> None:
    _at(document, path[:-1])[path[-1]] = value


def expand(value: Any, budget: int, link: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Any:
    """For a reader: ``value`` with every reference replaced by what it refers to when the whole fits
    ``budget`` bytes; otherwise every reference stays, with a presigned ``url`` (and ``url_expires_in``)."""
    refs = list(_refs(value))
    if not refs:
        return value
    if size_of(value) + sum(int(ref[ARTIFACT]["bytes"]) for ref in refs) <= budget:
        return _mapped(value, load)
    return _mapped(value, link or presigned)


def _refs(value: Any) -> Any:
    if is_ref(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _mapped(value: Any, change: Callable[[Any], Any]) -> Any:
    if is_ref(value):
        return change(value)
    if isinstance(value, dict):
        return {key: _mapped(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_mapped(item, change) for item in value]
    return value


def presigned(ref: dict[str, Any]) -> dict[str, Any]:
    """The reference with a GET URL valid for ``PRESIGNED_SECONDS`` (the key itself is not shown)."""
    details = dict(ref[ARTIFACT])
    signer = aws.s3_signer(get_settings().files_download_endpoint)
    url = signer.generate_presigned_url(
        "get_object", Params={"Bucket": _bucket(), "Key": details.pop("key")}, ExpiresIn=PRESIGNED_SECONDS
    )
    return {ARTIFACT: {**details, "url": url, "url_expires_in": PRESIGNED_SECONDS}, "preview": ref["preview"]}


def _bucket() -> str:
    bucket = get_settings().files_bucket
    if not bucket:
        raise ServiceUnavailable("the files bucket is not configured")
    return bucket


_MISSING = object()


class _Cache:
    """The values this process wrote or read last (bounded by count: a run's outputs, not a data store)."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._values: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            return self._values.get(key, _MISSING)

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._values.pop(key, None)
            self._values[key] = value
            while len(self._values) > self._size:
                self._values.pop(next(iter(self._values)))


_cache = _Cache()
