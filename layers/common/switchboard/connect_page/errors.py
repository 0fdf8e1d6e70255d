"""What an error page says to an end user: a plain title and what to do, by error code or HTTP status."""

from __future__ import annotations

_INVALID_LINK = (
    "This link is not valid",
    "Go back to the app that sent you here and ask it for a new link.",
)
_BY_CODE: dict[str, tuple[str, str]] = {
    "invalid_token": _INVALID_LINK,
    "wrong_token_type": _INVALID_LINK,
    "token_expired": (
        "This link has expired",
        "Links to this page work for a limited time. Go back to the app and ask it for a new one.",
    ),
    "invalid_csrf": (
        "Request refused",
        "The form has expired or did not come from this page. Open the link again and retry.",
    ),
    "cross_site_request": ("Request refused", "This form can only be sent from its own page."),
}
_TITLES = {
    400: "Bad request",
    404: "Not found",
    409: "Not available yet",
    413: "Too large",
    415: "Unsupported form",
    429: "Too many requests",
}


def error_wording(code: str, status: int, message: str) -> tuple[str, str]:
    """Title and message of the page for an error: the end-user wording of the codes they may meet (a token
    problem never says more than that the link is not valid), else a title for the status and the error's
    own message."""
    return _BY_CODE.get(code, (_TITLES.get(status, "Error"), message))
