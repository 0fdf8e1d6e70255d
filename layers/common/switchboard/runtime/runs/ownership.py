"""Whose a run is: who may read it, follow it, answer it and cancel it, once the caller may call its App
(``app_access.callable_app``).

Any access key that may call the App acts on every run of it (and lists them). Without a key, which only a
public App allows, a caller acts only on a run it created itself: such a run is created with a run token
(``auth.tokens.issue_run_token``), shown once in the answer that created it, of which the run keeps only the
hash; the caller sends it back in the ``X-Run-Token`` header. A run created with a key is never reachable
without one, whatever the App's access: it may hold an end user's data.
"""

from __future__ import annotations

from switchboard.auth import tokens
from switchboard.auth.principal import Principal
from switchboard.domain.errors import Unauthorized
from switchboard.domain.models import App
from switchboard.domain.runs import Run
from switchboard.runtime.runs.queries import run_of_app
from switchboard.store import runs

RUN_TOKEN_HEADER = "X-Run-Token"  # noqa: S105 (a header's name, not a secret)


def caller_run(app: App, run_id: str, principal: Principal | None, run_token: str | None) -> Run:
    """The run, when the caller may act on it: 404 for another App's run (with a key), 401 without a key
    unless ``run_token`` is the run's (the same answer whether the run exists or not)."""
    if principal is not None:
        return run_of_app(app.id, run_id)
    if not run_token:
        raise Unauthorized(
            f"this run needs an access key of its App, or the run's token in {RUN_TOKEN_HEADER}",
            code="missing_token",
        )
    run = runs.get_run(run_id)
    if run is None or run.app_id != app.id or not tokens.run_token_opens(run.run_token_hash, run_token):
        raise Unauthorized(f"{RUN_TOKEN_HEADER} is not the token of this run", code="invalid_run_token")
    return run
