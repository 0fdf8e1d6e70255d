"""The Apps API resolver: the guarded resolver, plus multipart bodies for direct invoke.

The shared guards take JSON bodies up to 1 MiB. A ``multipart/form-data`` body may hold up to
``MAX_UPLOAD_BYTES``: it is size-checked here (413 before anything else, like the guards), set aside for the
route in the resolver context, and the guards then see a request without a body; authentication is
unchanged. Only ``POST /`` reads it: any other route answers a multipart body 415.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.api.guards import GuardedResolver, error_result
from switchboard.domain.errors import BadRequest, SwitchboardError
from switchboard.runtime.uploads import MULTIPART, check_upload_size, media_type


@dataclass(frozen=True)
class Upload:
    content_type: str
    body: bytes


class AppsResolver(GuardedResolver):
    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
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
