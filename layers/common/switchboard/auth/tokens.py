"""Token formats. A token is ``sb_<kind>_<id body><secret>``: the id locates the record with one consistent
read, the 256-bit secret proves possession. Only a SHA-256 hash of the whole token is stored (the secret's
entropy makes a slow hash unnecessary) plus a short preview that identifies it in listings.

Kinds: ``sb_pat_`` personal access tokens (id ``pat-…``), ``sb_ak_`` access keys (``ak-…``) and ``sb_ct_``
connect tokens (``ctk-…``, one App and one end user, accepted only by the connect routes) and ``sb_inv_``
invitation tokens (``inv-…``, accepted only in the body of ``POST /v1/invitations/accept``).

A run token ``sb_rt_<secret>`` is no bearer token: it has no id (it is presented with its run's, in the
``X-Run-Token`` header) and only opens the one anonymous run of a public App it was issued for, whose record
keeps its hash (``runtime.runs.ownership``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from switchboard.domain.ids import PREFIXES, random_body
from switchboard.domain.models import TokenKind

_PREFIX = {
    TokenKind.pat: "sb_pat_",
    TokenKind.access_key: "sb_ak_",
    TokenKind.connect: "sb_ct_",
    TokenKind.invitation: "sb_inv_",
}
_ID_KIND = {
    TokenKind.pat: "pat",
    TokenKind.access_key: "access_key",
    TokenKind.connect: "connect_token",
    TokenKind.invitation: "invitation",
}
_SECRET_BYTES = 32
_SECRET_LENGTH = 43  # base64url of 32 bytes, unpadded
_FORMAT = re.compile(r"^sb_(pat|ak|ct|inv)_([a-z2-7]{20})([A-Za-z0-9_-]{43})$")
_KIND_BY_TAG = {
    "pat": TokenKind.pat,
    "ak": TokenKind.access_key,
    "ct": TokenKind.connect,
    "inv": TokenKind.invitation,
}
RUN_TOKEN_PREFIX = "sb_rt_"  # noqa: S105 (the format's prefix, not a secret)
_RUN_TOKEN_FORMAT = re.compile(r"^sb_rt_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    token: str
    token_hash: str
    preview: str


@dataclass(frozen=True)
class ParsedToken:
    kind: TokenKind
    token_id: str
    token_hash: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(kind: TokenKind) -> IssuedToken:
    body = random_body()
    secret = secrets.token_urlsafe(_SECRET_BYTES)
    assert len(secret) == _SECRET_LENGTH
    token = f"{_PREFIX[kind]}{body}{secret}"
    id_prefix = PREFIXES[_ID_KIND[kind]]
    return IssuedToken(
        token_id=f"{id_prefix}-{body}",
        token=token,
        token_hash=hash_token(token),
        preview=f"{_PREFIX[kind]}…{secret[-4:]}",
    )


def parse(token: str) -> ParsedToken | None:
    """Recognize a token's shape; ``None`` when it is not a Switchboard token at all."""
    match = _FORMAT.match(token)
    if not match:
        return None
    kind = _KIND_BY_TAG[match.group(1)]
    id_prefix = PREFIXES[_ID_KIND[kind]]
    return ParsedToken(kind=kind, token_id=f"{id_prefix}-{match.group(2)}", token_hash=hash_token(token))


def same_hash(stored: str, presented: str) -> bool:
    return hmac.compare_digest(stored.encode(), presented.encode())


@dataclass(frozen=True)
class IssuedRunToken:
    token: str
    token_hash: str


def issue_run_token() -> IssuedRunToken:
    token = RUN_TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)
    return IssuedRunToken(token=token, token_hash=hash_token(token))


def run_token_opens(stored_hash: str | None, presented: str) -> bool:
    """Whether ``presented`` is the run token whose hash a run keeps (compared in constant time)."""
    if stored_hash is None or not _RUN_TOKEN_FORMAT.match(presented):
        return False
    return same_hash(stored_hash, hash_token(presented))
