"""A credential reference (``connection:<id>`` or ``requirement:<id>``) names one credential of a run: the
engine looks a node's credential up by it, the credentials function keys its answer by it, and the executor
reads the requirement back from it to keep links honest. Its format has one home, ``engine/contracts.py``,
which both sides use (no AWS)."""

from __future__ import annotations

import re
from pathlib import Path

from switchboard.engine.contracts import (
    connection_reference,
    credential_key,
    requirement_of,
    requirement_reference,
)
from switchboard.engine.nodes import ConnectionRef
from tests.support.source_strings import code_strings, python_files

ROOT = Path(__file__).resolve().parents[3]
CONTRACT = ROOT / "layers" / "common" / "switchboard" / "engine" / "contracts.py"
REFERENCE_SPELLING = re.compile(r"(?<![A-Za-z0-9_])(?:connection|requirement):(?=$|[A-Za-z0-9{])")
"""A reference's prefix as code spells it: the literal part of an f-string, or the prefix itself."""

CONNECTION_ID = "con-abcdefghijklmnopqrst"


def test_a_node_reference_is_keyed_like_the_credentials_function_keys_its_answer() -> None:
    # Given a node's reference to a project connection and one to an App requirement
    shared = ConnectionRef(connection_id=CONNECTION_ID)
    linked = ConnectionRef(requirement="crm")
    # When the engine keys them, and the credentials function keys what it resolved
    # Then both spell the same reference
    assert credential_key(shared) == connection_reference(CONNECTION_ID) == f"connection:{CONNECTION_ID}"
    assert credential_key(linked) == requirement_reference("crm") == "requirement:crm"


def test_the_requirement_is_read_back_from_a_requirement_reference_only() -> None:
    # Given a requirement's reference and a project connection's
    # When the requirement each names is read back
    # Then the requirement's gives its id, and the connection's none (it is no end user's link)
    assert requirement_of(requirement_reference("crm")) == "crm"
    assert requirement_of(connection_reference(CONNECTION_ID)) is None
    assert requirement_of("crm") is None


def test_the_guard_finds_a_reference_built_in_code_and_not_one_described() -> None:
    # Given code that builds a reference and code that only describes the format
    source = 'built = f"requirement:{rid}"\ndescribed = "connection:<id> or requirement:<id>"\n'
    # When the guard searches its literals
    found = [
        literal.line
        for literal in code_strings(source, "sample.py")
        if REFERENCE_SPELLING.search(literal.text)
    ]
    # Then it finds the one built
    assert found == [1]


def test_no_module_but_the_contract_spells_a_reference() -> None:
    # Given every Python module of the layer, the functions and the command-line package but the contract
    literals = [
        literal
        for path in python_files(ROOT, "layers", "functions", "switchboard_cli")
        if path != CONTRACT
        for literal in code_strings(path.read_text(), str(path.relative_to(ROOT)))
    ]
    # When their code's literals are searched for a reference's prefix
    found = [f"{x.where}:{x.line}: {x.text!r}" for x in literals if REFERENCE_SPELLING.search(x.text)]
    # Then none spells one
    assert literals
    assert found == []
