"""What ``functions/`` may do (no AWS): parse, authorize, call one use case, render.

Every ``.py`` under ``functions/`` is read with ``ast``:

- it imports nothing that reaches AWS or the tables itself (boto3, botocore, ``switchboard.store``,
  ``switchboard.aws``, ``switchboard.invoker``): that is the use cases' work;
- each of its functions (a route, a handler, a helper) calls at most one use case, counting the calls made
  through the helpers of its own module. A use case is a function reached from ``switchboard.runtime``.
  Not counted: building a model (a callee whose dotted name has a capitalized part: ``runs.NewRun(...)``,
  ``LinkView.of(...)``), and the few runtime functions below that are no decision of a use case (each with
  its reason). The same use case called twice counts once.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
FORBIDDEN_IMPORTS = ("boto3", "botocore", "switchboard.store", "switchboard.aws", "switchboard.invoker")
NOT_USE_CASES = {
    "addressed_app_id": "which App the request addresses (its path or its host): reading the request",
    "callable_app": "the guard of the Apps API: the addressed App, if the caller may call it",
    "granted_app": "the guard of the connect routes: the App the connect token was issued for",
    "caller_run": "the guard of a run's routes: the run, if the caller (key or run token) may act on it",
    "load": "the guard of the management API (``apps.load``): the App, if the builder holds the role",
    "view": "the presenter of a run: the run as the API shows it (big values as download URLs)",
    "parse_form": "HTTP parsing: a multipart body as its fields and files",
}


def forbidden_imports(source: str) -> list[str]:
    """The modules ``source`` imports (eagerly or lazily) that only a use case may."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        found += [name for name in names if any(_within(name, banned) for banned in FORBIDDEN_IMPORTS)]
    return found


def composing_functions(source: str) -> dict[str, list[str]]:
    """The functions of ``source`` that call more than one use case, with the use cases they call."""
    tree = ast.parse(source)
    runtime = _runtime_names(tree)
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    composing: dict[str, list[str]] = {}
    for name in functions:
        called = sorted(_use_cases(name, functions, runtime, set()))
        if len(called) > 1:
            composing[name] = called
    return composing


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def _runtime_names(tree: ast.Module) -> set[str]:
    """The names a module binds to something of ``switchboard.runtime`` (a face, a module, a function)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and _within(node.module, "switchboard.runtime"):
            names |= {alias.asname or alias.name for alias in node.names}
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _within(alias.name, "switchboard.runtime"):
                    names.add(alias.asname or alias.name.split(".")[0])
    return names


def _use_cases(
    name: str, functions: dict[str, ast.FunctionDef], runtime: set[str], visited: set[str]
) -> set[str]:
    visited.add(name)
    found: set[str] = set()
    for node in ast.walk(functions[name]):
        if not isinstance(node, ast.Call):
            continue
        parts = _dotted(node.func)
        if not parts:
            continue
        if (
            parts[0] in runtime
            and not any(part[:1].isupper() for part in parts)
            and parts[-1] not in NOT_USE_CASES
        ):
            found.add(".".join(parts))
        elif len(parts) == 1 and parts[0] in functions and parts[0] not in visited:
            found |= _use_cases(parts[0], functions, runtime, visited)
    return found


def _dotted(node: ast.expr) -> list[str]:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    return [node.id, *parts] if isinstance(node, ast.Name) else []


def _sources() -> dict[str, str]:
    return {str(path.relative_to(ROOT)): path.read_text() for path in sorted(FUNCTIONS.rglob("*.py"))}


def test_an_import_of_aws_or_the_store_is_found_and_an_import_of_a_face_is_not() -> None:
    # Given a module importing boto3, a store module (lazily) and the invoker, and one importing faces only
    reaching = (
        "import boto3\nfrom botocore.exceptions import ClientError\n"
        "def f():\n    from switchboard.store import runs\n    import switchboard.invoker\n"
    )
    through_faces = "from switchboard.runtime import runs\nfrom switchboard.storefront import x\n"
    # When each is checked
    flagged, clean = forbidden_imports(reaching), forbidden_imports(through_faces)
    # Then every import that reaches AWS or the tables is named, and a face (or a look-alike name) is not
    assert flagged == ["boto3", "botocore.exceptions", "switchboard.store", "switchboard.invoker"]
    assert clean == []


def test_no_module_of_the_functions_imports_aws_or_the_store() -> None:
    # Given every module under functions/
    sources = _sources()
    # When their imports are read
    found = {path: forbidden_imports(source) for path, source in sources.items()}
    # Then none reaches AWS or the tables (and there were modules to check)
    assert len(sources) > 30
    assert {path: names for path, names in found.items() if names} == {}


def test_a_route_composing_two_use_cases_is_found_and_a_route_with_one_is_not() -> None:
    # Given a route that starts a run and then lists runs through a helper of its module, and routes that
    # call one use case, with a guard, a presenter and a model built
    source = (
        "from switchboard.runtime import runs\n"
        "from switchboard.runtime.identity import callable_app\n"
        "@router.post('/v1/runs')\n"
        "def composing(principal):\n"
        "    app = callable_app('app-1', principal)\n"
        "    runs.start(app, runs.RunRequest(input={}), principal, 'sync')\n"
        "    return _listed(app)\n"
        "def _listed(app):\n    return runs.list_runs(app.id, 10, None)\n"
        "@router.post('/v1/runs/<run_id>/cancel')\n"
        "def one_use_case(run_id, principal):\n"
        "    app = callable_app('app-1', principal)\n"
        "    return runs.view(runs.cancel(app.id, run_id)), runs.cancel(app.id, run_id)\n"
    )
    # When it is checked
    composing = composing_functions(source)
    # Then only the composing route is named, with the two use cases it calls
    assert composing == {"composing": ["runs.list_runs", "runs.start"]}


def test_every_function_of_the_functions_calls_at_most_one_use_case() -> None:
    # Given every module under functions/
    sources = _sources()
    # When the use cases each of their functions calls are counted
    composing = {path: composing_functions(source) for path, source in sources.items()}
    # Then no function composes use cases: its rules belong in one use case
    assert {path: found for path, found in composing.items() if found} == {}


def test_the_runs_and_connect_page_routes_call_their_use_cases() -> None:
    # Given the modules the review named: the runs routes, the connect page, the dispatcher
    sources = _sources()
    calls = {
        path: {
            ".".join(_dotted(node.func))
            for node in ast.walk(ast.parse(sources[path]))
            if isinstance(node, ast.Call)
        }
        for path in (
            "functions/apps/apps_routes/runs.py",
            "functions/apps/apps_routes/invoke.py",
            "functions/apps/apps_routes/connect_page_flow.py",
            "functions/dispatcher/app.py",
        )
    }
    # When their calls are read, Then each hands its request to its use case
    assert "runs.create_run" in calls["functions/apps/apps_routes/runs.py"]
    assert "runs.invoke" in calls["functions/apps/apps_routes/invoke.py"]
    assert {"links.visit_page", "links.submit_form"} <= calls[
        "functions/apps/apps_routes/connect_page_flow.py"
    ]
    assert "handle_invocation" in calls["functions/dispatcher/app.py"]
