"""Templates (``{{ name }}``) rendered with Jinja2's immutable sandbox over a node's resolved inputs.

- Undefined names fail the node (``template_error``) instead of rendering as empty text.
- No autoescaping: the output is a prompt, a URL path or a JSON string, not HTML.
- Objects and lists render as JSON (``{{ contacts }}`` gives ``[{"name": "Ada"}]``, not a Python repr).
- The sandbox refuses unsafe attributes (``__class__``, ``mro`` …) and mutating methods.
- The text is rendered piece by piece and stops once it passes ``max_bytes`` (``output_too_large``), so a
  loop that writes without end never builds its whole text. How long rendering may take is the caller's
  bound (``engine.bounded``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from switchboard.engine.bounded.sizes import too_large
from switchboard.engine.errors import StepError


def _finalize(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


_ENVIRONMENT = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, finalize=_finalize, keep_trailing_newline=True
)


@lru_cache(maxsize=512)
def _compile(source: str) -> Template:
    return _ENVIRONMENT.from_string(source)


def parse(source: str) -> nodes.Template:
    """The template's syntax tree; raises ``jinja2.TemplateSyntaxError``."""
    return _ENVIRONMENT.parse(source)


def render(source: str, variables: Mapping[str, Any], max_bytes: int) -> str:
    if "{" not in source:
        return source
    try:
        pieces: list[str] = []
        size = 0
        for piece in _compile(source).generate(dict(variables)):
            size += len(piece) if piece.isascii() else len(piece.encode("utf-8", "surrogatepass"))
            if size > max_bytes:
                raise too_large(max_bytes)
            pieces.append(piece)
        return "".join(pieces)
    except TemplateSyntaxError as error:
        raise StepError(
            "template_error",
            f"template syntax error on line {error.lineno}: {error.message}",
            retryable=False,
        ) from None
    except SecurityError as error:
        raise StepError("template_error", f"template not allowed: {error}", retryable=False) from None
    except TemplateError as error:
        raise StepError("template_error", f"template error: {error.message}", retryable=False) from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as error:
        raise StepError(
            "template_error", f"template error: {type(error).__name__}: {error}", retryable=False
        ) from None
