"""The ``oauth2_app`` a request to a provider is made for, behind the secret boundary: its config with the
client secret (``app_config``), and the Authlib client built from it (``oauth2_client``, the one builder:
``provider_http.provider_client``, every request through the address-pinned transport). The code exchange
(``oauth_exchange``), the refresh (``oauth_tokens``) and the revocation (``oauth_revocation``) talk to the
provider through them alike.
"""

from __future__ import annotations

from typing import Any

from switchboard.domain.oauth_presets import with_preset
from switchboard.runtime.credentials.provider_http import provider_client
from switchboard.store import connections


class ProviderRefused(Exception):
    """The provider cannot be used: ``code`` says why (``oauth2_app_not_found``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def app_config(app_connection_id: str) -> dict[str, Any]:
    """The ``oauth2_app`` connection's config, its preset filled in, with its client secret (read through
    the secret cache)."""
    from switchboard.runtime.credentials.resolving import read_connection_secret

    connection = connections.get_connection(app_connection_id)
    if connection is None or connection.type != "oauth2_app":
        raise ProviderRefused("oauth2_app_not_found")
    return with_preset({**connection.config, **read_connection_secret(connection)})


def oauth2_client(config: dict[str, Any], *, redirect_uri: str | None = None) -> Any:
    """An Authlib client for the app ``config`` (``app_config``); use it in a ``with`` block. A destination
    the egress rule refuses raises ``egress.EgressRefused`` from the request."""
    return provider_client(config, redirect_uri)
