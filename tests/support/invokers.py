"""A function invoker for tests: routes Lambda-to-Lambda calls to handlers loaded from functions/."""

from __future__ import annotations

import json
from typing import Any

from tests.support.stack import LambdaContextStub, load_function


class HandlerInvoker:
    """Calls ``functions/<directory>/app.py`` for a function name, JSON in and JSON out like Lambda."""

    def __init__(self, routes: dict[str, str]) -> None:
        self._routes = routes
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:
        self.calls.append((function_name, payload))
        handler = load_function(self._routes[function_name]).lambda_handler
        return json.loads(json.dumps(handler(json.loads(json.dumps(payload)), LambdaContextStub())))
