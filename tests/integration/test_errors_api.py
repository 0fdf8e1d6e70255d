"""Bad input answers the documented 4xx with the error envelope; nothing answers 500."""

from __future__ import annotations

import pytest


def _envelope(reply, status, code):
    assert reply.status == status, reply.body
    assert set(reply.body) == {"error"}
    assert reply.body["error"]["code"] == code
    assert isinstance(reply.body["error"]["message"], str)


def test_malformed_json_is_400(world):
    # Given an authenticated admin
    # When a project is created with a cut-off JSON body
    reply = world.call("POST", "/v1/projects", token=world.admin.token, raw_body='{"org_id": ')
    # Then it is 400 malformed_json in the error envelope
    _envelope(reply, 400, "malformed_json")


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (
            {"name": "x", "surprise": True},
            [{"loc": ["surprise"], "code": "extra_forbidden", "message": "Extra inputs are not permitted"}],
        ),
        (
            {"name": 42},
            [{"loc": ["name"], "code": "string_type", "message": "Input should be a valid string"}],
        ),
        (
            {"name": ""},
            [
                {
                    "loc": ["name"],
                    "code": "string_too_short",
                    "message": "String should have at least 1 character",
                }
            ],
        ),
        ({}, [{"loc": ["name"], "code": "missing", "message": "Field required"}]),
        (
            [1, 2],
            [
                {
                    "loc": ["body"],
                    "code": "model_attributes_type",
                    "message": "Input should be a valid dictionary or object to extract fields from",
                }
            ],
        ),
    ],
)
def test_invalid_bodies_are_422_with_details(world, body, details):
    # Given an authenticated admin
    # When an org is created with an unknown field, a value of the wrong type or length, none, or no object
    reply = world.call("POST", "/v1/orgs", token=world.admin.token, body=body)
    # Then 422 validation_failed names exactly the field at fault, with pydantic's code and message
    assert (reply.status, reply.body) == (
        422,
        {"error": {"code": "validation_failed", "message": "the request is invalid", "details": details}},
    )


def test_wrong_content_type_is_415(world):
    # Given an authenticated admin
    # When an org is created with a text/plain body
    reply = world.call(
        "POST", "/v1/orgs", token=world.admin.token, raw_body="name=x", headers={"content-type": "text/plain"}
    )
    # Then it is 415 unsupported_media_type in the error envelope
    _envelope(reply, 415, "unsupported_media_type")


def test_oversized_body_is_413(world):
    # Given an authenticated admin
    # When an org is created with a body of more than a megabyte
    reply = world.call(
        "POST", "/v1/orgs", token=world.admin.token, raw_body='{"name": "' + "x" * 1_100_000 + '"}'
    )
    # Then it is 413 payload_too_large in the error envelope
    _envelope(reply, 413, "payload_too_large")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/orgs/org_unknown"),
        ("GET", "/v1/projects/prj_unknown"),
        ("DELETE", "/v1/projects/prj_unknown"),
        ("GET", "/v1/connections/con-unknown"),
        ("PATCH", "/v1/connections/con-unknown"),
        ("GET", "/v1/workflows/wf_unknown"),
        ("GET", "/v1/workflows/wf_unknown/versions"),
        ("GET", "/v1/apps/app_unknown"),
        ("POST", "/v1/apps/app_unknown/rollback"),
        ("DELETE", "/v1/tokens/pat_unknown"),
        ("DELETE", "/v1/access-keys/ak_unknown"),
        ("PATCH", "/v1/orgs/org_unknown/members/usr_unknown"),
    ],
)
def test_unknown_ids_are_404(world, method, path):
    # Given an authenticated admin and an id that does not exist, with a valid body where the route takes one
    body = (
        {"name": "x"}
        if method == "PATCH" and "members" not in path
        else ({"role": "admin"} if method == "PATCH" else None)
    )
    # When the route is called with it
    reply = world.call(method, path, token=world.admin.token, body=body)
    # Then it is 404 not_found in the error envelope
    _envelope(reply, 404, "not_found")


def test_unknown_route_is_404(world):
    # Given an authenticated admin
    # When a path no route serves is called / Then it is 404 route_not_found in the error envelope
    _envelope(world.call("GET", "/v1/nowhere", token=world.admin.token), 404, "route_not_found")


def test_invalid_cursor_and_page_size(world):
    # Given an authenticated admin
    # When projects are listed with a garbage cursor, a well-formed cursor of another key, and 1000 a page
    bad = world.call(
        "GET",
        "/v1/projects",
        token=world.admin.token,
        query={"org_id": world.org_id, "next_token": "garbage!"},
    )
    # Then both cursors are 400 invalid_cursor and the page size is 422 validation_failed
    _envelope(bad, 400, "invalid_cursor")
    foreign = world.call(
        "GET",
        "/v1/projects",
        token=world.admin.token,
        query={"org_id": world.org_id, "next_token": "eyJwayI6ICJYIn0"},
    )
    _envelope(foreign, 400, "invalid_cursor")
    size = world.call(
        "GET", "/v1/projects", token=world.admin.token, query={"org_id": world.org_id, "limit": "1000"}
    )
    _envelope(size, 422, "validation_failed")


def test_missing_required_query_is_422(world):
    # Given an authenticated admin
    # When projects are listed without the required org_id / Then it is 422 validation_failed
    _envelope(world.call("GET", "/v1/projects", token=world.admin.token), 422, "validation_failed")


def test_openapi_and_docs_are_public(management):
    # Given no token
    # When the OpenAPI document and the docs page are read
    spec = management("GET", "/v1/openapi.json")
    # Then both are served: the document with the deployments path, the page with Swagger UI
    assert spec.status == 200
    assert "/v1/apps/{app_id}/deployments" in spec.body["paths"]
    docs = management("GET", "/v1/docs")
    assert docs.status == 200
    assert "swagger" in docs.raw.lower()


def test_authentication_comes_before_body_validation(management):
    # Given no token and a body that is both malformed and of the wrong type
    reply = management("POST", "/v1/orgs", raw_body="{", headers={"content-type": "application/json"})
    # When it is posted to create an org
    # Then the caller learns only that they are not authenticated
    _envelope(reply, 401, "missing_token")
