"""Credentials: the contract between the executor and the credentials function, its client, and resolving.

The names below are the package's face; each loads its module on first use, so a function importing one
never loads the package's other modules. (No name of the face is the name of a module of the package: an
imported module would shadow it.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.runtime import lazy_face

if TYPE_CHECKING:
    from switchboard.runtime.credentials.resolving import answer

_HOMES = {
    "answer": "resolving",
}

__all__ = [
    "answer",
]

__getattr__ = lazy_face(__name__, _HOMES)
