"""Parsing posted HTML forms and query strings into the plain values the services take.

Nothing here validates business rules: bad numbers become ``None`` and the service reports the
problem next to the field, so the form comes back with everything the user typed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.datastructures import FormData, UploadFile

from fixflow.core.errors import FieldProblem, ValidationFailed

FIELD_PREFIX = "f."
MAX_TEXT = 10_000


@dataclass(frozen=True)
class FormErrors:
    """Translated messages: one per form field plus the ones that belong to no shown field."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def get(self, name: str) -> str | None:
        return self.fields.get(name)


NO_ERRORS = FormErrors()


def new_password(form: FormData) -> str:
    """The new password, once both copies agree (a typing slip must not lock the user out)."""
    password = text(form, "password", max_length=500)
    if password != text(form, "password2", max_length=500):
        raise ValidationFailed(
            "The passwords do not match", errors=[FieldProblem("password2", "The passwords do not match")]
        )
    return password


def text(form: FormData, name: str, *, max_length: int = MAX_TEXT) -> str:
    value = form.get(name)
    return value[:max_length] if isinstance(value, str) else ""


def texts(form: FormData, name: str, *, max_length: int = 1_000) -> list[str]:
    return [v[:max_length] for v in form.getlist(name) if isinstance(v, str) and v != ""]


def to_int(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value or not value.lstrip("-").isdigit() or len(value) > 18:
        return None
    return int(value)


def optional_int(form: FormData, name: str) -> int | None:
    return to_int(text(form, name, max_length=32))


def checkbox(form: FormData, name: str) -> bool:
    return name in form


def field_values(form: FormData, widgets: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``f.<code>`` inputs of the additional fields shown on the form (read-only ones are not sent).

    Multichoice fields post several values; a checkbox posts nothing when unchecked, so booleans are
    read from presence; a file field sends the id of a file stored earlier (a new upload replaces it,
    see ``webapp.compose.store_field_files``).
    """
    values: dict[str, Any] = {}
    for widget in widgets:
        code = str(widget["code"])
        if widget.get("readonly"):
            continue
        name = FIELD_PREFIX + code
        kind = widget.get("type")
        if kind == "file":
            kept = texts(form, name)
            if kept:
                values[code] = kept[-1]
        elif kind == "multichoice":
            values[code] = texts(form, name)
        elif kind == "boolean":
            values[code] = "true" if checkbox(form, name) else "false"
        else:
            values[code] = text(form, name).strip()
    return values


def typed_field_values(form: FormData) -> dict[str, list[str]]:
    """Everything posted under ``f.`` as lists, to put back into a form that is shown again."""
    result: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if key.startswith(FIELD_PREFIX) and not isinstance(value, UploadFile):
            result.setdefault(key[len(FIELD_PREFIX) :], []).append(value)
    return result


def scores(form: FormData, prefix: str = "score.") -> dict[int, int]:
    """``score.<criterion_id>=<1..5>``; unparsable entries are dropped and reported as missing."""
    result: dict[int, int] = {}
    for key, value in form.multi_items():
        if not key.startswith(prefix) or not isinstance(value, str):
            continue
        criterion_id, stars = to_int(key[len(prefix) :]), to_int(value)
        if criterion_id is not None and stars is not None:
            result[criterion_id] = stars
    return result


def local_day_start(value: str | None, timezone: str, *, next_day: bool = False) -> dt.datetime | None:
    """``YYYY-MM-DD`` in the tenant's zone → the UTC instant its day starts (or the next day starts)."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value.strip())
        zone = ZoneInfo(timezone)
    except (ValueError, ZoneInfoNotFoundError):
        return None
    if next_day:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone).astimezone(dt.UTC)


def _as_text(value: Any, kind: str, zone: ZoneInfo) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if kind == "datetime":
        try:
            moment = dt.datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(zone)
        return moment.strftime("%Y-%m-%dT%H:%M")  # what <input type="datetime-local"> takes
    if isinstance(value, Mapping):
        return str(value.get("id", ""))
    return str(value)


def prepare_widgets(
    widgets: Iterable[Mapping[str, Any]], typed: Mapping[str, list[str]] | None, timezone: str
) -> list[dict[str, Any]]:
    """Widgets with the value to show: what was just typed, else the stored or default value."""
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, ZoneInfoNotFoundError):
        zone = ZoneInfo("UTC")
    prepared = []
    for widget in widgets:
        code, kind = str(widget["code"]), str(widget.get("type", "string"))
        stored = widget.get("value")
        if typed is not None and not widget.get("readonly"):
            values = list(typed.get(code, []))
        elif isinstance(stored, list | tuple):
            values = [str(v) for v in stored]
        else:
            values = [_as_text(stored, kind, zone)] if stored not in (None, "") else []
        if kind == "boolean":
            checked = (
                (values and values[0].lower() in {"true", "on", "1", "yes"})
                if typed is not None
                else stored is True
            )
        else:
            checked = False
        prepared.append(
            {
                **widget,
                "choices": [tuple(c) for c in widget.get("choices") or []],
                "current": values[0] if values else "",
                "current_list": values,
                "checked": bool(checked),
            }
        )
    return prepared
