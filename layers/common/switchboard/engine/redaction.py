"""Credential secrets never leave the engine: every value that does goes through a ``Redactor`` first.

A secret is replaced as a whole (never a part of it), wherever it appears, also inside a longer string, and
also in the encodings an upstream is likely to echo it back in (URL-encoded in a query string, JSON-escaped
inside a body). Secrets have at least ``MIN_SECRET_LENGTH`` characters (saving refuses shorter ones), so
they do not occur by chance in unrelated text. A shorter one saved before that rule (``conn``) is replaced
only where it stands on its own, never inside a longer word or name (``Connection``, ``reconnect``,
``x-conn``), so redaction does not garble unrelated names and values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from switchboard.domain.connection_types import CONNECTION_TYPES, MIN_SECRET_LENGTH
from switchboard.engine.contracts import REDACTED, Credential, EventSink, RunContext


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._forms: dict[str, bool] = {}
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Redact these too from now on (a credential refreshed during the run)."""
        forms = dict(self._forms)
        for secret in secrets:
            if secret:
                short = len(secret) < MIN_SECRET_LENGTH
                for form in (secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]):
                    forms[form] = forms.get(form, True) and short
        # Longest first, so a secret that contains another is replaced as a whole.
        ordered = sorted(forms, key=len, reverse=True)
        alternatives = [_standing_alone(form) if forms[form] else re.escape(form) for form in ordered]
        self._forms = forms
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None

    def add_credential(self, credential: Credential) -> None:
        self.add(_secrets(credential))

    @classmethod
    def from_context(cls, context: RunContext) -> Redactor:
        return cls(secret for credential in context.credentials.values() for secret in _secrets(credential))

    def text(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)

    def value(self, value: Any) -> Any:
        """A copy of a JSON-like value with every secret replaced, in keys as well as in values."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(key): self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value


def _standing_alone(form: str) -> str:
    """``form``, but not where a letter, a digit, ``_``, ``-`` or ``.`` goes on from one of its alphanumeric
    ends: so not inside a word or a name (``Connection``, ``x-conn``, ``conn.example``)."""
    pattern = re.escape(form)
    if form[0].isalnum():
        pattern = r"(?<![\w.-])" + pattern
    if form[-1].isalnum():
        pattern += r"(?![\w.-])"
    return pattern


class RedactingSink:
    """The run's event sink, behind the redactor: no event carries a secret."""

    def __init__(self, sink: EventSink, redactor: Redactor) -> None:
        self._sink = sink
        self._redactor = redactor

    def emit(self, event_type: str, data: Mapping[str, Any]) -> None:
        self._sink.emit(event_type, self._redactor.value(dict(data)))


def _secrets(credential: Credential) -> Iterable[str]:
    """The declared secret values, plus the secret fields of the config: a safety net, not a substitute."""
    yield from credential.secret_values
    model = CONNECTION_TYPES.get(credential.connection_type)
    if model is None:
        return
    for name in model.secret_field_names():
        value = credential.config.get(name)
        if isinstance(value, str):
            yield value
        elif isinstance(value, Mapping):
            yield from (item for item in value.values() if isinstance(item, str))
