"""How big a value is, measured by walking it (never by serializing it) and never past a limit.

Both measures count a part that appears several times (a list holding the same object twice) each time it
appears, as JSON would, and stop as soon as the limit is passed: measuring a value is bounded by the limit,
whatever the value's shape.
"""

from __future__ import annotations

from typing import Any

from switchboard.engine.errors import StepError

_DIGITS_PER_BIT = 0.30103
"""log10(2): an integer of n bits has about n * 0.30103 decimal digits."""


def value_bytes(value: Any, limit: int) -> int:
    """Text: its UTF-8 bytes. Anything else: about its compact JSON size (strings as their UTF-8 bytes and
    quotes, no escapes). A result over ``limit`` means "over the limit", not the exact size."""
    if isinstance(value, str):
        return _text_bytes(value)
    total = 0
    pending = [value]
    while pending and total <= limit:
        item = pending.pop()
        if isinstance(item, str):
            total += _text_bytes(item) + 2
        elif isinstance(item, dict):
            total += 1 + 2 * len(item)
            total += sum(_text_bytes(str(key)) + 2 for key in item)
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            total += 1 + len(item)
            pending.extend(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += int(item.bit_length() * _DIGITS_PER_BIT) + 2
        else:
            total += 24
    return total


def weight(value: Any, limit: int) -> int:
    """How much data a computation over ``value`` may touch: one per value (scalar or container) and one per
    character of each string and key. A result over ``limit`` means "over the limit"."""
    total = 0
    pending = [value]
    while pending and total <= limit:
        item = pending.pop()
        total += 1
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, dict):
            total += sum(len(str(key)) for key in item)
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return total


def too_large(max_bytes: int) -> StepError:
    return StepError(
        "output_too_large",
        f"the node computed a value over its max_value_bytes ({max_bytes} bytes)",
        {"max_value_bytes": max_bytes},
        retryable=False,
    )


def _text_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
