"""The architecture document describes the tree that is there (no AWS): every repository path, module and
template resource it names in backticks exists, so the page cannot drift silently from the code.

What is checked, in backticks outside fenced blocks:
- a path (a token with ``/`` or a file extension): from the repository root, or from the common layer's
  package (``runtime/runs/program.py`` is ``layers/common/switchboard/runtime/runs/program.py``); a bare file
  name exists somewhere in the tree;
- a dotted module (``switchboard.runtime.runs.ending.end_run``): the module, and a name it defines;
- a template resource (``ExecutorFunction``, ``RunQueue`` …: a CamelCase name ending like a resource kind).
Tokens holding a placeholder or a space (``apps/<app_id>/runs/``, ``POST /v1/runs``) are not names.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "architecture.md"
README = ROOT / "README.md"
LAYER_PACKAGE = ROOT / "layers" / "common" / "switchboard"
MODULE_ROOTS = {"switchboard": ROOT / "layers" / "common", "switchboard_cli": ROOT}
TREE = ("layers", "functions", "switchboard_cli", "tests", "bench", "docs", "events", "packaging")
_FILE = re.compile(r"\.(py|md|json|yaml|toml|txt)$")
_MODULE = re.compile(r"^(switchboard|switchboard_cli)(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_RESOURCE = re.compile(r"^[A-Z][A-Za-z0-9]*(Function|Role|Queue|Key|Schedule|Policy|Table|Bucket)$")


def _names(markdown: str) -> list[str]:
    without_fences = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return re.findall(r"`([^`\n]+)`", without_fences)


def _path_exists(token: str) -> bool:
    relative = token.rstrip("/")
    if "/" not in relative:
        return (ROOT / relative).exists() or any(any((ROOT / top).rglob(relative)) for top in TREE)
    return (ROOT / relative).exists() or (LAYER_PACKAGE / relative).exists()


def _module_exists(token: str) -> bool:
    parts = token.split(".")
    base = MODULE_ROOTS[parts[0]]
    for length in range(len(parts), 0, -1):
        folder = base.joinpath(*parts[:length])
        found = folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")
        if found.is_file():
            rest = parts[length:]
            if not rest:
                return True
            defined = rf"^(def|class) {rest[0]}\b|^{rest[0]}\b.*="
            return len(rest) == 1 and re.search(defined, found.read_text(), re.M) is not None
    return False


def missing_names(markdown: str, template: str) -> list[str]:
    """The names in ``markdown`` that the tree (or ``template``) does not have."""
    missing: list[str] = []
    for token in _names(markdown):
        if re.search(r"[\s<>{}*…]|://|^/", token):
            continue
        if _MODULE.match(token):
            found = _module_exists(token)
        elif _RESOURCE.match(token):
            found = re.search(rf"^  {token}:$", template, re.M) is not None
        elif "/" in token or _FILE.search(token):
            found = _path_exists(token)
        else:
            continue
        if not found:
            missing.append(token)
    return missing


def test_the_check_reports_a_name_that_is_gone_and_accepts_one_that_is_there() -> None:
    # Given a page naming real paths, a module, a name it defines and a resource, and the same kinds gone
    page = (
        "`runtime/runs/program.py`, `functions/executor/app.py`, `switchboard.runtime.runs.ending.end_run`,"
        " `ExecutorFunction`, `apps/<app_id>/runs/`, `POST /v1/runs`\n"
        "```\nruntime/old.py\n```\n"
        "`runtime/old.py`, `switchboard.runtime.runs.ending.begin_run`, `ReaperFunction`, `gone.py`"
    )
    template = "Resources:\n  ExecutorFunction:\n    Type: AWS::Serverless::Function\n"
    # When the check reads it
    missing = missing_names(page, template)
    # Then it reports exactly the names that are gone, not what is there, placeholders or fenced text
    gone = ["runtime/old.py", "switchboard.runtime.runs.ending.begin_run", "ReaperFunction", "gone.py"]
    assert missing == gone


def test_every_name_in_the_architecture_document_exists() -> None:
    # Given the architecture document and the template
    markdown = DOCUMENT.read_text()
    # When every path, module and resource it names is looked up
    missing = missing_names(markdown, (ROOT / "template.yaml").read_text())
    # Then each exists, and the page names enough of the tree for the check to mean something
    assert missing == []
    assert len(_names(markdown)) > 100


def test_the_readme_links_the_architecture_document_and_nothing_outside_the_repository() -> None:
    # Given the README and the project's documentation
    readme = README.read_text()
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    # When their links are read
    links = [link for page in pages for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text())]
    # Then the README links the architecture document, and no link leaves the repository through a parent
    assert "](docs/architecture.md)" in readme
    assert [link for link in links if link.startswith("../") or "/../" in link] == []
