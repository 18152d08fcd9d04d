"""A person at the product over plain HTTP: cookies kept, forms filled as a browser would send them.

A form is read from the page itself (its hidden CSRF token, the defaults of its fields), so a
test changes only what a person would type and fails when the page stops offering the form.
"""

from __future__ import annotations

import html
import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Answer:
    status: int
    url: str
    body: str
    headers: dict[str, str]


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)


class _Forms(HTMLParser):
    """Every <form> of a page with the values a browser would submit untouched."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._textarea: tuple[str, list[str]] | None = None
        self._option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
        elif not self.forms or "disabled" in a:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "image", "file", "reset"):
                default = "on" if kind in ("checkbox", "radio") else ""
                self.forms[-1].fields.append((a["name"], a.get("value", default)))
        elif tag == "select" and a.get("name"):
            self._select = (a["name"], [])
        elif tag == "option" and self._select is not None:
            self._select[1].append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and a.get("name"):
            self._textarea = (a["name"], [])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select is not None:
            name, options = self._select
            chosen = [v for v, selected in options if selected] or [v for v, _ in options[:1]]
            self.forms[-1].fields.extend((name, v) for v in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            self.forms[-1].fields.append((name, "".join(text).removeprefix("\n")))
            self._textarea = None


def forms(page: str) -> list[Form]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Visitor:
    """One browser profile: its own cookies, following redirects like a browser."""

    def __init__(self, base_url: str, follow: bool = True) -> None:
        self.base_url = base_url
        handlers: list[urllib.request.BaseHandler] = [
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        ]
        if not follow:
            handlers.append(_NoRedirect())
        self.opener = urllib.request.build_opener(*handlers)

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.base_url + path

    def open(self, path: str, data: bytes | None = None) -> Answer:
        request = urllib.request.Request(self._url(path), data=data)
        request.add_header("Accept-Language", "vi")
        try:
            with self.opener.open(request, timeout=30) as answer:
                body = answer.read().decode()
                return Answer(answer.status, answer.url, body, dict(answer.headers.items()))
        except urllib.error.HTTPError as error:
            body = error.read().decode(errors="replace")
            return Answer(error.code, error.url or "", body, dict(error.headers.items()))

    def get(self, path: str) -> Answer:
        return self.open(path)

    def post(self, path: str, fields: list[tuple[str, str]]) -> Answer:
        return self.open(path, urllib.parse.urlencode(fields).encode())

    def submit(
        self, page: Answer, action: str, changes: dict[str, str | list[str]] | None = None
    ) -> Answer:
        """Fill the page's form whose action ends with `action` and send it."""
        found = [f for f in forms(page.body) if _path(page.url, f.action).endswith(action)]
        assert found, f"no form for {action!r} on {page.url}:\n{page.body[:3000]}"
        form = found[0]
        changes = changes or {}
        fields = [(k, v) for k, v in form.fields if k not in changes]
        for key, value in changes.items():
            fields.extend((key, v) for v in ([value] if isinstance(value, str) else value))
        return self.post(urllib.parse.urljoin(page.url, html.unescape(form.action)), fields)


def _path(page_url: str, action: str) -> str:
    """Where a form posts, without the query: an empty action posts back to the page itself."""
    return urllib.parse.urlsplit(urllib.parse.urljoin(page_url, html.unescape(action))).path
