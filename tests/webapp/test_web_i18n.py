"""Catalogs: every message the code and templates use has Russian text; English is the identity."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from babel.messages.pofile import read_po

from fixflow.core.errors import Throttled, ValidationFailed
from fixflow.core.i18n import catalog_path, choose_locale, gettext, parse_accept_language, render_error

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "i18n.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fixflow_i18n_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_russian_catalog_is_complete() -> None:
    missing = load_script().missing("ru")
    assert missing == [], "run scripts/i18n.py update and translate:\n" + "\n".join(missing)


def test_extraction_finds_templates_partials_and_domain_errors() -> None:
    ids = {m.id for m in load_script().extract() if m.id}
    assert {
        "Show more",
        "Ticket lists",
        "%(n)s of 5 stars",
        "Describe the problem",
        "Wrong login or password",
    } <= ids
    assert "Assign an executor first" in ids  # a value of REQUIREMENT_MESSAGES
    assert "Not found" in ids  # an error class title


def test_english_catalog_is_the_identity() -> None:
    with catalog_path("en").open("rb") as fp:
        catalog = read_po(fp, locale="en")
    for message in catalog:
        if message.id:
            assert message.string == message.id, message.id


def test_domain_errors_render_in_both_languages() -> None:
    assert render_error(ValidationFailed("Describe the problem"), "ru") == "Опишите проблему"
    assert render_error(ValidationFailed("Describe the problem"), "en") == "Describe the problem"
    throttled = Throttled("Too many attempts. Try again in {minutes} min.", minutes=15)
    assert render_error(throttled, "ru") == "Слишком много попыток. Повторите через 15 мин."
    assert gettext("ru", "an unknown message stays as it is") == "an unknown message stays as it is"


def test_locale_choice_order() -> None:
    assert choose_locale(member_locale="en", cookie="ru", accept_language="ru") == "en"
    assert choose_locale(member_locale=None, cookie="en", accept_language="ru") == "en"
    assert choose_locale(member_locale=None, cookie=None, accept_language="en-US,en;q=0.9") == "en"
    assert choose_locale(member_locale=None, cookie="de", accept_language="fr, de") == "ru"
    assert parse_accept_language("de;q=1, en;q=0.2, ru;q=0.8") == "ru"
    assert parse_accept_language("en;q=0") is None
