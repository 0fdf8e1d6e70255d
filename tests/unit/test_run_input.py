"""A run input checked against its input node before the run exists; files placed into fields; trace spans
nested into a tree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard.api.views.runs import span_tree
from switchboard.domain.errors import ValidationFailed
from switchboard.engine.nodes import InputNode
from switchboard.runtime.runs.inputs import check_input, coerce_form_fields, place_files
from switchboard.runtime.runs.uploads import FileReference, UploadedFile

NODE = InputNode.model_validate(
    {
        "id": "start",
        "type": "input",
        "fields": [
            {"name": "text", "type": "string", "required": True},
            {"name": "number", "type": "number"},
            {"name": "count", "type": "integer"},
            {"name": "flag", "type": "boolean"},
            {"name": "options", "type": "object"},
            {"name": "items", "type": "array"},
            {"name": "doc", "type": "file"},
            {"name": "files", "type": "array"},
        ],
    }
)
BUCKET = "files"


def _ref(key: str = "apps/app-1/runs/run-1/files/1-a.txt", bucket: str = BUCKET) -> dict[str, Any]:
    return {"name": "a.txt", "content_type": "text/plain", "size": 1, "bucket": bucket, "key": key}


def _problems(given: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as raised:
        check_input(NODE, given, "app-1", BUCKET)
    return sorted((d["loc"][1], d["code"]) for d in raised.value.details)


def test_a_matching_input_passes() -> None:
    check_input(
        NODE,
        {
            "text": "t",
            "number": 1.5,
            "count": 2,
            "flag": False,
            "options": {},
            "items": [],
            "doc": _ref(),
            "files": [_ref()],
        },
        "app-1",
        BUCKET,
    )
    check_input(NODE, {"text": "t", "number": 3, "doc": None}, "app-1", BUCKET)


def test_each_problem_is_named_by_field() -> None:
    assert _problems({"number": "1", "count": 1.5, "flag": 1, "options": [], "extra": True}) == [
        ("count", "invalid_type"),
        ("extra", "unknown_field"),
        ("flag", "invalid_type"),
        ("number", "invalid_type"),
        ("options", "invalid_type"),
        ("text", "missing"),
    ]
    assert _problems({"text": "t", "count": True}) == [("count", "invalid_type")]


@pytest.mark.parametrize(
    "doc",
    [
        "apps/app-1/x",
        {"name": "a"},
        {**_ref(), "extra": 1},
        _ref(key="apps/app-2/runs/run-1/files/1-a.txt"),
        _ref(bucket="elsewhere"),
    ],
)
def test_a_file_field_takes_only_a_reference_to_a_file_of_this_app(doc: Any) -> None:
    assert _problems({"text": "t", "doc": doc}) == [("doc", "invalid_file")]


def test_form_fields_are_converted_to_the_declared_types() -> None:
    converted = coerce_form_fields(
        NODE,
        {
            "text": "12",
            "number": "2.5",
            "count": "7",
            "flag": "true",
            "options": '{"a": 1}',
            "items": "[1]",
            "other": "kept",
        },
    )
    assert converted == {
        "text": "12",
        "number": 2.5,
        "count": 7,
        "flag": True,
        "options": {"a": 1},
        "items": [1],
        "other": "kept",
    }
    assert coerce_form_fields(NODE, {"number": "3"}) == {"number": 3}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("count", "1.5"),
        ("number", "nan"),
        ("number", "inf"),
        ("flag", "yes"),
        ("options", "[]"),
        ("items", "{"),
    ],
)
def test_form_fields_that_do_not_convert_are_422(name: str, text: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        coerce_form_fields(NODE, {name: text})
    assert raised.value.details[0]["loc"] == ["input", name]


def _upload(field: str, n: int) -> tuple[FileReference, UploadedFile]:
    ref = FileReference.model_validate(_ref(key=f"apps/app-1/runs/run-1/files/{n}-a.txt"))
    return ref, UploadedFile(field, "a.txt", "text/plain", b"a")


def test_files_go_to_their_field_or_to_files() -> None:
    placed = place_files(
        NODE,
        {"text": "t"},
        [_upload("doc", 1), _upload("items", 2), _upload("anything", 3)],
        [FileReference.model_validate(_ref(key="apps/app-1/runs/run-0/files/1-old.txt"))],
    )
    assert placed["doc"]["key"].endswith("/1-a.txt")
    assert [f["key"][-7:] for f in placed["items"]] == ["2-a.txt"]
    assert [f["key"].rsplit("/", 2)[-2:] for f in placed["files"]] == [
        ["files", "3-a.txt"],
        ["files", "1-old.txt"],
    ]


def test_a_file_that_no_field_can_take_is_422() -> None:
    no_files_field = InputNode.model_validate(
        {"id": "start", "type": "input", "fields": [{"name": "doc", "type": "file"}]}
    )
    with pytest.raises(ValidationFailed) as raised:
        place_files(no_files_field, {}, [_upload("doc", 1), _upload("doc", 2)], [])
    assert raised.value.details == [
        {
            "loc": ["files", "doc"],
            "code": "unplaceable_file",
            "message": "no free file or array input field takes it",
        }
    ]


def test_spans_nest_under_their_parents_in_start_order() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)

    def span(span_id: str, parent: str | None, offset: int) -> dict[str, Any]:
        at = (start + timedelta(seconds=offset)).isoformat()
        return {
            "id": span_id,
            "parent_id": parent,
            "kind": "node",
            "name": span_id,
            "status": "completed",
            "started_at": at,
        }

    tree = span_tree(
        [
            span("b", "root", 2),
            span("root", None, 0),
            span("a", "root", 1),
            span("a1", "a", 3),
            span("lost", "x", 4),
        ]
    )
    assert [(s.id, [c.id for c in s.children]) for s in tree] == [("root", ["a", "b"]), ("lost", [])]
    assert [c.id for c in tree[0].children[0].children] == ["a1"]
