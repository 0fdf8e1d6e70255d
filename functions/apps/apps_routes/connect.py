"""The connect API: an App's caller (access key) mints a connect token for one of its end users; whoever holds
that token lists the user's requirements, links a connection for one (its secret stored write-only) and
revokes it. The connect routes take nothing but a connect token (``GuardedResolver`` ``connect_paths``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from apps_routes.http_io import addressed_app, json_object, validated
from apps_routes.models import ConnectTokenIn, LinkCredentialsIn, OAuth2AuthorizeIn
from switchboard.api.envelopes import ERROR_RESPONSES, Data, ErrorEnvelope, documented
from switchboard.api.guards import CurrentGrant, OptionalPrincipal
from switchboard.api.responses import no_content, one
from switchboard.domain.base import Model
from switchboard.domain.errors import NotFound, Unauthorized
from switchboard.domain.models import App
from switchboard.runtime.identity import addressed_app_id, granted_app
from switchboard.runtime.links import (
    ConnectGrant,
    LinkView,
    RequirementsStatus,
    connect_tokens,
    requirement_status,
)
from switchboard.runtime.links import linking as links

router = APIGatewayHttpRouter()

_NEEDS_CONNECT_TOKEN = "Needs `Authorization: Bearer sb_ct_…` (a connect token of this App); "  # noqa: S105


def _connect_route(status: int, model: Any = None, item: Any = None) -> dict[str, Any]:
    """Route arguments of a connect route: also 409 (the App is not deployed, or the link changed meanwhile)
    and 410 (the connect token expired)."""
    route = documented(status, model, item, writes=True)
    route["responses"][409] = ERROR_RESPONSES[409]
    route["responses"][410] = {
        "description": "The connect token expired (token_expired): ask the App for a new link",
        "content": {"application/json": {"model": ErrorEnvelope}},
    }
    return route


class ConnectTokenOut(Model):
    token: str = Field(description="sb_ct_…: shown once; accepted only by the connect routes and page")
    url: str = Field(description="The hosted connect page for the user, carrying the token")
    expires_at: datetime


class AuthorizationOut(Model):
    authorization_url: str = Field(description="The provider's authorization page for the user to open")


class ConnectStatusOut(RequirementsStatus):
    user_id: str = Field(description="The end user the connect token acts for")
    token_expires_at: datetime


@router.post(
    "/v1/connect/tokens",
    tags=["connect"],
    summary="Mint a connect token for an end user (access key only): its hosted page URL and expiry",
    description="The token acts for user_id on this App until it expires (one hour by default, at most "
    "24 h). A return_url must be on the App's connect_return_urls (422 otherwise).",
    **documented(201, Data, ConnectTokenOut),
)
def create_connect_token(principal: OptionalPrincipal) -> Response[Data[ConnectTokenOut]]:
    app = addressed_app(router, principal)
    if principal is None:
        raise Unauthorized("connect tokens need an access key, even on a public App", code="missing_token")
    body = validated(ConnectTokenIn, json_object(router))
    issued = connect_tokens.issue_connect_token(
        app, principal, body.user_id, body.return_url, body.ttl_seconds, body.allow_identity_change
    )
    return one(ConnectTokenOut(token=issued.token, url=issued.url, expires_at=issued.expires_at), 201)


@router.get(
    "/v1/connect/requirements",
    tags=["connect"],
    summary="The connect token's user: each requirement of the App and its status",
    description=_NEEDS_CONNECT_TOKEN + "409 app_not_deployed before the App's first deployment.",
    **_connect_route(200, Data, ConnectStatusOut),
)
def list_connect_requirements(grant: CurrentGrant) -> Response[Data[ConnectStatusOut]]:
    status = requirement_status(_granted_app(grant), grant.user_id, connect_url_for=None)
    return one(
        ConnectStatusOut(**status.model_dump(), user_id=grant.user_id, token_expires_at=grant.expires_at)
    )


@router.post(
    "/v1/connect/requirements/<requirement_id>/credentials",
    tags=["connect"],
    summary="Link the user's connection for a requirement (replaces an earlier link); 201 with the link",
    description=_NEEDS_CONNECT_TOKEN
    + "type must be the requirement's connection_type and config valid for it "
    "(422 with details). Secret fields go to the secret store and are never shown again.",
    **_connect_route(201, Data, LinkView),
)
def link_requirement(requirement_id: str, grant: CurrentGrant) -> Response[Data[LinkView]]:
    app = _granted_app(grant)
    body = validated(LinkCredentialsIn, json_object(router))
    link = links.link_credentials(app, grant, requirement_id, body.type, body.config, body.expires_at)
    return one(LinkView.of(link), 201)


@router.delete(
    "/v1/connect/requirements/<requirement_id>",
    tags=["connect"],
    summary="Revoke the user's link for a requirement (its secret is deleted); again changes nothing",
    description=_NEEDS_CONNECT_TOKEN + "404 when nothing was ever linked for the requirement.",
    **_connect_route(204),
)
def revoke_requirement_link(requirement_id: str, grant: CurrentGrant) -> Response[None]:
    links.revoke_requirement(_granted_app(grant), grant, requirement_id)
    return no_content()


@router.post(
    "/v1/connect/oauth2/authorize",
    tags=["connect"],
    summary="Start linking an oauth2 requirement: the provider's authorization URL for the user",
    description=_NEEDS_CONNECT_TOKEN
    + "The URL comes from the requirement's OAuth app (never from the request), with PKCE S256 and a "
    "signed, single-use state that expires in 10 minutes; the provider returns to GET /v1/oauth2/callback.",
    **_connect_route(200, Data, AuthorizationOut),
)
def authorize_oauth2(grant: CurrentGrant) -> Response[Data[AuthorizationOut]]:
    from switchboard.runtime.links import oauth_flow

    body = validated(OAuth2AuthorizeIn, json_object(router))
    url = oauth_flow.start_authorization(
        _granted_app(grant), grant, body.requirement_id, body.return_url, body.allow_identity_change
    )
    return one(AuthorizationOut(authorization_url=url))


def _granted_app(grant: ConnectGrant) -> App:
    """The addressed App; the guard checked that the token was issued for it."""
    event = router.current_event
    if addressed_app_id(event.path_parameters, event.headers.get("host")) is None:
        raise NotFound("App not found")
    return granted_app(grant.app_id)
