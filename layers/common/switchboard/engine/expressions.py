"""JMESPath evaluation over a node's data (``transform`` and ``choice``); how long it may take is the
caller's bound (``engine.bounded``)."""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError, JMESPathTypeError

from switchboard.engine.errors import StepError


def search(expression: str, data: Any) -> Any:
    """JMESPath over ``data``; a run-time failure (a type mismatch in a function) is ``expression_error``."""
    try:
        return jmespath.search(expression, data)
    except JMESPathTypeError as error:
        # Its own message repeats the offending value: name the types instead.
        expected = ", ".join(error.expected_types)
        message = f"in {error.function_name}(): expected {expected}, got {error.actual_type}"
        raise StepError("expression_error", message, retryable=False) from None
    except JMESPathError as error:
        raise StepError(
            "expression_error", f"JMESPath evaluation failed: {type(error).__name__}", retryable=False
        ) from None


def truthy(value: Any) -> bool:
    """JMESPath's truthiness: ``false``, ``null``, ``""``, ``[]`` and ``{}`` are false; every number
    (``0`` included) is true."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True
