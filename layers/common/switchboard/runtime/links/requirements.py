"""Which of an App's requirements an end user has satisfied: the status endpoint, the connect API's listing
and the pre-flight of every run.

Requirements are those of the App's deployed version; the user's links come from one Query. An ``active``
link past its ``expires_at`` is recorded ``expired`` right here (lazy expiry, see
``switchboard.runtime.links.linking``). A requirement without a link is ``missing``; so is one whose link
has a connection type the requirement no longer takes (a later version changed it).

An unsatisfied requirement carries a ``connect_url`` only when the caller holds an access key: one connect
token is minted per call for the user, and each entry points at its requirement on the hosted page. An
anonymous caller of a public App gets none, or anyone could link credentials for any user.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from switchboard.auth.principal import Principal
from switchboard.domain.base import Model
from switchboard.domain.errors import Conflict, RequirementNotSatisfied
from switchboard.domain.ids import utcnow
from switchboard.domain.models import App, TokenKind
from switchboard.domain.runs import Link, LinkStatus, UpstreamIdentity
from switchboard.runtime.links.connect_tokens import issue_connect_token
from switchboard.runtime.links.linking import deployed_requirements, expire_if_due
from switchboard.store import links

if TYPE_CHECKING:
    from switchboard.engine.definition import Requirement, WorkflowDefinition

RequirementState = Literal["active", "missing", "expired", "unauthorized", "revoked"]
_STATE: dict[LinkStatus, RequirementState] = {
    LinkStatus.active: "active",
    LinkStatus.expired: "expired",
    LinkStatus.unauthorized: "unauthorized",
    LinkStatus.revoked: "revoked",
}


class RequirementForm(Model):
    title: str = Field(description="Shown to the end user when asked to connect")
    description: str


class RequirementEntry(Model):
    """One requirement of the App and where the user stands with it."""

    id: str
    name: str
    type: Literal["connection"] = "connection"
    connection_type: str
    form: RequirementForm
    workflow_id: str
    status: RequirementState = Field(description="missing: never linked (or linked as another type)")
    reason: str | None = Field(default=None, description="Why the link is not active, when it is not")
    linked_at: datetime | None = None
    last_used_at: datetime | None = None
    upstream: UpstreamIdentity | None = Field(
        default=None, description="An OAuth link's account at the provider (sub, email or login, name)"
    )
    connect_url: str | None = Field(
        default=None,
        description="Unsatisfied ones, for a caller with an access key: the hosted connect page for this "
        "user, at this requirement",
    )

    @property
    def satisfied(self) -> bool:
        return self.status == LinkStatus.active.value


class RequirementsStatus(Model):
    status: Literal["complete", "incomplete"]
    requirements: list[RequirementEntry] = Field(description="Every requirement, in declaration order")
    unsatisfied: list[RequirementEntry] = Field(description="Those not linked and active, with connect_url")


def requirement_status(app: App, user_id: str, *, connect_url_for: Principal | None) -> RequirementsStatus:
    """The user's status for every requirement of the App's deployed version (409 when not deployed)."""
    if app.deployment is None:
        raise Conflict("the App has no deployment", code="app_not_deployed")
    return _evaluate(app, deployed_requirements(app), user_id, connect_url_for)


def check_requirements(
    app: App, definition: WorkflowDefinition, user_id: str | None, principal: Principal | None
) -> None:
    """The pre-flight of a run of ``definition``: no requirement, no AWS call; 422
    ``requirement_not_satisfied`` without a user_id, or with any requirement unsatisfied (``details``:
    ``{"requirements": [the unsatisfied entries], "status": "incomplete"}``)."""
    if not definition.requirements:
        return
    if user_id is None:
        entries = [_entry(app, requirement, None) for requirement in definition.requirements]
        raise RequirementNotSatisfied(
            "this App's workflow has requirements: send the user_id of the end user the run acts for",
            details=_details(entries),
        )
    status = _evaluate(app, definition.requirements, user_id, principal)
    if status.unsatisfied:
        raise RequirementNotSatisfied(
            "the user has not linked every connection this App needs", details=_details(status.unsatisfied)
        )


def _details(entries: list[RequirementEntry]) -> dict[str, object]:
    return {"requirements": [entry.model_dump(mode="json") for entry in entries], "status": "incomplete"}


def _evaluate(
    app: App, requirements: list[Requirement], user_id: str, connect_url_for: Principal | None
) -> RequirementsStatus:
    if not requirements:
        return RequirementsStatus(status="complete", requirements=[], unsatisfied=[])
    now = utcnow()
    linked = {link.requirement_id: link for link in links.list_user_links(app.id, user_id)}
    entries = [
        _entry(app, requirement, _current(app, linked.get(requirement.id), now))
        for requirement in requirements
    ]
    unsatisfied = [entry for entry in entries if not entry.satisfied]
    if unsatisfied and connect_url_for is not None and connect_url_for.kind is TokenKind.access_key:
        url = issue_connect_token(app, connect_url_for, user_id).url
        for entry in unsatisfied:
            entry.connect_url = f"{url}#{entry.id}"
    return RequirementsStatus(
        status="incomplete" if unsatisfied else "complete", requirements=entries, unsatisfied=unsatisfied
    )


def _current(app: App, link: Link | None, now: datetime) -> Link | None:
    return expire_if_due(app, link, now) if link is not None else None


def _entry(app: App, requirement: Requirement, link: Link | None) -> RequirementEntry:
    status: RequirementState = "missing"
    reason: str | None = None
    if link is not None and link.connection_type != requirement.connection_type:
        reason = (
            f"linked as '{link.connection_type}'; the requirement now needs '{requirement.connection_type}'"
        )
    elif link is not None:
        status = _STATE[link.status]
        reason = link.status_reason if link.status is not LinkStatus.active else None
    return RequirementEntry(
        id=requirement.id,
        name=requirement.name,
        type=requirement.type,
        connection_type=requirement.connection_type,
        form=RequirementForm(title=requirement.title, description=requirement.description),
        workflow_id=app.workflow_id,
        status=status,
        reason=reason,
        linked_at=link.linked_at if link is not None else None,
        last_used_at=link.last_used_at if link is not None else None,
        upstream=link.upstream if link is not None else None,
    )
