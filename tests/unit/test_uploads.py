"""Multipart bodies: parts and files, byte-exact contents, malformed bodies, limits and safe S3 keys."""

from __future__ import annotations

import pytest

from switchboard.domain.errors import BadRequest, PayloadTooLarge
from switchboard.runtime.runs.uploads import (
    MAX_FILES,
    MAX_UPLOAD_BYTES,
    UploadedFile,
    parse_form,
    reference,
    safe_filename,
)

CONTENT_TYPE = "multipart/form-data; boundary=XyZ"


def _body(*parts: bytes) -> bytes:
    return b"".join(b"--XyZ\r\n" + part + b"\r\n" for part in parts) + b"--XyZ--\r\n"


def test_text_fields_and_files_are_split_and_files_keep_every_byte() -> None:
    binary = bytes(range(256)) + b"\r\n--XyZ-not-a-boundary\r\n\n\r"
    body = _body(
        b'Content-Disposition: form-data; name="input"\r\n\r\n{"a": "d\xc3\xa9j\xc3\xa0"}',
        b'Content-Disposition: form-data; name="doc"; filename="a b.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + binary,
        b'Content-Disposition: form-data; name="empty"; filename="e.txt"\r\n\r\n',
    )
    form = parse_form(CONTENT_TYPE, body)
    assert form.fields == {"input": '{"a": "déjà"}'}
    assert form.files == [
        UploadedFile("doc", "a b.bin", "application/octet-stream", binary),
        UploadedFile("empty", "e.txt", "text/plain", b""),
    ]


def test_rfc2231_and_raw_utf8_file_names_are_decoded() -> None:
    body = _body(
        b"Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\n\r\nx",
        b'Content-Disposition: form-data; name="g"; filename="\xc3\xa9t\xc3\xa9.txt"\r\n\r\ny',
    )
    assert [f.filename for f in parse_form(CONTENT_TYPE, body).files] == ["résumé.pdf", "été.txt"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", _body(b'Content-Disposition: form-data; name="a"\r\n\r\n1')),
        (CONTENT_TYPE, b"not multipart at all"),
        (CONTENT_TYPE, b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'),
        (CONTENT_TYPE, _body(b"Content-Disposition: form-data\r\n\r\n1")),
        (
            CONTENT_TYPE,
            _body(
                b'Content-Disposition: form-data; name="a"\r\n\r\n1',
                b'Content-Disposition: form-data; name="a"\r\n\r\n2',
            ),
        ),
        (CONTENT_TYPE, _body(b'Content-Disposition: form-data; name="a"\r\n\r\n\xff\xfe')),
    ],
)
def test_malformed_bodies_are_400(content_type: str, body: bytes) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_form(content_type, body)
    assert raised.value.error_code == "malformed_multipart"


def test_limits() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_form(CONTENT_TYPE, b"x" * (MAX_UPLOAD_BYTES + 1))
    many = _body(
        *[
            f'Content-Disposition: form-data; name="f{n}"; filename="{n}.txt"\r\n\r\nx'.encode()
            for n in range(MAX_FILES + 1)
        ]
    )
    with pytest.raises(BadRequest) as raised:
        parse_form(CONTENT_TYPE, many)
    assert raised.value.error_code == "too_many_parts"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\Résumé 2024.pdf", "Resume_2024.pdf"),
        ("..", "file"),
        ("日本語.txt", "txt"),
        ("a" * 300, "a" * 100),
    ],
)
def test_file_names_become_safe_key_segments(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_a_reference_points_into_the_apps_prefix() -> None:
    ref = reference("bucket", "app-1", "run-1", 3, UploadedFile("doc", "../x y.txt", "text/plain", b"abc"))
    assert ref.model_dump() == {
        "name": "../x y.txt",
        "content_type": "text/plain",
        "size": 3,
        "bucket": "bucket",
        "key": "apps/app-1/runs/run-1/files/3-x_y.txt",
    }
