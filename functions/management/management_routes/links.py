"""End users' links of an App, for builders: list them (never a secret value), read a link's history, and
revoke one (project viewer to read, editor to revoke)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from switchboard.api.envelopes import Page, documented
from switchboard.api.guards import CurrentPrincipal, Limit, NextToken
from switchboard.api.responses import no_content, page
from switchboard.domain.runs import LinkTransition
from switchboard.runtime.links import LinkView
from switchboard.runtime.links import linking as links

router = APIGatewayHttpRouter()


@router.get(
    "/v1/apps/<app_id>/links",
    tags=["links"],
    summary="The App's end-user links, by user then requirement (no secret values)",
    **documented(200, Page, LinkView),
)
def list_links(
    app_id: str,
    principal: CurrentPrincipal,
    user_id: Annotated[
        str | None, Query(min_length=1, max_length=256, description="Only this user's")
    ] = None,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> Page[LinkView]:
    items, cursor = links.list_links(principal, app_id, user_id, limit, next_token)
    return page(items, cursor)


@router.get(
    "/v1/apps/<app_id>/links/<link_id>/transitions",
    tags=["links"],
    summary="A link's status changes, oldest first: from, to, reason, when and by whom",
    **documented(200, Page, LinkTransition),
)
def list_link_transitions(app_id: str, link_id: str, principal: CurrentPrincipal) -> Page[LinkTransition]:
    return page(links.link_transitions(principal, app_id, link_id), None)


@router.delete(
    "/v1/apps/<app_id>/links/<link_id>",
    tags=["links"],
    summary="Revoke an end user's link (editor): its secret is deleted; revoking again changes nothing",
    **documented(204, None),
)
def revoke_link(app_id: str, link_id: str, principal: CurrentPrincipal) -> Response[None]:
    links.revoke_app_link(principal, app_id, link_id)
    return no_content()
