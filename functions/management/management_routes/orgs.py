"""Organizations and their members (who join by invitation: ``management_routes.invitations``)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from management_routes.models import OrgMemberOut, OrgOut
from switchboard.api.envelopes import Data, Page, RequestModel, documented
from switchboard.api.guards import CurrentPrincipal, Limit, NextToken
from switchboard.api.responses import no_content, one, page
from switchboard.domain.models import OrgRole
from switchboard.runtime.identity import orgs

router = APIGatewayHttpRouter()


class OrgIn(RequestModel):
    name: str = Field(min_length=1, max_length=100)


class ChangeRoleIn(RequestModel):
    role: OrgRole = Field(strict=False)


@router.post(
    "/v1/orgs",
    tags=["organizations"],
    summary="Create an organization (you become its owner)",
    **documented(201, Data, OrgOut),
)
def create_org(body: OrgIn, principal: CurrentPrincipal) -> Response[Data[OrgOut]]:
    return one(OrgOut.of(orgs.create_org(principal, body.name), OrgRole.owner), 201)


@router.get(
    "/v1/orgs", tags=["organizations"], summary="Organizations you belong to", **documented(200, Page, OrgOut)
)
def list_orgs(principal: CurrentPrincipal) -> Page[OrgOut]:
    return page([OrgOut.of(org, role) for org, role in orgs.list_orgs(principal)], None)


@router.get(
    "/v1/orgs/<org_id>", tags=["organizations"], summary="One organization", **documented(200, Data, OrgOut)
)
def get_org(org_id: str, principal: CurrentPrincipal) -> Response[Data[OrgOut]]:
    return one(OrgOut.of(*orgs.get_org(principal, org_id)))


@router.patch(
    "/v1/orgs/<org_id>",
    tags=["organizations"],
    summary="Rename an organization (admin)",
    **documented(200, Data, OrgOut, writes=True),
)
def rename_org(org_id: str, body: OrgIn, principal: CurrentPrincipal) -> Response[Data[OrgOut]]:
    return one(OrgOut.of(*orgs.rename_org(principal, org_id, body.name)))


@router.get(
    "/v1/orgs/<org_id>/members",
    tags=["organizations"],
    summary="Members of an organization",
    **documented(200, Page, OrgMemberOut),
)
def list_members(
    org_id: str, principal: CurrentPrincipal, limit: Limit = 50, next_token: NextToken = None
) -> Page[OrgMemberOut]:
    items, cursor = orgs.list_members(principal, org_id, limit, next_token)
    return page([OrgMemberOut.of(m) for m in items], cursor)


@router.patch(
    "/v1/orgs/<org_id>/members/<user_id>",
    tags=["organizations"],
    summary="Change a member's role",
    **documented(200, Data, OrgMemberOut, writes=True),
)
def change_member(
    org_id: str, user_id: str, body: ChangeRoleIn, principal: CurrentPrincipal
) -> Response[Data[OrgMemberOut]]:
    return one(OrgMemberOut.of(orgs.change_member_role(principal, org_id, user_id, body.role)))


@router.delete(
    "/v1/orgs/<org_id>/members/<user_id>",
    tags=["organizations"],
    summary="Remove a member (or leave)",
    **documented(204, None),
)
def remove_member(org_id: str, user_id: str, principal: CurrentPrincipal) -> Response[None]:
    orgs.remove_member(principal, org_id, user_id)
    return no_content()
