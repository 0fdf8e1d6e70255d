"""Bases of Switchboard's pydantic models.

Every model defers building its validator and serializer (``defer_build``) until it is first used: a cold
start then builds only the models its request needs, not every model the handler module can reach (that
was about a fifth of an API function's cold import). The JSON Schema of a deferred model is built the same
way when the OpenAPI document asks for it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Base of the models that have no more specific base (views, requests of the runtime)."""

    model_config = ConfigDict(defer_build=True)


class Record(Model):
    """A stored record: attributes it does not declare (table keys, bookkeeping) are ignored."""

    model_config = ConfigDict(extra="ignore")
