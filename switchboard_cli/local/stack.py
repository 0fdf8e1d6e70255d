"""The local stack: the template's tables, queues, functions, routes and SQS event sources, in one process.

``start`` isolates the process from AWS, resolves the template with local values (``AppsDomain`` =
``apps.localhost:<port>``, ``APPS_BASE_URL`` = the server's URL, ``ALLOW_LOOPBACK_CALLBACKS`` from the
command's switch), starts moto, creates the tables, queues and buckets, restores the state file, loads every
handler, installs the local function invoker, bootstraps a first admin once and, last, starts one poller per
SQS event source (``queues.py``). ``stop`` stops the pollers first (within about two seconds), then saves the
state, so no batch is half-settled in the file. ``handle`` turns one HTTP request into the response API
Gateway and Lambda would give, and saves the state after every request that may write (and each poller saves
after every batch). ``/_local/…`` is the stack's own loopback-only control surface (not part of the template):
``POST /_local/admin/bootstrap`` with the state file's control token.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import sys
import traceback
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from switchboard.invoker import set_invoker
from switchboard_cli.local import environment
from switchboard_cli.local.aws_backend import (
    LocalTemplate,
    MotoBackend,
    create_buckets,
    create_queues,
    create_tables,
)
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
from switchboard_cli.local.functions import LocalFunction, add_to_sys_path, function_specs, load_functions
from switchboard_cli.local.invoker import LocalInvoker, derive_allowed_callers
from switchboard_cli.local.queues import EventSourcePollers, event_source_pollers
from switchboard_cli.local.routing import Router, router_from_template
from switchboard_cli.local.state import LocalState
from switchboard_cli.local.template import StackContext

BOOTSTRAP_EMAIL = "admin@switchboard.local"
BOOTSTRAP_ORG = "Local"
CONTROL_PREFIX = "/_local/"
CONTROL_BOOTSTRAP_PATH = "/_local/admin/bootstrap"
CONTROL_TOKEN_HEADER = "X-Switchboard-Local-Token"  # noqa: S105 - a header name
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

Bootstrapper = Callable[[str, str], Any]
"""(email, organization name) → an object with ``user_id``, ``org_id`` and ``token``."""


def bootstrap_with_runtime(email: str, org_name: str) -> Any:
    from switchboard.runtime.bootstrap import bootstrap_admin

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
    ) -> None:
        self.template_path = template_path
        self.state = LocalState(state_path)
        self.bootstrapper = bootstrapper
        self.host = host
        self.port = 0
        self.backend = MotoBackend()
        self.functions: dict[str, LocalFunction] = {}
        self.router = Router((), ())
        self.context = StackContext()
        self.pollers = EventSourcePollers()
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
        overrides = {"APPS_BASE_URL": self.base_url, **environment.switch_overrides()}
        shared = environment.shared_environment(specs.values(), overrides)
        environment.apply(shared)
        for name, values in shared.collisions.items():
            kept = next(iter(values))
            sys.stderr.write(
                f"[switchboard local] {name} differs between functions {values}; keeping {kept}'s\n"
            )
        for layer in template.resources_of_type("AWS::Serverless::LayerVersion").values():
            add_to_sys_path((template.directory / str(layer["Properties"]["ContentUri"])).resolve())
        self.backend.start()
        create_tables(template)
        create_queues(template)
        create_buckets(template)
        self.state.restore()
        self._restored = True
        if not self.state.get("control_token"):
            self.state.set("control_token", secrets.token_urlsafe(32))
        self.functions = load_functions(template, specs)
        self.router = router_from_template(template, specs.values())
        set_invoker(LocalInvoker(self.functions, derive_allowed_callers(template, specs)))
        if not self.state.get("local_admin"):
            admin = self.bootstrap(BOOTSTRAP_EMAIL, BOOTSTRAP_ORG)
            self.state.set("local_admin", asdict(admin))
        self.state.save()
        self.pollers = event_source_pollers(template, self.functions, on_batch=self._save_quietly)
        self.pollers.start()

    def stop(self) -> None:
        """Stop the pollers, then save (unless the state never made it into moto: that would overwrite it
        with nothing)."""
        self.pollers.stop()
        if self._restored:
            self.state.save()
        self.backend.stop()

    def bootstrap(self, email: str, org_name: str) -> LocalAdmin:
        created = self.bootstrapper(email, org_name)
        return LocalAdmin(email=email, user_id=created.user_id, org_id=created.org_id, token=created.token)

    def handle(self, request: HttpRequest, stream: HttpResponseStream | None = None) -> HttpResponse:
        """``stream``, when the server can stream this request's response, is offered to the handler
        (``switchboard.streaming``); when the handler opened it, the returned response is not sent."""
        if request.raw_path.startswith(CONTROL_PREFIX):
            response = self._control(request)
        else:
            response = self._route(request, stream)
        if request.method.upper() not in READ_ONLY_METHODS:
            self._save_quietly()
        return response

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
        if request.raw_path != CONTROL_BOOTSTRAP_PATH:
            return gateway_error(404, "Not Found")
        if request.method.upper() != "POST":
            return gateway_error(405, "Method Not Allowed")
        token = request.header(CONTROL_TOKEN_HEADER) or ""
        expected = str(self.state.get("control_token") or "")
        if not _is_loopback(request.source_ip) or not expected or not hmac.compare_digest(token, expected):
            return gateway_error(403, "Forbidden")
        try:
            body = json.loads(request.body or b"{}")
            email, org = body["email"], body["org"]
            if not isinstance(email, str) or not isinstance(org, str):
                raise TypeError("email and org must be strings")
        except (ValueError, KeyError, TypeError) as error:
            return _error(400, "bad_request", f"expected a JSON body {{email, org}}: {error}")
        from switchboard.domain.errors import SwitchboardError

        try:
            admin = self.bootstrap(email, org)
        except SwitchboardError as error:
            return _error(error.status, error.error_code, error.message, error.details)
        return json_response(201, {"user_id": admin.user_id, "org_id": admin.org_id, "token": admin.token})

    def _save_quietly(self) -> None:
        try:
            self.state.save()
        except Exception:
            sys.stderr.write(f"[switchboard local] saving state failed:\n{traceback.format_exc()}")


def _error(status: int, code: str, message: str, details: Any = None) -> HttpResponse:
    return json_response(status, {"error": {"code": code, "message": message, "details": details}})


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.removeprefix("::ffff:")).is_loopback
    except ValueError:
        return False
