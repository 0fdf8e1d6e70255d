"""What an App tells its callers about itself."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from switchboard.api.envelopes import Data, documented
from switchboard.api.guards import OptionalPrincipal
from switchboard.api.responses import one
from switchboard.domain.base import Model
from switchboard.runtime.identity import addressed_app_id, callable_app, describe

router = APIGatewayHttpRouter()


class AppInfoOut(Model):
    id: str
    name: str
    access: str
    deployed_version: int | None = Field(
        description="Workflow version serving new runs; null before a deploy"
    )


@router.get("/", tags=["app"], summary="Describe the addressed App", **documented(200, Data, AppInfoOut))
def get_app_info(principal: OptionalPrincipal) -> Response[Data[AppInfoOut]]:
    event = router.current_event
    app_id = addressed_app_id(event.path_parameters, event.headers.get("host"))
    return one(AppInfoOut.model_validate(describe(callable_app(app_id, principal))))
