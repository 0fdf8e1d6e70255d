"""Identifiers: a readable prefix plus 20 random base32 characters (100 bits)."""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime

PREFIXES = {
    "user": "usr",
    "org": "org",
    "project": "prj",
    "pat": "pat",
    "access_key": "ak",
    "connection": "con",
    "workflow": "wf",
    "app": "app",
    "deployment": "dep",
    "run": "run",
    "link": "lnk",
    "event": "evt",
    "connect_token": "ctk",
    "invitation": "inv",
    "oauth2_state": "ost",
    "refresh_lease": "rfl",
    "trigger": "trg",
    "trigger_event": "tev",
}

_BODY = re.compile(r"^[a-z2-7]{20}$")


def random_body(length: int = 20) -> str:
    raw = base64.b32encode(secrets.token_bytes(15)).decode().lower()
    return raw[:length]


def new_id(kind: str) -> str:
    return f"{PREFIXES[kind]}-{random_body()}"


def is_id(kind: str, value: str) -> bool:
    prefix, _, body = value.partition("-")
    return prefix == PREFIXES[kind] and bool(_BODY.match(body))


def utcnow() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
