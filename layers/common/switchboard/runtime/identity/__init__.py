"""Identity: the caller's profile and tokens, organizations, bootstrap, access to Apps.

The names below are the package's face; each loads its module on first use, so a function importing one
never loads the package's other modules. (No name of the face is the name of a module of the package: an
imported module would shadow it.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.runtime import lazy_face

if TYPE_CHECKING:
    from switchboard.runtime.identity.app_access import addressed_app_id, callable_app, describe, granted_app
    from switchboard.runtime.identity.bootstrap import bootstrap_admin

_HOMES = {
    "addressed_app_id": "app_access",
    "callable_app": "app_access",
    "describe": "app_access",
    "granted_app": "app_access",
    "bootstrap_admin": "bootstrap",
}

__all__ = [
    "addressed_app_id",
    "bootstrap_admin",
    "callable_app",
    "describe",
    "granted_app",
]

__getattr__ = lazy_face(__name__, _HOMES)
