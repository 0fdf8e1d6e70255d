"""Connection types: each a pydantic config model whose secret fields are ``SecretStr``.

Secret fields are stored in Secrets Manager (one secret per connection); everything else is stored on the
connection record and may be shown. Nodes name the connection types they accept in the engine schema.

Every secret value has at least ``MIN_SECRET_LENGTH`` characters: run output is redacted by replacing
secret values, and a shorter one (``conn``) cannot be told apart from ordinary text. The URLs a connection
sends requests to pass the egress guard when it is saved (``check_destinations``) and again when it is used.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    AnyHttpUrl,
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from switchboard.domain.errors import ValidationFailed, problem, validation_details
from switchboard.egress import EgressPolicy, EgressRefused, check_saved_url

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MIN_SECRET_LENGTH = 8


class ConnectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    @field_validator("*")
    @classmethod
    def _secrets_long_enough(cls, value: Any) -> Any:
        secrets = list(value.values()) if isinstance(value, dict) else [value]
        if any(
            isinstance(secret, SecretStr) and len(secret.get_secret_value()) < MIN_SECRET_LENGTH
            for secret in secrets
        ):
            raise PydanticCustomError(
                "secret_too_short",
                "a secret value has at least {minimum} characters: a shorter one cannot be redacted reliably",
                {"minimum": MIN_SECRET_LENGTH},
            )
        return value

    @classmethod
    def secret_field_names(cls) -> list[str]:
        return [name for name, field in cls.model_fields.items() if _is_secret(field.annotation)]

    def public_part(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=set(self.secret_field_names()), exclude_none=True)

    def check_destinations(self, policy: EgressPolicy) -> None:
        """422 for each URL the connection sends requests to that the egress guard refuses."""
        problems = []
        for name in type(self).model_fields:
            url = getattr(self, name)
            if not isinstance(url, AnyUrl):
                continue
            try:
                check_saved_url(str(url), policy)
            except EgressRefused as refused:
                problems.append(problem(["config", name], refused.code, refused.message))
        if problems:
            raise ValidationFailed("invalid connection config", details=problems)

    def secret_part(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for name in self.secret_field_names():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                values[name] = value.get_secret_value()
            elif isinstance(value, dict):
                values[name] = {k: v.get_secret_value() for k, v in value.items()}  # type: ignore[assignment]
        return values


def _is_secret(annotation: Any) -> bool:
    text = str(annotation)
    return "SecretStr" in text


class HttpConfig(ConnectionConfig):
    """A parameterized HTTP request: nodes and run input add to or override these parts."""

    url: AnyHttpUrl
    method: str = Field(default="GET", pattern="^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)$")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Sent with every request; secret")
    params: dict[str, str] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict, description="JSON body fields")


class HttpApiKeyConfig(ConnectionConfig):
    url: AnyHttpUrl
    api_key: SecretStr = Field(min_length=1)
    header: str = Field(default="Authorization", min_length=1, max_length=128)
    scheme: str = Field(default="Bearer", max_length=32, description="Prefix before the key; empty for none")


class OpenAIConfig(ConnectionConfig):
    api_key: SecretStr = Field(min_length=1)
    base_url: AnyHttpUrl | None = None
    organization: str | None = Field(default=None, max_length=128)


class PostgresConfig(ConnectionConfig):
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = Field(min_length=1, max_length=63)
    user: str = Field(min_length=1, max_length=63)
    password: SecretStr = Field(min_length=1)


CONNECTION_TYPES: dict[str, type[ConnectionConfig]] = {
    "http": HttpConfig,
    "http_api_key": HttpApiKeyConfig,
    "openai": OpenAIConfig,
    "postgres": PostgresConfig,
}


def config_model(connection_type: str) -> type[ConnectionConfig]:
    try:
        return CONNECTION_TYPES[connection_type]
    except KeyError:
        raise ValidationFailed(
            f"unknown connection type '{connection_type}'",
            details=[
                problem(
                    ["type"],
                    "unknown_connection_type",
                    f"expected one of: {', '.join(sorted(CONNECTION_TYPES))}",
                )
            ],
        ) from None


def parse_config(connection_type: str, raw: Any) -> ConnectionConfig:
    model = config_model(connection_type)
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ValidationFailed(
            "invalid connection config",
            details=validation_details(error, prefix=["config"]),
        ) from None
