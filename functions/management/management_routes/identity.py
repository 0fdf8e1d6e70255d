"""The caller, their personal access tokens, and organization access keys."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from management_routes.models import AccessKeyOut, CreatedAccessKeyOut, CreatedTokenOut, TokenOut, UserOut
from switchboard.api.envelopes import Data, Page, RequestModel, Timestamp, documented
from switchboard.api.guards import CurrentPrincipal, Limit, NextToken
from switchboard.api.responses import one, page
from switchboard.runtime.identity import profile as identity

router = APIGatewayHttpRouter()


class CreateTokenIn(RequestModel):
    name: str = Field(min_length=1, max_length=100)
    expires_at: Timestamp | None = Field(
        default=None, description="Optional expiry (ISO 8601, with a time zone)"
    )


class CreateAccessKeyIn(RequestModel):
    org_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    project_id: str | None = Field(default=None, max_length=64, description="Scope the key to one project")
    expires_at: Timestamp | None = Field(
        default=None, description="Optional expiry (ISO 8601, with a time zone)"
    )


@router.get("/v1/me", tags=["identity"], summary="The calling user", **documented(200, Data, UserOut))
def get_me(principal: CurrentPrincipal) -> Response[Data[UserOut]]:
    return one(UserOut.of(identity.me(principal)))


@router.post(
    "/v1/tokens",
    tags=["identity"],
    summary="Create a personal access token (shown once)",
    **documented(201, Data, CreatedTokenOut),
)
def create_token(body: CreateTokenIn, principal: CurrentPrincipal) -> Response[Data[CreatedTokenOut]]:
    created = identity.create_pat(principal, body.name, body.expires_at)
    return one(CreatedTokenOut(**TokenOut.of(created.record).model_dump(), token=created.token), 201)


@router.get(
    "/v1/tokens",
    tags=["identity"],
    summary="List your personal access tokens",
    **documented(200, Page, TokenOut),
)
def list_tokens(
    principal: CurrentPrincipal, limit: Limit = 50, next_token: NextToken = None
) -> Page[TokenOut]:
    items, cursor = identity.list_pats(principal, limit, next_token)
    return page([TokenOut.of(t) for t in items], cursor)


@router.delete(
    "/v1/tokens/<token_id>",
    tags=["identity"],
    summary="Revoke one of your personal access tokens",
    **documented(200, Data, TokenOut, writes=True),
)
def revoke_token(token_id: str, principal: CurrentPrincipal) -> Response[Data[TokenOut]]:
    return one(TokenOut.of(identity.revoke_pat(principal, token_id)))


@router.post(
    "/v1/access-keys",
    tags=["access keys"],
    summary="Create an access key for calling Apps (shown once)",
    **documented(201, Data, CreatedAccessKeyOut),
)
def create_access_key(
    body: CreateAccessKeyIn, principal: CurrentPrincipal
) -> Response[Data[CreatedAccessKeyOut]]:
    created = identity.create_access_key(principal, body.org_id, body.name, body.project_id, body.expires_at)
    return one(CreatedAccessKeyOut(**AccessKeyOut.of(created.record).model_dump(), token=created.token), 201)


@router.get(
    "/v1/access-keys",
    tags=["access keys"],
    summary="List an organization's access keys",
    **documented(200, Page, AccessKeyOut),
)
def list_access_keys(
    principal: CurrentPrincipal,
    org_id: Annotated[str, Query(min_length=1, max_length=64)],
    limit: Limit = 50,
    next_token: NextToken = None,
) -> Page[AccessKeyOut]:
    items, cursor = identity.list_access_keys(principal, org_id, limit, next_token)
    return page([AccessKeyOut.of(t) for t in items], cursor)


@router.delete(
    "/v1/access-keys/<key_id>",
    tags=["access keys"],
    summary="Revoke an access key",
    **documented(200, Data, AccessKeyOut, writes=True),
)
def revoke_access_key(key_id: str, principal: CurrentPrincipal) -> Response[Data[AccessKeyOut]]:
    return one(AccessKeyOut.of(identity.revoke_access_key(principal, key_id)))
