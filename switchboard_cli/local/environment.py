"""One process environment for every function of the local stack.

On AWS each function has its own environment; locally the stack puts the union of every function's resolved
variables into ``os.environ`` before it starts any execution environment, and every worker process starts
with that environment.
Values that come from shared ``Ref``s (table names, the secret prefix) are identical everywhere. Variables a
function sets for itself can collide: ``POWERTOOLS_SERVICE_NAME`` is one ``switchboard-local`` for all (the
Powertools singletons live in the shared common layer anyway); any other collision keeps the first
function's value (template order) and is reported once at start. Template values win over whatever the shell
had, because the template is the single source of truth; ``LOCAL_DEFAULTS`` only fill gaps.

Switches. ``switchboard local serve --allow-loopback-egress`` (or its older name
``--allow-loopback-callbacks``) pins ``ALLOW_LOOPBACK_EGRESS=true`` (and the older
``ALLOW_LOOPBACK_CALLBACKS``) for every function, so nodes, callbacks and deliveries may reach the
developer's own machine (``http://127.0.0.1:…``); without it both are pinned to ``false``, whatever the shell
holds. The command hands the switch to the stack it starts in the same process through
``LOOPBACK_EGRESS_SWITCH``, which it always sets.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass

from switchboard_cli.local.functions import FunctionSpec

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
"""Always set: whatever the shell holds, nothing in the local process may be able to reach a real account."""

UNSET_FOR_LOCAL = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL")
"""A profile that does not exist locally breaks boto3, and the shell's endpoint is not moto's server (the
stack sets ``AWS_ENDPOINT_URL`` to it once it runs); a service's own endpoint
(``AWS_ENDPOINT_URL_<SERVICE>``) would win over it, so those go too."""
_SERVICE_ENDPOINT_PREFIX = "AWS_ENDPOINT_URL_"

DEFAULT_REGION = "us-east-1"

LOCAL_OVERRIDES = {
    "POWERTOOLS_SERVICE_NAME": "switchboard-local",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
}

LOCAL_DEFAULTS = {"POWERTOOLS_METRICS_NAMESPACE": "Switchboard"}

LOOPBACK_VARIABLES = ("ALLOW_LOOPBACK_EGRESS", "ALLOW_LOOPBACK_CALLBACKS")
LOOPBACK_EGRESS_SWITCH = "SWITCHBOARD_LOCAL_ALLOW_LOOPBACK_EGRESS"


@dataclass(frozen=True)
class SharedEnvironment:
    variables: dict[str, str]
    collisions: dict[str, dict[str, str]]
    """Variable name → {function logical id → its value}, for names whose values differ."""


def shared_environment(specs: Iterable[FunctionSpec], overrides: Mapping[str, str]) -> SharedEnvironment:
    variables: dict[str, str] = {}
    seen: dict[str, dict[str, str]] = {}
    for spec in specs:
        for name, value in spec.environment.items():
            seen.setdefault(name, {})[spec.logical_id] = value
            variables.setdefault(name, value)
    pinned = {**LOCAL_OVERRIDES, **overrides}
    collisions = {
        name: values for name, values in seen.items() if len(set(values.values())) > 1 and name not in pinned
    }
    return SharedEnvironment({**LOCAL_DEFAULTS, **variables, **pinned}, collisions)


def set_switches(*, allow_loopback_egress: bool, target: MutableMapping[str, str] | None = None) -> None:
    """Record the command's switches for the local stack it is about to start."""
    target = os.environ if target is None else target
    target[LOOPBACK_EGRESS_SWITCH] = "true" if allow_loopback_egress else "false"


def switch_overrides(source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables the switches pin for every function: loopback egress stays off unless switched on."""
    source = os.environ if source is None else source
    allowed = source.get(LOOPBACK_EGRESS_SWITCH, "").lower() == "true"
    return dict.fromkeys(LOOPBACK_VARIABLES, "true" if allowed else "false")


def local_region(source: Mapping[str, str] | None = None) -> str:
    source = os.environ if source is None else source
    return source.get("AWS_DEFAULT_REGION") or source.get("AWS_REGION") or DEFAULT_REGION


def isolate_from_aws(target: MutableMapping[str, str] | None = None) -> None:
    """Fake credentials and a region, before moto starts and before any boto3 client exists."""
    target = os.environ if target is None else target
    region = local_region(target)
    for name in [*UNSET_FOR_LOCAL, *(name for name in target if name.startswith(_SERVICE_ENDPOINT_PREFIX))]:
        target.pop(name, None)
    target.update(FAKE_CREDENTIALS)
    target["AWS_DEFAULT_REGION"] = target["AWS_REGION"] = region


def apply(environment: SharedEnvironment, target: MutableMapping[str, str] | None = None) -> None:
    target = os.environ if target is None else target
    target.update(environment.variables)
