"""Who is calling: the result of authenticating a bearer token."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.domain.models import TokenKind


@dataclass(frozen=True)
class Principal:
    kind: TokenKind
    token_id: str
    user_id: str | None = None
    org_id: str | None = None
    project_id: str | None = None

    @property
    def actor(self) -> str:
        """The identity recorded in audit fields (who made a change)."""
        return self.user_id or self.token_id
