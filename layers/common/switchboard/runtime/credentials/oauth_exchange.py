"""The OAuth 2.0 code exchange, behind the secret boundary (the credentials function, invoked by the
dispatcher for a callback the Apps function queued).

It opens the state's sealed verifier and code, reads the ``oauth2_app`` connection's client secret,
exchanges the code with Authlib (the app's token endpoint auth method), reads who the user is at the
provider (its userinfo endpoint: ``sub``, email, login, name), and links: the tokens sealed in the link's
item (``store.links.put_link``), the link ``active`` with its upstream identity, the transition recorded.
A reconnect as another upstream account is refused ``identity_mismatch`` (the link unchanged) unless the
App's backend allowed it. The outcome (``active`` or an error code, the identity) is written to the state
for the waiting callback and answered to the dispatcher; nothing secret is logged or answered. The state
is exchanged once: a state that is not waiting for its exchange is answered ``state_not_exchangeable``.
"""

from __future__ import annotations

import time
from typing import Any

from switchboard.domain.errors import Conflict
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.runs import Link, LinkStatus, OAuth2State, OAuth2StateStatus, UpstreamIdentity
from switchboard.observability import logger
from switchboard.runtime.credentials import oauth_client
from switchboard.runtime.credentials.contract import OAuth2ExchangeDocument, OAuth2ExchangeRequest
from switchboard.store import links, oauth_states
from switchboard.store.envelope import EnvelopeRefused


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def exchange(request: OAuth2ExchangeRequest) -> OAuth2ExchangeDocument:
    state = oauth_states.get_state(request.state_id)
    if state is None or state.status is not OAuth2StateStatus.exchanging or state.sealed_code is None:
        logger.info("oauth2 state not exchangeable", extra={"state_id": request.state_id})
        return OAuth2ExchangeDocument(state_id=request.state_id, outcome="state_not_exchangeable")
    upstream: UpstreamIdentity | None = None
    try:
        token, upstream = _exchange_code(state)
        link = _link(state, token, upstream)
    except _Refused as refused:
        oauth_states.finish_state(state, refused.code, upstream)
        logger.info("oauth2 exchange refused", extra={"state_id": state.id, "code": refused.code})
        return OAuth2ExchangeDocument(
            state_id=state.id,
            outcome=refused.code,
            upstream=upstream.model_dump(mode="json", exclude_none=True) if upstream else None,
        )
    oauth_states.finish_state(state, "active", upstream)
    logger.info("oauth2 link active", extra={"state_id": state.id, "link_id": link.id})
    return OAuth2ExchangeDocument(
        state_id=state.id,
        outcome="active",
        link_id=link.id,
        upstream=upstream.model_dump(mode="json", exclude_none=True) if upstream else None,
    )


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
        oauth_client.check_egress(str(config["token_url"]), config.get("userinfo_url"))
    except oauth_client.ProviderRefused as refused:
        raise _Refused(refused.code) from None
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
        userinfo_url = config.get("userinfo_url")
        upstream = _userinfo(client, str(userinfo_url), str(token["access_token"])) if userinfo_url else None
    return token, upstream


def _userinfo(client: Any, url: str, access_token: str) -> UpstreamIdentity | None:
    from httpx2 import HTTPError

    try:
        response = client.request(
            "GET", url, headers={"Authorization": f"Bearer {access_token}"}, withhold_token=True
        )
        claims = response.json() if response.status_code == 200 else None
    except (HTTPError, ValueError):
        claims = None
    if not isinstance(claims, dict) or (not claims.get("sub") and not claims.get("id")):
        raise _Refused("upstream_identity_unavailable")
    login = claims.get("preferred_username") or claims.get("login")
    return UpstreamIdentity(
        sub=str(claims.get("sub") or claims.get("id")),
        email=_text(claims.get("email")),
        login=_text(login),
        name=_text(claims.get("name")),
    )


def _text(value: object) -> str | None:
    return value[:512] if isinstance(value, str) and value else None


def _link(state: OAuth2State, token: dict[str, Any], upstream: UpstreamIdentity | None) -> Link:
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
    secrets = {
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token"),
        "expires_at": int(token.get("expires_at") or time.time() + int(token.get("expires_in") or 3600)),
    }
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

    app = apps.get_app(state.app_id)
    if app is None:
        raise _Refused("app_not_found")
    return app.org_id, app.project_id
