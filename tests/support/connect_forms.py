"""Reading the hosted connect page's HTML as a browser would, without one: each requirement's form, its
hidden and pre-filled values, its state and the errors next to its fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class PageForm:
    """One requirement's section of the page: its state label, the form's action and named values, and the
    field errors (by input id)."""

    requirement_id: str
    status: str = ""
    action: str = ""
    values: dict[str, str] = field(default_factory=dict)
    input_types: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: dict[str, PageForm] = {}
        self.notice = ""
        self.title = ""
        self._current: PageForm | None = None
        self._capture: tuple[str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        classes = attributes.get("class", "").split()
        if tag == "section" and "card" in classes:
            self._current = self.forms.setdefault(attributes["id"], PageForm(attributes["id"]))
        elif tag == "form" and self._current is not None:
            self._current.action = attributes.get("action", "")
        elif tag in ("input", "textarea", "select") and self._current is not None and "name" in attributes:
            self._current.input_types[attributes["name"]] = attributes.get("type", tag)
            if tag == "input":
                self._current.values[attributes["name"]] = attributes.get("value", "")
            else:
                self._begin(("value", attributes["name"]))
        elif tag == "option" and "selected" in attributes and self._current is not None:
            select = next(reversed(self._current.input_types))
            self._current.values[select] = attributes.get("value", "")
        elif tag == "p" and "status" in classes:
            self._begin(("status", ""))
        elif tag == "p" and "error" in classes and "id" in attributes:
            self._begin(("error", attributes["id"].removesuffix("-error")))
        elif tag == "div" and "notice" in classes:
            self._begin(("notice", ""))
        elif tag == "h1":
            self._begin(("title", ""))

    def _begin(self, capture: tuple[str, str]) -> None:
        self._capture, self._text = capture, []

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._current = None
        if self._capture is None or tag not in ("p", "div", "h1", "textarea", "select"):
            return
        kind, name = self._capture
        text = "".join(self._text)
        self._capture = None
        if kind == "title":
            self.title = text.strip()
        elif kind == "notice":
            self.notice = text.strip()
        elif self._current is not None and kind == "status":
            self._current.status = text.strip()
        elif self._current is not None and kind == "error":
            self._current.errors[name] = text.strip()
        elif self._current is not None and kind == "value" and tag == "textarea":
            self._current.values[name] = text


@dataclass(frozen=True)
class ConnectPage:
    title: str
    notice: str
    forms: dict[str, PageForm]


def read_page(html: str) -> ConnectPage:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return ConnectPage(reader.title, reader.notice, reader.forms)
