"""Form fields derived from the connection types' config models (no AWS)."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from switchboard.connect_page import FieldKind, FormField, form_fields
from switchboard.domain.connection_types import (
    CONNECTION_TYPES,
    HttpApiKeyConfig,
    HttpConfig,
    OpenAIConfig,
    PostgresConfig,
)


def _by_name(fields: tuple[FormField, ...]) -> dict[str, FormField]:
    return {field.name: field for field in fields}


ENTERED_TYPES = sorted(name for name, model in CONNECTION_TYPES.items() if model.entered_by_end_users)


def test_only_the_oauth_types_are_not_entered_by_end_users() -> None:
    assert set(CONNECTION_TYPES) - set(ENTERED_TYPES) == {"oauth2", "oauth2_app"}


@pytest.mark.parametrize("connection_type", ENTERED_TYPES)
def test_every_entered_connection_type_has_a_form_covering_all_its_fields(connection_type: str) -> None:
    model = CONNECTION_TYPES[connection_type]
    fields = form_fields(model)
    assert [field.name for field in fields] == list(model.model_fields)
    # Every secret field of the model, and nothing else, is entered without echo.
    assert {field.name for field in fields if field.secret} == set(model.secret_field_names())
    assert all(field.default == "" for field in fields if field.secret)


def test_http_api_key_fields() -> None:
    fields = _by_name(form_fields(HttpApiKeyConfig))
    assert fields["url"] == FormField(name="url", label="URL", kind=FieldKind.url, required=True)
    assert fields["api_key"].kind is FieldKind.password
    assert fields["api_key"].required
    assert fields["api_key"].label == "API key"
    assert (fields["header"].kind, fields["header"].required) == (FieldKind.text, False)
    assert (fields["header"].default, fields["header"].max_length) == ("Authorization", 128)
    assert fields["scheme"].default == "Bearer"
    assert fields["scheme"].help == "Prefix before the key; empty for none."


def test_http_fields_turn_dicts_into_lines_and_json_and_the_method_into_a_choice() -> None:
    fields = _by_name(form_fields(HttpConfig))
    assert fields["method"].kind is FieldKind.choice
    assert fields["method"].choices == ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
    assert fields["method"].default == "GET"
    assert fields["headers"].kind is FieldKind.secret_lines
    assert fields["headers"].help.startswith("Sent with every request; secret. One per line, as Name: value.")
    assert fields["params"].kind is FieldKind.lines
    assert fields["data"].kind is FieldKind.json
    assert not any(fields[name].required for name in ("method", "headers", "params", "data"))


def test_optional_fields_are_not_required_and_have_no_default_text() -> None:
    fields = _by_name(form_fields(OpenAIConfig))
    assert (fields["base_url"].kind, fields["base_url"].required, fields["base_url"].default) == (
        FieldKind.url,
        False,
        "",
    )
    assert (fields["organization"].kind, fields["organization"].required) == (FieldKind.text, False)


def test_postgres_port_is_a_bounded_number_with_its_default() -> None:
    port = _by_name(form_fields(PostgresConfig))["port"]
    assert (port.kind, port.default, port.minimum, port.maximum) == (FieldKind.number, "5432", 1, 65535)
    assert port.required is False


def test_a_literal_is_a_choice_and_a_title_beats_the_derived_label() -> None:
    class Custom(BaseModel):
        region: Literal["eu", "us"] = Field(title="Data region")

    (region,) = form_fields(Custom)
    assert (region.kind, region.choices, region.label, region.required) == (
        FieldKind.choice,
        ("eu", "us"),
        "Data region",
        True,
    )


def test_a_type_the_form_cannot_enter_is_refused_loudly() -> None:
    class Nested(BaseModel):
        tags: list[str]

    with pytest.raises(TypeError, match="'tags'"):
        form_fields(Nested)
