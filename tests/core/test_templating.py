"""Template helpers written in Python for speed must stay as safe as the Jinja they replace."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fixflow
from fixflow.catalogs.refs import Ref
from fixflow.core.templating import MACRO_TEMPLATES, environment, select_options
from fixflow.tickets.listing import TicketCard
from fixflow.webapp.lookups import ObjectOption


@dataclass
class Editable:
    id: int
    name: str


@dataclass(frozen=True)
class Named:
    id: int
    name: str


def test_select_options_escape_mark_the_chosen_one_and_indent_the_tree() -> None:
    html = str(
        select_options(
            [ObjectOption(1, "Кафе <Ромашка>", 0), ObjectOption(12, 'Зал "A" & кухня', 1)], selected="12"
        )
    )
    assert html == (
        '<option value="1">Кафе &lt;Ромашка&gt;</option>'
        '<option value="12" selected>\u00a0\u00a0Зал &#34;A&#34; &amp; кухня</option>'
    )
    assert str(select_options([Named(3, "Новая")], selected="")) == '<option value="3">Новая</option>'
    assert str(select_options([], selected="1")) == ""
    # unhashable items are rendered too (only hashable ones are remembered)
    assert (
        str(select_options([Editable(5, "Б & В")], selected="5"))
        == '<option value="5" selected>Б &amp; В</option>'
    )


def _card(**changes: Any) -> TicketCard:
    base = TicketCard(
        id=7,
        number="2611-000007",
        status=Ref(1, "Новая", "#2196f3"),
        stage=None,
        object=Ref(3, "Насос <1>"),
        object_path=("Кафе", "Насос <1>"),
        description="Течёт & капает",
        criticality=Ref(2, "Высокая", "#ff0000"),
        type=Ref(1, "Ремонт"),
        created_at=dt.datetime(2025, 3, 1, 22, 30, tzinfo=dt.UTC),
        closed_at=None,
        deadline=None,
        is_favorite=False,
        is_overdue=False,
        version=1,
    )
    return dataclasses.replace(base, **changes)


def _list_html(locale: str, tz: str, card: TicketCard) -> str:
    template = environment(locale).from_string("{{ memo_cards([card]) }}")
    return template.render(card=card, tz=tz)


def test_memoised_cards_follow_every_input_of_the_card() -> None:
    first = _list_html("ru", "Europe/Moscow", _card())
    assert first == _list_html("ru", "Europe/Moscow", _card())  # served from the memo
    assert "Насос &lt;1&gt;" in first and "Течёт &amp; капает" in first and "2 мар" in first
    assert "Закрыта" in _list_html("ru", "Europe/Moscow", _card(status=Ref(1, "Закрыта", "#2196f3")))
    assert "Кухня › Насос" in _list_html("ru", "Europe/Moscow", _card(object_path=("Кухня", "Насос")))
    assert "card-favorite" in _list_html("ru", "Europe/Moscow", _card(is_favorite=True))
    # the date falls on another day in another zone, and the words follow the language
    assert "1 мар" in _list_html("ru", "America/New_York", _card())
    assert "Overdue" in _list_html("en", "Europe/Moscow", _card(is_overdue=True))
    assert "Просрочена" in _list_html("ru", "Europe/Moscow", _card(is_overdue=True))
    # several cards: each its own, in order, whether remembered or new
    two = environment("ru").from_string("{{ memo_cards(cards) }}")
    pair = [_card(is_favorite=True), _card(number="A-77")]
    expected = "".join(_list_html("ru", "Europe/Moscow", card) for card in pair)
    assert two.render(cards=pair, tz="Europe/Moscow") == expected


def test_direct_gettext_renders_like_jinjas_newstyle_gettext() -> None:
    from jinja2 import Environment

    from fixflow.core.i18n import get_translations

    source = (
        '{{ _("Overdue") }}|{{ _("Filters") }}|{{ _("100%% done") }}|'
        '{{ _("Hello, %(name)s", name="<b>Ann & co</b>") }}|{{ gettext("Search") }}'
    )
    for locale in ("ru", "en"):
        stock = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
        stock.install_gettext_translations(get_translations(locale), newstyle=True)  # type: ignore[attr-defined]
        ours = environment(locale).from_string(source)
        assert ours.render() == stock.from_string(source).render()
        assert ours.render() == ours.render()  # the remembered plain translations
    assert environment("ru").from_string('{{ _("Overdue") }}').render() == "Просрочена"


def test_macro_templates_are_globals_no_page_imports() -> None:
    """Pages call ``forms.…``, ``fieldsui.…`` and ``stars.…`` from globals: an ``{% import %}`` costs
    every render a comparison of the page's globals with the macro template's."""
    env = environment("en")
    for name, template in MACRO_TEMPLATES.items():
        module = env.get_template(template).module
        macros = [m for m in dir(module) if not m.startswith("_")]
        assert macros, template
        assert all(getattr(env.globals[name], m) is getattr(module, m) for m in macros)
    root = Path(fixflow.__file__).parent / "templates"
    importing = [p.name for p in root.rglob("*.html") if re.search(r"{%-?\s*(import|from)\s", p.read_text())]
    assert importing == []
    shown = env.from_string("{{ stars.show(4) }}").render()
    assert shown.count("stars__star--on") == 4 and "4 of 5 stars" in shown
