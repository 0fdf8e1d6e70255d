"""Presigned S3 downloads on the local stack: ``GET /_local/s3/<bucket>/<key>?X-Amz-…``.

On AWS a run's big output is fetched from S3 with a short-lived presigned URL. Locally S3 is moto's server,
on a port the stack picks afresh at every start (a URL signed for it would not outlive a restart), so the
stack sets ``FILES_DOWNLOAD_ENDPOINT`` to this route, on the stack's own port: the platform signs its URLs
for it exactly as for S3 (SigV4 query signing, path-style), and this route
checks them as S3 does before answering the object from moto: the signature (recomputed by botocore with the
stack's credentials), the expiry, and the method. A URL that was altered, has expired or was never signed
gets ``403``; an object that does not exist gets ``404``.
"""

from __future__ import annotations

import hmac
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote, urlencode

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from switchboard.domain.errors import error_body
from switchboard_cli.local.events import HttpRequest, HttpResponse, json_response

DOWNLOAD_PREFIX = "/_local/s3/"
DOWNLOAD_ENDPOINT_VARIABLE = "FILES_DOWNLOAD_ENDPOINT"
_SIGNATURE = "X-Amz-Signature"
_TIMESTAMP = "%Y%m%dT%H%M%SZ"


def download_endpoint(base_url: str) -> str:
    return base_url + DOWNLOAD_PREFIX.rstrip("/")


def serve_download(request: HttpRequest, now: datetime | None = None) -> HttpResponse:
    if request.method.upper() not in ("GET", "HEAD"):
        return _s3_error(405, "MethodNotAllowed", "only GET downloads an object")
    bucket, _, key = request.raw_path.removeprefix(DOWNLOAD_PREFIX).partition("/")
    query = parse_qsl(request.raw_query_string, keep_blank_values=True)
    refusal = _refusal(request, query, now or datetime.now(UTC))
    if refusal is not None:
        return _s3_error(403, "AccessDenied", refusal)
    from switchboard import aws

    try:
        answer = aws.client("s3").get_object(Bucket=unquote(bucket), Key=unquote(key))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchBucket", "404"):
            return _s3_error(404, "NoSuchKey", "the object does not exist")
        raise
    headers = [("content-type", str(answer.get("ContentType") or "application/octet-stream"))]
    return HttpResponse(200, headers, answer["Body"].read())


def _refusal(request: HttpRequest, query: list[tuple[str, str]], now: datetime) -> str | None:
    """Why S3 would refuse this presigned request, or None when it would answer it."""
    params = dict(query)
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or _SIGNATURE not in params:
        return "the request is not presigned"
    try:
        signed_at = datetime.strptime(params["X-Amz-Date"], _TIMESTAMP).replace(tzinfo=UTC)
        expires = int(params["X-Amz-Expires"])
        _, _, region, service, _ = params["X-Amz-Credential"].split("/")
    except (KeyError, ValueError):
        return "the presigned request is malformed"
    if now > signed_at + timedelta(seconds=expires):
        return "the request has expired"
    unsigned = [(name, value) for name, value in query if name != _SIGNATURE]
    url = f"http://{request.host}{request.raw_path}?{urlencode(unsigned, quote_via=quote)}"
    signing = AWSRequest(method="GET", url=url)
    signing.context["timestamp"] = params["X-Amz-Date"]
    auth = S3SigV4QueryAuth(_credentials(), service, region, expires)
    expected = auth.signature(auth.string_to_sign(signing, auth.canonical_request(signing)), signing)
    if not hmac.compare_digest(expected, params[_SIGNATURE]):
        return "the signature does not match"
    return None


def _credentials() -> Credentials:
    """The stack's own (fake) credentials, which signed the URL (``environment.FAKE_CREDENTIALS``)."""
    return Credentials(
        os.environ["AWS_ACCESS_KEY_ID"],
        os.environ["AWS_SECRET_ACCESS_KEY"],
        os.environ.get("AWS_SESSION_TOKEN"),
    )


def _s3_error(status: int, code: str, message: str) -> HttpResponse:
    return json_response(status, error_body(code, message))
