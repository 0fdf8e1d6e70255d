"""The client of the credentials function (reached only through the function-invoker seam), for the executor
and the dispatcher: its resource policy lets no role but theirs (``ExecutorRole``) invoke it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from switchboard.domain.errors import (
    Forbidden,
    NotFound,
    RequirementNotSatisfied,
    ServiceUnavailable,
    SwitchboardError,
)
from switchboard.domain.runs import Run
from switchboard.engine.contracts import (
    AuthorizationFailure,
    Cancellation,
    Credential,
    EventSink,
    NodeError,
    RunContext,
    connection_of,
    requirement_of,
)
from switchboard.engine.definition import WorkflowDefinition
from switchboard.invoker import FunctionError, get_invoker
from switchboard.observability import logger
from switchboard.runtime.credentials.contract import (
    AnyRequestModel,
    CredentialsDocument,
    CredentialsRequest,
    ErrorDocument,
    OAuth2ExchangeDocument,
    OAuth2ExchangeRequest,
    OAuth2RefreshRequest,
    OAuth2RevokeDocument,
    OAuth2RevokeRequest,
    OAuth2UnauthorizedDocument,
    OAuth2UnauthorizedRequest,
    SigningSecretDocument,
    SigningSecretRequest,
)
from switchboard.settings import get_settings


@dataclass
class CredentialsResult:
    """A run's credentials by reference (``credential_key``), and how each was resolved (for the trace; a
    link's with its last recorded use, so the executor records a use only when it is due)."""

    credentials: dict[str, Credential] = field(default_factory=dict)
    resolutions: list[dict[str, Any]] = field(default_factory=list)

    def context(
        self,
        run: Run,
        events: EventSink,
        cancellation: Cancellation,
        history: Sequence[Mapping[str, Any]] = (),
    ) -> RunContext:
        return RunContext(
            run_id=run.id,
            input=run.input,
            credentials=self.credentials,
            events=events,
            cancellation=cancellation,
            history=list(history),
        )


_ERRORS: dict[str, type[SwitchboardError]] = {
    "requirement_not_satisfied": RequirementNotSatisfied,
    "not_found": NotFound,
    "forbidden": Forbidden,
}


def _invoke(
    request: AnyRequestModel,
) -> Any:
    """Invoke the credentials function; an error document becomes its typed domain error.

    ``invalid_request`` is a defect of this client (500); a failed invocation is ``ServiceUnavailable``.
    """
    function_name = get_settings().credentials_function
    try:
        reply = get_invoker().invoke(function_name, request.model_dump(mode="json"))
    except FunctionError as failure:
        error_type = failure.payload.get("errorType") if isinstance(failure.payload, dict) else None
        logger.warning("the credentials function failed", extra={"error_type": error_type})
        raise ServiceUnavailable(
            "credentials could not be resolved, retry shortly", code="credentials_unavailable"
        ) from None
    if isinstance(reply, dict) and "error" in reply:
        body = ErrorDocument.model_validate(reply).error
        error_class = _ERRORS.get(body.code, SwitchboardError)
        raise error_class(body.message, code=body.code, details=body.details)
    return reply


def signing_secret(app_id: str) -> str:
    """The App's current webhook signing secret (``whsec_…``), to sign one delivery; never log it."""
    reply = _invoke(SigningSecretRequest(kind="signing_secret", app_id=app_id))
    return SigningSecretDocument.model_validate(reply).signing_secret


def exchange_oauth2_code(state_id: str) -> OAuth2ExchangeDocument:
    """Have the credentials function exchange the code the callback sealed into the state: the outcome and
    the upstream identity, nothing secret."""
    reply = _invoke(OAuth2ExchangeRequest(kind="oauth2_exchange", state_id=state_id))
    return OAuth2ExchangeDocument.model_validate(reply)


def revoke_oauth2_link(link_id: str) -> OAuth2RevokeDocument:
    """Have the credentials function revoke a revoked OAuth link's tokens at its provider: the outcome."""
    reply = _invoke(OAuth2RevokeRequest(kind="oauth2_revoke", link_id=link_id))
    return OAuth2RevokeDocument.model_validate(reply)


def resolve_credentials(request: CredentialsRequest | OAuth2RefreshRequest) -> CredentialsResult:
    """The run's credentials, by reference, from the credentials function."""
    document = CredentialsDocument.model_validate(_invoke(request))
    return CredentialsResult(
        credentials={
            reference: Credential(
                key=reference,
                connection_type=credential.type,
                config=credential.config,
                secret_values=_strings(credential.config.get(name) for name in credential.secret_fields),
                unusable=NodeError(credential.error.code, credential.error.message)
                if credential.error is not None
                else None,
            )
            for reference, credential in document.credentials.items()
        },
        resolutions=[resolution.model_dump(mode="json") for resolution in document.resolutions],
    )


def refresh_oauth2(run: Run, reference: str, token_version: int) -> CredentialsResult:
    """The OAuth credential ``reference`` names (the user's link of a requirement, or a project ``oauth2``
    connection the run's workflow binds) with an access token newer than ``token_version`` (the one an
    upstream answered 401 to): refreshed once, whichever run asks first."""
    requirement_id = requirement_of(reference)
    assert requirement_id is None or run.user_id is not None, "only an end user's run has links"
    return resolve_credentials(
        OAuth2RefreshRequest(
            kind="oauth2_refresh",
            run_id=run.id,
            app_id=run.app_id,
            user_id=run.user_id,
            requirement_id=requirement_id,
            connection_id=connection_of(reference),
            token_version=token_version,
        )
    )


def report_unauthorized_connections(run: Run, failures: Iterable[AuthorizationFailure]) -> None:
    """Have the credentials function mark ``unauthorized`` each project ``oauth2`` connection whose token a
    node was refused with (401) right after the run refreshed it; a failure to do so is logged, and never
    fails the run's end."""
    for failure in failures:
        connection_id = connection_of(failure.credential_key)
        version = failure.refreshed_token_version
        if connection_id is None or version is None or failure.status_code != 401:
            continue
        request = OAuth2UnauthorizedRequest(
            kind="oauth2_unauthorized",
            run_id=run.id,
            app_id=run.app_id,
            connection_id=connection_id,
            token_version=version,
            node_id=failure.node_id,
            status_code=failure.status_code,
        )
        try:
            reply = OAuth2UnauthorizedDocument.model_validate(_invoke(request))
        except SwitchboardError as failed:
            logger.warning(
                "the connection could not be marked unauthorized",
                extra={"connection_id": connection_id, "code": failed.error_code},
            )
            continue
        logger.info(
            "oauth2 connection reported unauthorized",
            extra={"connection_id": connection_id, "marked": reply.marked},
        )


def resolve_for_run(run: Run, definition: WorkflowDefinition) -> CredentialsResult:
    """The credentials the run's nodes reference; no invocation when none references any."""
    refs = [ref for _, ref in definition.connection_refs()]
    connection_ids = sorted({ref.connection_id for ref in refs if ref.connection_id})
    requirement_ids = sorted({ref.requirement for ref in refs if ref.requirement})
    if not connection_ids and not requirement_ids:
        return CredentialsResult()
    return resolve_credentials(
        CredentialsRequest(
            run_id=run.id,
            app_id=run.app_id,
            user_id=run.user_id,
            connection_ids=connection_ids,
            requirement_ids=requirement_ids,
        )
    )


def _strings(values: Iterable[Any]) -> tuple[str, ...]:
    """Every non-empty string inside ``values`` (recursively), once each: what a trace must redact."""
    found: dict[str, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if value:
                found[value] = None
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    for value in values:
        walk(value)
    return tuple(found)
