"""A submitted connect form parsed back into a connection config, and errors mapped onto fields (no AWS)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from switchboard.connect_page import FieldKind, field_errors, form_config, form_fields, refill_values
from switchboard.domain.connection_types import (
    CONNECTION_TYPES,
    HttpApiKeyConfig,
    HttpConfig,
    OpenAIConfig,
    PostgresConfig,
    parse_config,
)
from switchboard.domain.errors import ValidationFailed

SAMPLES: dict[str, dict[str, Any]] = {
    "http": {
        "url": "https://api.example.com/v1",
        "method": "POST",
        "headers": {"X-Api-Key": "SECRET-header-value", "X-Tenant": "SECRET-acme:eu"},
        "params": {"region": "eu", "empty": ""},
        "data": {"limit": 10, "tags": ["a", "b"]},
    },
    "http_api_key": {
        "url": "https://api.example.com/",
        "api_key": "SECRET-key",
        "header": "X-Key",
        "scheme": "",
    },
    "openai": {"api_key": "SECRET-sk", "base_url": "https://llm.example.com/v1", "organization": "org-1"},
    "postgres": {
        "host": "db.internal",
        "port": 6543,
        "database": "crm",
        "user": "app",
        "password": "SECRET-pw",
    },
}


def _as_browser_submits(model: type[BaseModel], config: dict[str, Any]) -> dict[str, list[str]]:
    """The form body a browser sends for ``config`` typed into the rendered form, plus the hidden inputs."""
    form = {"token": ["sb_ct_x"], "csrf": ["c"], "requirement_id": ["crm"]}
    for field in form_fields(model):
        value = config.get(field.name)
        if field.kind in (FieldKind.lines, FieldKind.secret_lines):
            text = "\r\n".join(f"{name}: {item}" for name, item in (value or {}).items())
        elif field.kind is FieldKind.json:
            text = json.dumps(value) if value is not None else ""
        else:
            text = "" if value is None else str(value)
        form[field.name] = [text]
    return form


@pytest.mark.parametrize("connection_type", sorted(SAMPLES))
def test_a_submitted_form_round_trips_to_the_config_it_was_filled_with(connection_type: str) -> None:
    # Given a config typed into the form of its connection type
    model = CONNECTION_TYPES[connection_type]
    expected = parse_config(connection_type, SAMPLES[connection_type])
    # When the browser's submission is parsed back and validated
    config = form_config(model, _as_browser_submits(model, SAMPLES[connection_type]))
    parsed = parse_config(connection_type, config)
    # Then the config is the one that was entered, secrets included
    assert parsed.public_part() == expected.public_part()
    assert parsed.secret_part() == expected.secret_part()


def test_lines_become_a_dict_and_numbers_an_int() -> None:
    form = {
        "headers": ["Authorization: Bearer SECRET-a:b\r\n\r\n  X-Two :  2  \n"],
        "url": ["https://a.example"],
    }
    assert form_config(HttpConfig, form) == {
        "url": "https://a.example",
        "headers": {"Authorization": "Bearer SECRET-a:b", "X-Two": "2"},
    }
    assert form_config(PostgresConfig, {"port": [" 5433 "]}) == {"port": 5433}


def test_empty_optional_fields_are_omitted_so_the_defaults_apply() -> None:
    form = {"api_key": ["SECRET-k"], "base_url": [""], "organization": ["  "]}
    assert form_config(OpenAIConfig, form) == {"api_key": "SECRET-k"}
    http = {"url": ["https://a.example"], "headers": [""], "params": ["\r\n"], "data": [""], "method": [""]}
    assert HttpConfig.model_validate(form_config(HttpConfig, http)).method == "GET"
    assert form_config(PostgresConfig, {"port": [""]}) == {}


def test_a_cleared_text_field_with_a_default_is_an_explicit_empty_value() -> None:
    # Given a user who clears the pre-filled "Bearer" scheme ("empty for none")
    form = {"url": ["https://a.example"], "api_key": ["SECRET-k"], "scheme": [""]}
    # Then the key is sent without a prefix, rather than falling back to "Bearer"
    assert form_config(HttpApiKeyConfig, form)["scheme"] == ""
    assert HttpApiKeyConfig.model_validate(form_config(HttpApiKeyConfig, form)).scheme == ""


def test_an_empty_required_field_is_left_for_the_model_to_report_as_missing() -> None:
    config = form_config(PostgresConfig, {"host": [""], "password": [""]})
    assert config == {}
    with pytest.raises(ValidationFailed) as raised:
        parse_config("postgres", config)
    errors = field_errors(raised.value.details)
    assert set(errors) == {"host", "database", "user", "password"}
    assert errors["password"] == "Field required"


def test_malformed_values_are_reported_per_field_without_quoting_them() -> None:
    # Given a submission with a bad line, a duplicate name, a non-number and a non-object JSON
    form = {
        "url": ["https://a.example"],
        "headers": ["X-Key: SECRET-one\nSECRET-no-colon-here"],
        "params": ["a: 1\na: 2"],
        "data": ["[1, 2]"],
    }
    # When it is parsed
    with pytest.raises(ValidationFailed) as raised:
        form_config(HttpConfig, form)
    # Then each field has its own error, in parse_config's shape, and no message repeats the input
    assert raised.value.details == [
        {
            "loc": ["config", "headers"],
            "code": "line_invalid",
            "message": "Line 2 is not in the form Name: value.",
        },
        {
            "loc": ["config", "params"],
            "code": "line_duplicate",
            "message": "Line 2 repeats the name on an earlier line.",
        },
        {
            "loc": ["config", "data"],
            "code": "json_invalid",
            "message": 'Enter a JSON object, like {"name": "value"}.',
        },
    ]
    assert "SECRET-" not in str(raised.value.details)
    with pytest.raises(ValidationFailed) as number:
        form_config(PostgresConfig, {"port": ["54x"]})
    assert field_errors(number.value.details) == {"port": "Enter a whole number."}
    with pytest.raises(ValidationFailed) as broken:
        form_config(HttpConfig, {"data": ["{not json"]})
    assert field_errors(broken.value.details) == {"data": "Enter a valid JSON object."}


def test_field_errors_map_model_errors_by_field_and_others_to_the_form() -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_config("http", {"url": "not a url", "headers": {"X": 3}})
    errors = field_errors(raised.value.details)
    assert set(errors) == {"url", "headers"}
    assert field_errors([{"loc": ["type"], "code": "unknown_connection_type"}]) == {
        "": "unknown_connection_type"
    }
    assert field_errors(None) == {}


def test_refill_values_keep_what_was_typed_except_secrets() -> None:
    form = {"url": ["https://a.example"], "api_key": ["SECRET-k"], "header": ["X-Key"], "token": ["sb_ct_x"]}
    assert refill_values(HttpApiKeyConfig, form) == {"url": "https://a.example", "header": "X-Key"}
    secret_lines = {"url": ["https://a.example"], "headers": ["X: SECRET-h"], "params": ["a: 1"]}
    assert refill_values(HttpConfig, secret_lines) == {"url": "https://a.example", "params": "a: 1"}


def test_a_custom_model_with_a_secret_dict_is_parsed_into_secret_values() -> None:
    class Vault(BaseModel):
        tokens: dict[str, SecretStr]

    config = Vault.model_validate(form_config(Vault, {"tokens": ["a: SECRET-1"]}))
    assert config.tokens["a"].get_secret_value() == "SECRET-1"
