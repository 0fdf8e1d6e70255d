"""The OAuth 2.0 code exchange, behind the secret boundary (the credentials function, invoked by the
dispatcher for a callback the Apps function queued).

It opens the state's sealed verifier and code, reads the ``oauth2_app`` connection's client secret,
exchanges the code with Authlib (the app's token endpoint auth method; every request to the provider through
the address-pinned egress transport, ``provider_http``), reads who the user is at the provider (the validated
ID token, else its userinfo endpoint: ``oauth_identity``), and links: the tokens sealed in the link's
item (``store.links.put_link``), the link ``active`` with its upstream identity, the transition recorded.
A reconnect as another upstream account is refused ``identity_mismatch`` (the link unchanged) unless the
App's backend allowed it. The outcome (``active`` or an error code, the identity) is written to the state
for the waiting callback and answered to the dispatcher; nothing secret is logged or answered. The state
is exchanged once: a state that is not waiting for its exchange is answered ``state_not_exchangeable``, and
the start of the token request is recorded on the state with a conditional write before the code is sent,
so a redelivered message never sends it again (``exchange_interrupted`` when the first never answered).
A builder's authorization of a project ``oauth2`` connection shares the exchange and stores the tokens in the
connection instead (``connection_tokens``).
"""

from __future__ import annotations

import time
from typing import Any

from switchboard import egress
from switchboard.domain.errors import Conflict
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.runs import (
    Link,
    LinkStatus,
    OAuth2State,
    OAuth2StateStatus,
    OAuth2Target,
    UpstreamIdentity,
)
from switchboard.observability import logger
from switchboard.runtime.credentials import oauth_client
from switchboard.runtime.credentials.contract import OAuth2ExchangeDocument, OAuth2ExchangeRequest
from switchboard.runtime.credentials.oauth_identity import IdentityRefused, upstream_identity
from switchboard.store import links, oauth_states
from switchboard.store.envelope import EnvelopeRefused

REDELIVERY_WAIT_SECONDS = 3.0
"""How long a redelivered exchange waits for the first delivery's outcome before calling it interrupted."""


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def exchange(request: OAuth2ExchangeRequest) -> OAuth2ExchangeDocument:
    state = oauth_states.get_state(request.state_id)
    if state is None or state.status is not OAuth2StateStatus.exchanging or state.sealed_code is None:
        logger.info("oauth2 state not exchangeable", extra={"state_id": request.state_id})
        return OAuth2ExchangeDocument(state_id=request.state_id, outcome="state_not_exchangeable")
    if not oauth_states.start_token_request(state, utcnow()):
        return _redelivered(state)
    upstream: UpstreamIdentity | None = None
    link_id: str | None = None
    try:
        token, upstream = _exchange_code(state)
        if state.target is OAuth2Target.connection:
            _authorize_connection(state, token, upstream)
        else:
            link_id = _link(state, token, upstream).id
    except _Refused as refused:
        oauth_states.finish_state(state, refused.code, upstream)
        logger.info("oauth2 exchange refused", extra={"state_id": state.id, "code": refused.code})
        return _document(state, refused.code, upstream)
    oauth_states.finish_state(state, "active", upstream)
    logger.info(
        "oauth2 authorization active",
        extra={"state_id": state.id, "link_id": link_id, "connection_id": state.connection_id},
    )
    return _document(state, "active", upstream, link_id)


def _document(
    state: OAuth2State, outcome: str, upstream: UpstreamIdentity | None, link_id: str | None = None
) -> OAuth2ExchangeDocument:
    return OAuth2ExchangeDocument(
        state_id=state.id,
        outcome=outcome,
        link_id=link_id,
        upstream=upstream.model_dump(mode="json", exclude_none=True) if upstream else None,
    )


def _redelivered(state: OAuth2State) -> OAuth2ExchangeDocument:
    """A message delivered again for a state whose exchange already called the token endpoint (the first
    delivery's function stopped, or is still at it): the code is never sent twice (a provider may revoke the
    whole grant on a reused code). Wait a little for the first exchange's outcome; else it was interrupted:
    ``exchange_interrupted``, and the callback page tells the user to start again."""
    deadline = time.monotonic() + REDELIVERY_WAIT_SECONDS
    while time.monotonic() < deadline:
        current = oauth_states.get_state(state.id)
        if current is not None and current.status is OAuth2StateStatus.done and current.outcome:
            return _document(current, current.outcome, current.upstream)
        time.sleep(0.2)
    if oauth_states.interrupt_state(state):
        logger.warning("oauth2 exchange interrupted", extra={"state_id": state.id})
        return _document(state, "exchange_interrupted", None)
    current = oauth_states.get_state(state.id)
    outcome = current.outcome if current is not None and current.outcome else "state_not_exchangeable"
    return _document(state, outcome, current.upstream if current is not None else None)


def _exchange_code(state: OAuth2State) -> tuple[dict[str, Any], UpstreamIdentity | None]:
    from authlib.integrations.httpx_client import OAuthError
    from httpx2 import HTTPError

    assert state.sealed_code is not None
    try:
        verifier = oauth_states.open_part(state, "verifier", state.sealed_verifier)
        code = oauth_states.open_part(state, "code", state.sealed_code)
    except EnvelopeRefused:
        raise _Refused("invalid_state") from None
    try:
        config = oauth_client.app_config(state.app_connection_id)
    except oauth_client.ProviderRefused as refused:
        raise _Refused(refused.code) from None
    try:
        with oauth_client.oauth2_client(config, redirect_uri=state.redirect_uri) as client:
            try:
                token = dict(
                    client.fetch_token(
                        str(config["token_url"]),
                        grant_type="authorization_code",
                        code=code,
                        code_verifier=verifier,
                    )
                )
            except OAuthError as error:
                logger.info("token endpoint refused the code", extra={"error": str(error.error)[:64]})
                raise _Refused("token_endpoint_error") from None
            except (HTTPError, ValueError) as error:
                logger.warning("token endpoint failed", extra={"error_type": type(error).__name__})
                raise _Refused("token_endpoint_error") from None
            if not token.get("access_token"):
                raise _Refused("token_endpoint_error")
            upstream = upstream_identity(client, config, token, state.nonce)
    except egress.EgressRefused as refused:
        logger.info("oauth2 endpoint refused by the egress rule", extra={"reason": refused.code})
        raise _Refused("destination_not_allowed") from None
    except IdentityRefused as refused:
        raise _Refused(refused.code) from None
    return token, upstream


def token_values(token: dict[str, Any]) -> dict[str, Any]:
    """What is kept of a token endpoint's answer (a link's sealed secret, a connection's secret)."""
    return {
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token"),
        "expires_at": int(token.get("expires_at") or time.time() + int(token.get("expires_in") or 3600)),
    }


def _authorize_connection(
    state: OAuth2State, token: dict[str, Any], upstream: UpstreamIdentity | None
) -> None:
    """A builder's authorization of a project ``oauth2`` connection: its tokens go to the connection."""
    from switchboard.runtime.credentials.connection_tokens import store_authorization

    refused = store_authorization(state, token_values(token), upstream)
    if refused is not None:
        raise _Refused(refused)


def _link(state: OAuth2State, token: dict[str, Any], upstream: UpstreamIdentity | None) -> Link:
    # A link's state names them (the model's validator): these narrow the types.
    assert state.app_id
    assert state.user_id
    assert state.requirement_id
    assert state.connect_token_id
    current = links.get_link(state.app_id, state.user_id, state.requirement_id)
    pinned = current.upstream if current is not None else None
    now = utcnow()
    if (
        current is not None
        and pinned is not None
        and upstream is not None
        and pinned.sub != upstream.sub
        and not state.allow_identity_change
    ):
        reason = f"reconnect as upstream account {upstream.sub} refused (identity_mismatch)"
        links.record_unchanged(current, reason, now, by=state.connect_token_id)
        raise _Refused("identity_mismatch")
    app_record = _app_scope(state)
    link = Link(
        id=new_id("link"),
        app_id=state.app_id,
        org_id=app_record[0],
        project_id=app_record[1],
        user_id=state.user_id,
        requirement_id=state.requirement_id,
        connection_type="oauth2",
        status=LinkStatus.active,
        status_changed_at=now,
        config=dict(state.link_config),
        secret_fields=["access_token", "refresh_token", "expires_at"],
        linked_at=now,
        upstream=upstream,
    )
    secrets = token_values(token)
    reason = "authorized at the provider"
    if current is not None:
        reason += f"; replaces {current.id}"
        if pinned is not None and upstream is not None and pinned.sub != upstream.sub:
            reason += f"; upstream account changed from {pinned.sub} to {upstream.sub}"
    try:
        return links.put_link(link, secrets, replacing=current, by=state.connect_token_id, reason=reason)
    except Conflict:
        raise _Refused("link_changed") from None


def _app_scope(state: OAuth2State) -> tuple[str, str]:
    from switchboard.store import apps

    app = apps.get_app(state.app_id) if state.app_id else None
    if app is None:
        raise _Refused("app_not_found")
    return app.org_id, app.project_id
