"""Regular expressions run on RE2 (``google-re2``): matching takes time linear in the text whatever the
pattern, so a pattern like ``^(a+)+$`` cannot hold a process for seconds as it does on a backtracking
engine.

RE2's syntax is Python's minus what needs backtracking: no backreferences (``\\1``, ``(?P=name)``), no
lookaround (``(?=…)``, ``(?<=…)``), no possessive quantifiers or atomic groups, no verbose flag (``(?x)``),
``\\z`` instead of ``\\Z``, a counted repetition repeats at most 1000 times, and ``\\d``, ``\\w``, ``\\s`` are
ASCII. A pattern RE2 cannot run is refused when the definition is saved (``pattern_problem``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import re2

_TOO_LARGE = ("invalid repetition size", "pattern too large")
_WHY = {
    "invalid perl operator": "lookaround, named backreferences, conditionals and the verbose flag are not"
    " supported",
    "invalid escape sequence": "an escape RE2 does not have (backreferences such as \\1 are not supported;"
    " use \\z for \\Z)",
    "bad repetition operator": "possessive and nested quantifiers such as ++ or *+ are not supported",
    "invalid repetition size": "a counted repetition goes over 1000",
    "pattern too large": "the compiled pattern is over RE2's memory budget",
}


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False
    return options


_OPTIONS = _options()
RegexError = re2.error
"""What RE2 raises for a pattern it cannot run."""


@lru_cache(maxsize=256)
def compiled(pattern: str) -> Any:
    """The RE2 program of a pattern; raises ``re2.error``."""
    return re2.compile(pattern, _OPTIONS)


def fullmatch(pattern: str, text: str) -> bool:
    return compiled(pattern).fullmatch(text) is not None


def search(pattern: str, text: str) -> bool:
    return compiled(pattern).search(text) is not None


def program_size(pattern: str) -> int:
    """The size of the pattern's RE2 program: matching costs at most this much per byte of text."""
    return int(compiled(pattern).programsize)


def pattern_problem(pattern: str) -> tuple[str, str] | None:
    """None when RE2 runs the pattern, else ``(code, message)``: ``invalid_regex`` (not a regular expression
    at all), ``regex_unsupported`` (valid, but needs backtracking) or ``regex_too_large``. Messages never
    repeat the pattern."""
    try:
        compiled(pattern)
    except re2.error as error:
        reason = _reason(error)
    else:
        return None
    try:
        re.compile(pattern)
    except re.error as error:
        return "invalid_regex", f"not a valid regular expression: {error.msg} at position {error.pos}"
    code = "regex_too_large" if reason.startswith(_TOO_LARGE) else "regex_unsupported"
    why = next((text for prefix, text in _WHY.items() if reason.startswith(prefix)), reason)
    return code, f"RE2 cannot run this pattern: {why}"


def _reason(error: Exception) -> str:
    """RE2's error kind: the fixed text before the colon (after it comes a piece of the pattern)."""
    raw = error.args[0] if error.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return text.split(":", 1)[0].strip()
