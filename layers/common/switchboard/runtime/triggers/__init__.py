"""Triggers: managing them, their schedules and secrets, the trigger function's contract and client,
firing.

The names below are the package's face; each loads its module on first use, so a function importing one
never loads the package's other modules. (No name of the face is the name of a module of the package: an
imported module would shadow it.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.runtime import lazy_face

if TYPE_CHECKING:
    from switchboard.runtime.triggers.contract import MAX_WEBHOOK_BODY_BYTES, EventStatus, webhook_delivery
    from switchboard.runtime.triggers.firing import answer
    from switchboard.runtime.triggers.managing import webhook_url

_HOMES = {
    "EventStatus": "contract",
    "MAX_WEBHOOK_BODY_BYTES": "contract",
    "webhook_delivery": "contract",
    "answer": "firing",
    "webhook_url": "managing",
}

__all__ = [
    "MAX_WEBHOOK_BODY_BYTES",
    "EventStatus",
    "answer",
    "webhook_delivery",
    "webhook_url",
]

__getattr__ = lazy_face(__name__, _HOMES)
