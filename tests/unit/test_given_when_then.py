"""Every integration and e2e test says what it proves: its body holds a ``# Given``, a ``# When`` and a
``# Then`` comment (no AWS; the test files are parsed, not run).

The forms are the ones the converted tests use: a comment starting with the word (``# Given a …``,
``# When …``, ``# Then …``; ``# And …`` lines may follow each), or one comment joining steps with `` / ``
(``# When it is posted / Then it is 400``). Docstrings do not count: no test uses them for this.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = (ROOT / "tests" / "integration", ROOT / "tests" / "e2e")
WORDS = ("Given", "When", "Then")


def _comment_lines(source: str) -> dict[int, str]:
    """The text of each comment by its line, without the ``#`` and the spaces after it."""
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    return comments


def _first_words(node: ast.FunctionDef | ast.AsyncFunctionDef, comments: dict[int, str]) -> set[str]:
    """The first word (without a trailing colon) of each comment, and of each part after a `` / ``, from the
    ``def`` line to the body's end."""
    lines = range(node.lineno, (node.end_lineno or node.lineno) + 1)
    parts = [part for line in lines if line in comments for part in comments[line].split(" / ")]
    return {part.split(" ", 1)[0].rstrip(":") for part in parts}


def missing_words(source: str, where: str) -> list[str]:
    """``where:line test_name: no Given, Then`` for each ``test_*`` function whose body lacks a word."""
    comments = _comment_lines(source)
    tests = [
        node
        for node in ast.walk(ast.parse(source, where))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")
    ]
    found: list[str] = []
    for node in sorted(tests, key=lambda test: test.lineno):
        absent = [word for word in WORDS if word not in _first_words(node, comments)]
        if absent:
            found.append(f"{where}:{node.lineno} {node.name}: no {', '.join(absent)}")
    return found


def unconverted_tests() -> list[str]:
    """Every test of the checked folders that lacks a Given, a When or a Then comment."""
    found: list[str] = []
    for folder in CHECKED:
        for path in sorted(folder.glob("*.py")):
            found += missing_words(path.read_text(), str(path.relative_to(ROOT)))
    return found


def test_a_test_with_given_when_and_then_comments_passes_and_one_without_then_is_named() -> None:
    # Given a file with a helper, a test that says all three (Then with a colon, an And after it) and a test
    # whose Then is only in its docstring
    source = """
def helper():
    pass
def test_says_all_three():
    # Given a thing
    thing = 1
    # When it is used
    used = thing + 1
    # Then: it is two
    # And nothing else
    assert used == 2
def test_forgets_its_then():
    "Then this docstring is not a comment."
    # Given a thing
    # When it is used
    assert 1 == 1
"""
    # When the file is checked
    found = missing_words(source, "example.py")
    # Then only the second test is named, with its line and the word it lacks
    assert found == ["example.py:12 test_forgets_its_then: no Then"]
    # And steps joined with " / " in one comment count, but not a "/" inside a word
    joined = "def test_joined():\n    # Given a thing / When it is used / Then it is two\n    assert 2 == 2\n"
    assert missing_words(joined, "example.py") == []
    slashed = "def test_slashed():\n    # Given a thing/When it is used/Then it is two\n    assert 2 == 2\n"
    assert missing_words(slashed, "example.py") == ["example.py:1 test_slashed: no When, Then"]


def test_a_word_inside_a_sentence_or_a_string_does_not_count() -> None:
    # Given a test whose Given, When and Then appear only mid-comment or in strings
    source = (
        "def test_vague():\n"
        "    # the Given is here\n"
        '    text = "# When"\n'
        "    # Whenever it runs\n"
        "    # so Then\n"
        "    assert text\n"
    )
    # When the file is checked
    found = missing_words(source, "example.py")
    # Then all three words are missing
    assert found == ["example.py:1 test_vague: no Given, When, Then"]
    # And the same words opening the comments make it pass
    said = source.replace("the Given", "Given").replace("Whenever", "When").replace("so Then", "Then")
    assert missing_words(said, "example.py") == []


def test_every_integration_and_e2e_test_says_given_when_and_then() -> None:
    # Given the integration and e2e test files
    # When each test function's comments are read
    found = unconverted_tests()
    # Then every test has a Given, a When and a Then comment
    assert found == [], "\n".join(found)
