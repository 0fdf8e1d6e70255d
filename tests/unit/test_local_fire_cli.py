"""``switchboard local fire``: its arguments, its refusals before any request, and what it prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from switchboard_cli import fire
from switchboard_cli.main import DEFAULT_STATE_FILE, build_parser, main

EVENT = {
    "id": "tev-abc",
    "trigger_id": "trg-abc",
    "status": "rejected",
    "reason": "requirement_not_satisfied: the user has not linked every connection this App needs (crm)",
    "run_id": None,
    "received_at": "2030-01-01T12:00:00.000Z",
}


def test_arguments_default_to_the_local_stack_of_make_serve() -> None:
    # When the command is parsed with only a trigger id
    parsed = build_parser().parse_args(["local", "fire", "trg-abc"])
    # Then it targets the default local stack and its state file
    assert (parsed.trigger_id, parsed.url, parsed.state_file, parsed.json) == (
        "trg-abc",
        "http://127.0.0.1:3000",
        DEFAULT_STATE_FILE,
        False,
    )


def test_an_unreadable_state_file_exits_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When the state file does not exist
    code = main(["local", "fire", "trg-abc", "--state-file", str(tmp_path / "absent.json")])
    # Then nothing is sent and the reason is printed
    assert code == 1
    assert "cannot read the control token" in capsys.readouterr().err


def test_an_unreachable_server_is_explained(tmp_path: Path) -> None:
    # Given a state file, but no server listening
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"format": 1, "control_token": "t"}))
    # When / Then firing says to start the local stack
    with pytest.raises(fire.FireError, match="is `switchboard local serve` running"):
        fire.fire_on_local("http://127.0.0.1:9", state, "trg-abc")


def test_a_trigger_id_that_cannot_be_one_is_refused_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(fire.FireError, match="is not a trigger id"):
        fire.fire_on_local("http://127.0.0.1:9", tmp_path / "state.json", "../admin/bootstrap")


def test_the_event_is_printed_for_a_person_or_as_json() -> None:
    # When a rejected event is rendered
    text = fire.render(EVENT, as_json=False)
    # Then a person sees its status and reason, and --json gives the event itself
    assert text.splitlines()[0] == "Event tev-abc of trigger trg-abc: rejected"
    assert "reason  requirement_not_satisfied" in text
    assert json.loads(fire.render(EVENT, as_json=True)) == EVENT
