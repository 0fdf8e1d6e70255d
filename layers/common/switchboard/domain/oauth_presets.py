"""The providers an ``oauth2_app`` connection can start from: documented endpoints and default scopes.

A preset only fills what the config leaves out; every field given in the config wins (docs: README "OAuth
apps"). A revocation URL is filled only where the provider's endpoint follows RFC 7009 (a form POST with
``token``, the client authenticated as at the token endpoint): GitHub's, Slack's, Notion's and Dropbox's
revocation APIs take other shapes, so those presets have none. ``jwks_uri`` and ``issuer`` (the ID token's
checks) are filled for the OpenID providers (Google, Microsoft). ``generic`` fills nothing.
"""

from __future__ import annotations

from typing import Any, Final

PRESETS: Final[dict[str, dict[str, Any]]] = {
    "google": {
        "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
        "token_url": "https://oauth2.googleapis.com/token",
        "revocation_url": "https://oauth2.googleapis.com/revoke",
        "userinfo_url": "https://openidconnect.googleapis.com/v1/userinfo",
        "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
        "issuer": "https://accounts.google.com",
        "scopes": ["openid", "email", "profile"],
        # A refresh token is issued only for offline access, and again only with a fresh consent.
        "authorize_params": {"access_type": "offline", "prompt": "consent"},
        "token_endpoint_auth_method": "client_secret_post",
    },
    "microsoft": {
        "authorize_url": "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        "token_url": "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        "userinfo_url": "https://graph.microsoft.com/oidc/userinfo",
        "jwks_uri": "https://login.microsoftonline.com/common/discovery/v2.0/keys",
        # the common endpoint's tokens name their tenant: the issuer is checked with the token's tid
        "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
        "scopes": ["openid", "email", "profile", "offline_access"],
        "authorize_params": {},
        "token_endpoint_auth_method": "client_secret_post",
    },
    "github": {
        "authorize_url": "https://github.com/login/oauth/authorize",
        "token_url": "https://github.com/login/oauth/access_token",
        "userinfo_url": "https://api.github.com/user",
        "scopes": ["read:user", "user:email"],
        "authorize_params": {},
        "token_endpoint_auth_method": "client_secret_post",
    },
    "slack": {
        "authorize_url": "https://slack.com/oauth/v2/authorize",
        "token_url": "https://slack.com/api/oauth.v2.access",
        # Slack's `scope` asks for bot scopes; scopes to act as the user go in the `user_scope` parameter.
        "scopes": [],
        "authorize_params": {},
        "token_endpoint_auth_method": "client_secret_basic",
    },
    "notion": {
        "authorize_url": "https://api.notion.com/v1/oauth/authorize",
        "token_url": "https://api.notion.com/v1/oauth/token",
        # Notion has no scopes: the user picks the pages to share while authorizing.
        "scopes": [],
        "authorize_params": {"owner": "user"},
        "token_endpoint_auth_method": "client_secret_basic",
    },
    "dropbox": {
        "authorize_url": "https://www.dropbox.com/oauth2/authorize",
        "token_url": "https://api.dropboxapi.com/oauth2/token",
        "scopes": ["account_info.read"],
        # Without it Dropbox issues a short-lived access token and no refresh token.
        "authorize_params": {"token_access_type": "offline"},
        "token_endpoint_auth_method": "client_secret_basic",
    },
    "box": {
        "authorize_url": "https://account.box.com/api/oauth2/authorize",
        "token_url": "https://api.box.com/oauth2/token",
        "revocation_url": "https://api.box.com/oauth2/revoke",
        "userinfo_url": "https://api.box.com/2.0/users/me",
        # Box grants the scopes configured for the app in its developer console.
        "scopes": [],
        "authorize_params": {},
        "token_endpoint_auth_method": "client_secret_post",
    },
    "generic": {},
}


def with_preset(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with what its preset fills added where ``raw`` leaves it out (an unknown preset: unchanged,
    for the config's own validation to refuse)."""
    preset = PRESETS.get(str(raw.get("preset", "generic")), {})
    return {**preset, **raw}
