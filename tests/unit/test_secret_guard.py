"""The suite-wide secret guard itself: a test that prints a marked secret must fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_printed_secret_fails_the_test(tmp_path: Path) -> None:
    # Given a test that prints a value carrying the secret marker, under this suite's conftest
    leaking = ROOT / "tests" / "unit" / f"test_leak_probe_{tmp_path.name}.py"
    leaking.write_text('def test_leaks():\n    print("token=abc-SECRET-xyz")\n')
    try:
        # When it runs
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(leaking)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        leaking.unlink()
    # Then pytest reports it failed because of the leak
    assert result.returncode == 1, result.stdout
    assert "reached a log line or printed output" in result.stdout
