"""Resolving a run's credentials: the credentials function's use case.

The credentials function is the only reader of Secrets Manager and the only role that may decrypt end users'
sealed link secrets, and only the executor role may invoke it. It checks the request against the records
(one BatchGetItem across the runs, control and links tables) before it reads any secret, then opens each
link's sealed secret with one KMS Decrypt (``switchboard.store.link_secrets``) and reads every Secrets
Manager secret (connections; links made before sealed secrets) it does not hold in memory in one
BatchGetSecretValue (per 20 secrets, the API's limit; per 100 keys for the BatchGetItem).
Its answer is a credentials document or an error document (never a Lambda error for a refused request):

    {"credentials": {"connection:<id>" | "requirement:<id>": {"type", "config", "secret_fields"}},
     "resolutions": [{"reference", "kind", "id", "secret_version", "status", "cached", "last_used_at"}]}
    {"error": {"code", "message", "details"}}

A ``{"kind": "signing_secret", "app_id"}`` request is answered with the App's webhook signing secret
(``{"app_id", "signing_secret", "secret_version", "cached"}``) for the executor to sign a delivery: the App
item names the secret's current version, so the same version-keyed cache serves it and a rotation is read by
the very next delivery.

``config`` is the record's non-secret config merged with the secret's fields; for an end user's OAuth link,
or a project ``oauth2`` connection, its access token (refreshed first when due, ``oauth_credentials``,
``connection_refresh``), never its refresh token. A ``{"kind": "oauth2_refresh", …, "requirement_id" |
"connection_id", "token_version"}`` request (an upstream answered 401 to that token) is answered like a run
request for that one reference (a connection only if the run's workflow version binds it), its token
refreshed past that version. Log lines, errors and resolution records carry ids and versions, never a value.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError
from pydantic import ValidationError

from switchboard import aws
from switchboard.domain.errors import (
    Forbidden,
    NotFound,
    RequirementNotSatisfied,
    ServiceUnavailable,
    SwitchboardError,
    error_body,
    validation_details,
)
from switchboard.domain.ids import utcnow
from switchboard.domain.models import Connection
from switchboard.domain.runs import Link, LinkStatus
from switchboard.engine.contracts import connection_reference, requirement_reference
from switchboard.observability import logger, metrics
from switchboard.runtime.credentials.connection_refresh import (
    check_bound,
    connection_credential,
    unauthorized,
)
from switchboard.runtime.credentials.contract import (
    REQUEST_ADAPTER,
    CredentialDocument,
    CredentialsDocument,
    CredentialsRequest,
    OAuth2ExchangeRequest,
    OAuth2RefreshRequest,
    OAuth2RevokeRequest,
    OAuth2UnauthorizedRequest,
    Resolution,
    SigningSecretDocument,
    SigningSecretRequest,
)
from switchboard.runtime.credentials.oauth_credentials import oauth_credential
from switchboard.store import link_secrets
from switchboard.store.deliveries import SIGNING_SECRET_FIELD, signing_key
from switchboard.store.links import CredentialRecords, read_credential_records

SECRETS_PER_BATCH = 20
"""Secrets Manager's limit of ids in one BatchGetSecretValue request."""
CACHE_SIZE = 256
"""Secrets a warm credentials function keeps (one version each), least recently used dropped first."""
_GONE_SECRET_ERRORS = frozenset({"ResourceNotFoundException", "InvalidRequestException"})
"""Per-secret BatchGetSecretValue errors meaning the secret does not exist (or is being deleted)."""


def answer(event: Any) -> dict[str, Any]:
    """The credentials function's answer to one invocation: a credentials or an error document.

    A refused request (invalid, unknown records, out of scope, unmet requirements) is an error document; an
    unavailable store raises (a Lambda function error the caller may retry).
    """
    try:
        request = REQUEST_ADAPTER.validate_python(event)
    except ValidationError as error:
        details = validation_details(error, relocate=_without_kind_tag)
        return _refused("invalid_request", "invalid credentials request", details)
    if isinstance(request, SigningSecretRequest):
        return _answer_signing_secret(request)
    if isinstance(request, OAuth2ExchangeRequest):
        from switchboard.runtime.credentials.oauth_exchange import exchange

        return exchange(request).model_dump(mode="json", exclude_none=True)
    if isinstance(request, OAuth2RevokeRequest):
        from switchboard.runtime.credentials.oauth_revocation import revoke

        return revoke(request).model_dump(mode="json")
    used_versions: dict[str, int] = {}
    try:
        if isinstance(request, OAuth2UnauthorizedRequest):
            return unauthorized(request).model_dump(mode="json")
        if isinstance(request, OAuth2RefreshRequest):
            used_versions[_refreshed_reference(request)] = request.token_version
            request = _refresh_as_run_request(request)
        document = resolve(request, used_versions)
    except (NotFound, Forbidden, RequirementNotSatisfied) as refused:
        logger.info(
            "credentials refused",
            extra={"run_id": request.run_id, "app_id": request.app_id, "code": refused.error_code},
        )
        return _refused(refused.error_code, refused.message, refused.details)
    return document.model_dump(mode="json")


def _refreshed_reference(request: OAuth2RefreshRequest) -> str:
    if request.connection_id is not None:
        return connection_reference(request.connection_id)
    assert request.requirement_id is not None
    return requirement_reference(request.requirement_id)


def _refresh_as_run_request(request: OAuth2RefreshRequest) -> CredentialsRequest:
    """A refresh is answered like a run request for its one reference; a connection only when the run's
    workflow version binds it (the project check is resolution's)."""
    if request.connection_id is not None:
        check_bound(request.run_id, request.app_id, request.connection_id)
    return CredentialsRequest(
        run_id=request.run_id,
        app_id=request.app_id,
        user_id=request.user_id,
        connection_ids=[request.connection_id] if request.connection_id is not None else [],
        requirement_ids=[request.requirement_id] if request.requirement_id is not None else [],
    )


def _without_kind_tag(loc: list[int | str]) -> list[int | str]:
    """Error locations as the request's own fields (the union's tag is not part of the request)."""
    kinds = (
        "run",
        "signing_secret",
        "oauth2_exchange",
        "oauth2_revoke",
        "oauth2_refresh",
        "oauth2_unauthorized",
    )
    return loc[1:] if loc and loc[0] in kinds else loc


def _answer_signing_secret(request: SigningSecretRequest) -> dict[str, Any]:
    try:
        document = signing_secret(request)
    except NotFound as refused:
        logger.info("signing secret refused", extra={"app_id": request.app_id, "code": refused.error_code})
        return _refused(refused.error_code, refused.message, refused.details)
    return document.model_dump(mode="json")


def signing_secret(request: SigningSecretRequest) -> SigningSecretDocument:
    """The App's webhook signing secret, from the cache when it holds the version the App item names."""
    ref = signing_key(request.app_id)
    if ref is None:
        raise NotFound("App not found", details={"app_id": request.app_id})
    secret = _read_recorded({ref.secret_name: ref.secret_version})[ref.secret_name]
    value = secret.values.get(SIGNING_SECRET_FIELD)
    if not isinstance(value, str) or not value:
        raise SwitchboardError(
            "the signing secret is malformed", code="invalid_secret", details=ref.secret_name
        )
    metrics.add_metric(
        name="SecretCacheHits" if secret.cached else "SecretsFetched", unit=MetricUnit.Count, value=1
    )
    logger.info(
        "signing secret resolved",
        extra={"app_id": request.app_id, "secret_version": secret.version, "cached": secret.cached},
    )
    return SigningSecretDocument(
        app_id=request.app_id, signing_secret=value, secret_version=secret.version, cached=secret.cached
    )


def read_connection_secret(connection: Connection) -> dict[str, Any]:
    """A project connection's secret fields (through the version-keyed cache); none without a secret."""
    if not connection.secret_name:
        return {}
    name = connection.secret_name
    return _read_recorded({name: connection.secret_version})[name].values


def _refused(code: str, message: str, details: Any) -> dict[str, Any]:
    metrics.add_metric(name="CredentialsRefused", unit=MetricUnit.Count, value=1)
    return error_body(code, message, details)


@dataclass(frozen=True)
class _Source:
    """A record that holds one credential: a connection of the project, or the user's link."""

    reference: str
    kind: Literal["connection", "link"]
    id: str
    connection_type: str
    config: dict[str, Any]
    secret_fields: list[str]
    secret_name: str | None
    secret_version: str | None
    last_used_at: datetime | None = None
    sealed_in: Link | None = None
    """The link whose item holds its secret sealed (``secret_name`` is then only the cache's key)."""
    connection: Connection | None = None
    """The project connection it is (a connection's source)."""


@dataclass(frozen=True)
class _SecretValues:
    version: str | None
    values: dict[str, Any]
    cached: bool


def resolve(
    request: CredentialsRequest, used_versions: Mapping[str, int] | None = None
) -> CredentialsDocument:
    """The run's credentials; an OAuth link's access token refreshed when it is due (``oauth_tokens``), or
    past the version in ``used_versions`` (by requirement: a node's request was answered 401 with it)."""
    connection_ids = list(dict.fromkeys(request.connection_ids))
    requirement_ids = list(dict.fromkeys(request.requirement_ids))
    records = read_credential_records(
        request.run_id, request.app_id, connection_ids, request.user_id, requirement_ids
    )
    sources = _authorized_sources(request, records, connection_ids, requirement_ids)
    secret_values = _secret_values(sources)
    credentials: dict[str, CredentialDocument] = {}
    resolutions: list[Resolution] = []
    for source in sources:
        secret = secret_values.get(source.secret_name or "", _SecretValues(source.secret_version, {}, False))
        resolution = Resolution(
            reference=source.reference,
            kind=source.kind,
            id=source.id,
            secret_version=secret.version,
            cached=secret.cached,
            last_used_at=source.last_used_at,
        )
        used = (used_versions or {}).get(source.reference)
        if source.connection_type == "oauth2" and source.sealed_in is not None:
            credentials[source.reference], resolution = oauth_credential(
                source.sealed_in, secret.values, resolution, used
            )
        elif source.connection is not None and source.connection_type == "oauth2":
            credentials[source.reference], resolution = oauth2_connection_token(
                source.connection, secret.values, resolution, used
            )
        else:
            values = secret.values
            credentials[source.reference] = CredentialDocument(
                type=source.connection_type,
                config={**source.config, **values},
                secret_fields=sorted({*source.secret_fields, *values}),
            )
        resolutions.append(resolution)
    cached = sum(1 for secret in secret_values.values() if secret.cached)
    metrics.add_metric(name="SecretCacheHits", unit=MetricUnit.Count, value=cached)
    metrics.add_metric(name="SecretsFetched", unit=MetricUnit.Count, value=len(secret_values) - cached)
    logger.info(
        "credentials resolved",
        extra={
            "run_id": request.run_id,
            "app_id": request.app_id,
            "resolutions": [r.model_dump(mode="json") for r in resolutions],
        },
    )
    return CredentialsDocument(credentials=credentials, resolutions=resolutions)


def oauth2_connection_token(
    connection: Connection, tokens: dict[str, Any], resolution: Resolution, used_version: int | None
) -> tuple[CredentialDocument, Resolution]:
    """What a project ``oauth2`` connection hands its nodes: the access token a builder's authorization
    stored, refreshed first when it expires within 60 s or (``used_version``) a node's request was answered
    401 with it (``connection_refresh``), its expiry and token version; an error when it is not authorized,
    or expired. The refresh token never leaves this function."""
    return connection_credential(connection, tokens, resolution, used_version)


def _authorized_sources(
    request: CredentialsRequest,
    records: CredentialRecords,
    connection_ids: list[str],
    requirement_ids: list[str],
) -> list[_Source]:
    """Every check before any secret is read: the run, its App and user, the project, the requirements."""
    run, app = records.run, records.app
    if run is None:
        raise NotFound("run not found", details={"run_id": request.run_id})
    if run.app_id != request.app_id:
        raise Forbidden("the run belongs to another App", details={"run_id": run.id})
    if run.user_id != request.user_id:
        raise Forbidden("the run belongs to another user", details={"run_id": run.id})
    if app is None:
        raise NotFound("App not found", details={"app_id": request.app_id})
    if run.project_id != app.project_id:
        raise Forbidden("the run and its App are in different projects", details={"run_id": run.id})
    undeclared = [r for r in requirement_ids if r not in run.requirement_ids]
    if undeclared:
        raise Forbidden(
            "the run's workflow version does not declare these requirements",
            details={"requirement_ids": undeclared},
        )
    missing = [c for c in connection_ids if c not in records.connections]
    if missing:
        raise NotFound("connections not found", details={"connection_ids": missing})
    foreign = [c for c in connection_ids if records.connections[c].project_id != app.project_id]
    if foreign:
        raise Forbidden("connections outside the App's project", details={"connection_ids": foreign})
    unmet = [
        {"requirement_id": requirement_id, "status": status}
        for requirement_id in requirement_ids
        if (status := _link_status(records.links.get(requirement_id) if request.user_id else None))
        != LinkStatus.active.value
    ]
    if unmet:
        raise RequirementNotSatisfied("the user has not linked every connection the run needs", details=unmet)
    sources = [
        _Source(
            reference=connection_reference(c.id),
            kind="connection",
            id=c.id,
            connection_type=c.type,
            config=c.config,
            secret_fields=c.secret_fields,
            secret_name=c.secret_name,
            secret_version=c.secret_version,
            connection=c,
        )
        for c in (records.connections[connection_id] for connection_id in connection_ids)
    ]
    sources += [
        _Source(
            reference=requirement_reference(link.requirement_id),
            kind="link",
            id=link.id,
            connection_type=link.connection_type,
            config=link.config,
            secret_fields=link.secret_fields,
            secret_name=link.secret_name if link.sealed_secret is None else _sealed_key(link),
            secret_version=link.secret_version,
            last_used_at=link.last_used_at,
            sealed_in=link if link.sealed_secret is not None else None,
        )
        for link in (records.links[requirement_id] for requirement_id in requirement_ids)
    ]
    return sources


def _link_status(link: Link | None) -> str:
    if link is None:
        return "missing"
    if link.status is LinkStatus.active and link.expires_at is not None and link.expires_at <= utcnow():
        return LinkStatus.expired.value
    return link.status.value


class SecretCache:
    """Secret values this warm instance read, each kept with its version: a hit needs the very version the
    record names, so a rotation (the record names a new version) is read again by the next request."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()

    def get(self, name: str, version: str | None) -> dict[str, Any] | None:
        entry = self._entries.get(name)
        if version is None or entry is None or entry[0] != version:
            return None
        self._entries.move_to_end(name)
        return entry[1]

    def put(self, name: str, version: str, values: dict[str, Any]) -> None:
        self._entries[name] = (version, values)
        self._entries.move_to_end(name)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


secret_cache = SecretCache()


def _secret_values(sources: Iterable[_Source]) -> dict[str, _SecretValues]:
    """Secret values by the sources' ``secret_name``: sealed links opened with KMS, the others read from
    Secrets Manager (connections, and links made before sealed secrets)."""
    listed = list(sources)
    resolved = _open_sealed([s.sealed_in for s in listed if s.sealed_in is not None])
    stored = {s.secret_name: s.secret_version for s in listed if s.secret_name and s.sealed_in is None}
    return {**resolved, **_read_recorded(stored)}


def _sealed_key(link: Link) -> str:
    """The cache's key for a link's sealed secret (no Secrets Manager name can take this form)."""
    return f"sealed:{link.id}"


def _open_sealed(links: list[Link]) -> dict[str, _SecretValues]:
    """Each sealed link's values, from the cache when it holds the link's current seal (its version)."""
    resolved: dict[str, _SecretValues] = {}
    for link in links:
        key, version = _sealed_key(link), link.secret_version
        values = secret_cache.get(key, version)
        if values is None:
            values = link_secrets.open_values(link)
            if version is not None:
                secret_cache.put(key, version, values)
            resolved[key] = _SecretValues(version, values, cached=False)
        else:
            resolved[key] = _SecretValues(version, values, cached=True)
    return resolved


def _read_recorded(recorded: dict[str, str | None]) -> dict[str, _SecretValues]:
    """Secret name → its values: from the cache when it holds the recorded version, else read, in one
    BatchGetSecretValue per 20 secrets (one for any realistic workflow)."""
    resolved: dict[str, _SecretValues] = {}
    for name, version in recorded.items():
        values = secret_cache.get(name, version)
        if values is not None:
            resolved[name] = _SecretValues(version, values, cached=True)
    to_read = [name for name in recorded if name not in resolved]
    for batch in _chunks(to_read, SECRETS_PER_BATCH):
        for name, (version, values) in _read_secrets(batch).items():
            if version != recorded[name]:
                # The record lags the secret (a write between PutSecretValue and the record failed or is in
                # flight): the secret's current version is the truth.
                logger.warning(
                    "secret version differs from the recorded one; using the current version",
                    extra={
                        "secret_name": name,
                        "recorded_version": recorded[name],
                        "current_version": version,
                    },
                )
            secret_cache.put(name, version, values)
            resolved[name] = _SecretValues(version, values, cached=False)
    return resolved


def _chunks(names: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(names), size):
        yield names[start : start + size]


def _read_secrets(names: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    try:
        response = aws.secrets().batch_get_secret_value(SecretIdList=names)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        raise ServiceUnavailable("the secret store is unavailable, retry shortly") from RuntimeError(code)
    errors = {e.get("SecretId", ""): e.get("ErrorCode", "") for e in response.get("Errors", [])}
    gone = sorted(name for name, code in errors.items() if code in _GONE_SECRET_ERRORS)
    if gone:
        raise NotFound("secrets of these records do not exist", details={"secret_names": gone})
    if errors:
        logger.error("secrets could not be read", extra={"errors": errors})
        raise ServiceUnavailable("the secret store is unavailable, retry shortly")
    read: dict[str, tuple[str, dict[str, Any]]] = {}
    for entry in response.get("SecretValues", []):
        name = entry.get("Name", "")
        values = _parse_secret(entry.get("SecretString"))
        if values is None:
            raise SwitchboardError("a secret is not a JSON object", code="invalid_secret", details=name)
        read[name] = (entry.get("VersionId", ""), values)
    unanswered = sorted(set(names) - set(read))
    if unanswered:
        raise ServiceUnavailable("the secret store did not return every secret, retry shortly")
    return read


def _parse_secret(text: str | None) -> dict[str, Any] | None:
    try:
        values = json.loads(text) if text else None
    except ValueError:
        return None
    return values if isinstance(values, dict) else None
