"""What the hosted connect page shows: plain data filled in by the handler, turned into HTML by ``render``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal


class FieldKind(StrEnum):
    """How one config field is entered; ``lines`` are textareas of ``Name: value`` lines."""

    text = "text"
    url = "url"
    number = "number"
    choice = "choice"
    password = "password"  # noqa: S105 - a kind of input, not a credential
    lines = "lines"
    secret_lines = "secret_lines"  # noqa: S105 - a kind of input, not a credential
    json = "json"


SECRET_KINDS = frozenset({FieldKind.password, FieldKind.secret_lines})


@dataclass(frozen=True)
class FormField:
    """One input of a requirement's form, derived from a connection type's config model."""

    name: str
    label: str
    kind: FieldKind
    required: bool
    help: str = ""
    default: str = ""
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None

    @property
    def secret(self) -> bool:
        return self.kind in SECRET_KINDS


@dataclass(frozen=True)
class RequirementView:
    """One requirement of the App as this end user sees it.

    ``values`` re-fill non-secret inputs after a failed submit (secret ones are never rendered with a value,
    whatever this holds); ``errors`` map a field name to its message, ``""`` to an error about the whole form.
    """

    id: str
    title: str
    description: str
    connection_type: str
    status: Literal["active", "missing", "expired", "unauthorized", "revoked"]
    csrf: str
    fields: tuple[FormField, ...]
    reason: str | None = None
    linked_at: datetime | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    authorize_url: str | None = None
    """An OAuth requirement's: the page route that sends the user to the provider (no form to fill)."""


@dataclass(frozen=True)
class Notice:
    kind: Literal["success", "error"]
    text: str


@dataclass(frozen=True)
class ConnectPageView:
    """The whole page. ``nonce`` must be the one given to ``security_headers`` for the same response."""

    app_name: str
    token: str
    action: str
    nonce: str
    requirements: tuple[RequirementView, ...]
    notice: Notice | None = None
