"""Who the end user is at the provider, read by the code exchange (credentials function): from the validated
ID token when the token response carries one, else from the userinfo endpoint.

An ID token (OpenID providers: Google, Microsoft, a generic OIDC provider) is validated with joserfc and
Authlib's OpenID claim rules before any claim is believed: its signature against the provider's JWKS
(``jwks_uri``, fetched through the provider client, so through the pinned egress transport), ``iss`` equal
to the configured ``issuer`` (Microsoft's multi-tenant ``{tenantid}`` placeholder is the token's ``tid``),
``aud`` containing the client id (and ``azp`` when several audiences), ``exp``/``iat``, the nonce the
authorization request sent, and ``at_hash`` when present. Any failure is ``invalid_id_token``: the link is
not made or changed. An ID token is used only when the ``oauth2_app`` names both its ``jwks_uri`` and its
``issuer`` (a preset fills them for Google and Microsoft); otherwise the userinfo endpoint answers.
"""

from __future__ import annotations

from typing import Any

from switchboard.domain.runs import UpstreamIdentity
from switchboard.observability import logger

CLOCK_LEEWAY_SECONDS = 30
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
"""Asymmetric algorithms only: ``none`` and HMAC (keyed with the client secret) are refused."""


class IdentityRefused(Exception):
    """The exchange refuses the link: ``invalid_id_token`` or ``upstream_identity_unavailable``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def upstream_identity(
    client: Any, config: dict[str, Any], token: dict[str, Any], nonce: str | None
) -> UpstreamIdentity | None:
    """The upstream identity for a token response: the validated ID token's claims, filled in (email, name)
    from userinfo when the token lacks them; userinfo alone without a usable ID token; None when the app
    has neither."""
    from_token: UpstreamIdentity | None = None
    id_token = token.get("id_token")
    if isinstance(id_token, str) and config.get("jwks_uri") and config.get("issuer"):
        from_token = _validated(client, config, id_token, nonce, str(token["access_token"]))
    userinfo_url = config.get("userinfo_url")
    if from_token is not None and (from_token.email or not userinfo_url):
        return from_token
    if not userinfo_url:
        return None
    from_userinfo = _userinfo(client, str(userinfo_url), str(token["access_token"]))
    if from_token is None:
        return from_userinfo
    if from_userinfo.sub != from_token.sub:  # userinfo answers for another account than the ID token
        logger.info("userinfo's subject is not the ID token's")
        raise IdentityRefused("invalid_id_token")
    return from_token.model_copy(
        update={
            "email": from_token.email or from_userinfo.email,
            "login": from_token.login or from_userinfo.login,
            "name": from_token.name or from_userinfo.name,
        }
    )


def _validated(
    client: Any, config: dict[str, Any], id_token: str, nonce: str | None, access_token: str
) -> UpstreamIdentity:
    from authlib.oidc.core import CodeIDToken
    from httpx2 import HTTPError
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    client_id = str(config["client_id"])
    try:
        response = client.request("GET", str(config["jwks_uri"]), withhold_token=True)
        key_set = KeySet.import_key_set(response.json()) if response.status_code == 200 else None
    except (HTTPError, ValueError, TypeError, KeyError, JoseError):
        key_set = None
    if key_set is None:
        logger.info("the provider's JWKS could not be read")
        raise IdentityRefused("invalid_id_token")
    try:
        decoded = jwt.decode(id_token, key_set, algorithms=list(ALGORITHMS))
        issuer = str(config["issuer"]).replace("{tenantid}", str(decoded.claims.get("tid", "")))
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            options={
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": client_id},
            },
            params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
        )
        claims.validate(leeway=CLOCK_LEEWAY_SECONDS)
    except (JoseError, ValueError, TypeError, KeyError) as error:
        logger.info("the ID token was refused", extra={"error_type": type(error).__name__})
        raise IdentityRefused("invalid_id_token") from None
    return _identity(dict(claims))


def _userinfo(client: Any, url: str, access_token: str) -> UpstreamIdentity:
    from httpx2 import HTTPError

    try:
        response = client.request(
            "GET", url, headers={"Authorization": f"Bearer {access_token}"}, withhold_token=True
        )
        claims = response.json() if response.status_code == 200 else None
    except (HTTPError, ValueError):
        claims = None
    if not isinstance(claims, dict) or (not claims.get("sub") and not claims.get("id")):
        raise IdentityRefused("upstream_identity_unavailable")
    return _identity(claims)


def _identity(claims: dict[str, Any]) -> UpstreamIdentity:
    if not claims.get("sub") and not claims.get("id"):
        raise IdentityRefused("upstream_identity_unavailable")
    return UpstreamIdentity(
        sub=str(claims.get("sub") or claims.get("id"))[:512],
        email=_text(claims.get("email")),
        login=_text(claims.get("preferred_username") or claims.get("login")),
        name=_text(claims.get("name")),
    )


def _text(value: object) -> str | None:
    return value[:512] if isinstance(value, str) and value else None
