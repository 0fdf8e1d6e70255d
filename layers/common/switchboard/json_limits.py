"""What JSON from a client may hold, checked on its text before any parser runs.

Python's parser recurses once per nesting level (``RecursionError`` near a thousand levels), and DynamoDB
stores at most 32 levels of nested attributes, numbers of at most 38 digits and magnitudes between 1e-130 and
1e126, and no NaN or infinity. A request body, a multipart part or a form field that is JSON is refused when
it nests deeper than ``MAX_JSON_DEPTH`` or holds a number DynamoDB cannot store exactly, so nothing
downstream (a parser, pydantic, a DynamoDB write) ever fails on it.

The scan is linear: strings are blanked first (one regular expression), then brackets and number tokens are
counted on what is left.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

MAX_JSON_DEPTH = 32
"""Levels of nested objects and arrays a JSON document may have: DynamoDB's limit for nested attributes."""
MAX_INTEGER_DIGITS = 38
_INTEGER_BOUND: int = 10**MAX_INTEGER_DIGITS
SMALLEST_MAGNITUDE = 1e-130
LARGEST_MAGNITUDE = 1e126

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_CONSTANT = re.compile(r"NaN|-?Infinity")
_EXPONENT_NUMBER = re.compile(r"-?[\d.]+[eE][+-]?\d+")
_LONG_NUMBER = re.compile(rf"-?[\d.]{{{MAX_INTEGER_DIGITS + 1},}}")

Problem = Literal["json_too_deep", "number_out_of_range", "malformed_json"]


class UnsafeJson(ValueError):
    """JSON refused before parsing; ``code`` is the API's error code for it."""

    def __init__(self, code: Problem, message: str) -> None:
        super().__init__(message)
        self.code: Problem = code
        self.message = message


def check_text(text: str) -> None:
    """Raise ``UnsafeJson`` when ``text`` (JSON or not) nests deeper than ``MAX_JSON_DEPTH``, holds a
    number DynamoDB cannot store, or the non-JSON constants NaN and Infinity."""
    outside_strings = _STRING.sub('""', text)
    if _too_deep(_NOT_BRACKET.sub("", outside_strings)):
        raise UnsafeJson(
            "json_too_deep", f"JSON may nest objects and arrays at most {MAX_JSON_DEPTH} levels deep"
        )
    if _CONSTANT.search(outside_strings):
        raise UnsafeJson("malformed_json", "NaN and Infinity are not JSON")
    numbers = _EXPONENT_NUMBER.findall(outside_strings) + _LONG_NUMBER.findall(outside_strings)
    if not all(storable_number(_number(token)) for token in numbers):
        raise UnsafeJson(
            "number_out_of_range",
            f"numbers may have at most {MAX_INTEGER_DIGITS} digits and a magnitude between "
            f"{SMALLEST_MAGNITUDE:g} and {LARGEST_MAGNITUDE:g}",
        )


def loads(text: str) -> Any:
    """``json.loads`` of checked text: ``UnsafeJson`` or ``json.JSONDecodeError`` (both ``ValueError``)."""
    check_text(text)
    return json.loads(text)


def storable_number(value: int | float) -> bool:
    """Whether DynamoDB stores the number exactly as it is (an integer of at most 38 digits, a finite float
    of a magnitude it supports)."""
    if isinstance(value, int):
        return abs(value) < _INTEGER_BOUND
    return math.isfinite(value) and (value == 0 or SMALLEST_MAGNITUDE <= abs(value) < LARGEST_MAGNITUDE)


def _number(token: str) -> int | float:
    """The number a token stands for as the parser reads it (malformed: infinity, never storable)."""
    if "." in token or "e" in token or "E" in token:
        try:
            return float(token)
        except ValueError:
            return math.inf
    return _INTEGER_BOUND if len(token.lstrip("-").lstrip("0")) > MAX_INTEGER_DIGITS else int(token)


def _too_deep(brackets: str) -> bool:
    depth = 0
    for bracket in brackets:
        if bracket in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        else:
            depth -= 1
    return False
