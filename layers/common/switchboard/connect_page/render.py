"""HTML of the hosted connect page and its error pages: no script, one nonce'd <style>, all values escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from switchboard.connect_page.views import ConnectPageView, FieldKind, FormField, Notice, RequirementView

STATUS_LABELS = {
    "active": "Connected",
    "missing": "Not connected",
    "expired": "Expired: connect again",
    "unauthorized": "Rejected by the service: connect again",
    "revoked": "Disconnected",
}

_CSS = """
*, *::before, *::after { box-sizing: border-box }
body {
  margin: 0; color: #1b1f24; background: #f4f5f7;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
main { max-width: 40rem; margin: 0 auto; padding: 1rem }
h1 { font-size: 1.5rem; margin: .5rem 0 }
h2 { font-size: 1.2rem; margin: 0 0 .25rem }
.eyebrow { margin: 1rem 0 0; color: #57606a; font-size: .875rem; text-transform: uppercase }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: .5rem; padding: 1rem; margin: 1rem 0 }
.status {
  display: inline-block; margin: 0 0 .5rem; padding: .1rem .5rem;
  border-radius: 1rem; font-size: .875rem; background: #eaeef2;
}
.status-active { background: #dafbe1; color: #116329 }
.status-expired, .status-unauthorized, .status-revoked { background: #fff1e5; color: #953800 }
.meta, .help { color: #57606a; font-size: .875rem; margin: .25rem 0 }
.field { margin: .75rem 0 }
label { display: block; font-weight: 600 }
.required { color: #cf222e; font-weight: 400 }
input, select, textarea {
  display: block; width: 100%; font: inherit; padding: .5rem;
  border: 1px solid #8c959f; border-radius: .375rem; background: #fff;
}
textarea { min-height: 5rem; font-family: ui-monospace, monospace }
:focus-visible { outline: 3px solid #0969da; outline-offset: 1px }
[aria-invalid=true] { border-color: #cf222e }
.error { color: #cf222e; font-size: .875rem; margin: .25rem 0 }
.notice { padding: .75rem 1rem; border-radius: .5rem; margin: 1rem 0 }
.notice-success { background: #dafbe1; color: #116329 }
.notice-error { background: #ffebe9; color: #82071e }
button, a.button {
  display: inline-block; text-decoration: none; box-sizing: border-box; text-align: center;
  font: inherit; font-weight: 600; padding: .6rem 1.2rem; width: 100%;
  border: 0; border-radius: .375rem; background: #0969da; color: #fff;
}
summary { cursor: pointer; color: #0969da; margin: .5rem 0 }
@media (min-width: 30rem) { button, a.button { width: auto } }
"""


def render_page(view: ConnectPageView) -> str:
    sections = "".join(
        _requirement(index, requirement, view) for index, requirement in enumerate(view.requirements)
    )
    if not view.requirements:
        sections = '<p class="card">This App needs no connections.</p>'
    body = (
        f'<p class="eyebrow">Connect your accounts</p><h1>{_e(view.app_name)}</h1>'
        f"<p>{_e(view.app_name)} uses these connections on your behalf. "
        "Secret values you enter are stored securely and never shown again.</p>"
        f"{_notice(view.notice)}{sections}"
    )
    return _document(f"Connect your accounts · {view.app_name}", view.nonce, body)


def render_error(status: int, title: str, message: str, *, nonce: str) -> str:
    body = (
        f'<p class="eyebrow">Error {int(status)}</p><h1>{_e(title)}</h1>'
        f'<p class="card" role="alert">{_e(message)}</p>'
    )
    return _document(title, nonce, body)


def render_done(title: str, message: str, *, nonce: str) -> str:
    """A page that says an authorization went through (no error)."""
    body = f'<h1>{_e(title)}</h1><p class="card" role="status">{_e(message)}</p>'
    return _document(title, nonce, body)


def _document(title: str, nonce: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{_e(title)}</title>'
        f'<style nonce="{_e(nonce)}">{_CSS}</style></head>'
        f"<body><main>{body}</main></body></html>"
    )


def _notice(notice: Notice | None) -> str:
    if notice is None:
        return ""
    role = "status" if notice.kind == "success" else "alert"
    return f'<div class="notice notice-{_e(notice.kind)}" role="{role}">{_e(notice.text)}</div>'


def _requirement(index: int, requirement: RequirementView, view: ConnectPageView) -> str:
    heading_id = f"r{index}-title"
    parts = [
        f'<section class="card" id="{_e(requirement.id)}" aria-labelledby="{heading_id}">',
        f'<h2 id="{heading_id}">{_e(requirement.title)}</h2>',
        f'<p class="status status-{_e(requirement.status)}">'
        f"{_e(STATUS_LABELS.get(requirement.status, requirement.status))}</p>",
    ]
    if requirement.description:
        parts.append(f"<p>{_e(requirement.description)}</p>")
    if requirement.linked_at is not None and requirement.status != "missing":
        since = "Connected" if requirement.status == "active" else "Last connected"
        parts.append(f'<p class="meta">{since} {_time(requirement.linked_at)}</p>')
    if requirement.reason:
        parts.append(f'<p class="meta">{_e(requirement.reason)}</p>')
    if requirement.authorize_url is not None:
        action = "Reconnect" if requirement.status == "active" else "Connect"
        link = (
            f'<a class="button" href="{_e(requirement.authorize_url)}">{action} {_e(requirement.title)}</a>'
        )
        note = '<p class="meta">You sign in at the provider, which sends you back here.</p>'
        parts.append(f"<p>{link}</p>{note}</section>")
        return "".join(parts)
    form = _form(index, requirement, view)
    if requirement.status == "active" and not requirement.errors:
        form = f"<details><summary>Replace these credentials</summary>{form}</details>"
    parts.append(form)
    parts.append("</section>")
    return "".join(parts)


def _form(index: int, requirement: RequirementView, view: ConnectPageView) -> str:
    parts = [
        f'<form method="post" action="{_e(view.action)}">',
        f'<input type="hidden" name="token" value="{_e(view.token)}">',
        f'<input type="hidden" name="csrf" value="{_e(requirement.csrf)}">',
        f'<input type="hidden" name="requirement_id" value="{_e(requirement.id)}">',
    ]
    form_error = requirement.errors.get("")
    if form_error:
        parts.append(f'<p class="error" role="alert">{_e(form_error)}</p>')
    parts.extend(_field(f"r{index}-{field.name}", field, requirement) for field in requirement.fields)
    action = "Replace" if requirement.status == "active" else "Connect"
    parts.append(f'<button type="submit">{action} {_e(requirement.title)}</button></form>')
    return "".join(parts)


def _field(field_id: str, field: FormField, requirement: RequirementView) -> str:
    error = requirement.errors.get(field.name, "")
    value = "" if field.secret else requirement.values.get(field.name, field.default)
    described = [f"{field_id}-help"] if field.help else []
    described += [f"{field_id}-error"] if error else []
    attributes = f'id="{field_id}" name="{_e(field.name)}"'
    if described:
        attributes += f' aria-describedby="{" ".join(described)}"'
    if field.required:
        attributes += " required"
    if error:
        attributes += ' aria-invalid="true"'
    marker = ' <span class="required">(required)</span>' if field.required else ""
    return (
        f'<div class="field"><label for="{field_id}">{_e(field.label)}{marker}</label>'
        f"{_control(field, attributes, value)}"
        + (f'<p class="help" id="{field_id}-help">{_e(field.help)}</p>' if field.help else "")
        + (f'<p class="error" id="{field_id}-error">{_e(error)}</p>' if error else "")
        + "</div>"
    )


def _control(field: FormField, attributes: str, value: str) -> str:
    plain = ' autocomplete="off" autocapitalize="off" spellcheck="false"'
    if field.kind is FieldKind.choice:
        options = "" if field.required or field.default else '<option value=""></option>'
        options += "".join(
            f'<option value="{_e(choice)}"{" selected" if choice == value else ""}>{_e(choice)}</option>'
            for choice in field.choices
        )
        return f"<select {attributes}>{options}</select>"
    if field.kind in (FieldKind.lines, FieldKind.secret_lines, FieldKind.json):
        return f'<textarea {attributes}{plain} rows="3">{_e(value)}</textarea>'
    if field.kind is FieldKind.password:
        return f'<input type="password" {attributes} autocomplete="new-password" spellcheck="false">'
    limits = ""
    if field.max_length is not None:
        limits += f' maxlength="{field.max_length}"'
    if field.kind is FieldKind.number:
        limits += ' inputmode="numeric"'
        limits += f' min="{field.minimum}"' if field.minimum is not None else ""
        limits += f' max="{field.maximum}"' if field.maximum is not None else ""
    input_type = {FieldKind.url: "url", FieldKind.number: "number"}.get(field.kind, "text")
    return f'<input type="{input_type}" {attributes} value="{_e(value)}"{limits}{plain}>'


def _time(moment: datetime) -> str:
    utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    return f'<time datetime="{utc.isoformat()}">{utc:%Y-%m-%d %H:%M} UTC</time>'


def _e(text: str) -> str:
    return escape(text, quote=True)
