"""Environment read once, at cold start, into a validated model."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from switchboard.egress import EgressPolicy


class SettingsError(RuntimeError):
    """The function's environment is incomplete or invalid; raised at cold start."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    stage: str = Field(default="dev", pattern=r"^[a-z0-9-]{1,32}$")
    control_table: str = Field(min_length=1)
    runs_table: str = Field(min_length=1)
    links_table: str = Field(min_length=1)
    idempotency_table: str = Field(min_length=1)
    secret_prefix: str = Field(min_length=1, description="Secrets Manager name prefix owned by this stack")
    apps_domain: str = Field(default="", description="Wildcard domain of the Apps API, empty when none")
    apps_base_url: str = Field(default="", description="Base URL of the Apps API (path addressing)")
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    page_size_max: int = Field(default=100, gt=0)
    credentials_function: str = Field(
        default="", description="Name of the credentials function (executor only)"
    )
    run_queue_url: str = Field(default="", description="Background-run queue")
    run_retention_days: int = Field(default=30, gt=0, le=3650)
    executor_function: str = Field(
        default="",
        description="The sync executor (a durable function) for sync and stream runs: its alias ARN",
    )
    background_executor_function: str = Field(
        default="",
        description="The background executor (a durable function with its own reserved concurrency) for "
        "background runs: its alias ARN",
    )
    executor_invocation_seconds: int = Field(
        default=840,
        ge=1,
        le=900,
        description="How long one executor invocation works on a run before it goes on in a fresh one",
    )
    delivery_queue_url: str = Field(default="", description="Callback and event deliveries")
    files_bucket: str = Field(default="", description="Bucket of files uploaded with runs")
    files_download_endpoint: str = Field(
        default="",
        description="Where presigned download URLs point instead of S3 itself (the local stack's route)",
    )
    connect_token_ttl_seconds: int = Field(
        default=3600, ge=60, le=86_400, description="Default lifetime of a connect token"
    )
    allow_loopback_egress: bool = Field(
        default=False,
        description="Local development only: nodes, callbacks and deliveries may reach loopback addresses",
    )
    egress_allow_list: str = Field(
        default="", description="CIDRs and host names the egress guard allows beyond public addresses"
    )
    schedule_group: str = Field(default="", description="Scheduler group of trigger schedules")
    trigger_function: str = Field(default="", description="Name of the trigger function (webhook events)")
    trigger_function_arn: str = Field(default="", description="ARN of the trigger function (schedule target)")
    scheduler_role_arn: str = Field(default="", description="Role Scheduler assumes to invoke the target")
    trigger_dlq_arn: str = Field(default="", description="Queue of schedule firings never delivered")
    trigger_secrets_key: str = Field(
        default="", description="KMS key (ARN) webhook triggers' signing secrets are encrypted under"
    )
    link_secrets_key: str = Field(
        default="", description="KMS key (ARN) end users' link secrets are sealed under"
    )

    @field_validator("egress_allow_list")
    @classmethod
    def _parsable_allow_list(cls, allow_list: str) -> str:
        EgressPolicy.parse(allow_list)
        return allow_list

    @property
    def egress_policy(self) -> EgressPolicy:
        return EgressPolicy.parse(self.egress_allow_list, allow_loopback=self.allow_loopback_egress)


_ENV_NAMES = {
    "stage": "STAGE",
    "control_table": "CONTROL_TABLE",
    "runs_table": "RUNS_TABLE",
    "links_table": "LINKS_TABLE",
    "idempotency_table": "IDEMPOTENCY_TABLE",
    "secret_prefix": "SECRET_PREFIX",
    "apps_domain": "APPS_DOMAIN",
    "apps_base_url": "APPS_BASE_URL",
    "max_body_bytes": "MAX_BODY_BYTES",
    "page_size_max": "PAGE_SIZE_MAX",
    "credentials_function": "CREDENTIALS_FUNCTION",
    "run_queue_url": "RUN_QUEUE_URL",
    "run_retention_days": "RUN_RETENTION_DAYS",
    "executor_function": "EXECUTOR_FUNCTION",
    "background_executor_function": "BACKGROUND_EXECUTOR_FUNCTION",
    "executor_invocation_seconds": "EXECUTOR_INVOCATION_SECONDS",
    "delivery_queue_url": "DELIVERY_QUEUE_URL",
    "files_bucket": "FILES_BUCKET",
    "files_download_endpoint": "FILES_DOWNLOAD_ENDPOINT",
    "connect_token_ttl_seconds": "CONNECT_TOKEN_TTL_SECONDS",
    "allow_loopback_egress": "ALLOW_LOOPBACK_EGRESS",
    "egress_allow_list": "EGRESS_ALLOW_LIST",
    "schedule_group": "SCHEDULE_GROUP",
    "trigger_function": "TRIGGER_FUNCTION",
    "trigger_function_arn": "TRIGGER_FUNCTION_ARN",
    "scheduler_role_arn": "SCHEDULER_ROLE_ARN",
    "trigger_dlq_arn": "TRIGGER_DLQ_ARN",
    "trigger_secrets_key": "TRIGGER_SECRETS_KEY",
    "link_secrets_key": "LINK_SECRETS_KEY",
}
_OLDER_ENV_NAMES = {"allow_loopback_egress": "ALLOW_LOOPBACK_CALLBACKS"}
"""Still read when the current name is not set."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    raw = {field: os.environ[env] for field, env in _ENV_NAMES.items() if os.environ.get(env) is not None}
    for field, env in _OLDER_ENV_NAMES.items():
        if field not in raw and os.environ.get(env) is not None:
            raw[field] = os.environ[env]
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        missing = ", ".join(_ENV_NAMES[str(e["loc"][0])] for e in error.errors() if e["loc"])
        raise SettingsError(f"invalid or missing environment variables: {missing}") from None
