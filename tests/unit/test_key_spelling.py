"""Every DynamoDB key is spelled in ``store/keys.py`` only (no AWS): the other modules build and read keys
through its builders and parsers, so a key's format changes in one place.

The key segments (``RUN#``, ``#RUNS``, ``EVT#`` …) are read from ``store/keys.py`` itself, so a segment added
there is guarded at once; documentation (docstrings) may name keys, code may not.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from switchboard.domain.ids import iso
from switchboard.store import keys
from tests.support.source_strings import Literal, code_strings, python_files

ROOT = Path(__file__).resolve().parents[2]
KEYS_MODULE = ROOT / "layers" / "common" / "switchboard" / "store" / "keys.py"
SCANNED = ("layers", "switchboard_cli", "functions")


def _key_segments() -> set[str]:
    """The upper-case segments joined by ``#`` in the keys that ``store/keys.py`` spells."""
    segments: set[str] = set()
    for literal in code_strings(KEYS_MODULE.read_text(), "keys.py"):
        segments.update(re.findall(r"([A-Z][A-Z_]*)#", literal.text))
        segments.update(re.findall(r"#([A-Z][A-Z_]*)", literal.text))
    return segments


def _spelling(segments: set[str]) -> re.Pattern[str]:
    words = "|".join(sorted(segments, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9_])(?:{words})#|#(?:{words})(?![A-Za-z0-9_])")


def _key_spellings(literals: list[Literal], spelling: re.Pattern[str]) -> list[str]:
    return [
        f"{found.where}:{found.line}: {found.text!r}" for found in literals if spelling.search(found.text)
    ]


def test_the_guard_knows_every_key_segment_of_the_key_module() -> None:
    # Given the key module
    # When its key segments are read
    segments = _key_segments()
    # Then they include the partitions and sort keys of all three tables and their indexes
    expected = "USER ORG PROJECT APP RUN RUNS ACTIVE EVENT SESSION TURN EVT FIRING TRIGGERNAME LINK LINKREF"
    assert set(expected.split()) <= segments
    assert {"LINKLOG", "CONNECT", "LINKEVENT", "MEMBER", "TOKEN", "PATS", "ACCESS_KEYS"} <= segments


def test_the_guard_finds_a_key_built_in_code_and_ignores_one_named_in_documentation() -> None:
    # Given a module that names a run's key in its docstring and builds it in code, with and without f-string
    source = '''"""A run is stored under ``RUN#<run>``."""
def key(run_id):
    """Build ``RUN#<run>``."""
    return {"pk": f"RUN#{run_id}", "sk": "RUN"}
def partition(app_id):
    return app_id + "#RUNS"
def status(name):
    return f"#{name} = :{name}"
'''
    # When the guard scans it
    found = _key_spellings(list(code_strings(source, "sample.py")), _spelling(_key_segments()))
    # Then it reports the two keys built in code, and neither the documentation nor an attribute placeholder
    assert found == ["sample.py:4: 'RUN#'", "sample.py:6: '#RUNS'"]


def test_no_module_outside_the_key_module_spells_a_key() -> None:
    # Given every Python module of the layer, the functions and the command-line package but the key module
    spelling = _spelling(_key_segments())
    literals = [
        literal
        for path in python_files(ROOT, *SCANNED)
        if path != KEYS_MODULE
        for literal in code_strings(path.read_text(), str(path.relative_to(ROOT)))
    ]
    # When their code's string literals are searched for a key segment
    found = _key_spellings(literals, spelling)
    # Then none spells one: keys are built and read through store/keys.py
    assert literals
    assert found == []


def test_key_parsers_read_what_the_builders_spell() -> None:
    # Given a run's key and a session turn's key, as the builders spell them
    created = datetime(2026, 5, 4, 3, 2, 1, 987000, tzinfo=UTC)
    run = keys.run("run-abcdefghijklmnopqrst")
    turn = keys.session_turn("app-one", "session-1", created, "run-abcdefghijklmnopqrst")
    # When the parsers read them back
    run_id = keys.run_id_of(run["pk"])
    asked = keys.session_turn_created_at(turn["sk"])
    # Then they give the run id and the turn's creation time
    assert run_id == "run-abcdefghijklmnopqrst"
    assert asked == iso(created) == "2026-05-04T03:02:01.987Z"


def test_listing_positions_match_the_sort_keys_the_builders_spell_and_nothing_else() -> None:
    # Given a run's listing sort key and a trigger event's sort key, as the builders spell them
    at = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
    run_position = keys.listing_index("APP#app-one#RUNS#3", at, "run-abcdefghijklmnopqrst")["gsi1sk"]
    event_position = keys.trigger_event("trg-one", at, "tev-abcdefghijklmnopqrst")["sk"]
    # When the listing shapes check them, and positions that are not such keys
    # Then each shape takes its own keys only
    assert keys.RUN_LISTING_POSITION.fullmatch(run_position)
    assert keys.TRIGGER_EVENT_POSITION.fullmatch(event_position)
    assert not keys.RUN_LISTING_POSITION.fullmatch(event_position)
    assert not keys.TRIGGER_EVENT_POSITION.fullmatch(run_position)
    assert not keys.RUN_LISTING_POSITION.fullmatch(run_position.replace("run-", "tev-"))
