"""What every measure shares: paths, the settings environment, loading a function's handler like Lambda
does, and small statistics."""

from __future__ import annotations

import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS = ROOT / "functions"

SETTINGS_ENV = {
    "STAGE": "bench",
    "CONTROL_TABLE": "ControlTable",
    "RUNS_TABLE": "RunsTable",
    "LINKS_TABLE": "LinksTable",
    "IDEMPOTENCY_TABLE": "IdempotencyTable",
    "SECRET_PREFIX": "switchboard/switchboard-local/",
    "APPS_DOMAIN": "apps.example.test",
    "APPS_BASE_URL": "https://apps-api.example.test",
    "CREDENTIALS_FUNCTION": "CredentialsFunction",
    "EXECUTOR_FUNCTION": "ExecutorFunction:live",
    "BACKGROUND_EXECUTOR_FUNCTION": "BackgroundExecutorFunction:live",
    # Every measure's upstream is a loopback target, which the egress guard allows only when told to.
    "ALLOW_LOOPBACK_EGRESS": "true",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Switchboard",
    "POWERTOOLS_SERVICE_NAME": "bench",
}
QUIET_ENV = {
    # Handlers log and publish metrics to stdout; the benchmark's stdout is its table.
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}


def bench_env(*, quiet: bool = True) -> dict[str, str]:
    """The environment a handler module needs at import (settings are validated at cold start)."""
    return {**SETTINGS_ENV, **(QUIET_ENV if quiet else {})}


def apply_env() -> None:
    """Set the settings environment in this process, before anything reads it."""
    os.environ.update(bench_env())
    layer = str(ROOT / "layers" / "common")
    if layer not in sys.path:
        sys.path.insert(0, layer)


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` as its handler module, its directory on sys.path (like Lambda)."""
    directory = FUNCTIONS / name
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    module_name = f"bench_function_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, directory / "app.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no handler module in {directory}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class LambdaContextStub:
    function_name = "bench-function"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    function_version = "$LATEST"
    log_group_name = "/aws/lambda/bench-function"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"
