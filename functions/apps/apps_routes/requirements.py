"""Where an end user stands with the App's requirements: which connections they linked, which they still
need to link, and the hosted page to do it."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from apps_routes.http_io import addressed_app
from switchboard.api.envelopes import ERROR_RESPONSES, Data, documented
from switchboard.api.guards import OptionalPrincipal
from switchboard.api.responses import one
from switchboard.domain.errors import BadRequest, Unauthorized
from switchboard.runtime.links import RequirementsStatus, requirement_status

router = APIGatewayHttpRouter()


def _with_conflict(route: dict[str, Any]) -> dict[str, Any]:
    route["responses"][409] = ERROR_RESPONSES[409]
    return route


@router.get(
    "/v1/requirements/status",
    tags=["requirements"],
    summary="The end user's status for each requirement of the deployed version",
    description=(
        "Needs an access key of the App, even on a public App (401 missing_token without one): whether an "
        "end user has linked is theirs to know. user_id is required (400 without it). Unsatisfied entries "
        "carry a connect_url (the hosted connect page for this user). 409 app_not_deployed before the App's "
        "first deployment."
    ),
    **_with_conflict(documented(200, Data, RequirementsStatus)),
)
def get_requirement_status(
    principal: OptionalPrincipal,
    user_id: Annotated[
        str | None, Query(min_length=1, max_length=256, description="Required: the end user to report on")
    ] = None,
) -> Response[Data[RequirementsStatus]]:
    app = addressed_app(router, principal)
    if principal is None:
        raise Unauthorized("a user's requirement status needs an access key of the App", code="missing_token")
    if user_id is None:
        raise BadRequest("the user_id query parameter is required", code="missing_user_id")
    return one(requirement_status(app, user_id, connect_url_for=principal))
