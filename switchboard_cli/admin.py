"""``switchboard admin bootstrap``: create the first admin, an organization and a personal access token.

Against a deployed stack the command finds the stack's tables through CloudFormation, sets the environment
``switchboard.settings`` reads and calls the same use case the functions use. Against the local stack it
posts to the server's loopback-only control route with the control token kept in the state file, because
only the running server holds the (in-memory) data.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from switchboard_cli.local.stack import CONTROL_BOOTSTRAP_PATH, CONTROL_TOKEN_HEADER

STACK_TABLES = {
    "CONTROL_TABLE": "ControlTable",
    "RUNS_TABLE": "RunsTable",
    "LINKS_TABLE": "LinksTable",
    "IDEMPOTENCY_TABLE": "IdempotencyTable",
}


class BootstrapError(Exception):
    """Bootstrapping did not happen; the message says why, for a person."""


@dataclass(frozen=True)
class BootstrapResult:
    email: str
    user_id: str
    org_id: str
    token: str


def bootstrap_on_stack(
    stack_name: str, region: str | None, email: str, org: str, cloudformation: Any = None
) -> BootstrapResult:
    if region:
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"] = region
    if cloudformation is None:
        import boto3

        cloudformation = boto3.session.Session().client("cloudformation")
    os.environ.update(stack_environment(cloudformation, stack_name))
    return _bootstrap_in_process(email, org)


def stack_environment(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The variables ``switchboard.settings`` reads, as the deployed stack's functions have them."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        environment = {
            variable: cloudformation.describe_stack_resource(
                StackName=stack_name, LogicalResourceId=logical_id
            )["StackResourceDetail"]["PhysicalResourceId"]
            for variable, logical_id in STACK_TABLES.items()
        }
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except (BotoCoreError, ClientError) as error:
        raise BootstrapError(f"cannot read stack {stack_name}: {error}") from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    parameters = {
        item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])
    }
    environment["SECRET_PREFIX"] = outputs.get("SecretPrefix") or f"switchboard/{stack_name}/"
    environment["STAGE"] = parameters.get("Stage") or "dev"
    environment["APPS_DOMAIN"] = parameters.get("AppsDomain", "")
    environment["APPS_BASE_URL"] = outputs.get("AppsApiUrl", "")
    return environment


def _bootstrap_in_process(email: str, org: str) -> BootstrapResult:
    from switchboard import aws
    from switchboard.domain.errors import Conflict, SwitchboardError
    from switchboard.runtime.identity import bootstrap_admin
    from switchboard.settings import get_settings

    aws.reset()
    get_settings.cache_clear()
    try:
        created = bootstrap_admin(email=email, org_name=org)
    except Conflict as error:
        raise BootstrapError(f"{email} already has an account: {error.message}") from error
    except SwitchboardError as error:
        raise BootstrapError(error.message) from error
    return BootstrapResult(email=email, user_id=created.user_id, org_id=created.org_id, token=created.token)


def bootstrap_on_local(local_url: str, state_file: Path, email: str, org: str) -> BootstrapResult:
    if not local_url.startswith(("http://", "https://")):
        raise BootstrapError(f"--local-url must be an http(s) URL, not {local_url!r}")
    body = post_to_local_stack(
        local_url,
        state_file,
        CONTROL_BOOTSTRAP_PATH,
        {"email": email, "org": org},
        BootstrapError,
        conflict=f"{email} already has an account",
    )
    return BootstrapResult(email=email, user_id=body["user_id"], org_id=body["org_id"], token=body["token"])


def post_to_local_stack(
    local_url: str,
    state_file: Path,
    path: str,
    payload: Any,
    error_type: type[Exception],
    conflict: str | None = None,
) -> Any:
    """POST ``payload`` to a loopback-only control route of the running local stack (``local_url`` is an
    http(s) URL, checked by the caller), with the control token kept in ``state_file``; the answer's JSON.

    Every failure raises ``error_type`` with a message for a person; a 409 starts with ``conflict`` if given.
    """
    try:
        control_token = json.loads(state_file.read_text(encoding="utf-8"))["control_token"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise error_type(f"cannot read the control token from {state_file}: {error}") from error
    request = urllib.request.Request(  # noqa: S310 - the callers check the scheme
        local_url.rstrip("/") + path,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", CONTROL_TOKEN_HEADER: control_token},
        method="POST",
    )
    # The local stack is on this machine: never send its control token through a proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise error_type(_describe_http_error(error, conflict)) from error
    except (urllib.error.URLError, OSError) as error:
        raise error_type(
            f"cannot reach the local stack at {local_url} ({error}); is `switchboard local serve` running?"
        ) from error


def _describe_http_error(error: urllib.error.HTTPError, conflict: str | None) -> str:
    try:
        document: Any = json.loads(error.read())
    except ValueError:
        document = {}
    message = (document.get("error") or {}).get("message") or document.get("message") or error.reason
    if error.code == 409 and conflict is not None:
        return f"{conflict}: {message}"
    if error.code == 403:
        return (
            "the local stack refused the control token: is --state-file the file the server was started with?"
        )
    return f"the local stack answered {error.code}: {message}"


def render(result: BootstrapResult, as_json: bool) -> str:
    if as_json:
        return json.dumps(asdict(result))
    return "\n".join(
        [
            f"Created admin {result.email} (user {result.user_id}) in organization {result.org_id}.",
            "Personal access token (shown only this once; store it now):",
            f"  {result.token}",
        ]
    )
