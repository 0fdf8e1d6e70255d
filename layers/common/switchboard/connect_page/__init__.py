"""The hosted connect page: pure rendering and form handling, no AWS and no HTTP framework.

The handler builds a ``ConnectPageView``, answers ``render_page(view)`` with ``security_headers(view.nonce,
return_origin)`` (the same nonce), and turns a submitted form into a config with ``form_config``.
"""

from switchboard.connect_page.errors import error_wording
from switchboard.connect_page.fields import form_fields
from switchboard.connect_page.forms import field_errors, form_config, refill_values
from switchboard.connect_page.headers import HTML_CONTENT_TYPE, new_nonce, origin_of, security_headers
from switchboard.connect_page.render import STATUS_LABELS, render_done, render_error, render_page
from switchboard.connect_page.views import ConnectPageView, FieldKind, FormField, Notice, RequirementView

__all__ = [
    "HTML_CONTENT_TYPE",
    "STATUS_LABELS",
    "ConnectPageView",
    "FieldKind",
    "FormField",
    "Notice",
    "RequirementView",
    "error_wording",
    "field_errors",
    "form_config",
    "form_fields",
    "new_nonce",
    "origin_of",
    "refill_values",
    "render_done",
    "render_error",
    "render_page",
    "security_headers",
]
