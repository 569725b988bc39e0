"""Translations read from the ``.po`` catalogs at runtime (no ``.mo`` build step) and locale choice.

Code and templates use English msgids; ``locale/ru`` holds the Russian text, ``locale/en`` is the
identity catalog. A missing or empty translation falls back to the English msgid.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from fixflow.core.errors import DomainError, FieldProblem

SUPPORTED_LOCALES: tuple[str, ...] = ("ru", "en")
DEFAULT_LOCALE = "ru"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def N_(message: str) -> str:
    """Marks a msgid for extraction where it is defined; translated later, where it is shown."""
    return message


def catalog_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=len(SUPPORTED_LOCALES))
def get_translations(locale: str) -> NullTranslations:
    """Compile the catalog in memory once per process; unknown locales get the msgids back."""
    path = catalog_path(locale)
    if locale not in SUPPORTED_LOCALES or not path.exists():
        return NullTranslations()
    with path.open("rb") as fp:
        catalog = read_po(fp, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer)


def gettext(locale: str, message: str) -> str:
    return str(get_translations(locale).gettext(message))


def render_error(exc: DomainError, locale: str) -> str:
    return exc.render(get_translations(locale).gettext)


def render_problem(problem: FieldProblem, locale: str) -> str:
    return gettext(locale, problem.message)


def normalize_locale(value: str | None) -> str | None:
    """``"en-GB"`` → ``"en"``; anything unsupported → None."""
    if not value:
        return None
    code = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return code if code in SUPPORTED_LOCALES else None


def parse_accept_language(header: str | None) -> str | None:
    """The supported language the browser prefers most (q-values honoured)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        code = normalize_locale(tag)
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else None


def choose_locale(
    *,
    member_locale: str | None,
    cookie: str | None,
    accept_language: str | None,
    default: str = DEFAULT_LOCALE,
) -> str:
    """The member's saved choice, else the ``lang`` cookie, else the browser's, else the default."""
    return (
        normalize_locale(member_locale)
        or normalize_locale(cookie)
        or parse_accept_language(accept_language)
        or normalize_locale(default)
        or DEFAULT_LOCALE
    )
