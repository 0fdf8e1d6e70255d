"""The Apps API resolver: the guarded resolver, plus multipart bodies for direct invoke and raw bodies for
webhook trigger events.

The shared guards take JSON bodies up to 1 MiB. A ``multipart/form-data`` body may hold up to
``MAX_UPLOAD_BYTES``: it is size-checked here (413 before anything else, like the guards), set aside for the
route in the resolver context, and the guards then see a request without a body; authentication is
unchanged. Only ``POST /`` reads it: any other route answers a multipart body 415.

``POST /v1/triggers/{trigger_id}/events`` is signed instead of authenticated: its body, exactly the bytes that
arrived and of any content type, is set aside as a ``WebhookBody`` (413 over ``MAX_WEBHOOK_BODY_BYTES``) for
the signature check, and the guards see it without a body and without an ``Authorization`` header (a sender's
own header there is not an access key to check).

Connect URLs minted while a request is served point at the URL it came to when the stack gives the function
no ``APPS_BASE_URL`` (as on AWS: ``connect_tokens.serving_at``).

``ROUTERS`` is the function's route modules and the paths each owns (after the ``/apps/{app_id}`` prefix): a
request includes only the routers its path needs (``switchboard.api.routers``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.api.guards import GuardedResolver, error_result
from switchboard.api.routers import RouterTable
from switchboard.domain.errors import BadRequest, PayloadTooLarge, SwitchboardError
from switchboard.runtime.links import serving_at
from switchboard.runtime.runs import MULTIPART, check_upload_size, media_type
from switchboard.runtime.triggers import MAX_WEBHOOK_BODY_BYTES

ROUTERS = RouterTable(
    "apps_routes",
    {
        "info": ("/",),
        "documents": ("/openapi.json", "/docs"),
        "invoke": ("/",),
        "runs": (
            "/v1/runs",
            "/v1/runs/<run_id>",
            "/v1/runs/<run_id>/events",
            "/v1/runs/<run_id>/cancel",
            "/v1/runs/<run_id>/input",
        ),
        "streams": ("/v1/runs/<run_id>/stream",),
        "deliveries": ("/v1/runs/<run_id>/deliveries",),
        "requirements": ("/v1/requirements/*",),
        "connect": ("/v1/connect/*",),
        "connect_page": ("/connect", "/connect/oauth2"),
        "oauth2_callback": ("/v1/oauth2/callback",),
        "triggers": ("/v1/triggers/*",),
    },
)
_WEBHOOK_PATH = re.compile(r"^(?:/apps/[^/]+)?/v1/triggers/[^/]+/events/?$")


@dataclass(frozen=True)
class Upload:
    content_type: str
    body: bytes


@dataclass(frozen=True)
class WebhookBody:
    content: bytes


class AppsResolver(GuardedResolver):
    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        with serving_at(_served_at(event)):
            return self._resolve_request(event, context)

    def _resolve_request(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        if _is_webhook_event(event):
            return self._resolve_webhook(event, context)
        content_type = str((event.get("headers") or {}).get("content-type", ""))
        if media_type(content_type) != MULTIPART or not event.get("body"):
            return super().resolve(event, context)
        try:
            upload = Upload(content_type, _decoded(event))
        except SwitchboardError as error:
            return error_result(error)
        self.append_context(upload=upload)
        try:
            return super().resolve({**event, "body": None, "isBase64Encoded": False}, context)
        finally:
            self.clear_context()

    def _resolve_webhook(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            body = _raw_body(event)
        except SwitchboardError as error:
            return error_result(error)
        self.append_context(webhook_body=WebhookBody(body))
        headers = {
            name: value
            for name, value in (event.get("headers") or {}).items()
            if name.lower() != "authorization"
        }
        try:
            return super().resolve(
                {**event, "headers": headers, "body": None, "isBase64Encoded": False}, context
            )
        finally:
            self.clear_context()


def _served_at(event: Mapping[str, Any]) -> str:
    """The base URL the request came to: its domain (the API's own or the Apps domain), and its stage
    unless that is the default one, which has no path."""
    request = event.get("requestContext") or {}
    domain, stage = str(request.get("domainName") or ""), str(request.get("stage") or "")
    if not domain:
        return ""
    return f"https://{domain}" + (f"/{stage}" if stage and stage != "$default" else "")


def _is_webhook_event(event: Mapping[str, Any]) -> bool:
    method = str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()
    return method == "POST" and bool(_WEBHOOK_PATH.match(str(event.get("rawPath") or "")))


def _raw_body(event: Mapping[str, Any]) -> bytes:
    body = str(event.get("body") or "")
    if event.get("isBase64Encoded"):
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("the body is not valid base64", code="malformed_body") from None
    else:
        raw = body.encode()
    if len(raw) > MAX_WEBHOOK_BODY_BYTES:
        raise PayloadTooLarge(f"a trigger event may hold at most {MAX_WEBHOOK_BODY_BYTES} bytes")
    return raw


def _decoded(event: Mapping[str, Any]) -> bytes:
    body = str(event.get("body"))
    if not event.get("isBase64Encoded"):
        check_upload_size(len(body.encode()))
        return body.encode()
    check_upload_size(len(body) * 3 // 4)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("the body is not valid base64", code="malformed_body") from None
