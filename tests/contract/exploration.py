"""Fuzzing one OpenAPI operation against a running server with schemathesis, within a fixed budget.

Cases come from three sources: schemathesis' coverage cases (boundary values, missing and mistyped
fields, unexpected methods; deterministic), then positive and negative cases drawn by Hypothesis. Half of
the cases get the world's real identifiers in place of the generated ones (path and query parameters,
the identifier fields of a JSON body; the Apps API's ``input`` becomes a valid one), so they get past the
404 of an unknown resource. Callback URLs are always replaced by a loopback literal that validation refuses
without a DNS lookup: nothing generated may make the server resolve or call an outside address.

Every answer is checked: no 5xx (``not_a_server_error``), a documented status code, the documented content
type, headers and body schema. A failing check is recorded, never raised, so one bad answer neither stops
the operation's exploration nor sets Hypothesis shrinking; the test fails afterwards with every finding.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckFunction, GenerationMode
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.transport import Response
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

Operation = APIOperation[Any, Any, Any, Any]
AnyCase = Case[Any]

CHECKS: tuple[CheckFunction, ...] = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)
"""Fatal checks. A 204 is documented without content, so neither its content type nor its body is checked; an
event stream's schema describes one message, which schemathesis checks for each message it parses from the
body (its ``data`` against the run event's schema, as JSON)."""
REQUEST_TIMEOUT_S = 40.0
"""Longer than a run's event stream may stay open (about 25 s)."""
SAFE_CALLBACK_URL = "https://127.0.0.1:9/contract-callback"
"""An IP literal (no DNS) on loopback, which the server refuses as a callback target."""
EXCERPT = 400


@dataclass(frozen=True)
class Budget:
    coverage_cases: int = 30
    examples_per_mode: int = 12
    seconds: float = 30.0


@dataclass(frozen=True)
class Target:
    """Where the operation is called, with which token, and the world's values for its identifiers."""

    base_url: str
    token: str
    ids: Mapping[str, str]
    body_values: Mapping[str, Any]


@dataclass(frozen=True)
class Finding:
    check: str
    status: int | None
    error_code: str
    """The ``error.code`` of an error envelope, else empty."""
    detail: str
    request: str
    response: str

    @property
    def kind(self) -> tuple[str, int | None, str]:
        """What tells two findings apart: the check, the status and the error code or failure title."""
        return self.check, self.status, self.error_code or self.detail.split(":", 1)[0]


@dataclass
class Outcome:
    operation: str
    sent: int = 0
    skipped: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def report(self, examples: int = 2) -> str:
        """Findings grouped by check, status and error code, with a reproduction for the first few."""
        groups: dict[tuple[str, int | None, str], list[Finding]] = {}
        for finding in self.findings:
            groups.setdefault(finding.kind, []).append(finding)
        lines = [
            f"{self.operation}: {len(self.findings)} failed check(s) in {self.sent} requests "
            f"({self.seconds:.1f}s; statuses {dict(sorted(self.statuses.items()))})"
        ]
        for (check, status, _), found in groups.items():
            first = found[0]
            lines.append(f"- {check}: HTTP {status} {first.error_code} ({len(found)}x): {first.detail}")
            for finding in found[:examples]:
                lines.append(f"    request:  {finding.request}")
                lines.append(f"    response: {finding.response}")
        return "\n".join(lines)


class Exploration:
    def __init__(self, operation: Operation, target: Target, budget: Budget) -> None:
        load_all_checks()
        self.operation = operation
        self.target = target
        self.budget = budget
        self.outcome = Outcome(operation.label)
        self._headers = {"Authorization": f"Bearer {target.token}"}
        self._session = requests.Session()
        self._session.trust_env = False  # the server is on this machine: never through a proxy
        self._deadline = 0.0

    def run(self) -> Outcome:
        started = time.monotonic()
        self._deadline = started + self.budget.seconds
        try:
            self._coverage()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                self._fuzz(mode)
        finally:
            self._session.close()
        self.outcome.seconds = time.monotonic() - started
        return self.outcome

    def _coverage(self) -> None:
        schema = self.operation.schema
        cases = schema.iter_coverage_cases(
            self.operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=schema.config.generation_for(operation=self.operation),
        )
        for index, case in enumerate(cases):
            if index >= self.budget.coverage_cases:
                break
            self._exchange(case, realistic=index % 2 == 1)

    def _fuzz(self, mode: GenerationMode) -> None:
        strategy = self.operation.as_strategy(generation_mode=mode)

        @settings(
            max_examples=self.budget.examples_per_mode,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(data=st.data())
        def explore(data: st.DataObject) -> None:
            case = data.draw(strategy)
            self._exchange(case, realistic=data.draw(st.booleans()))

        explore()

    def _exchange(self, case: AnyCase, *, realistic: bool) -> None:
        if time.monotonic() > self._deadline:
            self.outcome.skipped += 1
            return
        if realistic:
            self._use_world(case)
        _defuse_callbacks(case)
        try:
            response = case.call(
                base_url=self.target.base_url,
                session=self._session,
                headers=self._headers,
                timeout=REQUEST_TIMEOUT_S,
            )
        except requests.RequestException as error:
            self._record("no_answer", case, None, repr(error))
            return
        self.outcome.sent += 1
        self.outcome.statuses[response.status_code] += 1
        server_error_seen = False
        for check in CHECKS:
            try:
                case.validate_response(response, checks=[check], headers=self._headers)
            except (Failure, FailureGroup) as failure:
                server_error_seen |= check is not_a_server_error
                self._record(check.__name__, case, response, _describe(failure))
        if response.status_code >= 500 and not server_error_seen:
            self._record(not_a_server_error.__name__, case, response, "server error")

    def _use_world(self, case: AnyCase) -> None:
        ids = self.target.ids
        for name in list(case.path_parameters or {}):
            if name in ids:
                case.path_parameters[name] = ids[name]
        for name in list(case.query or {}):
            if name in ids:
                case.query[name] = ids[name]
        if isinstance(case.body, dict):
            for name, value in self.target.body_values.items():
                if name in case.body:
                    case.body[name] = value

    def _record(self, check: str, case: AnyCase, response: Response | None, message: str) -> None:
        status = response.status_code if response is not None else None
        text = response.text if response is not None else message
        self.outcome.findings.append(
            Finding(
                check=check,
                status=status,
                error_code=_error_code(text),
                detail=_clip(message),
                request=_clip(self._curl(case)),
                response=_clip(text),
            )
        )

    def _curl(self, case: AnyCase) -> str:
        try:
            return case.as_curl_command(headers=self._headers, base_url=self.target.base_url)
        except Exception as error:  # a case curl cannot express is still worth reporting
            return f"{case.method} {case.formatted_path} ({type(error).__name__} building curl)"


def _defuse_callbacks(case: AnyCase) -> None:
    if not isinstance(case.body, dict) or "callbacks" not in case.body:
        return
    callbacks = case.body["callbacks"]
    if isinstance(callbacks, list):
        for callback in callbacks:
            if isinstance(callback, dict) and "url" in callback:
                callback["url"] = SAFE_CALLBACK_URL
    elif isinstance(callbacks, str):  # a multipart part holding the callbacks as JSON
        case.body["callbacks"] = json.dumps([{"url": SAFE_CALLBACK_URL}])


def _error_code(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def _describe(failure: Failure | FailureGroup) -> str:
    first = failure.exceptions[0] if isinstance(failure, FailureGroup) else failure
    detail = " ".join(first.message.split())
    return f"{first.title}: {detail}" if detail else first.title


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT else flat[:EXCERPT] + " …"
