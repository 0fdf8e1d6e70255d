"""OAuth 2.0 authorizations, on the internet-facing side of the secret boundary: an end user's link (the
connect flow) and a project ``oauth2`` connection (a builder, through the management API), one builder of
authorization URLs (``authorization_url``) and one callback for both; the state names its target.

Start (``start_authorization``, a connect token's): the authorization URL is built with Authlib only from the
requirement's ``oauth2_app`` connection's non-secret config (client id, authorize URL, scopes, extra
parameters) with PKCE S256, and a single-use state item (``store.oauth_states``) binds it to the connect
token, the user, the requirement and the sealed verifier for ten minutes (and, when ``openid`` is asked
for, the nonce the ID token must carry). The ``state`` parameter is the state id and its HMAC keyed by the
connect token record's secret (``connect_tokens.signature``). A connection's
(``start_connection_authorization``, a project editor's) has no connect token: its ``state`` parameter is
the state id and a random part, of which the state keeps only the SHA-256.

Callback (``finish_callback``, the deployment's one ``GET /v1/oauth2/callback``): the signature and expiry are
checked, the state is marked used with a conditional write (a replay, an expired or forged state changes
nothing), the code is sealed into it, and ``{"oauth2_exchange": <state id>}`` goes to the run queue: the
dispatcher, under the executor's role (the only one that may invoke the credentials function), hands it to
the credentials function, which exchanges the code and links (or stores a connection's tokens). The callback
waits a bounded time for the outcome the exchange writes into the state (non-secret: ``active`` or an error
code, the upstream identity).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from switchboard import aws
from switchboard.domain.connection_types import OAuth2AppConfig, OAuth2Config
from switchboard.domain.errors import (
    Forbidden,
    ServiceUnavailable,
    ValidationFailed,
    problem,
)
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import App, Connection
from switchboard.domain.runs import OAuth2State, OAuth2StateStatus, OAuth2Target, UpstreamIdentity
from switchboard.observability import logger
from switchboard.runtime.links import connect_tokens
from switchboard.runtime.links.connect_tokens import ConnectGrant
from switchboard.runtime.links.linking import declared_requirement
from switchboard.settings import get_settings
from switchboard.store import apps, connections, oauth_states
from switchboard.store import connect_tokens as token_store

STATE_TTL = timedelta(minutes=10)
RECORD_GRACE = timedelta(days=1)
"""How long a state item outlives its expiry (TTL): until then a late callback is told it expired."""
CALLBACK_PATH = "/v1/oauth2/callback"
CALLBACK_WAIT_SECONDS = 10.0
_VERIFIER_CHARS = 64
_NONCE_CHARS = 32
_STATE_SECRET_BYTES = 32


def callback_url() -> str:
    """The deployment's one redirect URI (builders register it at their provider)."""
    base = (get_settings().apps_base_url or connect_tokens.current_base_url()).rstrip("/")
    return f"{base}{CALLBACK_PATH}"


def start_authorization(
    app: App,
    grant: ConnectGrant,
    requirement_id: str,
    return_url: str | None = None,
    allow_identity_change: bool = False,
) -> str:
    """The provider's authorization URL for the grant's user to link ``requirement_id`` (an ``oauth2``
    requirement): 404 for an undeclared requirement, 422 for another type or a return URL off the App's
    allow-list, 403 ``identity_change_not_allowed`` unless the App's backend minted the token allowing it."""
    if grant.app_id != app.id:
        raise Forbidden("the connect token is for another App", code="invalid_token")
    requirement = declared_requirement(app, requirement_id)
    if requirement.oauth2 is None:
        raise ValidationFailed(
            "the requirement is not linked through OAuth",
            code="not_an_oauth2_requirement",
            details=[problem(["requirement_id"], "not_an_oauth2_requirement", "an oauth2 requirement")],
        )
    if allow_identity_change and not grant.allow_identity_change:
        raise Forbidden(
            "only the App's backend may allow another account (allow_identity_change on the connect token)",
            code="identity_change_not_allowed",
        )
    if return_url is not None and not connect_tokens.acceptable_return_url(app, return_url):
        raise ValidationFailed(
            "the return URL is not on the App's connect_return_urls",
            details=[problem(["return_url"], "return_url_not_allowed", "not on connect_return_urls")],
        )
    oauth_app = oauth_app_config(requirement.oauth2.app_connection_id, app.project_id, ["requirement_id"])
    state = _new_state(
        OAuth2Target.link,
        requirement.oauth2.app_connection_id,
        allow_identity_change,
        _requested_scopes(oauth_app, requirement.oauth2.scopes),
        app_id=app.id,
        user_id=grant.user_id,
        requirement_id=requirement_id,
        connect_token_id=grant.token_id,
        connect_token_hash=_token_hash(grant.token_id),
        link_config=requirement.oauth2.model_dump(mode="json"),
        return_url=return_url if return_url is not None else grant.return_url,
    )
    signed = connect_tokens.signature(grant.csrf_secret, _signed(state.id))
    url = authorization_url(state, oauth_app, requirement.oauth2.scopes, f"{state.id}.{signed}")
    logger.info(
        "oauth2 authorization started",
        extra={"app_id": app.id, "requirement_id": requirement_id, "state_id": state.id},
    )
    return url


class ConnectionAuthorizationStart(NamedTuple):
    """Where the builder authorizes a project connection, and until when."""

    authorization_url: str
    expires_at: datetime


def start_connection_authorization(
    connection: Connection, actor: str, allow_identity_change: bool = False
) -> ConnectionAuthorizationStart:
    """The provider's authorization URL for a builder (``actor``) to authorize the project ``oauth2``
    connection: built only from its ``oauth2_app``'s config and the connection's own scopes. The state
    parameter's random part is not kept, only its SHA-256 (there is no connect token to sign with)."""
    config = OAuth2Config.model_validate(connection.config)
    loc: list[str | int] = ["config", "app_connection_id"]
    oauth_app = oauth_app_config(config.app_connection_id, connection.project_id, loc)
    state_secret = secrets.token_urlsafe(_STATE_SECRET_BYTES)
    state = _new_state(
        OAuth2Target.connection,
        config.app_connection_id,
        allow_identity_change,
        _requested_scopes(oauth_app, config.scopes),
        connection_id=connection.id,
        started_by=actor,
        state_secret_hash=_digest(state_secret),
    )
    url = authorization_url(state, oauth_app, config.scopes, f"{state.id}.{state_secret}")
    logger.info(
        "oauth2 authorization of a connection started",
        extra={"connection_id": connection.id, "state_id": state.id, "by": actor},
    )
    return ConnectionAuthorizationStart(url, state.expires_at)


def _requested_scopes(oauth_app: dict[str, Any], scopes: list[str]) -> list[str]:
    return list(scopes or oauth_app.get("scopes") or [])


def _new_state(
    target: OAuth2Target,
    app_connection_id: str,
    allow_identity_change: bool,
    scopes: list[str],
    **named: Any,
) -> OAuth2State:
    from authlib.common.security import generate_token

    # An OpenID provider's ID token must carry this nonce (checked by the exchange, oauth_identity)
    nonce = generate_token(_NONCE_CHARS) if "openid" in scopes else None
    now = utcnow()
    return OAuth2State(
        id=new_id("oauth2_state"),
        target=target,
        app_connection_id=app_connection_id,
        redirect_uri=callback_url(),
        allow_identity_change=allow_identity_change,
        sealed_verifier="",
        nonce=nonce,
        created_at=now,
        expires_at=now + STATE_TTL,
        ttl=int((now + STATE_TTL + RECORD_GRACE).timestamp()),
        **named,
    )


def authorization_url(
    state: OAuth2State, oauth_app: dict[str, Any], scopes: list[str], presented_state: str
) -> str:
    """The one builder of authorization URLs (an end user's link, a project connection): the state is stored
    with its PKCE verifier sealed, and the URL is built with Authlib only from the ``oauth2_app``'s non-secret
    config (authorize URL, client id, extra parameters; ``scopes``, else the app's) with PKCE S256 and
    ``presented_state`` as the ``state`` parameter."""
    from authlib.common.security import generate_token
    from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    verifier = generate_token(_VERIFIER_CHARS)
    state = state.model_copy(update={"sealed_verifier": oauth_states.seal_part(state, "verifier", verifier)})
    oauth_states.create_state(state)
    requested = _requested_scopes(oauth_app, scopes)
    params = {
        **dict(oauth_app.get("authorize_params") or {}),
        **({"nonce": state.nonce} if state.nonce else {}),
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    url: str = prepare_grant_uri(
        oauth_app["authorize_url"],
        oauth_app["client_id"],
        "code",
        redirect_uri=state.redirect_uri,
        scope=" ".join(requested) or None,
        state=presented_state,
        **params,
    )
    return url


def _digest(state_secret: str) -> str:
    return hashlib.sha256(state_secret.encode()).hexdigest()


def _signed(state_id: str) -> str:
    return f"oauth2-state:{state_id}"


def _token_hash(token_id: str) -> str:
    record = token_store.get_connect_token(token_id)
    return record.token_hash if record is not None else ""


def oauth_app_config(connection_id: str, project_id: str, loc: list[str | int]) -> dict[str, Any]:
    """The ``oauth2_app`` connection's non-secret config (its client secret stays in its secret); 422
    ``oauth2_app_not_found`` at ``loc`` unless it is an ``oauth2_app`` of the project."""
    connection = connections.get_connection(connection_id)
    if connection is None or connection.project_id != project_id or connection.type != "oauth2_app":
        raise ValidationFailed(
            "the OAuth app is not a connection of the project",
            code="oauth2_app_not_found",
            details=[problem(loc, "oauth2_app_not_found", connection_id)],
        )
    public = set(OAuth2AppConfig.model_fields) - {"client_secret"}
    return {name: value for name, value in connection.config.items() if name in public}


@dataclass(frozen=True)
class CallbackOutcome:
    """What the callback page shows: ``active`` or an error code, and where to send the user next."""

    outcome: str
    state: OAuth2State | None = None
    upstream: UpstreamIdentity | None = None
    destination: str | None = None
    """After a link: the return URL to send the user to (None: show the success page)."""

    @property
    def linked(self) -> bool:
        return self.outcome == "active"


def _return_destination(state: OAuth2State) -> str | None:
    """After a link: the state's return URL with ``requirement=<id>&status=active``, while the App's
    allow-list still holds it (the hosted page's rules); None to show the success page."""
    app = apps.get_app(state.app_id) if state.return_url is not None and state.app_id else None
    if app is None or state.requirement_id is None:
        return None
    return connect_tokens.linked_destination(app, state.return_url, state.requirement_id)


def finish_callback(query: dict[str, str]) -> CallbackOutcome:
    """The provider's answer for one state: the exchange's outcome, or why nothing was exchanged
    (``invalid_state``, ``state_expired``, ``state_used``, the provider's ``error``, ``exchange_pending``)."""
    state = _verified_state(query.get("state", ""))
    if state is None:
        return CallbackOutcome("invalid_state")
    now = utcnow()
    if state.status is not OAuth2StateStatus.pending:
        return CallbackOutcome("state_used", state)
    if state.expires_at <= now:
        return CallbackOutcome("state_expired", state)
    error = query.get("error")
    code = query.get("code")
    if error or not code:
        outcome = error if error in _PROVIDER_ERRORS else "authorization_failed"
        oauth_states.use_state(state, None, outcome, now)
        return CallbackOutcome(outcome, state)
    if not oauth_states.use_state(state, oauth_states.seal_part(state, "code", code), None, now):
        return CallbackOutcome("state_used", state)
    _hand_over(state)
    return _awaited(state)


_PROVIDER_ERRORS = frozenset(
    {"access_denied", "invalid_scope", "unauthorized_client", "server_error", "temporarily_unavailable"}
)


def _verified_state(presented: str) -> OAuth2State | None:
    state_id, _, signature = presented.partition(".")
    if not state_id or not signature or len(presented) > 200:
        return None
    state = oauth_states.get_state(state_id)
    if state is None:
        return None
    if state.target is OAuth2Target.connection:
        kept = (state.state_secret_hash or "").encode()
        return state if hmac.compare_digest(kept, _digest(signature).encode()) else None
    record = token_store.get_connect_token(state.connect_token_id) if state.connect_token_id else None
    if record is None or record.token_hash != state.connect_token_hash:
        return None
    expected = connect_tokens.signature(record.csrf_secret, _signed(state.id))
    return state if hmac.compare_digest(expected.encode(), signature.encode()) else None


def _hand_over(state: OAuth2State) -> None:
    """Queue the exchange for the dispatcher (the executor's role), which asks the credentials function."""
    try:
        _queue({"oauth2_exchange": state.id})
    except (ClientError, BotoCoreError):
        logger.exception("the exchange could not be queued", extra={"state_id": state.id})
        raise ServiceUnavailable("the authorization could not be completed; retry shortly") from None


def hand_over_revocation(link_id: str) -> None:
    """Queue a revoked OAuth link's revocation at its provider (``{"oauth2_revoke": <link id>}``).

    The tokens and the client secret are read by the credentials function only, which only the executor's
    role may invoke; the functions that revoke links (Apps: the end user's unlink; management: a builder's)
    are not that role, so, like the code exchange, the revocation goes through the run queue to the
    dispatcher, which hands it to the credentials function. Best effort: the link is revoked already, and a
    message that cannot be queued is logged (its sealed tokens expire with the revocation record)."""
    try:
        _queue({"oauth2_revoke": link_id})
    except (ClientError, BotoCoreError):
        logger.exception("the revocation at the provider could not be queued", extra={"link_id": link_id})


def _queue(body: dict[str, str]) -> None:
    aws.client("sqs", "control").send_message(
        QueueUrl=get_settings().run_queue_url, MessageBody=json.dumps(body)
    )


def _awaited(state: OAuth2State) -> CallbackOutcome:
    deadline = time.monotonic() + CALLBACK_WAIT_SECONDS
    pause = 0.05
    while time.monotonic() < deadline:
        current = oauth_states.get_state(state.id)
        if current is not None and current.status is OAuth2StateStatus.done and current.outcome:
            linked = current.outcome == "active"
            destination = _return_destination(current) if linked else None
            return CallbackOutcome(current.outcome, current, current.upstream, destination)
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    return CallbackOutcome("exchange_pending", state)
