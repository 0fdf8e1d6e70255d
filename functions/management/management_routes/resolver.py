"""The management function's route modules and the paths each owns: a request includes only the routers its
path needs (``switchboard.api.routers``)."""

from __future__ import annotations

from switchboard.api.routers import RouterTable

ACCEPT_INVITATION_PATH = "/v1/invitations/accept"
"""The one management route that may go without a token (a new user has none): the guard's public path."""

ROUTERS = RouterTable(
    "management_routes",
    {
        "identity": ("/v1/me", "/v1/tokens/*", "/v1/access-keys/*"),
        "orgs": ("/v1/orgs/*",),
        "invitations": ("/v1/orgs/<org_id>/invitations/*", "/v1/invitations/*"),
        "projects": ("/v1/projects/*",),
        "connections": ("/v1/connections/*",),
        "workflows": ("/v1/workflows/*",),
        "apps": (
            "/v1/apps",
            "/v1/apps/<app_id>",
            "/v1/apps/<app_id>/deployments",
            "/v1/apps/<app_id>/rollback",
            "/v1/apps/<app_id>/signing-secret",
        ),
        "app_runs": (
            "/v1/apps/<app_id>/runs/*",
            "/v1/apps/<app_id>/sessions/*",
            "/v1/apps/<app_id>/traces/*",
            "/v1/apps/<app_id>/metrics",
        ),
        "links": ("/v1/apps/<app_id>/links/*",),
        "triggers": ("/v1/apps/<app_id>/triggers/*",),
    },
)
