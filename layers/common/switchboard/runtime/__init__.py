"""The use cases, one package per capability (see docs/architecture.md for the map).

Each capability package's ``__init__`` is its public face: the names handlers import, each loaded from its
module on first use (``lazy_face``), so importing a face loads none of the package's modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_face(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name of ``homes`` comes from its module, loaded on first
    use."""

    def face_attribute(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{home}"), name)

    return face_attribute
