"""Invitations to an organization, and accepting one (no token needed for a new user)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from management_routes.models import (
    AcceptedInvitationOut,
    CreatedInvitationOut,
    CreatedTokenOut,
    InvitationOut,
    OrgMemberOut,
    TokenOut,
    UserOut,
)
from management_routes.resolver import ACCEPT_INVITATION_PATH
from switchboard.api.envelopes import (
    Data,
    ErrorEnvelope,
    Page,
    RequestModel,
    Timestamp,
    documented,
)
from switchboard.api.guards import CurrentPrincipal, Limit, NextToken, OptionalPrincipal
from switchboard.api.responses import one, page
from switchboard.domain.ids import utcnow
from switchboard.domain.models import OrgRole
from switchboard.runtime.identity import invitations

router = APIGatewayHttpRouter()


class InviteIn(RequestModel):
    email: str = Field(min_length=3, max_length=254)
    role: OrgRole = Field(
        default=OrgRole.member, strict=False, description="Only an owner may invite an owner"
    )
    expires_at: Timestamp | None = Field(
        default=None, description="Default: in 7 days; at most 30 days away (ISO 8601, with a time zone)"
    )


class AcceptIn(RequestModel):
    token: str = Field(min_length=1, max_length=200, description="The invitation's sb_inv_… token")
    token_name: str | None = Field(
        default=None, min_length=1, max_length=100, description="A new user's first PAT's name"
    )


def _accept_route() -> dict[str, Any]:
    route = documented(201, Data, AcceptedInvitationOut)
    route["responses"][410] = {
        "description": "The invitation expired (invitation_expired) or was revoked (invitation_revoked)",
        "content": {"application/json": {"model": ErrorEnvelope}},
    }
    return route


@router.post(
    "/v1/orgs/<org_id>/invitations",
    tags=["organizations"],
    summary="Invite someone by email (admin; the token is shown once)",
    **documented(201, Data, CreatedInvitationOut),
)
def create_invitation(
    org_id: str, body: InviteIn, principal: CurrentPrincipal
) -> Response[Data[CreatedInvitationOut]]:
    created = invitations.invite(principal, org_id, body.email, body.role, body.expires_at)
    shown = InvitationOut.of(created.record, utcnow()).model_dump()
    return one(CreatedInvitationOut(**shown, token=created.token), 201)


@router.get(
    "/v1/orgs/<org_id>/invitations",
    tags=["organizations"],
    summary="An organization's invitations, newest first (admin)",
    **documented(200, Page, InvitationOut),
)
def list_invitations(
    org_id: str, principal: CurrentPrincipal, limit: Limit = 50, next_token: NextToken = None
) -> Page[InvitationOut]:
    items, cursor = invitations.list_invitations(principal, org_id, limit, next_token)
    now = utcnow()
    return page([InvitationOut.of(i, now) for i in items], cursor)


@router.delete(
    "/v1/orgs/<org_id>/invitations/<invitation_id>",
    tags=["organizations"],
    summary="Revoke an invitation (admin; an accepted one is 409 invitation_used)",
    **documented(200, Data, InvitationOut, writes=True),
)
def revoke_invitation(
    org_id: str, invitation_id: str, principal: CurrentPrincipal
) -> Response[Data[InvitationOut]]:
    return one(InvitationOut.of(invitations.revoke(principal, org_id, invitation_id), utcnow()))


@router.post(
    ACCEPT_INVITATION_PATH,
    tags=["organizations"],
    summary="Accept an invitation: a new user without a token, an existing user with their own PAT",
    **_accept_route(),
)
def accept_invitation(body: AcceptIn, principal: OptionalPrincipal) -> Response[Data[AcceptedInvitationOut]]:
    accepted = invitations.accept(body.token, principal, body.token_name)
    first = accepted.first_token
    token = (
        None
        if first is None
        else CreatedTokenOut(**TokenOut.of(first.record).model_dump(), token=first.token)
    )
    out = AcceptedInvitationOut(
        org_id=accepted.membership.org_id,
        membership=OrgMemberOut.of(accepted.membership),
        user=UserOut.of(accepted.user),
        token=token,
    )
    return one(out, 201)
