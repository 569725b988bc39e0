"""A page shell is the template rendered once per fixed context and filled per request: it must give
exactly what rendering the template with every value would, and never one context's page for another."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from fixflow.core import pageshell

TEMPLATES = {
    "page.html": '<title>{{ title }}</title><style nonce="{{ nonce }}"></style>'
    '<input value="{{ q }}">{% if badge %}<b>{{ badge }}</b>{% endif %}<ul>{{ body }}</ul>',
    "filtered.html": '<input value="{{ q|upper }}">',
}


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    env = Environment(autoescape=True, undefined=StrictUndefined)
    calls: list[str] = []

    def render(locale: str, name: str, context: dict[str, Any]) -> str:
        calls.append(name)
        return env.from_string(TEMPLATES[name]).render(context)

    monkeypatch.setattr(pageshell, "render_template", render)
    pageshell.clear_shells()
    yield calls
    pageshell.clear_shells()


def direct(name: str, **context: Any) -> str:
    return (
        Environment(autoescape=True, undefined=StrictUndefined).from_string(TEMPLATES[name]).render(context)
    )


def test_filled_shell_equals_the_template_rendered_with_everything(renders: list[str]) -> None:
    fixed: dict[str, Any] = {"title": "Все <заявки>", "badge": 3}
    for q, body in [('"><script>', Markup("<li>1</li>")), ("насос", Markup("<li>2</li><li>3</li>"))]:
        slots = {"nonce": "n0nce", "q": q, "body": body}
        html = pageshell.render_shell("ru", "page.html", fixed, slots)
        assert html == direct("page.html", **fixed, **slots)
    assert "&#34;&gt;&lt;script&gt;" not in html and "<li>2</li>" in html
    assert renders == ["page.html"], "the second request is filled, not rendered"


def test_each_fixed_context_and_language_has_its_own_shell(renders: list[str]) -> None:
    slots = {"nonce": "x", "q": "", "body": Markup("")}
    one = pageshell.render_shell("ru", "page.html", {"title": "A", "badge": 0}, slots)
    other = pageshell.render_shell("ru", "page.html", {"title": "B", "badge": 2}, slots)
    english = pageshell.render_shell("en", "page.html", {"title": "A", "badge": 0}, slots)
    assert "<title>A</title>" in one and "<b>" not in one
    assert "<title>B</title>" in other and "<b>2</b>" in other
    assert english == one and len(renders) == 3


def test_a_slot_passed_through_a_filter_is_refused(renders: list[str]) -> None:
    with pytest.raises(RuntimeError, match="filtered"):
        pageshell.render_shell("ru", "filtered.html", {}, {"q": "a"})


def test_markers_are_private_to_the_process(renders: list[str]) -> None:
    # Text that looks like a marker of another process is kept as it is.
    fake = "\x00" + "0" * 16 + ":q\x00"
    html = pageshell.render_shell(
        "ru", "page.html", {"title": fake, "badge": 0}, {"nonce": "", "q": "", "body": ""}
    )
    assert fake in html
