"""The control-plane table and the conversions between domain models and its items."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from switchboard.settings import get_settings
from switchboard.store.table import Item, Table

ModelT = TypeVar("ModelT", bound=BaseModel)


def control() -> Table:
    return Table(get_settings().control_table)


def to_item(model: BaseModel, key: dict[str, str], index: dict[str, str] | None = None) -> Item:
    return {**model.model_dump(mode="json", exclude_none=True), **key, **(index or {})}


def from_item(model: type[ModelT], item: dict[str, Any]) -> ModelT:
    return model.model_validate(item)
