"""Connections: secret fields are write-only, rotation keeps the ID, deployed ones cannot be deleted."""

from __future__ import annotations

import json

import pytest

from switchboard import aws
from switchboard.settings import get_settings
from tests.integration.conftest import SECRET_KEY, Reply, World


def _secret(name: str) -> dict[str, str]:
    # The test reads Secrets Manager directly; the management function's role cannot.
    return json.loads(aws.secrets().get_secret_value(SecretId=name)["SecretString"])  # type: ignore[no-any-return]


def test_secret_fields_are_stored_apart_and_never_returned(world):
    # Given the world's http_api_key connection
    # When it is read and listed
    one = world.call("GET", f"/v1/connections/{world.connection_id}", token=world.admin.token)
    listed = world.call(
        "GET", "/v1/connections", token=world.admin.token, query={"project_id": world.project_id}
    )
    # Then only non-secret fields and the names of secret fields come back
    assert one.status == 200
    assert listed.status == 200
    assert one.body["data"]["config"]["url"] == "https://crm.example.test/"
    assert one.body["data"]["secret_fields"] == ["api_key"]
    assert SECRET_KEY not in one.raw + listed.raw
    # And the secret lives in Secrets Manager under the stack prefix
    from switchboard.store import connections

    stored = connections.get_connection(world.connection_id)
    assert stored is not None
    assert stored.secret_name is not None
    assert stored.secret_name.startswith(f"switchboard/switchboard-local/projects/{world.project_id}/")
    assert _secret(stored.secret_name) == {"api_key": SECRET_KEY}
    assert SECRET_KEY not in stored.model_dump_json()


def test_patch_config_rotates_the_secret_and_keeps_the_id(world):
    from switchboard.store import connections

    # Given the world's connection and its stored secret version
    before = connections.get_connection(world.connection_id)
    assert before is not None
    # When the config is replaced
    reply = world.call(
        "PATCH",
        f"/v1/connections/{world.connection_id}",
        token=world.admin.token,
        body={"config": {"url": "https://crm.example.test", "api_key": "rotated-SECRET-key-42"}},
    )
    # Then the ID is kept and a new secret version is current
    assert reply.status == 200
    assert reply.body["data"]["id"] == world.connection_id
    assert "rotated-SECRET-key-42" not in reply.raw
    after = connections.get_connection(world.connection_id)
    assert after is not None
    assert after.secret_version != before.secret_version
    assert after.secret_name is not None
    assert _secret(after.secret_name) == {"api_key": "rotated-SECRET-key-42"}


def test_invalid_configs_are_422_without_echoing_values(world):
    # Given connection bodies missing the API key, with a bad URL, an unknown field, an unknown type, or a
    # port out of range, most of them holding a secret value
    cases = [
        ({"type": "http_api_key", "config": {"url": "https://x.test"}}, "missing"),
        ({"type": "http_api_key", "config": {"url": "nope", "api_key": "leak-me-SECRET-1"}}, "url_parsing"),
        (
            {
                "type": "http_api_key",
                "config": {"url": "https://x.test", "api_key": "leak-me-SECRET-1", "extra": 1},
            },
            "extra_forbidden",
        ),
        ({"type": "carrier_pigeon", "config": {}}, "unknown_connection_type"),
        (
            {
                "type": "postgres",
                "config": {
                    "host": "db",
                    "database": "d",
                    "user": "u",
                    "password": "leak-me-SECRET-1",
                    "port": 70000,
                },
            },
            "less_than_equal",
        ),
    ]
    # When each is created / Then each is 422 with its detail code, and the secret value is not echoed
    for body, code in cases:
        reply = world.call(
            "POST",
            "/v1/connections",
            token=world.admin.token,
            body={"project_id": world.project_id, "name": "c", **body},
        )
        assert reply.status == 422, body
        assert reply.body["error"]["details"][0]["code"] == code
        assert "leak-me-SECRET-1" not in reply.raw


def test_every_registered_type_can_be_created(world):
    # Given a config for each registered type (http, openai, postgres), each holding secret values
    configs = {
        "http": {
            "url": "https://api.test/v1",
            "method": "POST",
            "headers": {"X-Token": "hdr-secret"},
            "params": {"a": "b"},
        },
        "openai": {
            "api_key": "sk-openai-SECRET-1",
            "base_url": "https://llm.example.test/v1",
            "organization": "org-1",
        },
        "postgres": {
            "host": "db.internal",
            "database": "app",
            "user": "svc",
            "password": "pg-SECRET-password",
        },
    }
    # When a connection of each type is created
    # Then each is 201 and its shown config holds none of the secret values
    for kind, config in configs.items():
        reply = world.call(
            "POST",
            "/v1/connections",
            token=world.admin.token,
            body={"project_id": world.project_id, "name": kind, "type": kind, "config": config},
        )
        assert reply.status == 201, reply.body
        shown = json.dumps(reply.body["data"]["config"]).lower()
        assert "secret" not in shown


def test_delete_is_refused_while_a_deployed_version_uses_it(world):
    call, token = world.call, world.admin.token
    # Given the App deploys version 1, which references the connection
    assert (
        call("POST", f"/v1/apps/{world.app_id}/deployments", token=token, body={"version": 1}).status == 201
    )
    # When the connection is deleted
    refused = call("DELETE", f"/v1/connections/{world.connection_id}", token=token)
    # Then 409 names the App
    assert refused.status == 409
    assert refused.body["error"]["code"] == "connection_in_use"
    assert refused.body["error"]["details"] == {"app_ids": [world.app_id]}
    # And once the App is gone the connection can be deleted
    assert call("DELETE", f"/v1/apps/{world.app_id}", token=token).status == 204
    assert call("DELETE", f"/v1/connections/{world.connection_id}", token=token).status == 204
    assert call("GET", f"/v1/connections/{world.connection_id}", token=token).status == 404


def _create(world: World, connection_type: str, config: dict[str, object]) -> Reply:
    body = {"project_id": world.project_id, "name": "c", "type": connection_type, "config": config}
    return world.call("POST", "/v1/connections", token=world.admin.token, body=body)


@pytest.mark.parametrize(
    ("connection_type", "config", "field"),
    [
        (
            "http_api_key",
            {"url": "http://169.254.169.254/latest/meta-data/", "api_key": "key-SECRET-123"},
            "url",
        ),
        ("http", {"url": "http://10.0.0.5/api"}, "url"),
        ("openai", {"api_key": "sk-SECRET-123456", "base_url": "http://127.0.0.1:9001/v1"}, "base_url"),
        ("openai", {"api_key": "sk-SECRET-123456", "base_url": "http://2130706433/v1"}, "base_url"),
    ],
)
def test_a_connection_to_a_non_public_address_is_422(world, connection_type, config, field):
    # Given a connection whose URL is the metadata service, a private host or the Lambda Runtime API
    # When it is created
    reply = _create(world, connection_type, config)
    # Then 422 names the field and the code, without echoing the secret
    assert reply.status == 422, reply.body
    assert reply.body["error"]["code"] == "validation_failed"
    assert reply.body["error"]["details"][0]["loc"] == ["config", field]
    assert reply.body["error"]["details"][0]["code"] == "address_not_allowed"
    assert "SECRET" not in reply.raw


def test_a_connection_update_to_a_non_public_address_is_422(world):
    # Given the world's connection to a public host / When its URL is changed to the metadata service
    reply = world.call(
        "PATCH",
        f"/v1/connections/{world.connection_id}",
        token=world.admin.token,
        body={"config": {"url": "http://169.254.169.254/", "api_key": "rotated-SECRET-key-42"}},
    )
    # Then 422, and the connection still points where it did
    assert reply.status == 422, reply.body
    assert reply.body["error"]["details"][0]["code"] == "address_not_allowed"
    kept = world.call("GET", f"/v1/connections/{world.connection_id}", token=world.admin.token)
    assert kept.body["data"]["config"]["url"] == "https://crm.example.test/"


def test_a_deployment_allowed_cidr_and_public_addresses_are_accepted(world, monkeypatch):
    # Given a deployment whose allow list opens 10.20.0.0/16
    monkeypatch.setenv("EGRESS_ALLOW_LIST", "10.20.0.0/16")
    get_settings.cache_clear()
    # When connections to that CIDR, to a public address and to a public name are created
    inside = _create(world, "http", {"url": "http://10.20.1.2/api"})
    public = _create(world, "http", {"url": "https://93.184.215.14/api"})
    named = _create(
        world, "openai", {"api_key": "sk-SECRET-123456", "base_url": "https://llm.example.test/v1"}
    )
    # Then they are created; the rest of the private ranges stays refused
    assert (inside.status, public.status, named.status) == (201, 201, 201)
    assert inside.body["data"]["config"]["url"] == "http://10.20.1.2/api"
    outside = _create(world, "http", {"url": "http://10.21.0.1/api"})
    assert outside.status == 422
    assert outside.body["error"]["details"][0]["code"] == "address_not_allowed"


@pytest.mark.parametrize(
    ("connection_type", "config"),
    [
        ("http_api_key", {"url": "https://crm.example.test", "api_key": "conn"}),
        ("http", {"url": "https://api.example.test", "headers": {"X-Conn": "conn"}}),
        ("openai", {"api_key": "sk-1234"}),
    ],
)
def test_a_secret_shorter_than_8_characters_is_422(world, connection_type, config):
    # Given a connection whose secret value has fewer than 8 characters (it could not be redacted reliably)
    # When it is created
    reply = _create(world, connection_type, config)
    # Then 422 secret_too_short, and the value is not echoed
    assert reply.status == 422, reply.body
    assert reply.body["error"]["details"][0]["code"] == "secret_too_short"
    assert "conn" not in json.dumps(reply.body["error"]["details"])
    assert "sk-1234" not in reply.raw


def test_a_secret_of_8_characters_is_accepted(world):
    # Given an http_api_key config whose key is 8 characters long
    # When a connection is created with it
    reply = _create(world, "http_api_key", {"url": "https://crm.example.test", "api_key": "k" * 8})
    # Then it is 201 and its api_key is a secret field
    assert reply.status == 201, reply.body
    assert reply.body["data"]["secret_fields"] == ["api_key"]
