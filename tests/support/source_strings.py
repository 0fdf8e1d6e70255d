"""The string literals of Python source, documentation left out: what a spelling test greps.

A string that is a statement of its own (a module, class or function docstring, or the docstring of an
attribute) documents; every other literal, f-strings' literal parts included, is code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Literal:
    where: str
    line: int
    text: str


def code_strings(source: str, where: str) -> Iterator[Literal]:
    """Every string literal of ``source`` that is code, not documentation, in the order of its lines."""
    tree = ast.parse(source)
    documentation = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    found = [
        Literal(where, node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in documentation
    ]
    yield from sorted(found, key=lambda literal: literal.line)


def python_files(root: Path, *folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((root / folder).rglob("*.py"))
