"""Connection types: each a pydantic config model whose secret fields are ``SecretStr``.

Secret fields are stored in Secrets Manager (one secret per connection); everything else is stored on the
connection record and may be shown. Nodes name the connection types they accept in the engine schema.

Every secret value has at least ``MIN_SECRET_LENGTH`` characters: run output is redacted by replacing
secret values, and a shorter one (``conn``) cannot be told apart from ordinary text. The URLs a connection
sends requests to pass the egress guard when it is saved (``check_destinations``) and again when it is used.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AnyHttpUrl,
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from switchboard.domain.errors import ValidationFailed, problem, validation_details
from switchboard.domain.oauth_presets import PRESETS, with_preset
from switchboard.egress import EgressPolicy, EgressRefused, check_saved_url

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MIN_SECRET_LENGTH = 8


class ConnectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)

    entered_by_end_users: ClassVar[bool] = True
    """End users link it by entering its fields (connect API, hosted page); if not, through an OAuth flow."""

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


Scope = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21\x23-\x5B\x5D-\x7E]+$"),
    Field(description="One OAuth scope token (RFC 6749 3.3: no spaces, quotes or backslashes)"),
]
RESERVED_AUTHORIZE_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
    }
)
"""Parameters the authorization request sets itself: extra authorize parameters may not replace them."""


class OAuth2AppConfig(ConnectionConfig):
    """A provider's OAuth 2.0 client. A ``preset`` fills the endpoints, default scopes, extra authorize
    parameters and auth method it documents (``switchboard.domain.oauth_presets``); the config wins."""

    preset: str = Field(default="generic", json_schema_extra={"enum": list(PRESETS)})
    client_id: str = Field(min_length=1, max_length=512)
    client_secret: SecretStr = Field(min_length=1, max_length=2048)
    authorize_url: AnyHttpUrl
    token_url: AnyHttpUrl
    revocation_url: AnyHttpUrl | None = Field(default=None, description="RFC 7009 token revocation")
    userinfo_url: AnyHttpUrl | None = None
    jwks_uri: AnyHttpUrl | None = Field(
        default=None, description="The provider's JWKS: with issuer, an ID token is validated and used"
    )
    issuer: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="The ID token's expected iss ({tenantid}: the token's tid, Microsoft's common tenant)",
    )
    scopes: list[Scope] = Field(default_factory=list, max_length=50, description="Requested by default")
    authorize_params: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")],
        Annotated[str, StringConstraints(max_length=512)],
    ] = Field(default_factory=dict, max_length=20, description="Extra authorization request parameters")
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"  # noqa: S105 (a method's name, not a secret)

    entered_by_end_users = False

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, raw: Any) -> Any:
        return with_preset(raw) if isinstance(raw, dict) else raw

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, preset: str) -> str:
        if preset not in PRESETS:
            raise PydanticCustomError(
                "unknown_preset", "preset must be one of: {presets}", {"presets": ", ".join(PRESETS)}
            )
        return preset

    @field_validator("authorize_params")
    @classmethod
    def _no_reserved_params(cls, params: dict[str, str]) -> dict[str, str]:
        reserved = sorted(RESERVED_AUTHORIZE_PARAMS.intersection(name.lower() for name in params))
        if reserved:
            raise PydanticCustomError(
                "reserved_authorize_param",
                "{names}: the authorization request sets these itself",
                {"names": ", ".join(reserved)},
            )
        return params


class OAuth2Config(ConnectionConfig):
    """An account authorized through an ``oauth2_app`` connection of the same project: the app, the scopes
    asked for, and the API the access token is sent to (the connection owns that base URL)."""

    app_connection_id: str = Field(
        min_length=1, max_length=64, description="An oauth2_app connection of the same project"
    )
    scopes: list[Scope] = Field(
        default_factory=list, max_length=50, description="Requested; none: the app's default scopes"
    )
    url: AnyHttpUrl = Field(description="Base URL of the API the access token is sent to")

    entered_by_end_users = False


CONNECTION_TYPES: dict[str, type[ConnectionConfig]] = {
    "http": HttpConfig,
    "http_api_key": HttpApiKeyConfig,
    "openai": OpenAIConfig,
    "postgres": PostgresConfig,
    "oauth2_app": OAuth2AppConfig,
    "oauth2": OAuth2Config,
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
