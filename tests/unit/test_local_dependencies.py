"""moto is an optional dependency (the ``local`` group): the CLI names what is missing and how to get it."""

from __future__ import annotations

import sys

import pytest

from switchboard_cli.local import INSTALL_HINT, missing_dependencies
from switchboard_cli.main import main


def test_with_the_local_group_installed_nothing_is_missing():
    # Given this environment, installed with the local group (make test installs it)
    # When the CLI checks the local stack's dependencies
    # Then none is missing
    assert missing_dependencies() == []


def test_without_moto_local_serve_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    # Given a Python where moto cannot be imported (a None entry in sys.modules makes it unimportable)
    monkeypatch.setitem(sys.modules, "moto", None)
    # When the developer starts the local stack
    with pytest.raises(SystemExit) as exit_:
        main(["local", "serve", "--port", "0"])
    # Then it exits 2 before starting anything, naming moto and the command that installs it
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "needs moto:" in error
    assert INSTALL_HINT in error
    assert INSTALL_HINT.startswith("pip install -e '.[local]'")
