"""The OAuth provider fixture without Node.js: a skip on a developer's machine, a failure under CI (no AWS, no
server started; ``PATH`` is pointed at an empty directory or at a node that reports an old version)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.outcomes import Failed, Skipped

from tests.support.oauth_provider import node_problem, require_node


def _path_with_node(monkeypatch: pytest.MonkeyPatch, directory: Path, version: str | None) -> None:
    if version is not None:
        for name, script in (("node", f"#!/bin/sh\necho {version}\n"), ("npm", "#!/bin/sh\nexit 0\n")):
            (directory / name).write_text(script)
            (directory / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(directory))


def test_without_node_the_fixture_skips_locally_and_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a PATH without node
    _path_with_node(monkeypatch, tmp_path, None)
    # When the fixture checks for Node.js outside CI, then under CI
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(Skipped) as skipped:
        require_node()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(Failed) as failed:
        require_node()
    # Then it skips locally and fails under CI, both saying what is missing
    assert "node or npm is not on PATH" in str(skipped.value)
    assert "CI is set, so this fails" in str(failed.value)


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        ("v18.20.4", "found v18.20.4"),
        ("v20.18.0", "found v20.18.0"),
        ("v20.19.0", None),
        ("v22.1.0", None),
    ],
)
def test_a_node_older_than_20_19_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, version: str, problem: str | None
) -> None:
    # Given a node on PATH that reports this version
    _path_with_node(monkeypatch, tmp_path, version)
    # When the fixture checks it
    found = node_problem()
    # Then only 20.19 and later pass (Debian bookworm's 18 and early 20s lack URL.parse or crypto.hash)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found
