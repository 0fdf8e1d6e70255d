"""``multipart/form-data`` request bodies, as a browser or an HTTP client sends them to the Apps API."""

from __future__ import annotations

BOUNDARY = "sb-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"

Part = tuple[str, str | None, str | None, bytes]
"""``(name, filename, content type, content)``; a part without a filename is a plain field."""


def multipart(parts: list[Part], boundary: str = BOUNDARY) -> bytes:
    """``parts`` as a ``multipart/form-data`` body delimited by ``boundary``."""
    chunks: list[bytes] = []
    for name, filename, content_type, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        chunks.append(head.encode() + b"\r\n" + content + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()
