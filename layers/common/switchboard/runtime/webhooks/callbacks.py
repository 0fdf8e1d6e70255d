"""Run callbacks: what an async run's caller asks to be told when it ends.

Each callback is ``{url, auth?: {type: "bearer", token}, metadata?}``; a run has at most five. The URL must
pass the egress guard (``switchboard.egress``, https only) (checked here and again at every delivery).

The bearer token is the caller's secret for their own endpoint. It is stored on the run record (``stored``
form) only until the run ends, then on the delivery records only until each delivery is final; everything
shown or logged uses ``public_view``, which never carries it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, SecretStr, ValidationError, field_validator

from switchboard.domain.base import Model
from switchboard.domain.errors import ValidationFailed, problem, validation_details
from switchboard.egress import MAX_URL_LENGTH, EgressRefused, check_url, current_policy

MAX_CALLBACKS = 5
MAX_METADATA_BYTES = 4096
MAX_TOKEN_LENGTH = 4096


class CallbackAuth(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["bearer"]
    token: SecretStr = Field(min_length=1, max_length=MAX_TOKEN_LENGTH)

    @field_validator("token")
    @classmethod
    def _header_safe(cls, token: SecretStr) -> SecretStr:
        value = token.get_secret_value()
        if not all(0x21 <= ord(c) <= 0x7E for c in value):
            raise ValueError("the token must be visible ASCII characters without spaces")
        return token


class Callback(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH)
    auth: CallbackAuth | None = None
    metadata: dict[str, Any] | None = Field(
        default=None, description=f"Echoed in the delivered body; at most {MAX_METADATA_BYTES} bytes as JSON"
    )

    @field_validator("metadata")
    @classmethod
    def _bounded(cls, metadata: dict[str, Any] | None) -> dict[str, Any] | None:
        if metadata is not None and len(json.dumps(metadata).encode()) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
        return metadata

    @property
    def bearer_token(self) -> str | None:
        return self.auth.token.get_secret_value() if self.auth else None

    def stored(self) -> dict[str, Any]:
        """The form kept on the run record until the run ends: the only form that holds the token."""
        stored: dict[str, Any] = {"url": self.url}
        if self.auth is not None:
            stored["auth"] = {"type": self.auth.type, "token": self.auth.token.get_secret_value()}
        if self.metadata is not None:
            stored["metadata"] = self.metadata
        return stored


class _Callbacks(Model):
    model_config = ConfigDict(extra="forbid")

    callbacks: list[Callback] = Field(max_length=MAX_CALLBACKS)


def public_view(callback: Mapping[str, Any]) -> dict[str, Any]:
    """A stored callback as it may be shown: ``auth`` keeps only its type, never the token."""
    view = {name: value for name, value in callback.items() if name in ("url", "metadata")}
    auth = callback.get("auth")
    if isinstance(auth, Mapping):
        view["auth"] = {"type": auth.get("type", "bearer")}
    return view


def parse_stored(callbacks: list[dict[str, Any]]) -> list[Callback]:
    """Callbacks back from the run record (already validated when the run was created)."""
    return _Callbacks.model_validate({"callbacks": callbacks}).callbacks


def validate_callbacks(raw: Any) -> list[Callback]:
    """The ``callbacks`` field of a run request, checked: structure, then each URL (resolved).

    Raises ``ValidationFailed`` (422) whose details are ``{"loc": ["callbacks", i, field…], "code",
    "message"}``; submitted values (URLs, tokens) are never echoed.
    """
    try:
        callbacks = _Callbacks.model_validate({"callbacks": raw}).callbacks
    except ValidationError as error:
        raise ValidationFailed("the callbacks are invalid", details=validation_details(error)) from None
    policy = current_policy()
    problems: list[dict[str, Any]] = []
    for index, callback in enumerate(callbacks):
        try:
            check_url(callback.url, policy, https_only=True)
        except EgressRefused as rejected:
            problems.append(problem(["callbacks", index, "url"], rejected.code, rejected.message))
    if problems:
        raise ValidationFailed("the callbacks are invalid", details=problems)
    return callbacks
