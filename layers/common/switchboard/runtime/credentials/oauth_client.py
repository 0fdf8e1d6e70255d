"""The one builder of the Authlib client for an ``oauth2_app`` connection, behind the secret boundary: the
code exchange (``oauth_exchange``) and the refresh (``oauth_tokens``) talk to the provider through it alike.

The client authenticates with the app's client secret and its token endpoint auth method (revocation with the
same one: Authlib would otherwise default it to basic), never follows a redirect and ignores proxy settings
from the environment. Authlib's client runs on httpx2, which the engine's pinning transport does not serve, so
the egress rule is checked on the provider's endpoints, their addresses resolved, right before the requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchboard import egress
from switchboard.observability import logger
from switchboard.store import connections

if TYPE_CHECKING:
    from authlib.integrations.httpx_client import OAuth2Client

TIMEOUT_SECONDS = 5.0
"""Each request to the provider (connect, send, each read) gives up after this."""


class ProviderRefused(Exception):
    """The provider cannot be used: ``code`` says why (``oauth2_app_not_found``,
    ``destination_not_allowed``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def app_config(app_connection_id: str) -> dict[str, Any]:
    """The ``oauth2_app`` connection's config with its client secret (read through the secret cache)."""
    from switchboard.runtime.credentials.resolving import read_connection_secret

    connection = connections.get_connection(app_connection_id)
    if connection is None or connection.type != "oauth2_app":
        raise ProviderRefused("oauth2_app_not_found")
    return {**connection.config, **read_connection_secret(connection)}


def oauth2_client(config: dict[str, Any], *, redirect_uri: str | None = None) -> OAuth2Client:
    """An Authlib client for the app ``config`` (``app_config``); use it in a ``with`` block."""
    from authlib.integrations.httpx_client import OAuth2Client

    method = str(config.get("token_endpoint_auth_method") or "client_secret_basic")
    return OAuth2Client(
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=TIMEOUT_SECONDS,
        trust_env=False,
        follow_redirects=False,
    )


def check_egress(*urls: object) -> None:
    """The egress rule for the provider's endpoints (public addresses only unless the deployment allows
    more); ``ProviderRefused("destination_not_allowed")`` before any request otherwise."""
    for url in urls:
        if url:
            try:
                egress.check_url(str(url), egress.current_policy())
            except egress.EgressRefused as refused:
                logger.info("oauth2 endpoint refused by the egress rule", extra={"reason": refused.code})
                raise ProviderRefused("destination_not_allowed") from None
