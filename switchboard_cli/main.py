"""The ``switchboard`` command.

switchboard local serve [--port 3000] [--state-file .switchboard/state.json] [--host 127.0.0.1]
                        [--template template.yaml] [--allow-loopback-egress]
switchboard local fire TRIGGER_ID [--url http://127.0.0.1:3000] [--state-file .switchboard/state.json]
                       [--json]
switchboard admin bootstrap --email E --org NAME [--json]
                            (--stack-name S [--region R] | --local-url URL --state-file PATH)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_STATE_FILE = Path(".switchboard/state.json")


def default_template() -> Path:
    """``template.yaml`` in the working directory, else the one of the checkout this package lives in."""
    here = Path("template.yaml")
    return here if here.is_file() else Path(__file__).resolve().parent.parent / "template.yaml"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard", description="Switchboard command-line tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="the local stack").add_subparsers(
        dest="local_command", required=True
    )
    serve = local.add_parser(
        "serve", help="serve every route of template.yaml on this machine (moto in-process)"
    )
    serve.add_argument("--port", type=int, default=3000, help="port to listen on (0 picks a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE, help="where the data persists")
    serve.add_argument("--template", type=Path, default=None, help="SAM template (default: ./template.yaml)")
    serve.add_argument(
        "--allow-loopback-egress",
        "--allow-loopback-callbacks",
        dest="allow_loopback_egress",
        action="store_true",
        help="local development only: let nodes, callbacks and deliveries reach loopback addresses on this "
        "machine (http://127.0.0.1:...; private ranges stay refused); sets ALLOW_LOOPBACK_EGRESS=true for "
        "every function. Off by default (the variable is pinned to false, whatever the shell holds). "
        "--allow-loopback-callbacks is its older name",
    )
    serve.add_argument(
        "--drain-seconds",
        type=float,
        default=10.0,
        help="on Ctrl-C or SIGTERM, how long runs in flight may go on before the stack stops (what they "
        "have not finished by then is checkpointed and resumes at the next start; default 10)",
    )
    fire = local.add_parser(
        "fire", help="fire a schedule trigger of the running local stack now and print the event it recorded"
    )
    fire.add_argument("trigger_id", help="the trigger (trg-…); its schedule fires as Scheduler would")
    fire.add_argument("--url", default="http://127.0.0.1:3000", help="the running local stack")
    fire.add_argument(
        "--state-file",
        type=Path,
        default=DEFAULT_STATE_FILE,
        help="the state file the server was started with",
    )
    fire.add_argument("--json", action="store_true", help="print the event as JSON")

    admin = commands.add_parser("admin", help="administration").add_subparsers(
        dest="admin_command", required=True
    )
    bootstrap = admin.add_parser(
        "bootstrap", help="create an admin, an organization and a personal access token"
    )
    bootstrap.add_argument("--email", required=True)
    bootstrap.add_argument("--org", required=True, help="name of the new organization")
    bootstrap.add_argument("--json", action="store_true", help="print the result as JSON")
    target = bootstrap.add_mutually_exclusive_group(required=True)
    target.add_argument("--stack-name", help="a deployed stack (uses your AWS credentials)")
    target.add_argument("--local-url", help="a running local stack, e.g. http://127.0.0.1:3000")
    bootstrap.add_argument("--region", help="region of --stack-name (default: your AWS configuration)")
    bootstrap.add_argument("--state-file", type=Path, help="state file of the local stack (with --local-url)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.command == "local" and arguments.local_command == "fire":
        return _fire(arguments)
    if arguments.command == "local":
        from switchboard_cli.local import INSTALL_HINT, missing_dependencies

        missing = missing_dependencies()
        if missing:
            parser.exit(2, f"switchboard local serve needs {', '.join(missing)}: {INSTALL_HINT}\n")
        from switchboard_cli.local import environment
        from switchboard_cli.local.server import serve

        environment.set_switches(allow_loopback_egress=arguments.allow_loopback_egress)
        return serve(
            arguments.template or default_template(),
            arguments.state_file,
            arguments.port,
            arguments.host,
            drain_s=arguments.drain_seconds,
        )
    return _bootstrap(parser, arguments)


def _fire(arguments: argparse.Namespace) -> int:
    from switchboard_cli import fire

    try:
        event = fire.fire_on_local(arguments.url, arguments.state_file, arguments.trigger_id)
    except fire.FireError as error:
        sys.stderr.write(f"switchboard: {error}\n")
        return 1
    print(fire.render(event, arguments.json))
    return 0


def _bootstrap(parser: argparse.ArgumentParser, arguments: argparse.Namespace) -> int:
    from switchboard_cli import admin

    try:
        if arguments.local_url:
            if arguments.state_file is None:
                parser.error("--local-url needs --state-file (the file the local server was started with)")
            result = admin.bootstrap_on_local(
                arguments.local_url, arguments.state_file, arguments.email, arguments.org
            )
        else:
            result = admin.bootstrap_on_stack(
                arguments.stack_name, arguments.region, arguments.email, arguments.org
            )
    except admin.BootstrapError as error:
        sys.stderr.write(f"switchboard: {error}\n")
        return 1
    print(admin.render(result, arguments.json))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
