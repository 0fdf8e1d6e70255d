"""The engine imports its heavy optional libraries only when a node needs them (no AWS).

``openai`` is about half of the executor's cold import and ``jsonschema`` a tenth; a run without llm, agent
or schema-checking validator nodes never needs them, so importing the engine must not import them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LAYER = Path(__file__).resolve().parents[3] / "layers" / "common"
HEAVY = ("openai", "jsonschema")


def _imported_after(statements: str) -> dict[str, bool]:
    code = (
        f"import json, sys; sys.path.insert(0, {str(LAYER)!r})\n{statements}\n"
        f"print(json.dumps({{name: name in sys.modules for name in {HEAVY!r}}}))"
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    result: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_importing_the_engine_imports_neither_openai_nor_jsonschema() -> None:
    # Given a fresh interpreter
    # When it imports the engine's runner and every node step
    imported = _imported_after(
        "import switchboard.engine.runner, switchboard.engine.steps.llm, switchboard.engine.steps.agent,"
        " switchboard.engine.steps.validator"
    )
    # Then neither heavy library came with them
    assert imported == {"openai": False, "jsonschema": False}


def test_a_schema_check_imports_jsonschema_when_it_runs() -> None:
    # Given a fresh interpreter with the engine imported
    # When a validator checks a value against a schema
    imported = _imported_after("from switchboard.engine.schemas import check\ncheck({'type': 'object'}, {})")
    # Then jsonschema was imported for it, and openai still was not
    assert imported == {"openai": False, "jsonschema": True}
