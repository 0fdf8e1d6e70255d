"""Apps, their deployments and rollback."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from management_routes.models import AppDeploymentOut, AppOut, CreatedAppOut, DeploymentOut, SigningSecretOut
from switchboard.api.envelopes import Data, Page, RequestModel, documented
from switchboard.api.guards import CurrentPrincipal, Limit, NextToken
from switchboard.api.responses import no_content, one, page
from switchboard.domain.models import App, AppAccess, Deployment, RunLimits
from switchboard.runtime.building import MAX_RETURN_URLS, apps

router = APIGatewayHttpRouter()


ReturnUrl = Annotated[str, Field(min_length=1, max_length=2048)]


class RunLimitsIn(RequestModel, RunLimits):
    """The App's run limits, as a request sets them (omitted: the default on create, unchanged on update)."""

    def limits(self) -> RunLimits:
        return RunLimits(
            run_timeout_seconds=self.run_timeout_seconds, sync_wait_seconds=self.sync_wait_seconds
        )


class CreateAppIn(RunLimitsIn):
    project_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    workflow_id: str = Field(min_length=1, max_length=64)
    access: AppAccess = Field(default=AppAccess.private, strict=False)
    event_url: str | None = Field(
        default=None,
        max_length=2048,
        description="https URL receiving the App's link events (link.activated, link.unauthorized, "
        "link.expired, link.revoked), signed and retried like run callbacks",
    )
    connect_return_urls: list[ReturnUrl] = Field(
        default_factory=list,
        max_length=MAX_RETURN_URLS,
        description="https URLs the hosted connect page may send end users back to: a return_url must equal "
        "one, or start with one that ends in /",
    )


class UpdateAppIn(RunLimitsIn):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    access: AppAccess | None = Field(default=None, strict=False)
    event_url: str | None = Field(
        default=None, max_length=2048, description="A new event URL; an empty string removes it"
    )
    connect_return_urls: list[ReturnUrl] | None = Field(
        default=None, max_length=MAX_RETURN_URLS, description="Replaces the list; [] empties it"
    )


class DeployIn(RequestModel):
    version: int = Field(ge=1, le=10**9)


def _deployed(result: tuple[App, Deployment]) -> Response[Data[AppDeploymentOut]]:
    app, deployment = result
    return one(
        AppDeploymentOut(app=AppOut.of(app), deployment=DeploymentOut.of(deployment, deployment.id)), 201
    )


@router.post(
    "/v1/apps",
    tags=["apps"],
    summary="Create an App for a workflow (editor); the response shows its signing secret once",
    **documented(201, Data, CreatedAppOut),
)
def create_app(body: CreateAppIn, principal: CurrentPrincipal) -> Response[Data[CreatedAppOut]]:
    created = apps.create_app(
        principal,
        body.project_id,
        body.name,
        body.workflow_id,
        body.access,
        body.event_url,
        body.connect_return_urls,
        body.limits(),
    )
    return one(CreatedAppOut.of_new(created.app, created.signing_secret), 201)


@router.post(
    "/v1/apps/<app_id>/signing-secret",
    tags=["apps"],
    summary="Rotate the App's webhook signing secret (editor); the new secret is shown once",
    **documented(201, Data, SigningSecretOut),
)
def rotate_signing_secret(app_id: str, principal: CurrentPrincipal) -> Response[Data[SigningSecretOut]]:
    rotated = apps.rotate_signing_secret(principal, app_id)
    return one(
        SigningSecretOut(
            app_id=rotated.app_id, signing_secret=rotated.signing_secret, rotated_at=rotated.rotated_at
        ),
        201,
    )


@router.get("/v1/apps", tags=["apps"], summary="Apps of a project", **documented(200, Page, AppOut))
def list_apps(
    principal: CurrentPrincipal,
    project_id: Annotated[str, Query(min_length=1, max_length=64)],
    limit: Limit = 50,
    next_token: NextToken = None,
) -> Page[AppOut]:
    items, cursor = apps.list_apps(principal, project_id, limit, next_token)
    return page([AppOut.of(a) for a in items], cursor)


@router.get(
    "/v1/apps/<app_id>",
    tags=["apps"],
    summary="One App with its endpoints and current deployment",
    **documented(200, Data, AppOut),
)
def get_app(app_id: str, principal: CurrentPrincipal) -> Response[Data[AppOut]]:
    return one(AppOut.of(apps.get_app(principal, app_id)))


@router.patch(
    "/v1/apps/<app_id>",
    tags=["apps"],
    summary="Rename an App, change its access, its event URL or its connect return URLs",
    **documented(200, Data, AppOut, writes=True),
)
def update_app(app_id: str, body: UpdateAppIn, principal: CurrentPrincipal) -> Response[Data[AppOut]]:
    updated = apps.update_app(
        principal, app_id, body.name, body.access, body.event_url, body.connect_return_urls, body.limits()
    )
    return one(AppOut.of(updated))


@router.delete("/v1/apps/<app_id>", tags=["apps"], summary="Delete an App", **documented(204, None))
def delete_app(app_id: str, principal: CurrentPrincipal) -> Response[None]:
    apps.delete_app(principal, app_id)
    return no_content()


@router.post(
    "/v1/apps/<app_id>/deployments",
    tags=["apps"],
    summary="Deploy a workflow version",
    **documented(201, Data, AppDeploymentOut),
)
def deploy(app_id: str, body: DeployIn, principal: CurrentPrincipal) -> Response[Data[AppDeploymentOut]]:
    return _deployed(apps.deploy(principal, app_id, body.version))


@router.get(
    "/v1/apps/<app_id>/deployments",
    tags=["apps"],
    summary="Deployment history, newest first",
    **documented(200, Page, DeploymentOut),
)
def list_deployments(
    app_id: str, principal: CurrentPrincipal, limit: Limit = 50, next_token: NextToken = None
) -> Page[DeploymentOut]:
    history = apps.list_deployments(principal, app_id, limit, next_token)
    deployments = [DeploymentOut.of(d, history.current_id) for d in history.deployments]
    return page(deployments, history.next_token)


@router.post(
    "/v1/apps/<app_id>/rollback",
    tags=["apps"],
    summary="Deploy the previous deployment's version",
    **documented(201, Data, AppDeploymentOut),
)
def rollback(app_id: str, principal: CurrentPrincipal) -> Response[Data[AppDeploymentOut]]:
    return _deployed(apps.rollback(principal, app_id))
