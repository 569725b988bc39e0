"""Typed values of additional fields (planning spec §2): definitions, coercion, API shape, list filters.

Pure: no database, no I/O. One owner row keeps its values in a JSON document keyed by field code; this
module decides what may go into that document (`coerce_value`, `coerce_document`), how a stored value is
shown by the API (`to_api`) and how a list filter operand is read (`filter_value`, `parse_field_filters`).

Stored forms (JSON-serialisable, one canonical spelling per value so documents compare and index well):
string/text → str; integer → int; decimal → canonical decimal str (never a float); date → "YYYY-MM-DD";
datetime → "YYYY-MM-DDTHH:MM:SS+00:00" (UTC, whole seconds, so the strings sort chronologically);
boolean → bool; choice → str; multichoice → sorted unique list[str]; ref → int id; file → int id.
An empty value is never stored: the key is left out of the document.

Access (role × stage: hidden/read/write/required) is not checked here: callers pass only the specs the
actor may see or write, so a hidden field reads as unknown, and ask `missing_required` with the specs
required at the stage being entered.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal
from enum import StrEnum
from typing import Any, Literal, TypeAlias
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class FieldType(StrEnum):
    STRING = "string"
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    MULTICHOICE = "multichoice"
    REF = "ref"
    FILE = "file"


StoredValue: TypeAlias = str | int | bool | list[str] | None
ScalarValue: TypeAlias = str | int | bool | None
ApiValue: TypeAlias = str | int | bool | Decimal | list[str] | dict[str, Any] | None
Bound: TypeAlias = int | Decimal | str | None
RefResolver: TypeAlias = Callable[[str, int], bool]
FileResolver: TypeAlias = Callable[[int], bool]
FilterOp = Literal["eq", "range", "any"]

REF_KINDS = frozenset({"object", "company", "member"})
ORDERED_TYPES = frozenset({FieldType.INTEGER, FieldType.DECIMAL, FieldType.DATE, FieldType.DATETIME})
TEXT_TYPES = frozenset({FieldType.STRING, FieldType.TEXT})
CHOICE_TYPES = frozenset({FieldType.CHOICE, FieldType.MULTICHOICE})

# Hard caps keep one owner's JSON document small whatever a definition says.
MAX_LENGTH_CAP: dict[FieldType, int] = {FieldType.STRING: 500, FieldType.TEXT: 20_000}
# Browsers read JSON numbers as doubles: a larger integer would silently change in the client.
MAX_SAFE_INTEGER = 2**53 - 1
# What numeric(38, s) holds, so values can be cast in SQL and exported to accounting tools.
MAX_DECIMAL_DIGITS = 38
MAX_CHOICES = 500
MAX_PATTERN_LENGTH = 500
MAX_NAME_LENGTH = 200

# Every `FieldValueError.reason`, for the translation catalogue of the UI.
# fmt: off
VALUE_ERROR_REASONS = frozenset({
    "required", "unknown_field", "archived", "not_string", "invalid_character", "multiline", "too_long",
    "pattern", "not_integer", "not_decimal", "too_many_digits", "too_small", "too_large", "invalid_date",
    "invalid_datetime", "naive_datetime", "nonexistent_time", "not_boolean", "not_a_choice", "not_a_list",
    "invalid_ref", "invalid_file", "empty_filter", "unsupported_operator", "invalid_range",
})
# fmt: on

_CODE_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")
# Choice values are codes (labels are for people); no comma or space so `f.code__in=a,b` stays unambiguous.
_CHOICE_VALUE_RE = re.compile(r"\w[\w.\-]{0,63}")
_INT_RE = re.compile(r"[+-]?[0-9]{1,20}")
_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)
_TRUE = frozenset({"true", "on", "1", "yes"})
_FALSE = frozenset({"false", "off", "0", "no"})
_DECIMAL_CONTEXT = Context(prec=200)  # exact for every accepted input, unlike the default 28 digits
_LISTS = (list, tuple, set, frozenset)


class FieldDefinitionError(ValueError):
    """A field definition is inconsistent; `attribute` names the part to highlight in the form."""

    def __init__(self, message: str, *, attribute: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.attribute = attribute


class FieldValueError(ValueError):
    """One rejected value. `reason` and `params` are stable for translation; `message` is short English."""

    def __init__(self, code: str, reason: str, message: str, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.params: dict[str, Any] = dict(params or {})


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What validation needs from a field definition. Check a hand-built one with `validate_spec`.

    Bounds: int for integer, int or Decimal for decimal, stored-form ISO strings for date and datetime.
    `default` is a stored-form value; `choices` are (value, label) pairs; `ref_kind` is one of REF_KINDS.
    """

    code: str
    name: str
    type: FieldType
    required: bool = False
    default: StoredValue = field(default=None, hash=False)
    min_value: Bound = None
    max_value: Bound = None
    max_length: int | None = None
    pattern: str | None = None
    choices: tuple[tuple[str, str], ...] = ()
    ref_kind: str | None = None
    archived: bool = False

    @property
    def choice_values(self) -> frozenset[str]:
        return frozenset(value for value, _label in self.choices)


@dataclass(frozen=True, slots=True)
class FieldFilter:
    """One list filter, operands in stored form.

    eq: the value equals `value` (multichoice: the list contains `value`). range: `min` <= value <= `max`,
    either bound may be None; decimal operands are strings to compare numerically, date/datetime strings
    compare chronologically as text. any: the value is one of `values` (multichoice: shares one of them).
    """

    code: str
    op: FilterOp
    value: ScalarValue = None
    min: ScalarValue = None
    max: ScalarValue = None
    values: tuple[str, ...] = ()


# --- definitions -------------------------------------------------------------------------------------


def validate_spec(spec: FieldSpec) -> None:
    """Raise FieldDefinitionError on the first inconsistency of a definition."""
    _check_identity(spec)
    _check_bounds(spec)
    _check_text_rules(spec)
    _check_choices(spec)
    _check_ref_kind(spec)
    _check_default(spec)


def _check_identity(spec: FieldSpec) -> None:
    if not isinstance(spec.code, str) or not _CODE_RE.fullmatch(spec.code):
        raise FieldDefinitionError(
            "code must be 1-63 characters: a lowercase letter, then lowercase letters, digits or _",
            attribute="code",
        )
    if "__" in spec.code:
        raise FieldDefinitionError(
            "code must not contain '__' (it separates filter operators, as in f.code__gte)", attribute="code"
        )
    if not isinstance(spec.name, str) or not spec.name.strip():
        raise FieldDefinitionError("name is required", attribute="name")
    if len(spec.name) > MAX_NAME_LENGTH:
        raise FieldDefinitionError(f"name must be at most {MAX_NAME_LENGTH} characters", attribute="name")
    if not isinstance(spec.type, FieldType):
        raise FieldDefinitionError(f"unknown field type {spec.type!r}", attribute="type")
    for attribute in ("required", "archived"):
        if not isinstance(getattr(spec, attribute), bool):
            raise FieldDefinitionError(f"{attribute} must be true or false", attribute=attribute)


def _check_bounds(spec: FieldSpec) -> None:
    bounds = {"min": spec.min_value, "max": spec.max_value}
    if spec.type not in ORDERED_TYPES:
        if any(bound is not None for bound in bounds.values()):
            raise FieldDefinitionError(
                "min and max apply only to integer, decimal, date and datetime fields", attribute="validation"
            )
        return
    for attribute, bound in bounds.items():
        if bound is not None and not _bound_ok(spec, bound):
            raise FieldDefinitionError(_BOUND_HINTS[spec.type].format(attribute), attribute="validation")
    if spec.min_value is not None and spec.max_value is not None:
        key = _ORDER_KEYS[spec.type]
        if key(spec.min_value) > key(spec.max_value):
            raise FieldDefinitionError("min must not be greater than max", attribute="validation")


_BOUND_HINTS = {
    FieldType.INTEGER: "{} must be a whole number",
    FieldType.DECIMAL: "{} must be a whole number or a Decimal",
    FieldType.DATE: "{} must be a date like 2027-01-31",
    FieldType.DATETIME: "{} must be a UTC date and time like 2027-01-31T10:00:00+00:00",
}


def _bound_ok(spec: FieldSpec, bound: object) -> bool:
    if isinstance(bound, bool | float):
        return False
    try:
        parsed = _PARSERS[spec.type](spec, bound, None)
    except FieldValueError:
        return False
    if spec.type is FieldType.DECIMAL:
        return isinstance(bound, int | Decimal)
    return parsed == bound and type(parsed) is type(bound)


def _check_text_rules(spec: FieldSpec) -> None:
    if spec.type not in TEXT_TYPES:
        if spec.max_length is not None or spec.pattern is not None:
            raise FieldDefinitionError(
                "max_length and pattern apply only to string and text fields", attribute="validation"
            )
        return
    cap = MAX_LENGTH_CAP[spec.type]
    length = spec.max_length
    if length is not None and (type(length) is not int or not 1 <= length <= cap):
        raise FieldDefinitionError(
            f"max_length must be a whole number from 1 to {cap}", attribute="max_length"
        )
    pattern = spec.pattern
    if pattern is None:
        return
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_LENGTH:
        raise FieldDefinitionError(
            f"pattern must be a regular expression of 1-{MAX_PATTERN_LENGTH} characters", attribute="pattern"
        )
    try:
        _compiled(pattern)
    except re.error as exc:
        raise FieldDefinitionError(
            f"pattern is not a valid regular expression: {exc}", attribute="pattern"
        ) from exc


def _check_choices(spec: FieldSpec) -> None:
    if spec.type not in CHOICE_TYPES:
        if spec.choices:
            raise FieldDefinitionError(
                "choices apply only to choice and multichoice fields", attribute="choices"
            )
        return
    if not isinstance(spec.choices, tuple) or not spec.choices:
        raise FieldDefinitionError(f"{spec.type} fields need a tuple of choices", attribute="choices")
    if len(spec.choices) > MAX_CHOICES:
        raise FieldDefinitionError(f"at most {MAX_CHOICES} choices are allowed", attribute="choices")
    seen: set[str] = set()
    for item in spec.choices:
        if not isinstance(item, tuple) or len(item) != 2:
            raise FieldDefinitionError("each choice must be a (value, label) pair", attribute="choices")
        value, label = item
        if not isinstance(value, str) or not _CHOICE_VALUE_RE.fullmatch(value):
            raise FieldDefinitionError(
                f"choice value {value!r} must be 1-64 letters, digits, '_', '.' or '-', starting with a "
                "letter or digit",
                attribute="choices",
            )
        if not isinstance(label, str) or not label.strip():
            raise FieldDefinitionError(f"choice {value!r} needs a label", attribute="choices")
        if value in seen:
            raise FieldDefinitionError(f"duplicate choice value {value!r}", attribute="choices")
        seen.add(value)


def _check_ref_kind(spec: FieldSpec) -> None:
    if spec.type is FieldType.REF:
        if not isinstance(spec.ref_kind, str) or spec.ref_kind not in REF_KINDS:
            raise FieldDefinitionError(
                "ref fields need ref_kind: object, company or member", attribute="ref_kind"
            )
    elif spec.ref_kind is not None:
        raise FieldDefinitionError("ref_kind applies only to ref fields", attribute="ref_kind")


def _check_default(spec: FieldSpec) -> None:
    if spec.default is None:
        return
    if spec.type is FieldType.FILE:
        raise FieldDefinitionError("file fields cannot have a default", attribute="default")
    try:
        stored = coerce_value(spec, spec.default)  # existence of a ref is checked where it is used
    except FieldValueError as exc:
        raise FieldDefinitionError(f"default is not valid: {exc.message}", attribute="default") from exc
    if stored is None:
        raise FieldDefinitionError("an empty default must be null", attribute="default")
    if stored != spec.default or type(stored) is not type(spec.default):
        raise FieldDefinitionError(f"default must be in stored form: {stored!r}", attribute="default")


def spec_to_dict(spec: FieldSpec) -> dict[str, Any]:
    """JSON-ready form of a definition; `spec_from_dict` reads it back."""

    def bound(value: Bound) -> int | str | None:
        return str(value) if isinstance(value, Decimal) else value

    return {
        "code": spec.code,
        "name": spec.name,
        "type": str(spec.type),
        "required": spec.required,
        "default": list(spec.default) if isinstance(spec.default, list) else spec.default,
        "validation": {
            "min": bound(spec.min_value),
            "max": bound(spec.max_value),
            "max_length": spec.max_length,
            "pattern": spec.pattern,
        },
        "choices": [{"value": value, "label": label} for value, label in spec.choices],
        "ref_kind": spec.ref_kind,
        "archived": spec.archived,
    }


def spec_from_dict(data: Mapping[str, Any]) -> FieldSpec:
    """Build and validate a definition from its JSON form; raises FieldDefinitionError."""
    raw_type: Any = data.get("type")
    try:
        field_type = FieldType(raw_type)
    except ValueError as exc:
        raise FieldDefinitionError(f"unknown field type {raw_type!r}", attribute="type") from exc
    validation: Any = data.get("validation") or {}
    if not isinstance(validation, Mapping):
        raise FieldDefinitionError("validation must be an object", attribute="validation")
    # validate_spec checks the types of whatever JSON gave.
    spec = FieldSpec(
        code=_any(data, "code"),
        name=_any(data, "name"),
        type=field_type,
        required=data.get("required", False),
        default=data.get("default"),
        min_value=_bound_from_json(field_type, validation.get("min")),
        max_value=_bound_from_json(field_type, validation.get("max")),
        max_length=validation.get("max_length"),
        pattern=validation.get("pattern"),
        choices=_choices_from_json(data.get("choices")),
        ref_kind=data.get("ref_kind"),
        archived=data.get("archived", False),
    )
    validate_spec(spec)
    return spec


def _any(data: Mapping[str, Any], key: str) -> Any:
    return data.get(key)


def _bound_from_json(field_type: FieldType, raw: Any) -> Any:
    """JSON keeps decimal bounds as strings; date and datetime bounds are canonicalised when readable."""
    if raw is None or isinstance(raw, bool) or field_type not in ORDERED_TYPES - {FieldType.INTEGER}:
        return raw
    probe = FieldSpec(code="bound", name="bound", type=field_type)
    try:
        parsed = _PARSERS[field_type](probe, raw, None)
    except FieldValueError:
        return raw  # validate_spec reports it with the expected form
    return Decimal(str(parsed)) if field_type is FieldType.DECIMAL else parsed


def _choices_from_json(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise FieldDefinitionError("choices must be a list", attribute="choices")
    pairs: list[tuple[str, str]] = []
    for item in raw:
        if isinstance(item, Mapping):
            pairs.append((_any(item, "value"), _any(item, "label")))
        elif isinstance(item, list | tuple) and len(item) == 2:
            pairs.append((item[0], item[1]))
        else:
            raise FieldDefinitionError("each choice must be {value, label}", attribute="choices")
    return tuple(pairs)


# --- values ------------------------------------------------------------------------------------------


def is_empty(value: object) -> bool:
    """True for what counts as "not filled" (None, blank text, empty list); False and 0 are values."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, _LISTS):
        return all(is_empty(item) for item in value)
    return False


def coerce_value(
    spec: FieldSpec,
    raw: object,
    *,
    resolve_ref: RefResolver | None = None,
    resolve_file: FileResolver | None = None,
    tz: str | None = None,
) -> StoredValue:
    """Stored form of a typed JSON value or an HTML form string; None when empty.

    Requiredness is not checked here because it depends on the stage (see `missing_required`). `tz` (an
    IANA name) interprets naive datetimes such as a form's "2027-01-31T10:00"; without it they are refused.
    Floats reach a decimal field through their shortest repr ("3.14"); parse JSON with Decimal to avoid them.
    """
    if is_empty(raw):
        return None
    value = _PARSERS[spec.type](spec, raw, tz)
    if value is None:
        return None
    _check_constraints(spec, value)
    _check_exists(spec, value, resolve_ref, resolve_file)
    return value


def coerce_document(
    specs: Sequence[FieldSpec],
    raw: Mapping[str, Any],
    *,
    existing: Mapping[str, Any] | None = None,
    resolve_ref: RefResolver | None = None,
    resolve_file: FileResolver | None = None,
    tz: str | None = None,
) -> tuple[dict[str, Any], list[FieldValueError]]:
    """Apply the values of `raw` over `existing`, collecting every error instead of stopping at one.

    Returns the new document (empty values remove their key; values of fields absent from `raw`, archived
    or unknown are kept) and the errors. Callers must not save the document when errors is not empty.
    """
    by_code = {spec.code: spec for spec in specs}
    document = dict(existing or {})
    errors: list[FieldValueError] = []
    for code, value in raw.items():
        spec = by_code.get(code)
        if spec is None:
            errors.append(FieldValueError(code, "unknown_field", "is not a known field"))
            continue
        if spec.archived:
            errors.append(FieldValueError(code, "archived", "is archived and cannot be changed"))
            continue
        try:
            stored = coerce_value(spec, value, resolve_ref=resolve_ref, resolve_file=resolve_file, tz=tz)
        except FieldValueError as exc:
            errors.append(exc)
            continue
        if stored is None:
            document.pop(code, None)
        else:
            document[code] = stored
    return document, errors


def missing_required(specs: Iterable[FieldSpec], document: Mapping[str, Any]) -> list[FieldValueError]:
    """Errors for the given required-at-this-stage fields that are empty; archived ones cannot be filled."""
    return [
        _err(spec, "required", "is required")
        for spec in specs
        if not spec.archived and is_empty(document.get(spec.code))
    ]


def to_api(
    spec: FieldSpec, stored: Any, *, ref_names: Mapping[tuple[str, int], str] | None = None
) -> ApiValue:
    """Typed API value of a stored one.

    decimal is returned as Decimal so the JSON layer writes a number without a float round trip; dates
    and datetimes stay ISO strings; ref → {"id", "name"} (name None when the target is gone); file → {"id"}.
    """
    if stored is None:
        return None
    match spec.type:
        case FieldType.INTEGER:
            return int(stored)
        case FieldType.DECIMAL:
            return Decimal(str(stored))
        case FieldType.MULTICHOICE:
            return list(stored)
        case FieldType.REF:
            ref_id = int(stored)
            return {"id": ref_id, "name": (ref_names or {}).get((spec.ref_kind or "", ref_id))}
        case FieldType.FILE:
            return {"id": int(stored)}
        case _:
            return stored  # type: ignore[no-any-return]  # str and bool are stored as the API shows them


def _err(spec: FieldSpec, reason: str, message: str, **params: Any) -> FieldValueError:
    return FieldValueError(spec.code, reason, message, params)


def _parse_text(spec: FieldSpec, raw: object, _tz: str | None) -> StoredValue:
    if not isinstance(raw, str):
        raise _err(spec, "not_string", "must be text")
    value = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if "\x00" in value:  # PostgreSQL JSONB cannot store \u0000
        raise _err(spec, "invalid_character", "contains a NUL character")
    if spec.type is FieldType.STRING and "\n" in value:
        raise _err(spec, "multiline", "must be a single line")
    cap = MAX_LENGTH_CAP[spec.type]
    if len(value) > cap:
        raise _err(spec, "too_long", f"must be at most {cap} characters", max_length=cap)
    return value


def _parse_integer(spec: FieldSpec, raw: object, _tz: str | None) -> StoredValue:
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and _INT_RE.fullmatch(raw.strip()):
        value = int(raw.strip())
    else:
        raise _err(spec, "not_integer", "must be a whole number")
    if value > MAX_SAFE_INTEGER:
        raise _err(spec, "too_large", f"must be at most {MAX_SAFE_INTEGER}", max=MAX_SAFE_INTEGER)
    if value < -MAX_SAFE_INTEGER:
        raise _err(spec, "too_small", f"must be at least {-MAX_SAFE_INTEGER}", min=-MAX_SAFE_INTEGER)
    return value


def _parse_decimal(spec: FieldSpec, raw: object, _tz: str | None) -> StoredValue:
    number: Decimal | None = None
    if isinstance(raw, Decimal):
        number = raw
    elif isinstance(raw, int) and not isinstance(raw, bool):
        number = Decimal(raw)
    elif isinstance(raw, float) and math.isfinite(raw):
        number = Decimal(repr(raw))
    elif isinstance(raw, str) and len(text := raw.strip()) <= 100 and _DECIMAL_RE.fullmatch(text):
        number = Decimal(text)
    if number is None or not number.is_finite():
        raise _err(spec, "not_decimal", "must be a number")
    canonical = _canonical_decimal(number)
    if canonical is None:
        raise _err(spec, "too_many_digits", "has too many digits", max_digits=MAX_DECIMAL_DIGITS)
    return canonical


def _canonical_decimal(number: Decimal) -> str | None:
    """Fixed-point text without exponent or trailing zeros; None when it needs too many digits."""
    if number.is_zero():
        return "0"
    if len(number.as_tuple().digits) > 100:
        return None
    if not -MAX_DECIMAL_DIGITS <= number.adjusted() < MAX_DECIMAL_DIGITS:
        return None
    text = format(number.normalize(_DECIMAL_CONTEXT), "f")
    return text if sum(char.isdigit() for char in text) <= MAX_DECIMAL_DIGITS else None


def _parse_date(spec: FieldSpec, raw: object, _tz: str | None) -> StoredValue:
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw.isoformat()
    if isinstance(raw, str) and _DATE_RE.fullmatch(text := raw.strip()):
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise _err(spec, "invalid_date", "must be a date (YYYY-MM-DD)")


def _parse_datetime(spec: FieldSpec, raw: object, tz: str | None) -> StoredValue:
    invalid = _err(spec, "invalid_datetime", "must be a date and time (ISO 8601)")
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, str) and _DATETIME_RE.fullmatch(text := raw.strip()):
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise invalid from None
    else:
        raise invalid
    try:
        if value.utcoffset() is None:
            if tz is None:
                raise _err(spec, "naive_datetime", "needs a time zone offset")
            value = _localize(spec, value, tz)
        return value.astimezone(dt.UTC).isoformat(timespec="seconds")
    except OverflowError:
        raise invalid from None


def _localize(spec: FieldSpec, naive: dt.datetime, tz: str) -> dt.datetime:
    zone = _zone(tz)
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != naive.replace(tzinfo=None):
        raise _err(spec, "nonexistent_time", f"does not exist in time zone {tz}", tz=tz)
    return aware


@functools.lru_cache(maxsize=64)
def _zone(tz: str) -> ZoneInfo:
    """An unknown zone is the caller's configuration error, not the user's input error."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc


def _parse_boolean(spec: FieldSpec, raw: object, _tz: str | None) -> StoredValue:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _err(spec, "not_boolean", "must be true or false")


def _parse_choice(spec: FieldSpec, raw: object, _tz: str | None) -> StoredValue:
    if isinstance(raw, str) and raw.strip() in spec.choice_values:
        return raw.strip()
    raise _err(spec, "not_a_choice", "is not one of the choices", value=str(raw)[:100])


def _parse_multichoice(spec: FieldSpec, raw: object, _tz: str | None) -> StoredValue:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, _LISTS):
        raise _err(spec, "not_a_list", "must be a list of choices")
    picked = {_parse_choice(spec, item, None) for item in raw if not is_empty(item)}
    return sorted(str(value) for value in picked) or None


def _parse_id(spec: FieldSpec, raw: object, reason: str, message: str) -> int:
    if isinstance(raw, Mapping):  # the API shows refs and files as {"id": ...}; accept them back
        raw = raw.get("id")
    value = 0
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and (text := raw.strip()).isascii() and text.isdigit() and len(text) <= 20:
        value = int(text)
    if not 0 < value <= MAX_SAFE_INTEGER:
        raise _err(spec, reason, message)
    return value


def _parse_ref(spec: FieldSpec, raw: object, _tz: str | None) -> StoredValue:
    return _parse_id(spec, raw, "invalid_ref", "must be a reference id")


def _parse_file(spec: FieldSpec, raw: object, _tz: str | None) -> StoredValue:
    return _parse_id(spec, raw, "invalid_file", "must be an attachment id")


_PARSERS: dict[FieldType, Callable[[FieldSpec, object, str | None], StoredValue]] = {
    FieldType.STRING: _parse_text,
    FieldType.TEXT: _parse_text,
    FieldType.INTEGER: _parse_integer,
    FieldType.DECIMAL: _parse_decimal,
    FieldType.DATE: _parse_date,
    FieldType.DATETIME: _parse_datetime,
    FieldType.BOOLEAN: _parse_boolean,
    FieldType.CHOICE: _parse_choice,
    FieldType.MULTICHOICE: _parse_multichoice,
    FieldType.REF: _parse_ref,
    FieldType.FILE: _parse_file,
}
# Comparable keys of stored values and bounds of the ordered types.
_ORDER_KEYS: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.INTEGER: int,
    FieldType.DECIMAL: Decimal,
    FieldType.DATE: dt.date.fromisoformat,
    FieldType.DATETIME: dt.datetime.fromisoformat,
}


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _check_constraints(spec: FieldSpec, value: StoredValue) -> None:
    if spec.type in TEXT_TYPES and isinstance(value, str):
        if spec.max_length is not None and len(value) > spec.max_length:
            raise _err(
                spec, "too_long", f"must be at most {spec.max_length} characters", max_length=spec.max_length
            )
        if spec.pattern is not None and not _compiled(spec.pattern).fullmatch(value):
            raise _err(spec, "pattern", "does not have the expected format", pattern=spec.pattern)
    elif spec.type in ORDERED_TYPES:
        key = _ORDER_KEYS[spec.type]
        if spec.min_value is not None and key(value) < key(spec.min_value):
            shown = _shown(spec.min_value)
            raise _err(spec, "too_small", f"must be at least {shown}", min=shown)
        if spec.max_value is not None and key(value) > key(spec.max_value):
            shown = _shown(spec.max_value)
            raise _err(spec, "too_large", f"must be at most {shown}", max=shown)


def _shown(bound: Bound) -> int | str | None:
    return str(bound) if isinstance(bound, Decimal) else bound


def _check_exists(
    spec: FieldSpec, value: StoredValue, resolve_ref: RefResolver | None, resolve_file: FileResolver | None
) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        return
    if spec.type is FieldType.REF and resolve_ref is not None:
        kind = spec.ref_kind or ""
        if not resolve_ref(kind, value):
            raise _err(spec, "invalid_ref", f"refers to a missing {kind}", kind=kind, id=value)
    elif spec.type is FieldType.FILE and resolve_file is not None and not resolve_file(value):
        raise _err(spec, "invalid_file", "refers to a missing file", id=value)


# --- list filters ------------------------------------------------------------------------------------


def filter_value(spec: FieldSpec, raw: object, *, tz: str | None = None) -> FieldFilter:
    """Read one filter operand: a scalar means eq, {"min", "max"} a range, a list any-of.

    Operands are checked by type only (a bound outside the field's min/max is fine); choices must exist.
    """
    if isinstance(raw, Mapping):
        return _range_filter(spec, raw.get("min"), raw.get("max"), tz)
    if isinstance(raw, _LISTS):
        if spec.type not in CHOICE_TYPES:
            raise _err(spec, "unsupported_operator", "cannot be filtered by a list of values", op="any")
        values = sorted({str(_parse_choice(spec, item, None)) for item in raw if not is_empty(item)})
        if not values:
            raise _err(spec, "empty_filter", "needs a value")
        return FieldFilter(spec.code, "any", values=tuple(values))
    value = _operand(spec, raw, tz)
    if value is None:
        raise _err(spec, "empty_filter", "needs a value")
    return FieldFilter(spec.code, "eq", value=value)


def _range_filter(spec: FieldSpec, low_raw: object, high_raw: object, tz: str | None) -> FieldFilter:
    if spec.type not in ORDERED_TYPES:
        raise _err(spec, "unsupported_operator", "cannot be filtered by a range", op="range")
    low, high = _operand(spec, low_raw, tz), _operand(spec, high_raw, tz)
    if low is None and high is None:
        raise _err(spec, "empty_filter", "needs a value")
    if low is not None and high is not None:
        key = _ORDER_KEYS[spec.type]
        if key(low) > key(high):
            raise _err(spec, "invalid_range", "minimum is greater than maximum")
    return FieldFilter(spec.code, "range", min=low, max=high)


def _operand(spec: FieldSpec, raw: object, tz: str | None) -> ScalarValue:
    if is_empty(raw):
        return None
    parser = _parse_choice if spec.type in CHOICE_TYPES else _PARSERS[spec.type]
    value = parser(spec, raw, tz)
    if isinstance(value, list):  # only multichoice parses to a list, and it uses _parse_choice here
        raise _err(spec, "not_a_choice", "is not one of the choices")
    return value


def parse_field_filters(
    params: Mapping[str, str], specs: Sequence[FieldSpec], *, tz: str | None = None
) -> list[FieldFilter]:
    """Filters from query parameters `f.<code>=v`, `f.<code>__gte=v`, `f.<code>__lte=v`, `f.<code>__in=a,b`.

    Other parameters are ignored, and so are blank operands because filter forms submit every input.
    Pass only the specs the actor may see, so a hidden field is reported as unknown.
    """
    by_code = {spec.code: spec for spec in specs}
    filters: list[FieldFilter] = []
    ranges: dict[str, dict[str, str]] = {}
    for key, raw in params.items():
        if not key.startswith("f."):
            continue
        name = key[2:]
        code, _sep, op = name.rpartition("__") if "__" in name else (name, "", "")
        spec = by_code.get(code)
        if spec is None:
            raise FieldValueError(code, "unknown_field", "is not a known field")
        if op not in ("", "gte", "lte", "in"):
            raise _err(spec, "unsupported_operator", f"cannot be filtered with {op}", op=op)
        if is_empty(raw):
            continue
        if op == "":
            filters.append(filter_value(spec, raw, tz=tz))
        elif op == "in":
            filters.append(filter_value(spec, raw.split(","), tz=tz))
        else:
            ranges.setdefault(code, {})["min" if op == "gte" else "max"] = raw
    filters.extend(filter_value(by_code[code], bounds, tz=tz) for code, bounds in ranges.items())
    return filters
