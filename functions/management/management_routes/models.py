"""Response models of the management API and the conversions from domain models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from switchboard.domain.base import Model
from switchboard.domain.models import (
    ApiToken,
    App,
    AppAccess,
    Connection,
    Deployment,
    Entity,
    Invitation,
    InvitationStatus,
    Organization,
    OrgMembership,
    OrgRole,
    Project,
    ProjectMembership,
    ProjectRole,
    User,
    Workflow,
    WorkflowVersion,
)
from switchboard.domain.runs import UpstreamIdentity
from switchboard.domain.triggers import Trigger, TriggerEvent, TriggerEventStatus, TriggerType
from switchboard.runtime.triggers import webhook_url
from switchboard.settings import get_settings


class Audited(Model):
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


def _audit(entity: Entity) -> dict[str, Any]:
    return {
        "created_at": entity.created_at,
        "created_by": entity.created_by,
        "updated_at": entity.updated_at,
        "updated_by": entity.updated_by,
    }


class UserOut(Model):
    id: str
    email: str
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(id=user.id, email=user.email, created_at=user.created_at)


class TokenOut(Model):
    id: str
    name: str
    preview: str = Field(description="Recognizable part of the token; the token itself is shown only once")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            name=token.name,
            preview=token.preview,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
        )


class CreatedTokenOut(TokenOut):
    token: str = Field(description="The token; store it now, it is never shown again")


class AccessKeyOut(TokenOut):
    org_id: str
    project_id: str | None
    created_by: str

    @classmethod
    def of(cls, token: ApiToken) -> AccessKeyOut:
        assert token.org_id is not None
        return cls(
            **TokenOut.of(token).model_dump(),
            org_id=token.org_id,
            project_id=token.project_id,
            created_by=token.created_by,
        )


class CreatedAccessKeyOut(AccessKeyOut):
    token: str = Field(description="The access key; store it now, it is never shown again")


class OrgOut(Audited):
    id: str
    name: str
    role: OrgRole = Field(description="The caller's role in this organization")

    @classmethod
    def of(cls, org: Organization, role: OrgRole) -> OrgOut:
        return cls(id=org.id, name=org.name, role=role, **_audit(org))


class OrgMemberOut(Audited):
    user_id: str
    email: str
    role: OrgRole

    @classmethod
    def of(cls, member: OrgMembership) -> OrgMemberOut:
        return cls(user_id=member.user_id, email=member.email, role=member.role, **_audit(member))


class InvitationOut(Audited):
    id: str
    org_id: str
    email: str
    role: OrgRole
    status: InvitationStatus = Field(
        description="pending, accepted, revoked, or expired (pending past expires_at)"
    )
    preview: str = Field(description="Recognizable part of the token; the token itself is shown only once")
    expires_at: datetime
    accepted_at: datetime | None
    accepted_by: str | None
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def of(cls, invitation: Invitation, now: datetime) -> InvitationOut:
        return cls(
            id=invitation.id,
            org_id=invitation.org_id,
            email=invitation.email,
            role=invitation.role,
            status=invitation.status_at(now),
            preview=invitation.preview,
            expires_at=invitation.expires_at,
            accepted_at=invitation.accepted_at,
            accepted_by=invitation.accepted_by,
            revoked_at=invitation.revoked_at,
            revoked_by=invitation.revoked_by,
            **_audit(invitation),
        )


class CreatedInvitationOut(InvitationOut):
    token: str = Field(description="sb_inv_…: give it to the invitee; it is never shown again")


class AcceptedInvitationOut(Model):
    org_id: str = Field(description="The organization joined")
    membership: OrgMemberOut
    user: UserOut
    token: CreatedTokenOut | None = Field(
        description="A new user's first personal access token (shown once); null for an existing user"
    )


class ProjectOut(Audited):
    id: str
    org_id: str
    name: str
    description: str

    @classmethod
    def of(cls, project: Project) -> ProjectOut:
        return cls(
            id=project.id,
            org_id=project.org_id,
            name=project.name,
            description=project.description,
            **_audit(project),
        )


class ProjectMemberOut(Audited):
    user_id: str
    email: str
    role: ProjectRole

    @classmethod
    def of(cls, member: ProjectMembership) -> ProjectMemberOut:
        return cls(user_id=member.user_id, email=member.email, role=member.role, **_audit(member))


class ConnectionOut(Audited):
    id: str
    project_id: str
    name: str
    type: str
    config: dict[str, Any] = Field(description="Non-secret config fields")
    secret_fields: list[str] = Field(
        description="Names of the secret fields (write-only; values never returned)"
    )
    authorized: bool | None = Field(
        default=None, description="An oauth2 connection's: whether it holds tokens (null for other types)"
    )
    upstream: UpstreamIdentity | None = Field(
        default=None, description="An oauth2 connection's account at the provider (non-secret)"
    )
    authorized_at: datetime | None = None
    authorization_event: str | None = Field(
        default=None, description="An oauth2 connection's last authorization decision, in words"
    )

    @classmethod
    def of(cls, connection: Connection) -> ConnectionOut:
        authorization = connection.authorization
        return cls(
            id=connection.id,
            project_id=connection.project_id,
            name=connection.name,
            type=connection.type,
            config=connection.config,
            secret_fields=connection.secret_fields,
            authorized=(
                authorization is not None and authorization.authorized_at is not None
                if connection.type == "oauth2"
                else None
            ),
            upstream=authorization.upstream if authorization is not None else None,
            authorized_at=authorization.authorized_at if authorization is not None else None,
            authorization_event=authorization.last_event if authorization is not None else None,
            **_audit(connection),
        )


class ConnectionAuthorizationOut(Model):
    authorization_url: str = Field(description="The provider's authorization page for the builder to open")
    expires_at: datetime = Field(description="When the authorization's state expires (10 minutes)")


class WorkflowOut(Audited):
    id: str
    project_id: str
    name: str
    description: str
    latest_version: int

    @classmethod
    def of(cls, workflow: Workflow) -> WorkflowOut:
        return cls(
            id=workflow.id,
            project_id=workflow.project_id,
            name=workflow.name,
            description=workflow.description,
            latest_version=workflow.latest_version,
            **_audit(workflow),
        )


class VersionOut(Model):
    workflow_id: str
    number: int
    description: str
    definition: dict[str, Any]
    connection_ids: list[str]
    requirement_ids: list[str]
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, version: WorkflowVersion) -> VersionOut:
        return cls.model_validate(version.model_dump())


class WorkflowWithVersionOut(WorkflowOut):
    version: VersionOut


class EndpointsOut(Model):
    path: str = Field(description="Path-addressed endpoint, always available")
    host: str | None = Field(description="Host-addressed endpoint when an Apps domain is configured")


class CurrentDeploymentOut(Model):
    id: str
    sequence: int
    version: int
    deployed_at: datetime
    deployed_by: str


class AppOut(Audited):
    id: str
    project_id: str
    workflow_id: str
    name: str
    access: AppAccess
    endpoints: EndpointsOut
    deployment: CurrentDeploymentOut | None
    event_url: str | None = Field(description="Receives the App's link.* events, signed like callbacks")
    connect_return_urls: list[str] = Field(
        description="Where the hosted connect page may send end users back (exactly, or under one that "
        "ends in /)"
    )
    run_timeout_seconds: int = Field(description="The whole time a run may take (deadline_exceeded past it)")
    sync_wait_seconds: int = Field(description="How long a synchronous request waits before answering 202")

    @classmethod
    def of(cls, app: App) -> AppOut:
        settings = get_settings()
        base = settings.apps_base_url.rstrip("/")
        scheme = base.split("://", 1)[0] if "://" in base else "https"
        host = f"{scheme}://{app.id}.{settings.apps_domain}/" if settings.apps_domain else None
        return cls(
            id=app.id,
            project_id=app.project_id,
            workflow_id=app.workflow_id,
            name=app.name,
            access=app.access,
            endpoints=EndpointsOut(path=f"{base}/apps/{app.id}/", host=host),
            deployment=CurrentDeploymentOut.model_validate(app.deployment.model_dump())
            if app.deployment
            else None,
            event_url=app.event_url,
            connect_return_urls=app.connect_return_urls,
            run_timeout_seconds=app.run_timeout_seconds,
            sync_wait_seconds=app.sync_wait_seconds,
            **_audit(app),
        )


class CreatedAppOut(AppOut):
    signing_secret: str = Field(
        description="Standard Webhooks secret (whsec_…) that signs this App's callbacks; store it now, it is "
        "never shown again (rotate it with POST /v1/apps/{id}/signing-secret)"
    )

    @classmethod
    def of_new(cls, app: App, signing_secret: str) -> CreatedAppOut:
        return cls(**AppOut.of(app).model_dump(), signing_secret=signing_secret)


class SigningSecretOut(Model):
    app_id: str
    signing_secret: str = Field(
        description="The new Standard Webhooks secret (whsec_…); store it now, it is never shown again"
    )
    rotated_at: datetime


class DeploymentOut(Model):
    id: str
    app_id: str
    sequence: int
    workflow_id: str
    version: int
    kind: Literal["deploy", "rollback"]
    status: str
    active: bool = Field(description="True for the deployment currently serving the App")
    deployed_at: datetime
    deployed_by: str

    @classmethod
    def of(cls, deployment: Deployment, current_id: str | None) -> DeploymentOut:
        return cls(**deployment.model_dump(), active=deployment.id == current_id)


class AppDeploymentOut(Model):
    app: AppOut
    deployment: DeploymentOut


class TriggerOut(Audited):
    id: str
    app_id: str
    name: str = Field(description="Unique within the App; never changes")
    type: TriggerType
    config: dict[str, Any] = Field(
        description="schedule: {cron | rate | run_at, timezone, starts_at?, ends_at?}, every time in "
        "UTC; webhook: {}",
    )
    input: dict[str, Any] | None = Field(description="Static input of every run the trigger starts")
    input_transformer: str | None = Field(
        description="JMESPath over the event (schedules: {scheduled_time, execution_id, trigger: {id, "
        "name}}); the object it yields is merged over input"
    )
    user_id: str | None = Field(
        description="The end user the runs act for (their links satisfy requirements)"
    )
    enabled: bool
    webhook_url: str | None = Field(
        description="webhook triggers: where the sender posts events, signed with the Standard Webhooks "
        "scheme"
    )

    @classmethod
    def of(cls, trigger: Trigger) -> TriggerOut:
        return cls(
            id=trigger.id,
            app_id=trigger.app_id,
            name=trigger.name,
            type=trigger.type,
            config=trigger.config.model_dump(mode="json", exclude_none=True),
            input=trigger.input,
            input_transformer=trigger.input_transformer,
            user_id=trigger.user_id,
            enabled=trigger.enabled,
            webhook_url=webhook_url(trigger) if trigger.type is TriggerType.webhook else None,
            **_audit(trigger),
        )


class CreatedTriggerOut(TriggerOut):
    signing_secret: str | None = Field(
        description="webhook triggers: the Standard Webhooks secret (whsec_…) the sender signs with; "
        "store it now, it is never shown again"
    )

    @classmethod
    def of_new(cls, trigger: Trigger, signing_secret: str | None) -> CreatedTriggerOut:
        return cls(**TriggerOut.of(trigger).model_dump(), signing_secret=signing_secret)


class TriggerEventOut(Model):
    id: str
    trigger_id: str
    received_at: datetime
    status: TriggerEventStatus = Field(
        description="accepted: a run started; rejected: the event could not start one (see reason); "
        "skipped: the trigger was disabled"
    )
    reason: str | None
    run_id: str | None = Field(description="The run it started (accepted events)")

    @classmethod
    def of(cls, event: TriggerEvent) -> TriggerEventOut:
        return cls(
            id=event.id,
            trigger_id=event.trigger_id,
            received_at=event.received_at,
            status=event.status,
            reason=event.reason,
            run_id=event.run_id,
        )


class TriggerEventDetailOut(TriggerEventOut):
    payload: Any = Field(
        description="The raw event: a webhook's body (JSON when it is JSON, else text); for schedules "
        "{scheduled_time, execution_id}"
    )

    @classmethod
    def of_event(cls, event: TriggerEvent) -> TriggerEventDetailOut:
        return cls(**TriggerEventOut.of(event).model_dump(), payload=event.payload)
