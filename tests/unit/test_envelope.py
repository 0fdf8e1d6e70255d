"""Sealing a secret under a KMS data key (switchboard.store.envelope), against moto's KMS."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from moto import mock_aws

from switchboard import aws
from switchboard.domain.errors import ServiceUnavailable
from switchboard.store.envelope import EnvelopeRefused, open_sealed, seal
from switchboard_cli.local import environment

CONTEXT = {
    "switchboard:app": "app_1",
    "switchboard:user": "user_1",
    "switchboard:requirement": "crm",
    "switchboard:link": "link_1",
}
SECRET = b'{"api_key": "sk-SECRET_MARKER-1"}'


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in (*environment.FAKE_CREDENTIALS, "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.setenv(name, "us-east-1" if "REGION" in name else "testing")
    with mock_aws():
        aws.reset()
        yield aws.kms().create_key(Description="link secrets")["KeyMetadata"]["Arn"]
    aws.reset()


def test_a_sealed_secret_opens_for_its_own_record_only(key: str) -> None:
    # Given a secret sealed for one link's record
    sealed = seal(key, CONTEXT, SECRET)

    # When it is opened with that record's context, Then the secret comes back; the sealed form never shows it
    assert open_sealed(key, CONTEXT, sealed) == SECRET
    assert b"SECRET_MARKER" not in base64.b64decode(sealed)
    assert "SECRET_MARKER" not in sealed

    # When the same sealed value is opened for another record (another link, user, requirement or App)
    for field, other in (
        ("switchboard:link", "link_2"),
        ("switchboard:user", "user_2"),
        ("switchboard:requirement", "mail"),
        ("switchboard:app", "app_2"),
    ):
        # Then it is refused
        with pytest.raises(EnvelopeRefused):
            open_sealed(key, {**CONTEXT, field: other}, sealed)


def test_each_seal_uses_a_fresh_data_key_and_nonce(key: str) -> None:
    # Given the same secret sealed twice for the same record
    first, second = seal(key, CONTEXT, SECRET), seal(key, CONTEXT, SECRET)

    # Then the sealed values differ, and both open
    assert first != second
    assert open_sealed(key, CONTEXT, first) == open_sealed(key, CONTEXT, second) == SECRET


def test_an_altered_or_malformed_sealed_value_is_refused(key: str) -> None:
    # Given a sealed value whose last byte (in the AES-GCM tag) is flipped
    blob = bytearray(base64.b64decode(seal(key, CONTEXT, SECRET)))
    blob[-1] ^= 0x01
    altered = base64.b64encode(bytes(blob)).decode()

    # When it, a non-base64 string, a truncated value or an unknown version is opened, Then it is refused
    unknown_version = base64.b64encode(b"\x02" + bytes(blob[1:])).decode()
    for bad in (altered, "not base64!", base64.b64encode(b"\x01").decode(), unknown_version):
        with pytest.raises(EnvelopeRefused):
            open_sealed(key, CONTEXT, bad)


def test_a_key_the_service_does_not_know_is_unavailable_not_refused(key: str) -> None:
    # Given a key id KMS does not know
    missing = key.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"

    # When a secret is sealed under it, Then the key service is unavailable (503), the secret not stored
    with pytest.raises(ServiceUnavailable) as raised:
        seal(missing, CONTEXT, SECRET)
    assert raised.value.status == 503
