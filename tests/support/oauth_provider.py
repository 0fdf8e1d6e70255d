"""A real OAuth 2.0 authorization server for the tests: oidc-provider (npm), run by Node.js on 127.0.0.1.

``tests/support/oauth_server/server.mjs`` configures it: PKCE (S256) required, refresh-token rotation,
revocation, introspection, userinfo, short access-token lifetimes, each client's token endpoint auth method
enforced, and test-only admin routes (counters, revoking an account's grants, failure knobs). Any login typed
into its login page becomes the account's ``sub`` (``alice`` → ``alice@example.test``, name ``Alice``).

The npm modules are installed here, by ``ensure_node_modules`` (``npm ci`` from the committed lockfile
when ``node_modules`` is missing or was installed from another lockfile), so ``make test`` and a targeted
pytest run need nothing else. Without Node.js ≥ 20.19 the tests that use it skip, except under CI (``CI``
set), where they fail: ``.ci/run`` installs Node.js.

    def test_something(oauth_provider: OAuthProvider) -> None:
        client = oauth_provider.clients["client_secret_post"]
        ...
        assert oauth_provider.stats()["token_requests"]["refresh_token"] == 1
"""

from __future__ import annotations

import contextlib
import hashlib
import html.parser
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

SERVER_DIR = Path(__file__).resolve().parent / "oauth_server"
LOG = Path(__file__).resolve().parents[2] / "test-output" / "oauth-server.log"
MINIMUM_NODE = (20, 19)
"""oidc-provider 9 needs ``URL.parse`` and ``crypto.hash``: Node.js 20.19 has both, Debian's 18 neither."""
READY_TIMEOUT_SECONDS = 30
NPM_TIMEOUT_SECONDS = 300
LOCK_STAMP = "node_modules/.switchboard-lock-sha256"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"
"""Registered for the clients of the shared provider; never contacted (``sign_in`` stops at the redirect)."""
SCOPES = ("openid", "offline_access", "email", "profile", "api.read")


@dataclass(frozen=True)
class OAuthClient:
    """A client registered at the provider. Secrets carry the suite's secret marker (tests/conftest.py)."""

    client_id: str
    client_secret: str
    auth_method: str


CLIENTS = {
    "client_secret_basic": OAuthClient("sb-basic", "SECRET-sb-basic-0123456789", "client_secret_basic"),
    "client_secret_post": OAuthClient("sb-post", "SECRET-sb-post-0123456789", "client_secret_post"),
}
RESOURCE_SERVER = OAuthClient("upstream-api", "SECRET-upstream-api-0123456789", "client_secret_basic")
"""What an upstream API authenticates as to call the provider's introspection endpoint."""


def _client_metadata(redirect_uris: Sequence[str]) -> list[dict[str, Any]]:
    relying_parties = [
        {
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "token_endpoint_auth_method": client.auth_method,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "redirect_uris": list(redirect_uris),
        }
        for client in CLIENTS.values()
    ]
    resource_server = {
        "client_id": RESOURCE_SERVER.client_id,
        "client_secret": RESOURCE_SERVER.client_secret,
        "token_endpoint_auth_method": RESOURCE_SERVER.auth_method,
        "grant_types": [],
        "response_types": [],
        "redirect_uris": [],
    }
    return [*relying_parties, resource_server]


@dataclass(frozen=True)
class OAuthProvider:
    """A running provider: its issuer, clients and admin routes."""

    issuer: str
    redirect_uris: tuple[str, ...]
    clients: dict[str, OAuthClient]
    resource_server: OAuthClient

    def discovery(self) -> dict[str, Any]:
        document: dict[str, Any] = self._admin("GET", "/.well-known/openid-configuration")
        return document

    def app_config(
        self,
        auth_method: str = "client_secret_basic",
        *,
        with_revocation: bool = True,
        with_id_token: bool = True,
    ) -> dict[str, Any]:
        """The ``config`` of an ``oauth2_app`` connection for the client authenticating with ``auth_method``,
        its endpoints read from the discovery document (the revocation endpoint and the ID token's JWKS and
        issuer unless left out)."""
        client = self.clients[auth_method]
        discovery = self.discovery()
        config: dict[str, Any] = {
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "authorize_url": discovery["authorization_endpoint"],
            "token_url": discovery["token_endpoint"],
            "userinfo_url": discovery["userinfo_endpoint"],
            "scopes": ["openid", "email", "profile", "offline_access"],
            # oidc-provider issues a refresh token only with offline_access and a fresh consent
            "authorize_params": {"prompt": "consent"},
            "token_endpoint_auth_method": auth_method,
        }
        if with_revocation:
            config["revocation_url"] = discovery["revocation_endpoint"]
        if with_id_token:
            config.update(jwks_uri=discovery["jwks_uri"], issuer=discovery["issuer"])
        return config

    def stats(self) -> dict[str, Any]:
        """Counters: ``token_requests`` (by grant type, counted before processing), ``token`` (outcomes),
        ``auth_methods`` (``"<client_id> <method>"``), ``introspection``, ``revocation``, ``userinfo``,
        ``grants_revoked``."""
        counters: dict[str, Any] = self._admin("GET", "/admin/stats")
        return counters

    def reset(self) -> None:
        """Zero the counters and clear the knobs."""
        self._admin("POST", "/admin/reset")

    def revoke(self, sub: str) -> int:
        """Revoke every grant of an account (the user removed the app); returns how many."""
        revoked: int = self._admin("POST", "/admin/revoke", sub=sub)["revoked_grants"]
        return revoked

    def revoke_access(self, sub: str) -> int:
        """Destroy only the account's access tokens (its refresh tokens stay valid); returns how many."""
        revoked: int = self._admin("POST", "/admin/revoke-access", sub=sub)["revoked_access_tokens"]
        return revoked

    def knobs(
        self,
        *,
        token_delay_ms: int | None = None,
        fail_refresh: str | None = None,
        fail_count: int = 1,
        access_token_ttl: int | None = None,
    ) -> dict[str, Any]:
        """Slow every token request, make the next ``fail_count`` refreshes fail (``invalid_grant`` or
        ``server_error``) without touching the grant, or set the lifetime (seconds) of the access tokens
        issued from now on (0: the provider's own again)."""
        params: dict[str, str] = {}
        if token_delay_ms is not None:
            params["token_delay_ms"] = str(token_delay_ms)
        if access_token_ttl is not None:
            params["access_token_ttl"] = str(access_token_ttl)
        if fail_refresh is not None:
            params.update(fail_refresh=fail_refresh, fail_count=str(fail_count))
        knobs: dict[str, Any] = self._admin("POST", "/admin/knobs", **params)
        return knobs

    def _admin(self, method: str, path: str, **params: str) -> Any:
        response = httpx.request(method, f"{self.issuer}{path}", params=params, timeout=10, trust_env=False)
        response.raise_for_status()
        return response.json()


def node_problem() -> str | None:
    """Why the provider cannot run here, or None."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "the OAuth tests need Node.js >= 20.19 and npm; node or npm is not on PATH"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    found = re.match(r"v(\d+)\.(\d+)", version)
    if found is None or (int(found[1]), int(found[2])) < MINIMUM_NODE:
        return f"the OAuth tests need Node.js >= 20.19 (oidc-provider 9); found {version or 'no version'}"
    return None


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is not on PATH"
    return path


def require_node() -> None:
    """Skip without a usable Node.js, except under CI (``CI`` set), where it is a failure."""
    problem = node_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{problem} (CI is set, so this fails: .ci/run installs Node.js)", pytrace=False)
    pytest.skip(f"{problem} (install Node.js 20.19 or later)")


def ensure_node_modules() -> None:
    """``npm ci`` from the committed lockfile unless node_modules was installed from this very lockfile."""
    lock = hashlib.sha256((SERVER_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = SERVER_DIR / LOCK_STAMP
    if stamp.is_file() and stamp.read_text().strip() == lock:
        return
    result = subprocess.run(
        [_tool("npm"), "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=SERVER_DIR,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"npm ci in {SERVER_DIR} failed:\n{result.stderr[-2000:]}", pytrace=False)
    stamp.write_text(lock)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready_line(process: subprocess.Popen[str]) -> str:
    stdout = process.stdout
    assert stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(READY_TIMEOUT_SECONDS)
    return lines[0] if lines else ""


@contextlib.contextmanager
def start_oauth_provider(
    redirect_uris: Sequence[str] = (DEFAULT_REDIRECT_URI,),
    access_token_ttl: int = 5,
    rotate_refresh_tokens: bool = True,
) -> Iterator[OAuthProvider]:
    """A provider of its own on a free port (for tests that need other redirect URIs or lifetimes)."""
    require_node()
    ensure_node_modules()
    port = _free_port()
    env = {
        **os.environ,
        "OIDC_CLIENTS": json.dumps(_client_metadata(redirect_uris)),
        "OIDC_AT_TTL": str(access_token_ttl),
        "OIDC_ROTATE_RT": "1" if rotate_refresh_tokens else "0",
    }
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as log:
        process = subprocess.Popen(
            [_tool("node"), "server.mjs", str(port)],
            cwd=SERVER_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            line = _ready_line(process)
            issuer = f"http://127.0.0.1:{port}"
            if not line.startswith(f"READY {issuer} "):
                pytest.fail(f"the OAuth provider did not start ({line!r}); see {LOG}", pytrace=False)
            yield OAuthProvider(issuer, tuple(redirect_uris), dict(CLIENTS), RESOURCE_SERVER)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@pytest.fixture(scope="session")
def oauth_provider() -> Iterator[OAuthProvider]:
    """The session's provider (redirect URI ``DEFAULT_REDIRECT_URI``, 5 s access tokens)."""
    with start_oauth_provider() as provider:
        yield provider


class _Forms(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append((values.get("action") or "", {}))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1][1][values["name"] or ""] = values.get("value") or ""


def sign_in(browser: httpx.Client, authorization_url: str, login: str, redirect_uri: str) -> str:
    """Follow the provider's login and consent pages over plain HTTP, as a user typing ``login`` (any
    password) and accepting; returns the URL the provider redirects to at ``redirect_uri`` (never requested).

    ``browser`` keeps the cookies, like one browser profile: a second sign-in in it reuses the session."""
    url = authorization_url
    for _ in range(20):
        response = browser.get(url)
        if response.is_redirect:
            url = urllib.parse.urljoin(str(response.url), response.headers["location"])
            if url.startswith(redirect_uri):
                return url
            continue
        assert response.status_code == 200, (response.status_code, response.text[:300])
        parser = _Forms()
        parser.feed(response.text)
        action, fields = parser.forms[0]
        if fields.get("prompt") == "login":
            fields.update(login=login, password="any")
        posted = browser.post(urllib.parse.urljoin(str(response.url), action), data=fields)
        assert posted.is_redirect, (posted.status_code, posted.text[:300])
        url = urllib.parse.urljoin(str(posted.url), posted.headers["location"])
    raise AssertionError(f"no redirect to {redirect_uri} after 20 steps")
