"""Files sent with a run as ``multipart/form-data``: parsing, the references runs carry, and storage in S3.

A request body may hold at most ``MAX_UPLOAD_BYTES`` (4 MiB, decoded): API Gateway passes the body to Lambda
base64-encoded inside the event, and a synchronous Lambda invocation carries at most 6 MB. Each file is stored
under ``apps/<app_id>/runs/<run_id>/files/<n>-<safe name>`` in the files bucket, and the run input holds a
reference ``{name, content_type, size, bucket, key}`` to it, never the content.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser

from pydantic import ConfigDict, Field

from switchboard import aws
from switchboard.domain.base import Model
from switchboard.domain.errors import BadRequest, PayloadTooLarge

MULTIPART = "multipart/form-data"
MAX_UPLOAD_BYTES = 4 * 1024 * 1024
MAX_FILES = 20
MAX_FIELDS = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileReference(Model):
    """A stored file, as the run input carries it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, description="The file name the client sent")
    content_type: str = Field(min_length=1, max_length=255)
    size: int = Field(ge=0, description="Bytes")
    bucket: str = Field(min_length=1)
    key: str = Field(min_length=1, max_length=1024)


@dataclass(frozen=True)
class UploadedFile:
    field: str
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class FormData:
    fields: dict[str, str]
    files: list[UploadedFile]


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def check_upload_size(size: int) -> None:
    if size > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"a multipart body may hold at most {MAX_UPLOAD_BYTES} bytes")


def parse_form(content_type: str, body: bytes) -> FormData:
    """Split a ``multipart/form-data`` body into text fields and files (a part with a filename is a file)."""
    from email import policy  # its header registry is a few ms of a cold start; only multipart bodies need it

    check_upload_size(len(body))
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart() or message.defects:
        raise BadRequest("the body is not valid multipart/form-data", code="malformed_multipart")
    fields: dict[str, str] = {}
    files: list[UploadedFile] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name or part.defects:
            raise BadRequest("each part needs a form-data name", code="malformed_multipart")
        content = part.get_payload(decode=True)
        payload = content if isinstance(content, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files.append(UploadedFile(name, filename, part.get_content_type(), payload))
        elif name in fields:
            raise BadRequest(f"the field '{name}' is repeated", code="malformed_multipart")
        else:
            fields[name] = _text(payload, part.get_content_charset() or "utf-8", name)
    if len(files) > MAX_FILES or len(fields) > MAX_FIELDS:
        raise BadRequest(
            f"at most {MAX_FILES} files and {MAX_FIELDS} fields per request", code="too_many_parts"
        )
    return FormData(fields, files)


def _text(payload: bytes, charset: str, name: str) -> str:
    try:
        return payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        raise BadRequest(f"the field '{name}' is not valid text", code="malformed_multipart") from None


def safe_filename(filename: str) -> str:
    """The file name reduced to ``[A-Za-z0-9._-]`` (at most 100 characters), for use inside an S3 key."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_name).strip("._")[:100]
    return cleaned or "file"


def reference(bucket: str, app_id: str, run_id: str, index: int, file: UploadedFile) -> FileReference:
    key = f"{app_prefix(app_id)}runs/{run_id}/files/{index}-{safe_filename(file.filename)}"
    return FileReference(
        name=file.filename[:255] or "file",
        content_type=file.content_type,
        size=len(file.content),
        bucket=bucket,
        key=key,
    )


def app_prefix(app_id: str) -> str:
    """Every file of an App lives under this key prefix."""
    return f"apps/{app_id}/"


def store(file_reference: FileReference, content: bytes) -> None:
    aws.client("s3").put_object(
        Bucket=file_reference.bucket,
        Key=file_reference.key,
        Body=content,
        ContentType=file_reference.content_type,
    )
