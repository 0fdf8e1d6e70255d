"""The local stack: the template's tables, queues, functions, routes and SQS event sources, in one process.

``start`` isolates the process from AWS, resolves the template with local values (``AppsDomain`` =
``apps.localhost:<port>``, ``APPS_BASE_URL`` = the server's URL, ``ALLOW_LOOPBACK_EGRESS`` from the command's
switch), starts moto's server (``aws_server.py``, reached through ``AWS_ENDPOINT_URL``), creates the tables,
queues, buckets, schedule groups and KMS keys, restores the state file, makes every function (with no
execution environment yet: ``serve`` warms their first ones up once the stack answers, ``warm_up``), installs
the local function invoker, bootstraps a first admin once and, last, starts one poller per SQS event source
(``queues.py``) and the scheduler (``scheduler.py``). ``handle`` turns one HTTP request into the response API
Gateway and Lambda would give. The state file is saved in the background (``state.BackgroundSaver``): every
request that may write (any method but ``GET``, ``HEAD`` and ``OPTIONS``) and every poller batch marks the
state dirty before its response or settlement, and a save follows within about a second, at most one a second
however many writes come. ``stop`` stops the scheduler and the pollers first (within about two seconds each),
then the background saver (waiting for a save in progress), then saves once more, so every write made before
it (a ``GET``'s too) is in the file and no batch is half-settled in it; a killed process loses what changed
since its last save began.
``/_local/…`` is the stack's own loopback-only control surface (not part of the template), each route guarded
by the state file's control token: ``POST /_local/admin/bootstrap`` and ``POST /_local/triggers/<id>/fire``
(``switchboard local fire``: the trigger's schedule fires now; answers the event the trigger function
recorded). ``GET /_local/s3/<bucket>/<key>`` answers presigned download URLs (``downloads.py``): anyone with a
valid, unexpired URL may use it, as with S3.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import secrets
import sys
import threading
import traceback
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from switchboard.domain.errors import SwitchboardError, error_body
from switchboard.invoker import set_invoker
from switchboard_cli.local import environment
from switchboard_cli.local.aws_backend import (
    LocalTemplate,
    MotoBackend,
    create_buckets,
    create_queues,
    create_tables,
)
from switchboard_cli.local.downloads import (
    DOWNLOAD_ENDPOINT_VARIABLE,
    DOWNLOAD_PREFIX,
    download_endpoint,
    serve_download,
)
from switchboard_cli.local.durable import DurableService
from switchboard_cli.local.events import (
    HttpRequest,
    HttpResponse,
    HttpResponseStream,
    build_event,
    gateway_error,
    internal_server_error,
    json_response,
    response_from_result,
)
from switchboard_cli.local.functions import (
    LocalFunction,
    add_to_sys_path,
    function_specs,
    load_functions,
    warm_up,
)
from switchboard_cli.local.invoker import LocalInvoker, derive_allowed_callers
from switchboard_cli.local.kms import create_keys
from switchboard_cli.local.queues import EventSourcePollers, event_source_pollers
from switchboard_cli.local.routing import Router, router_from_template
from switchboard_cli.local.scheduler import (
    LocalScheduler,
    ScheduleNotFound,
    create_schedule_groups,
    create_template_schedules,
    invoke_grants,
)
from switchboard_cli.local.state import SAVE_INTERVAL_S, BackgroundSaver, LocalState
from switchboard_cli.local.template import StackContext, Template
from switchboard_cli.local.workers import start_forkserver

BOOTSTRAP_EMAIL = "admin@switchboard.local"
BOOTSTRAP_ORG = "Local"
CONTROL_PREFIX = "/_local/"
CONTROL_BOOTSTRAP_PATH = "/_local/admin/bootstrap"
CONTROL_FIRE_PATH = "/_local/triggers/{trigger_id}/fire"
_CONTROL_FIRE = re.compile(r"^/_local/triggers/(?P<trigger_id>[A-Za-z0-9_-]{1,128})/fire$")
CONTROL_TOKEN_HEADER = "X-Switchboard-Local-Token"  # noqa: S105 - a header name
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DRAIN_S = 10.0
SWEEP_LOOK_AHEAD_S = 60
"""The first sweep after a start also starts runs created within the last minute (``runs.START_GRACE``)."""
"""How long a stop waits for durable invocations in flight (SIGTERM's grace)."""

Bootstrapper = Callable[[str, str], Any]
"""(email, organization name) → an object with ``user_id``, ``org_id`` and ``token``."""


def bootstrap_with_runtime(email: str, org_name: str) -> Any:
    from switchboard.runtime.identity import bootstrap_admin

    return bootstrap_admin(email=email, org_name=org_name)


@dataclass(frozen=True)
class LocalAdmin:
    email: str
    user_id: str
    org_id: str
    token: str


class LocalStack:
    def __init__(
        self,
        template_path: Path,
        state_path: Path,
        bootstrapper: Bootstrapper = bootstrap_with_runtime,
        host: str = "127.0.0.1",
        save_interval_s: float = SAVE_INTERVAL_S,
    ) -> None:
        self.template_path = template_path
        self.saver = BackgroundSaver(self._save_quietly, save_interval_s)
        self.durable = DurableService(self._invoke_durable, on_change=self.saver.mark_dirty)
        self.state = LocalState(state_path, durable=self.durable)
        self.bootstrapper = bootstrapper
        self.host = host
        self.port = 0
        self.backend = MotoBackend()
        self.functions: dict[str, LocalFunction] = {}
        self.router = Router((), ())
        self.context = StackContext()
        self.pollers = EventSourcePollers()
        self.scheduler: LocalScheduler | None = None
        self._restored = False

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::", "127.0.0.1") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @property
    def apps_domain(self) -> str:
        return f"apps.localhost:{self.port}"

    @property
    def admin(self) -> LocalAdmin:
        return LocalAdmin(**self.state.get("local_admin"))

    def start(self, port: int) -> None:
        self.port = port
        self.state.read()
        environment.isolate_from_aws()
        self.context = StackContext(region=environment.local_region())
        template = LocalTemplate.from_file(self.template_path, {"AppsDomain": self.apps_domain}, self.context)
        specs = function_specs(template)
        overrides = {
            "APPS_BASE_URL": self.base_url,
            DOWNLOAD_ENDPOINT_VARIABLE: download_endpoint(self.base_url),
            **environment.switch_overrides(),
        }
        shared = environment.shared_environment(specs.values(), overrides)
        environment.apply(shared)
        for name, values in shared.collisions.items():
            kept = next(iter(values))
            sys.stderr.write(
                f"[switchboard local] {name} differs between functions {values}; keeping {kept}'s\n"
            )
        for layer in template.resources_of_type("AWS::Serverless::LayerVersion").values():
            add_to_sys_path((template.directory / str(layer["Properties"]["ContentUri"])).resolve())
        start_forkserver()
        self.backend.start()
        create_tables(template)
        create_queues(template)
        create_buckets(template)
        schedule_groups = create_schedule_groups(template)
        create_keys(template)
        self.state.restore()
        create_template_schedules(template)
        self._restored = True
        if not self.state.get("control_token"):
            self.state.set("control_token", secrets.token_urlsafe(32))
        self.functions = load_functions(template, specs)
        self.router = router_from_template(template, specs.values())
        durable = [spec for spec in specs.values() if spec.durable_timeout_s]
        self.durable.set_functions(
            {spec.logical_id: int(spec.durable_timeout_s or 0) for spec in durable},
            max((spec.timeout_s for spec in durable), default=None),
        )
        set_invoker(LocalInvoker(self.functions, derive_allowed_callers(template, specs), self.durable))
        if not self.state.get("local_admin"):
            admin = self.bootstrap(BOOTSTRAP_EMAIL, BOOTSTRAP_ORG)
            self.state.set("local_admin", asdict(admin))
        self.state.save()
        self.saver.start()
        self.pollers = event_source_pollers(template, self.functions, on_batch=self.saver.mark_dirty)
        self.pollers.start()
        self.scheduler = LocalScheduler(
            schedule_groups,
            self._invoke_as_scheduler,
            invoke_grants(template),
            on_fire=lambda _firing: self.saver.mark_dirty(),
        )
        self.scheduler.start()
        resumed = self.durable.resume()
        if resumed:
            sys.stderr.write(f"[switchboard local] resumed {len(resumed)} durable execution(s) in flight\n")
        self._sweep_now(template)

    def warm_up(self) -> None:
        """Start each function's first execution environment in the background (``serve`` calls it once the
        stack answers, so the imports never delay that; a call before it is a cold start, as on Lambda)."""
        warm_up(list(self.functions.values()))

    def stop(self, drain_s: float = DRAIN_S) -> None:
        """Stop the scheduler and the pollers, let the durable invocations in flight end (at most ``drain_s``:
        what they finish is checkpointed, what they do not resumes at the next start), stop the background
        saver, then save (unless the state never made it into moto: that would overwrite it with nothing)."""
        if self.scheduler is not None:
            self.scheduler.stop()
        self.pollers.stop()
        drained = not self._restored or self.durable.drain(drain_s)
        if not drained:
            sys.stderr.write(
                "[switchboard local] durable invocations still running: they resume at the next start\n"
            )
        self.saver.stop()
        if self._restored:
            self.state.save()
        self.durable.close(abandon=not drained)
        for function in self.functions.values():
            function.close()
        if drained:
            self.backend.stop()
        # Otherwise moto stays: the invocations still running (abandoned, as Lambda abandons a stopped
        # one) must never reach real AWS; nothing they write from now on is saved, and the process ends.

    def _sweep_now(self, template: Template) -> None:
        """Fire the template's sweep schedules (input ``{"sweep": true}``) once, now, looking a minute ahead:
        a run created just before the last stop has nothing else to start it, and the schedule's first
        firing is a minute away. In the background: the stack serves meanwhile."""
        for resource in template.resources_of_type("AWS::Scheduler::Schedule").values():
            target = template.resolve(resource.get("Properties", {})).get("Target") or {}
            if json.loads(str(target.get("Input") or "{}")) != {"sweep": True}:
                continue
            function_id = str(target.get("Arn", "")).split(":function:")[-1].split(":")[0]
            if function_id not in self.functions:
                continue
            event = {"sweep": True, "look_ahead_seconds": SWEEP_LOOK_AHEAD_S}
            threading.Thread(
                target=self._invoke_quietly, args=(function_id, event), name="first-sweep", daemon=True
            ).start()

    def _invoke_quietly(self, function_id: str, event: dict[str, Any]) -> None:
        try:
            self._invoke_as_scheduler(function_id, event)
        except Exception:
            sys.stderr.write(f"[switchboard local] the first sweep failed:\n{traceback.format_exc()}")

    def _invoke_durable(self, function_id: str, invocation: Any) -> Any:
        """The durable service's invocation of a function (its handler, in an execution environment)."""
        return self.functions[function_id].call(invocation, str(uuid.uuid4()))

    def _invoke_as_scheduler(self, function_id: str, event: dict[str, Any]) -> Any:
        function = self.functions.get(function_id)
        if function is None:
            raise LookupError(f"function {function_id} does not exist in the local stack")
        return function.call(event, str(uuid.uuid4()))

    def bootstrap(self, email: str, org_name: str) -> LocalAdmin:
        created = self.bootstrapper(email, org_name)
        return LocalAdmin(email=email, user_id=created.user_id, org_id=created.org_id, token=created.token)

    def handle(self, request: HttpRequest, stream: HttpResponseStream | None = None) -> HttpResponse:
        """``stream``, when the server can stream this request's response, is offered to the handler
        (``switchboard.streaming``); when the handler opened it, the returned response is not sent."""
        try:
            if request.raw_path.startswith(DOWNLOAD_PREFIX):
                return serve_download(request)
            if request.raw_path.startswith(CONTROL_PREFIX):
                return self._control(request)
            return self._route(request, stream)
        finally:
            if request.method.upper() not in READ_ONLY_METHODS:
                self.saver.mark_dirty()

    def _route(self, request: HttpRequest, stream: HttpResponseStream | None) -> HttpResponse:
        match = self.router.match(request.host, request.method, request.raw_path)
        if match is None:
            return gateway_error(404, "Not Found")
        function_id = match.route.function_id
        request_id = str(uuid.uuid4())
        event = build_event(request, match, account_id=self.context.account_id, request_id=request_id)
        try:
            result = self.functions[function_id].call(event, request_id, stream)
            return response_from_result(result, function_id)
        except Exception:
            sys.stderr.write(f"[switchboard local] {function_id} failed:\n{traceback.format_exc()}")
            if stream is not None:
                stream.abort()
            return internal_server_error(function_id)

    def _control(self, request: HttpRequest) -> HttpResponse:
        fire = _CONTROL_FIRE.match(request.raw_path)
        if request.raw_path != CONTROL_BOOTSTRAP_PATH and fire is None:
            return gateway_error(404, "Not Found")
        if request.method.upper() != "POST":
            return gateway_error(405, "Method Not Allowed")
        token = request.header(CONTROL_TOKEN_HEADER) or ""
        expected = str(self.state.get("control_token") or "")
        if not _is_loopback(request.source_ip) or not expected or not hmac.compare_digest(token, expected):
            return gateway_error(403, "Forbidden")
        if fire is not None:
            return self._fire(fire["trigger_id"])
        try:
            body = json.loads(request.body or b"{}")
            email, org = body["email"], body["org"]
            if not isinstance(email, str) or not isinstance(org, str):
                raise TypeError("email and org must be strings")
        except (ValueError, KeyError, TypeError) as error:
            return _error(400, "bad_request", f"expected a JSON body {{email, org}}: {error}")
        try:
            admin = self.bootstrap(email, org)
        except SwitchboardError as error:
            return _error(error.status, error.error_code, error.message, error.details)
        return json_response(201, {"user_id": admin.user_id, "org_id": admin.org_id, "token": admin.token})

    def _fire(self, trigger_id: str) -> HttpResponse:
        """Fire the trigger's schedule now; the event the trigger function recorded, or why there is none."""
        if self.scheduler is None:
            return gateway_error(503, "Service Unavailable")
        try:
            firing = self.scheduler.fire_now(trigger_id)
        except ScheduleNotFound:
            return _error(
                404,
                "schedule_not_found",
                f"{trigger_id} has no schedule: only schedule triggers fire from here (post a signed event "
                "to a webhook trigger's URL instead)",
            )
        if firing.error is not None:
            return _error(502, "firing_failed", firing.error)
        answer = firing.result if isinstance(firing.result, dict) else {}
        refusal = answer.get("error")
        if isinstance(refusal, dict):
            status = 404 if refusal.get("code") == "not_found" else 400
            return _error(
                status, str(refusal.get("code")), str(refusal.get("message")), refusal.get("details")
            )
        return json_response(200, {"data": answer.get("event")})

    def _save_quietly(self) -> None:
        """One background save; a failed one is reported and tried again after the interval."""
        try:
            self.state.save()
        except Exception:
            sys.stderr.write(f"[switchboard local] saving state failed:\n{traceback.format_exc()}")
            self.saver.mark_dirty()


def _error(status: int, code: str, message: str, details: Any = None) -> HttpResponse:
    return json_response(status, error_body(code, message, details))


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.removeprefix("::ffff:")).is_loopback
    except ValueError:
        return False
