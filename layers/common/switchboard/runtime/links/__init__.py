"""Links: requirements, connect tokens, end users' links, their lifecycle and their events.

The names below are the package's face; each loads its module on first use, so a function importing one
never loads the package's other modules. (No name of the face is the name of a module of the package: an
imported module would shadow it.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.runtime import lazy_face

if TYPE_CHECKING:
    from switchboard.runtime.links.connect_tokens import (
        MAX_TTL_SECONDS,
        MIN_TTL_SECONDS,
        ConnectGrant,
        allowed_return_url,
        check_csrf,
        csrf_token,
        current_base_url,
        grant_for,
        return_destination,
        serving_at,
    )
    from switchboard.runtime.links.hosted_page import (
        FormPost,
        Page,
        PageEntry,
        Rejected,
        Submitted,
        start_from_page,
        submit_form,
        visit_page,
    )
    from switchboard.runtime.links.linking import LinkView, declared_requirement, link_credentials
    from switchboard.runtime.links.requirements import (
        RequirementEntry,
        RequirementsStatus,
        requirement_status,
    )

_HOMES = {
    "ConnectGrant": "connect_tokens",
    "MAX_TTL_SECONDS": "connect_tokens",
    "MIN_TTL_SECONDS": "connect_tokens",
    "allowed_return_url": "connect_tokens",
    "check_csrf": "connect_tokens",
    "csrf_token": "connect_tokens",
    "current_base_url": "connect_tokens",
    "grant_for": "connect_tokens",
    "return_destination": "connect_tokens",
    "serving_at": "connect_tokens",
    "FormPost": "hosted_page",
    "Page": "hosted_page",
    "PageEntry": "hosted_page",
    "Rejected": "hosted_page",
    "Submitted": "hosted_page",
    "start_from_page": "hosted_page",
    "submit_form": "hosted_page",
    "visit_page": "hosted_page",
    "LinkView": "linking",
    "declared_requirement": "linking",
    "link_credentials": "linking",
    "RequirementEntry": "requirements",
    "RequirementsStatus": "requirements",
    "requirement_status": "requirements",
}

__all__ = [
    "MAX_TTL_SECONDS",
    "MIN_TTL_SECONDS",
    "ConnectGrant",
    "FormPost",
    "LinkView",
    "Page",
    "PageEntry",
    "Rejected",
    "RequirementEntry",
    "RequirementsStatus",
    "Submitted",
    "allowed_return_url",
    "check_csrf",
    "csrf_token",
    "current_base_url",
    "declared_requirement",
    "grant_for",
    "link_credentials",
    "requirement_status",
    "return_destination",
    "serving_at",
    "start_from_page",
    "submit_form",
    "visit_page",
]

__getattr__ = lazy_face(__name__, _HOMES)
