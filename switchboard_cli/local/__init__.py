"""The local stack: template.yaml served on this machine, AWS backed by moto's server on 127.0.0.1.

moto is not a runtime dependency of the package: it comes with its optional ``local`` group
(``pip install -e '.[local]'``; ``make serve`` and ``make test`` install it). ``missing_dependencies`` tells,
before anything imports it, which of the group's modules are absent.
"""

from __future__ import annotations

import importlib.util

LOCAL_MODULES = ("moto", "flask", "flask_cors")
"""What the ``local`` dependency group brings: moto, and the web framework its server runs on."""
INSTALL_HINT = "pip install -e '.[local]'  (or: make serve, which installs it)"


def missing_dependencies() -> list[str]:
    """The modules of the ``local`` dependency group that cannot be imported here."""
    return [name for name in LOCAL_MODULES if importlib.util.find_spec(name) is None]
