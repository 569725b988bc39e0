"""Jinja2 environments for server-rendered pages: one per locale, autoescaped, with i18n.

One environment per locale keeps gettext installation thread-safe (sync endpoints run in a thread
pool) and lets Jinja cache compiled templates per language.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_datetime, format_timedelta
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from fixflow.core.i18n import SUPPORTED_LOCALES, get_translations
from fixflow.core.icons import icon

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
DEFAULT_TZ = "Europe/Moscow"
_HEX_COLOR = re.compile(r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


def safe_color(value: str | None) -> str | None:
    """A colour from the database, only if it is a plain hex value (it ends up inside CSS)."""
    return value.lower() if value and _HEX_COLOR.match(value) else None


def color_class(value: str | None) -> str:
    color = safe_color(value)
    return f"c-{color[1:]}" if color else "c-none"


@lru_cache(maxsize=256)
def palette_css(colors: frozenset[str]) -> str:
    """``.c-2196f3{--c:#2196f3}`` rules so coloured labels need no ``style=`` attributes."""
    rules = sorted({f".{color_class(c)}{{--c:{safe_color(c)}}}" for c in colors if safe_color(c)})
    return "".join(rules)


@lru_cache(maxsize=32)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def _tz(context: Context) -> ZoneInfo:
    name = context.get("tz")
    return _zone(name if isinstance(name, str) else DEFAULT_TZ)


def _make_filters(locale_name: str) -> dict[str, Any]:
    locale = Locale.parse(locale_name)  # parsed once: Babel re-parses a locale string on every call

    @pass_context
    def datetime_filter(context: Context, value: dt.datetime | None) -> str:
        if value is None:
            return ""
        return moment_text(value, _tz(context))

    @lru_cache(maxsize=4096)
    def moment_text(value: dt.datetime, zone: ZoneInfo) -> str:  # Babel: ≈ 40 µs; a profile shows several
        return str(format_datetime(value, "d MMM yyyy, HH:mm", tzinfo=zone, locale=locale))

    @pass_context
    def short_date(context: Context, value: dt.datetime | None) -> str:
        """Day and month for this year's dates, with the year otherwise."""
        if value is None:
            return ""
        zone = _tz(context)
        local = value.astimezone(zone)
        pattern = "d MMM" if local.year == dt.datetime.now(zone).year else "d MMM yyyy"
        return day_text(local.date(), pattern)

    @lru_cache(maxsize=4096)
    def day_text(day: dt.date, pattern: str) -> str:  # Babel takes ≈ 20 µs a date; a list shows 25
        return str(format_date(day, pattern, locale=locale))

    @pass_context
    def iso_local(context: Context, value: dt.datetime | None) -> str:
        return value.astimezone(_tz(context)).isoformat() if value else ""

    def truncate_words(value: str, length: int = 140) -> str:
        text = " ".join(value.split())
        if len(text) <= length:
            return text
        return text[:length].rsplit(" ", 1)[0].rstrip(",.;:") + "…"

    def tel_href(value: str) -> str:
        return "tel:" + re.sub(r"[^\d+]", "", value)

    def duration(minutes: int) -> str:
        """``1 час 30 минут``: whole hours and minutes, each in the locale's words."""
        hours, rest = divmod(int(minutes), 60)
        parts = [format_timedelta(dt.timedelta(hours=hours), locale=locale)] if hours else []
        if rest:
            parts.append(format_timedelta(dt.timedelta(minutes=rest), locale=locale))
        return " ".join(str(p) for p in parts)

    def number(value: object) -> str:
        return str(format_decimal(value, locale=locale))  # type: ignore[arg-type]

    return {
        "number": number,
        "tel": tel_href,
        "duration": duration,
        "datetime": datetime_filter,
        "short_date": short_date,
        "iso_local": iso_local,
        "excerpt": truncate_words,
        "color_class": color_class,
    }


# Rendered list cards per process: a card's HTML is a pure function of its data, the language, the time
# zone and the year (dates of other years show theirs). A list page re-shows mostly the same cards
# (reloads, live updates, paging back); rendering 25 of them was ≈ 0.5 ms of a page. Keyed by the card's
# identity (lists hand out the same card object for the same data, ``tickets.listing._cards``; hashing
# a card — a dataclass of dataclasses, hashed in Python — cost as much as a page's query), with the
# card kept in the entry so its id cannot be reused while the entry lives. Cleared when full, ≈ 1 KB
# an entry.
_CARDS: dict[tuple[str, str, int, int], tuple[Any, Markup]] = {}
_MAX_CARDS = 4096
CARD_TEMPLATE = "_partials/ticket_card.html"  # its macro ``ticket_card(card)``


def _memo_cards(locale: str) -> Any:
    @pass_context
    def memo_cards(context: Context, cards: Iterable[Any]) -> Markup:
        """The ``ticket_card`` macro of each card, memoised; the macro may read nothing but the card,
        ``_`` and ``tz``. Its template is only imported for a card not rendered before (importing it
        for every list cost as much as joining the cards).

        ``cards``: frozen dataclasses (never changed after they are made)."""
        zone = _tz(context)
        year = dt.datetime.now(zone).year
        macro = None
        out = []
        for card in cards:
            key = (locale, zone.key, year, id(card))
            found = _CARDS.get(key)
            if found is not None and found[0] is card:
                out.append(found[1])
                continue
            if macro is None:
                module = context.environment.get_template(CARD_TEMPLATE).make_module({"tz": zone.key})
                macro = getattr(module, "ticket_card")  # noqa: B009 (a template's macro)
            html = Markup(macro(card))  # noqa: S704 (the macro's autoescaped output)
            if len(_CARDS) >= _MAX_CARDS:
                _CARDS.clear()
            _CARDS[key] = (card, html)
            out.append(html)
        return Markup("".join(out))  # noqa: S704 (each part is autoescaped markup)

    return memo_cards


_INDENT = "\u00a0\u00a0"  # per tree level, inside an <option> (no markup allowed there)


def select_options(items: Iterable[Any], selected: str) -> Markup:
    """The ``<option>``s of a select, from items with ``id`` and ``label`` or ``name`` (and a tree
    ``depth``): one Python pass. As a Jinja loop, a customer's object filter (up to 300 options)
    was the larger part of a list page's rendering.

    A tuple is remembered by identity (the list pages' choices are tuples cached per configuration
    version, the same object for every request): hashing its items — dataclasses, hashed in Python —
    cost more than rendering them. Other items are rendered each time."""
    if not isinstance(items, tuple):
        return _options(tuple(items), selected)
    key = (id(items), selected)
    found = _remembered_options.get(key)
    if found is not None and found[0] is items:
        return found[1]
    html = _options(items, selected)
    if len(_remembered_options) >= _MAX_REMEMBERED_OPTIONS:
        _remembered_options.clear()
    _remembered_options[key] = (items, html)  # the tuple is kept alive, so its id is not reused
    return html


# (id(items), selected) → (items, options). Plain dict: single operations are atomic under the GIL.
_remembered_options: dict[tuple[int, str], tuple[tuple[Any, ...], Markup]] = {}
_MAX_REMEMBERED_OPTIONS = 512  # ≤ 300 options each


def _options(items: tuple[Any, ...], selected: str) -> Markup:
    out = []
    for item in items:
        value = escape(str(item.id))
        mark = " selected" if value == selected else ""
        label = escape(getattr(item, "label", None) or item.name)
        out.append(f'<option value="{value}"{mark}>{_INDENT * getattr(item, "depth", 0)}{label}</option>')
    return Markup("".join(out))  # noqa: S704 (every value above is escaped)


def _direct_gettext(translations: Any) -> Callable[..., Markup]:
    """Jinja's newstyle ``_()``, same semantics, called directly.

    As installed by the i18n extension, ``_("…")`` goes through the template context three times
    (alias → resolve "gettext" → newstyle wrapper → catalogue) and formats even without variables; a
    list page calls it ≈ 40 times. Here: the translation is markup, %-formatted with the escaped
    variables (so ``%%`` means ``%`` either way); without variables the result is remembered.
    """
    plain: dict[str, Markup] = {}

    def gettext(message: str, /, **variables: Any) -> Markup:
        if variables:
            return Markup(translations.gettext(message)) % variables  # noqa: S704 (catalogue text)
        found = plain.get(message)
        if found is None:
            found = plain[message] = Markup(translations.gettext(message)) % {}  # noqa: S704
        return found

    return gettext


# Templates whose macros every page may call by these names (``forms.field(...)``).
MACRO_TEMPLATES = {
    "forms": "_partials/forms.html",
    "fieldsui": "_partials/fields.html",
    "stars": "_partials/stars.html",
}


class _Macros:
    """A template's macros as a global, instead of an ``{% import %}`` in each page: on every render an
    import compared the page's globals with the macro template's (≈ 40 µs of the ticket page's three
    imports, 4 % of its CPU). The template is looked up at each use, so a development server still
    shows an edited macro."""

    __slots__ = ("_env", "_name")

    def __init__(self, env: Environment, name: str) -> None:
        self._env = env
        self._name = name

    def __getattr__(self, macro: str) -> Any:
        return getattr(self._env.get_template(self._name).module, macro)


@lru_cache(maxsize=len(SUPPORTED_LOCALES) + 1)
def environment(locale: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        # Checking every template's file for changes costs a dozen stat calls per page; only a developer
        # editing templates under a running server needs it.
        auto_reload=os.environ.get("FIXFLOW_ENV", "development") == "development",
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    translations = get_translations(locale)
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.globals["_"] = env.globals["gettext"] = _direct_gettext(translations)
    env.filters.update(_make_filters(locale))
    env.globals["locale"] = locale
    env.globals["memo_cards"] = _memo_cards(locale)
    env.globals["icon"] = icon
    env.globals.update({name: _Macros(env, template) for name, template in MACRO_TEMPLATES.items()})
    return env


def render_template(locale: str, name: str, context: dict[str, Any]) -> str:
    return environment(locale).get_template(name).render(context)
