"""Connections: config in, non-secret fields and secret field names out; secret values never."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from management_routes.models import ConnectionAuthorizationOut, ConnectionOut
from switchboard.api.envelopes import Data, Page, RequestModel, documented
from switchboard.api.guards import CurrentPrincipal, Limit, NextToken
from switchboard.api.responses import no_content, one, page
from switchboard.domain.connection_types import CONNECTION_TYPES
from switchboard.runtime.building import connections

router = APIGatewayHttpRouter()
_TYPES = ", ".join(sorted(CONNECTION_TYPES))


class CreateConnectionIn(RequestModel):
    project_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=64, description=f"One of: {_TYPES}")
    config: dict[str, Any] = Field(description="Validated by the type's model; secret fields are write-only")


class AuthorizeConnectionIn(RequestModel):
    allow_identity_change: bool = Field(
        default=False,
        description="Accept another upstream account than the one the connection was authorized as "
        "(otherwise refused identity_mismatch); recorded either way",
    )


class UpdateConnectionIn(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    config: dict[str, Any] | None = Field(
        default=None, description="Full replacement; writes a new secret version"
    )


@router.post(
    "/v1/connections",
    tags=["connections"],
    summary="Create a connection (project editor)",
    **documented(201, Data, ConnectionOut),
)
def create_connection(body: CreateConnectionIn, principal: CurrentPrincipal) -> Response[Data[ConnectionOut]]:
    created = connections.create_connection(principal, body.project_id, body.name, body.type, body.config)
    return one(ConnectionOut.of(created), 201)


@router.get(
    "/v1/connections",
    tags=["connections"],
    summary="Connections of a project",
    **documented(200, Page, ConnectionOut),
)
def list_connections(
    principal: CurrentPrincipal,
    project_id: Annotated[str, Query(min_length=1, max_length=64)],
    limit: Limit = 50,
    next_token: NextToken = None,
) -> Page[ConnectionOut]:
    items, cursor = connections.list_connections(principal, project_id, limit, next_token)
    return page([ConnectionOut.of(c) for c in items], cursor)


@router.get(
    "/v1/connections/<connection_id>",
    tags=["connections"],
    summary="One connection",
    **documented(200, Data, ConnectionOut),
)
def get_connection(connection_id: str, principal: CurrentPrincipal) -> Response[Data[ConnectionOut]]:
    return one(ConnectionOut.of(connections.get_connection(principal, connection_id)))


@router.patch(
    "/v1/connections/<connection_id>",
    tags=["connections"],
    summary="Rename or rotate a connection",
    **documented(200, Data, ConnectionOut, writes=True),
)
def update_connection(
    connection_id: str, body: UpdateConnectionIn, principal: CurrentPrincipal
) -> Response[Data[ConnectionOut]]:
    updated = connections.update_connection(principal, connection_id, body.name, body.config)
    return one(ConnectionOut.of(updated))


@router.delete(
    "/v1/connections/<connection_id>",
    tags=["connections"],
    summary="Delete an unused connection",
    **documented(204, None),
)
def delete_connection(connection_id: str, principal: CurrentPrincipal) -> Response[None]:
    connections.delete_connection(principal, connection_id)
    return no_content()


@router.post(
    "/v1/connections/<connection_id>/oauth2/authorize",
    tags=["connections"],
    summary="Authorize an oauth2 connection at its provider (project editor): the authorization URL",
    description="The URL comes from the connection's OAuth app (never from the request), with PKCE S256 "
    "and a single-use state that expires in 10 minutes; the provider returns to the Apps API's GET "
    "/v1/oauth2/callback, and the tokens go to the connection's secret. The body is optional. 409 "
    "not_an_oauth2_connection for a connection of another type.",
    **documented(200, Data, ConnectionAuthorizationOut, writes=True),
)
def authorize_connection(
    connection_id: str, principal: CurrentPrincipal, body: AuthorizeConnectionIn | None = None
) -> Response[Data[ConnectionAuthorizationOut]]:
    allow = body.allow_identity_change if body is not None else False
    started = connections.authorize_connection(principal, connection_id, allow)
    return one(
        ConnectionAuthorizationOut(authorization_url=started.authorization_url, expires_at=started.expires_at)
    )
