"""Helpers for HTML-level tests of the customer app: log in through the forms, find elements."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient

from builders import PASSWORD, Person

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def web_login(client: TestClient, person: Person | str, password: str = PASSWORD) -> None:
    login = person.login if isinstance(person, Person) else person
    page = client.get("/app/login")
    response = client.post(
        "/app/login",
        data={"login": login, "password": password, "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert "fixflow_session" in client.cookies


def post_form(client: TestClient, page_url: str, action: str, data: dict[str, Any], **kwargs: Any) -> Any:
    """Load a page (for its CSRF token) and post a form the way a browser would."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={**data, "csrf_token": csrf(page.text)}, follow_redirects=False, **kwargs)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def __getitem__(self, name: str) -> str:
        return self.attrs[name]


class _Finder(HTMLParser):
    """Collects elements matching an attribute filter, with the text inside them."""

    VOID = frozenset(
        {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
    )

    def __init__(self, **wanted: str) -> None:
        super().__init__(convert_charrefs=True)
        self.wanted = wanted
        self.found: list[Element] = []
        self.stack: list[tuple[str, Element | None]] = []

    def _matches(self, tag: str, attrs: dict[str, str]) -> bool:
        for key, value in self.wanted.items():
            if key == "tag":
                if tag != value:
                    return False
            elif key == "class_":
                if value not in attrs.get("class", "").split():
                    return False
            elif attrs.get(key.replace("_", "-")) != value:
                return False
        return True

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {k: v or "" for k, v in attrs_list}
        element = Element(tag, attrs) if self._matches(tag, attrs) else None
        if element is not None:
            self.found.append(element)
        if tag not in self.VOID:
            self.stack.append((tag, element))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for _tag, element in self.stack:
            if element is not None:
                element.text_parts.append(data)


def find_all(html: str, **wanted: str) -> list[Element]:
    """Elements by attributes: ``find_all(html, data_testid="ticket-card")`` (``_`` means ``-``)."""
    finder = _Finder(**wanted)
    finder.feed(html)
    return finder.found


def find(html: str, **wanted: str) -> Element:
    found = find_all(html, **wanted)
    assert found, f"no element matching {wanted}"
    return found[0]


def card_numbers(html: str) -> list[str]:
    return [e["data-number"] for e in find_all(html, data_testid="ticket-card")]
