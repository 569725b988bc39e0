from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from fixflow.fields.types import (
    MAX_SAFE_INTEGER,
    VALUE_ERROR_REASONS,
    FieldDefinitionError,
    FieldFilter,
    FieldSpec,
    FieldType,
    FieldValueError,
    coerce_document,
    coerce_value,
    filter_value,
    is_empty,
    missing_required,
    parse_field_filters,
    spec_from_dict,
    spec_to_dict,
    to_api,
    validate_spec,
)

ABC = (("a", "Alpha"), ("b", "Beta"), ("c", "Gamma"))


def make_spec(field_type: FieldType, code: str = "f", **overrides: Any) -> FieldSpec:
    extra: dict[str, Any] = {}
    if field_type in (FieldType.CHOICE, FieldType.MULTICHOICE):
        extra["choices"] = ABC
    if field_type is FieldType.REF:
        extra["ref_kind"] = "company"
    extra.update(overrides)
    spec = FieldSpec(code=code, name=code.title(), type=field_type, **extra)
    validate_spec(spec)
    return spec


def rejected(spec: FieldSpec, raw: object, reason: str, **kwargs: Any) -> FieldValueError:
    with pytest.raises(FieldValueError) as info:
        coerce_value(spec, raw, **kwargs)
    error = info.value
    assert (error.code, error.reason) == (spec.code, reason), error
    assert error.reason in VALUE_ERROR_REASONS
    return error


def test_field_type_members_are_exactly_the_spec_list() -> None:
    assert [t.value for t in FieldType] == [
        "string", "text", "integer", "decimal", "date", "datetime", "boolean", "choice", "multichoice",
        "ref", "file",
    ]  # fmt: skip


# --- empty input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("field_type", list(FieldType))
@pytest.mark.parametrize("raw", [None, "", "   ", [], [""]])
def test_empty_input_is_none_and_requiredness_is_not_checked(field_type: FieldType, raw: object) -> None:
    assert coerce_value(make_spec(field_type, required=True), raw) is None


@pytest.mark.parametrize("value", [None, "", "  ", [], [""], ()])
def test_is_empty_true(value: object) -> None:
    assert is_empty(value)


@pytest.mark.parametrize("value", [False, 0, "0", ["a"], 5])
def test_is_empty_false(value: object) -> None:
    assert not is_empty(value)


# --- string / text -----------------------------------------------------------------------------------


def test_string_accepts_and_strips() -> None:
    assert coerce_value(make_spec(FieldType.STRING), "  Boiler room  ") == "Boiler room"
    assert coerce_value(make_spec(FieldType.STRING, max_length=3), "abc") == "abc"
    assert coerce_value(make_spec(FieldType.STRING, pattern=r"[A-Z]{2}\d{3}"), "AB123") == "AB123"


def test_text_keeps_lines_and_normalises_line_endings() -> None:
    assert coerce_value(make_spec(FieldType.TEXT), "line 1\r\nline 2\rline 3\n") == "line 1\nline 2\nline 3"


def test_string_rejects() -> None:
    spec = make_spec(FieldType.STRING, max_length=5, pattern=r"[a-z]+")
    rejected(spec, 42, "not_string")
    rejected(spec, ["abc"], "not_string")
    rejected(spec, "ab\ncd", "multiline")
    rejected(spec, "ab\x00", "invalid_character")
    assert rejected(spec, "abcdef", "too_long").params == {"max_length": 5}
    assert rejected(spec, "abc1", "pattern").params == {"pattern": "[a-z]+"}


def test_pattern_must_match_the_whole_value() -> None:
    rejected(make_spec(FieldType.STRING, pattern=r"[A-Z]{2}\d{3}"), "AB1234", "pattern")


def test_hard_length_cap_applies_without_max_length() -> None:
    assert rejected(make_spec(FieldType.STRING), "x" * 501, "too_long").params == {"max_length": 500}
    assert coerce_value(make_spec(FieldType.TEXT), "x" * 20_000) == "x" * 20_000
    rejected(make_spec(FieldType.TEXT), "x" * 20_001, "too_long")


# --- integer -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "stored"), [(42, 42), ("42", 42), (" -7 ", -7), ("+3", 3), (0, 0), ("0", 0)])
def test_integer_accepts(raw: object, stored: int) -> None:
    value = coerce_value(make_spec(FieldType.INTEGER), raw)
    assert value == stored and type(value) is int


@pytest.mark.parametrize("raw", ["4.2", "abc", 4.0, True, "1_000", "٣", "1e3", [1], {"id": 1}])
def test_integer_rejects_non_integers(raw: object) -> None:
    rejected(make_spec(FieldType.INTEGER), raw, "not_integer")


def test_integer_bounds() -> None:
    spec = make_spec(FieldType.INTEGER, min_value=1, max_value=10)
    assert coerce_value(spec, "1") == 1
    assert coerce_value(spec, 10) == 10
    assert rejected(spec, 0, "too_small").params == {"min": 1}
    assert rejected(spec, "11", "too_large").params == {"max": 10}
    rejected(make_spec(FieldType.INTEGER), MAX_SAFE_INTEGER + 1, "too_large")
    rejected(make_spec(FieldType.INTEGER), str(-MAX_SAFE_INTEGER - 1), "too_small")


# --- decimal -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("3.14", "3.14"),
        ("3.140", "3.14"),
        (" 2.50 ", "2.5"),
        (".5", "0.5"),
        ("-0.0", "0"),
        (10, "10"),
        (Decimal("1E+2"), "100"),
        (Decimal("0.000100"), "0.0001"),
        (0.1, "0.1"),  # a JSON float goes through its shortest repr, not its binary expansion
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ("1234567890123456789012345678901234.5678", "1234567890123456789012345678901234.5678"),
    ],
)
def test_decimal_accepts_into_canonical_string(raw: object, stored: str) -> None:
    value = coerce_value(make_spec(FieldType.DECIMAL), raw)
    assert value == stored and type(value) is str


@pytest.mark.parametrize(
    "raw", ["abc", "1e5", "NaN", "Infinity", "1,5", float("inf"), float("nan"), Decimal("NaN"), True, [1]]
)
def test_decimal_rejects_non_numbers(raw: object) -> None:
    rejected(make_spec(FieldType.DECIMAL), raw, "not_decimal")


def test_decimal_rejects_too_many_digits() -> None:
    spec = make_spec(FieldType.DECIMAL)
    assert rejected(spec, "1" * 39, "too_many_digits").params == {"max_digits": 38}
    rejected(spec, Decimal("1E+60"), "too_many_digits")
    rejected(spec, "0." + "0" * 40 + "1", "too_many_digits")


def test_decimal_bounds_compare_numerically() -> None:
    spec = make_spec(FieldType.DECIMAL, min_value=Decimal("0.5"), max_value=100)
    assert coerce_value(spec, "0.50") == "0.5"
    assert coerce_value(spec, "100.000") == "100"
    assert rejected(spec, "0.49", "too_small").params == {"min": "0.5"}
    assert rejected(spec, "100.01", "too_large").params == {"max": 100}


def test_decimal_never_becomes_float_in_document_api_or_filter() -> None:
    spec = make_spec(FieldType.DECIMAL, code="amount")
    document, errors = coerce_document([spec], {"amount": 0.1})
    assert errors == [] and document == {"amount": "0.1"}
    assert json.loads(json.dumps(document)) == {"amount": "0.1"}
    api = to_api(spec, document["amount"])
    assert isinstance(api, Decimal) and api == Decimal("0.1")
    assert filter_value(spec, {"min": 0.1}).min == "0.1"


# --- date --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["2027-01-31", " 2027-01-31 ", dt.date(2027, 1, 31)])
def test_date_accepts(raw: object) -> None:
    assert coerce_value(make_spec(FieldType.DATE), raw) == "2027-01-31"


@pytest.mark.parametrize(
    "raw", ["2027-02-30", "31.01.2027", "2027-1-31", "20270131", 20270131, "2027-01-31T10:00",
            dt.datetime(2027, 1, 31, tzinfo=dt.UTC)],
)  # fmt: skip
def test_date_rejects(raw: object) -> None:
    rejected(make_spec(FieldType.DATE), raw, "invalid_date")


def test_date_bounds() -> None:
    spec = make_spec(FieldType.DATE, min_value="2027-01-01", max_value="2027-12-31")
    assert coerce_value(spec, "2027-01-01") == "2027-01-01"
    assert rejected(spec, "2026-12-31", "too_small").params == {"min": "2027-01-01"}
    rejected(spec, "2028-01-01", "too_large")


# --- datetime ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("2027-01-31T10:00:00+03:00", "2027-01-31T07:00:00+00:00"),
        ("2027-01-31T10:00Z", "2027-01-31T10:00:00+00:00"),
        ("2027-01-31 10:00:59.999999-01:30", "2027-01-31T11:30:59+00:00"),
        (
            dt.datetime(2027, 1, 31, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))),
            "2027-01-31T05:00:00+00:00",
        ),
    ],
)
def test_datetime_accepts_aware_values_into_utc(raw: object, stored: str) -> None:
    assert coerce_value(make_spec(FieldType.DATETIME), raw) == stored


def test_naive_datetime_needs_tz() -> None:
    spec = make_spec(FieldType.DATETIME)
    rejected(spec, "2027-01-31T10:00", "naive_datetime")
    rejected(spec, dt.datetime(2027, 1, 31, 10, 0), "naive_datetime")  # noqa: DTZ001
    assert coerce_value(spec, "2027-01-31T10:00", tz="Europe/Moscow") == "2027-01-31T07:00:00+00:00"
    assert coerce_value(spec, "2027-07-01T10:00", tz="Europe/Berlin") == "2027-07-01T08:00:00+00:00"
    # An explicit offset wins over tz.
    assert coerce_value(spec, "2027-01-31T10:00+00:00", tz="Europe/Moscow") == "2027-01-31T10:00:00+00:00"


def test_naive_datetime_in_dst_gap_is_refused_and_fold_takes_first() -> None:
    spec = make_spec(FieldType.DATETIME)
    error = rejected(spec, "2027-03-28T02:30", "nonexistent_time", tz="Europe/Berlin")
    assert error.params == {"tz": "Europe/Berlin"}
    assert coerce_value(spec, "2027-10-31T02:30", tz="Europe/Berlin") == "2027-10-31T00:30:00+00:00"


def test_unknown_time_zone_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone") as info:
        coerce_value(make_spec(FieldType.DATETIME), "2027-01-31T10:00", tz="Mars/Olympus")
    assert not isinstance(info.value, FieldValueError)


@pytest.mark.parametrize(
    "raw", ["2027-01-31", "garbage", "2027-13-01T10:00Z", "2027-01-31T25:00Z", "31.01.2027 10:00", 1700000000]
)
def test_datetime_rejects(raw: object) -> None:
    rejected(make_spec(FieldType.DATETIME), raw, "invalid_datetime", tz="UTC")


def test_datetime_bounds() -> None:
    spec = make_spec(FieldType.DATETIME, min_value="2027-01-01T00:00:00+00:00")
    assert coerce_value(spec, "2027-01-01T03:00+03:00") == "2027-01-01T00:00:00+00:00"
    assert rejected(spec, "2027-01-01T02:59+03:00", "too_small").params == {
        "min": "2027-01-01T00:00:00+00:00"
    }


# --- boolean -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [(True, True), (False, False), ("on", True), ("true", True), ("TRUE", True), ("1", True),
     ("false", False), ("0", False), ("off", False)],
)  # fmt: skip
def test_boolean_accepts(raw: object, stored: bool) -> None:
    assert coerce_value(make_spec(FieldType.BOOLEAN), raw) is stored


@pytest.mark.parametrize("raw", ["maybe", 1, 0, "2", ["true"], 1.0])
def test_boolean_rejects(raw: object) -> None:
    rejected(make_spec(FieldType.BOOLEAN), raw, "not_boolean")


# --- choice / multichoice ----------------------------------------------------------------------------


def test_choice_accepts() -> None:
    spec = make_spec(FieldType.CHOICE)
    assert coerce_value(spec, "a") == "a"
    assert coerce_value(spec, " b ") == "b"


@pytest.mark.parametrize("raw", ["z", "A", "Alpha", 1, ["a"]])
def test_choice_rejects(raw: object) -> None:
    rejected(make_spec(FieldType.CHOICE), raw, "not_a_choice")


@pytest.mark.parametrize(
    ("raw", "stored"),
    [(["c", "a", "a"], ["a", "c"]), ("b", ["b"]), (("b", "a"), ["a", "b"]), (["", "c"], ["c"]),
     ({"c", "b"}, ["b", "c"])],
)  # fmt: skip
def test_multichoice_normalises_to_sorted_unique_list(raw: object, stored: list[str]) -> None:
    assert coerce_value(make_spec(FieldType.MULTICHOICE), raw) == stored


def test_multichoice_sorts_many_values() -> None:
    digits = tuple((str(n), f"Label {n}") for n in range(10))
    spec = make_spec(FieldType.MULTICHOICE, choices=digits)
    values = [str(n) for n in (9, 3, 7, 0, 5, 3, 8, 1, 6, 2, 4)]
    assert coerce_value(spec, values) == [str(n) for n in range(10)]


def test_multichoice_rejects() -> None:
    spec = make_spec(FieldType.MULTICHOICE)
    assert rejected(spec, ["a", "z"], "not_a_choice").params == {"value": "z"}
    rejected(spec, [1], "not_a_choice")
    rejected(spec, {"a": True}, "not_a_list")
    rejected(spec, 42, "not_a_list")


# --- ref / file --------------------------------------------------------------------------------------


def test_ref_accepts_ids_and_calls_resolver() -> None:
    calls: list[tuple[str, int]] = []

    def resolve(kind: str, ref_id: int) -> bool:
        calls.append((kind, ref_id))
        return ref_id == 5

    spec = make_spec(FieldType.REF)
    for raw in (5, "5", {"id": 5, "name": "Acme"}):
        assert coerce_value(spec, raw, resolve_ref=resolve) == 5
    assert calls == [("company", 5)] * 3
    error = rejected(spec, 6, "invalid_ref", resolve_ref=resolve)
    assert error.params == {"kind": "company", "id": 6}
    assert coerce_value(spec, 6) == 6  # no resolver: shape only


@pytest.mark.parametrize("raw", [0, -1, "abc", True, 5.0, 2**60, {"name": "Acme"}, "٣"])
def test_ref_rejects_bad_ids_without_calling_resolver(raw: object) -> None:
    def resolve(kind: str, ref_id: int) -> bool:
        raise AssertionError("resolver called for an invalid id")

    rejected(make_spec(FieldType.REF), raw, "invalid_ref", resolve_ref=resolve)


def test_file_accepts_ids_and_calls_resolver() -> None:
    seen: list[int] = []

    def resolve(file_id: int) -> bool:
        seen.append(file_id)
        return file_id != 8

    spec = make_spec(FieldType.FILE)
    assert coerce_value(spec, "7", resolve_file=resolve) == 7
    assert coerce_value(spec, {"id": 7}, resolve_file=resolve) == 7
    assert rejected(spec, 8, "invalid_file", resolve_file=resolve).params == {"id": 8}
    assert seen == [7, 7, 8]


@pytest.mark.parametrize("raw", [0, "x", True, -3, 1.5])
def test_file_rejects(raw: object) -> None:
    rejected(make_spec(FieldType.FILE), raw, "invalid_file")


# --- documents ---------------------------------------------------------------------------------------


SPECS = [
    make_spec(FieldType.INTEGER, "floor", min_value=0),
    make_spec(FieldType.DECIMAL, "area"),
    make_spec(FieldType.STRING, "note"),
    make_spec(FieldType.MULTICHOICE, "tags"),
    make_spec(FieldType.DATE, "old", archived=True),
    make_spec(FieldType.REF, "owner"),
    make_spec(FieldType.DATETIME, "due"),
]


def test_coerce_document_merges_over_existing() -> None:
    existing = {"floor": 3, "note": "old note", "old": "2020-01-01", "gone": 1}
    raw = {"area": "12.50", "note": "", "tags": ["b", "a"], "due": "2027-01-31T10:00"}
    document, errors = coerce_document(SPECS, raw, existing=existing, tz="Europe/Moscow")
    assert errors == []
    assert document == {
        "floor": 3,
        "area": "12.5",
        "tags": ["a", "b"],
        "due": "2027-01-31T07:00:00+00:00",
        "old": "2020-01-01",  # archived values are kept
        "gone": 1,  # values of deleted definitions are not this layer's business
    }
    assert existing["note"] == "old note"  # input not mutated
    assert json.loads(json.dumps(document)) == document


def test_coerce_document_collects_every_error() -> None:
    raw = {
        "floor": "-1",
        "area": "abc",
        "tags": ["z"],
        "old": "2027-01-01",
        "nope": 1,
        "note": "ok",
        "owner": 9,
    }
    document, errors = coerce_document(SPECS, raw, existing={}, resolve_ref=lambda kind, ref_id: False)
    assert [(e.code, e.reason) for e in errors] == [
        ("floor", "too_small"),
        ("area", "not_decimal"),
        ("tags", "not_a_choice"),
        ("old", "archived"),
        ("nope", "unknown_field"),
        ("owner", "invalid_ref"),
    ]
    assert all(e.reason in VALUE_ERROR_REASONS for e in errors)
    assert document == {"note": "ok"}


def test_missing_required() -> None:
    specs = [
        make_spec(FieldType.STRING, "a"),
        make_spec(FieldType.BOOLEAN, "b"),
        make_spec(FieldType.MULTICHOICE, "c"),
        make_spec(FieldType.INTEGER, "d", archived=True),
    ]
    errors = missing_required(specs, {"a": "x", "b": False, "c": []})
    assert [(e.code, e.reason) for e in errors] == [("c", "required")]
    assert [e.code for e in missing_required(specs, {})] == ["a", "b", "c"]


def test_field_value_error_is_a_value_error_naming_the_field() -> None:
    error = rejected(make_spec(FieldType.INTEGER, "floor"), "x", "not_integer")
    assert isinstance(error, ValueError)
    assert str(error) == "floor: must be a whole number"
    assert error.message == "must be a whole number"


# --- API ---------------------------------------------------------------------------------------------


def test_to_api_types() -> None:
    ref = make_spec(FieldType.REF)
    assert to_api(make_spec(FieldType.INTEGER), 5) == 5
    assert to_api(make_spec(FieldType.DECIMAL), "12.5") == Decimal("12.5")
    assert to_api(make_spec(FieldType.DATE), "2027-01-31") == "2027-01-31"
    assert to_api(make_spec(FieldType.DATETIME), "2027-01-31T07:00:00+00:00") == "2027-01-31T07:00:00+00:00"
    assert to_api(make_spec(FieldType.BOOLEAN), False) is False
    assert to_api(make_spec(FieldType.MULTICHOICE), ["a", "b"]) == ["a", "b"]
    assert to_api(ref, 5, ref_names={("company", 5): "Acme"}) == {"id": 5, "name": "Acme"}
    assert to_api(ref, 6, ref_names={("object", 6): "Other kind"}) == {"id": 6, "name": None}
    assert to_api(make_spec(FieldType.FILE), 7) == {"id": 7}
    assert to_api(make_spec(FieldType.STRING), None) is None


@pytest.mark.parametrize("field_type", list(FieldType))
def test_to_api_value_is_accepted_back(field_type: FieldType) -> None:
    spec = make_spec(field_type)
    samples: dict[FieldType, object] = {
        FieldType.STRING: "x", FieldType.TEXT: "a\nb", FieldType.INTEGER: 3, FieldType.DECIMAL: "1.5",
        FieldType.DATE: "2027-01-31", FieldType.DATETIME: "2027-01-31T07:00:00+00:00",
        FieldType.BOOLEAN: True, FieldType.CHOICE: "a", FieldType.MULTICHOICE: ["a", "c"],
        FieldType.REF: 4, FieldType.FILE: 9,
    }  # fmt: skip
    stored = samples[field_type]
    assert coerce_value(spec, to_api(spec, stored, ref_names={})) == stored


# --- definitions -------------------------------------------------------------------------------------


def definition_error(attribute: str, **fields: Any) -> str:
    with pytest.raises(FieldDefinitionError) as info:
        validate_spec(FieldSpec(**{"code": "f", "name": "F", **fields}))
    assert info.value.attribute == attribute, info.value
    return info.value.message


@pytest.mark.parametrize("code", ["Bad", "1abc", "", "a" * 64, "a-b", "a b", "é", "a\n"])
def test_bad_codes(code: str) -> None:
    definition_error("code", code=code, type=FieldType.STRING)


def test_double_underscore_is_reserved_for_filter_operators() -> None:
    assert "__" in definition_error("code", code="a__gte", type=FieldType.STRING)
    validate_spec(FieldSpec(code="a_b_", name="ok", type=FieldType.STRING))


@pytest.mark.parametrize(
    ("attribute", "fields", "words"),
    [
        ("name", {"name": "  ", "type": FieldType.STRING}, "name is required"),
        ("type", {"type": "string"}, "unknown field type"),
        ("choices", {"type": FieldType.CHOICE}, "choices"),
        ("choices", {"type": FieldType.MULTICHOICE, "choices": (("a", "A"), ("a", "B"))}, "duplicate"),
        ("choices", {"type": FieldType.CHOICE, "choices": (("a b", "A"),)}, "choice value"),
        ("choices", {"type": FieldType.CHOICE, "choices": (("a", " "),)}, "needs a label"),
        ("choices", {"type": FieldType.INTEGER, "choices": ABC}, "only to choice"),
        (
            "validation",
            {"type": FieldType.INTEGER, "min_value": 5, "max_value": 1},
            "min must not be greater",
        ),
        (
            "validation",
            {"type": FieldType.DATE, "min_value": "2027-02-01", "max_value": "2027-01-01"},
            "greater",
        ),
        ("validation", {"type": FieldType.DECIMAL, "min_value": 0.5}, "Decimal"),
        ("validation", {"type": FieldType.INTEGER, "min_value": "1"}, "whole number"),
        ("validation", {"type": FieldType.DATE, "max_value": "2027-1-1"}, "date like"),
        ("validation", {"type": FieldType.DATETIME, "max_value": "2027-01-01T10:00"}, "UTC date and time"),
        ("validation", {"type": FieldType.STRING, "min_value": 1}, "min and max apply only"),
        ("pattern", {"type": FieldType.STRING, "pattern": "([a-z"}, "not a valid regular expression"),
        ("validation", {"type": FieldType.INTEGER, "pattern": "x"}, "only to string and text"),
        ("max_length", {"type": FieldType.STRING, "max_length": 0}, "max_length"),
        ("max_length", {"type": FieldType.STRING, "max_length": 501}, "max_length"),
        ("ref_kind", {"type": FieldType.REF}, "ref_kind"),
        ("ref_kind", {"type": FieldType.REF, "ref_kind": "ticket"}, "ref_kind"),
        ("ref_kind", {"type": FieldType.STRING, "ref_kind": "object"}, "only to ref"),
        ("default", {"type": FieldType.STRING, "max_length": 2, "default": "abc"}, "default is not valid"),
        ("default", {"type": FieldType.INTEGER, "default": "5"}, "stored form"),
        ("default", {"type": FieldType.INTEGER, "default": True}, "default is not valid"),
        ("default", {"type": FieldType.DECIMAL, "default": Decimal("1.50")}, "stored form"),
        ("default", {"type": FieldType.MULTICHOICE, "choices": ABC, "default": ["b", "a"]}, "stored form"),
        ("default", {"type": FieldType.CHOICE, "choices": ABC, "default": "z"}, "default is not valid"),
        ("default", {"type": FieldType.FILE, "default": 3}, "cannot have a default"),
        ("required", {"type": FieldType.STRING, "required": "yes"}, "true or false"),
    ],
)
def test_definition_errors(attribute: str, fields: dict[str, Any], words: str) -> None:
    assert words in definition_error(attribute, **fields)


def test_valid_defaults() -> None:
    make_spec(FieldType.DECIMAL, default="1.5")
    make_spec(FieldType.MULTICHOICE, default=["a", "b"])
    make_spec(FieldType.BOOLEAN, default=False)
    make_spec(FieldType.DATETIME, default="2027-01-31T07:00:00+00:00")
    make_spec(FieldType.REF, default=12)


ROUND_TRIP = [
    make_spec(FieldType.DECIMAL, "area", min_value=Decimal("0.5"), max_value=Decimal("1000"), default="2.5"),
    make_spec(FieldType.MULTICHOICE, "tags", required=True, default=["a"]),
    make_spec(FieldType.STRING, "serial", max_length=20, pattern=r"[A-Z]{2}\d+"),
    make_spec(FieldType.DATETIME, "due", min_value="2027-01-01T00:00:00+00:00", archived=True),
    make_spec(FieldType.REF, "owner"),
    make_spec(FieldType.INTEGER, "floor", min_value=-3, max_value=200),
]


@pytest.mark.parametrize("spec", ROUND_TRIP, ids=lambda spec: spec.code)
def test_spec_dict_round_trip_through_json(spec: FieldSpec) -> None:
    data = json.loads(json.dumps(spec_to_dict(spec)))
    assert spec_from_dict(data) == spec


def test_spec_to_dict_shape() -> None:
    assert spec_to_dict(ROUND_TRIP[0]) == {
        "code": "area",
        "name": "Area",
        "type": "decimal",
        "required": False,
        "default": "2.5",
        "validation": {"min": "0.5", "max": "1000", "max_length": None, "pattern": None},
        "choices": [],
        "ref_kind": None,
        "archived": False,
    }


def test_spec_from_dict_reads_loose_json() -> None:
    spec = spec_from_dict(
        {
            "code": "due",
            "name": "Due",
            "type": "datetime",
            "validation": {"min": "2027-01-01T03:00+03:00"},
        }
    )
    assert spec.min_value == "2027-01-01T00:00:00+00:00" and spec.required is False
    choice = spec_from_dict({"code": "c", "name": "C", "type": "choice", "choices": [["a", "A"]]})
    assert choice.choices == (("a", "A"),)


@pytest.mark.parametrize(
    ("data", "attribute"),
    [
        ({"code": "x", "name": "X", "type": "colour"}, "type"),
        ({"code": "x", "name": "X"}, "type"),
        ({"code": "x", "name": "X", "type": "choice", "choices": "a,b"}, "choices"),
        ({"code": "x", "name": "X", "type": "choice", "choices": [42]}, "choices"),
        ({"code": "x", "name": "X", "type": "integer", "validation": [1, 2]}, "validation"),
        ({"code": "x", "name": "X", "type": "decimal", "validation": {"min": "lots"}}, "validation"),
        ({"name": "X", "type": "string"}, "code"),
    ],
)
def test_spec_from_dict_rejects(data: dict[str, Any], attribute: str) -> None:
    with pytest.raises(FieldDefinitionError) as info:
        spec_from_dict(data)
    assert info.value.attribute == attribute


# --- filters -----------------------------------------------------------------------------------------


def test_filter_value_shapes() -> None:
    floor = make_spec(FieldType.INTEGER, "floor", min_value=0)
    assert filter_value(floor, "5") == FieldFilter("floor", "eq", value=5)
    # Operands are typed but not held to the field's own bounds.
    assert filter_value(floor, {"min": "-2"}) == FieldFilter("floor", "range", min=-2)
    tags = make_spec(FieldType.MULTICHOICE, "tags")
    assert filter_value(tags, "b") == FieldFilter("tags", "eq", value="b")
    assert filter_value(tags, ["c", "a", "c"]) == FieldFilter("tags", "any", values=("a", "c"))
    flag = make_spec(FieldType.BOOLEAN, "flag")
    assert filter_value(flag, "false") == FieldFilter("flag", "eq", value=False)
    owner = make_spec(FieldType.REF, "owner")
    assert filter_value(owner, "12") == FieldFilter("owner", "eq", value=12)


@pytest.mark.parametrize(
    ("field_type", "raw", "reason"),
    [
        (FieldType.STRING, {"min": "a"}, "unsupported_operator"),
        (FieldType.BOOLEAN, {"max": "true"}, "unsupported_operator"),
        (FieldType.INTEGER, ["1", "2"], "unsupported_operator"),
        (FieldType.INTEGER, "", "empty_filter"),
        (FieldType.INTEGER, {"min": "", "max": None}, "empty_filter"),
        (FieldType.CHOICE, ["", " "], "empty_filter"),
        (FieldType.INTEGER, {"min": "5", "max": "1"}, "invalid_range"),
        (FieldType.INTEGER, "x", "not_integer"),
        (FieldType.CHOICE, "z", "not_a_choice"),
        (FieldType.MULTICHOICE, ["a", "z"], "not_a_choice"),
        (FieldType.DATETIME, "2027-01-31T10:00", "naive_datetime"),
    ],
)
def test_filter_value_rejects(field_type: FieldType, raw: object, reason: str) -> None:
    with pytest.raises(FieldValueError) as info:
        filter_value(make_spec(field_type, "f"), raw)
    assert (info.value.code, info.value.reason) == ("f", reason)
    assert reason in VALUE_ERROR_REASONS


FILTER_SPECS = [
    make_spec(FieldType.INTEGER, "floor"),
    make_spec(FieldType.DECIMAL, "area"),
    make_spec(FieldType.CHOICE, "kind"),
    make_spec(FieldType.DATETIME, "due"),
    make_spec(FieldType.STRING, "note_"),
    make_spec(FieldType.DATE, "since"),
]


def test_parse_field_filters() -> None:
    params = {
        "page": "2",
        "f.floor": "3",
        "f.area__gte": "10.50",
        "f.kind__in": "b,a,,b",
        "f.area__lte": "20",
        "f.due__lte": "2027-01-31T10:00",
        "f.note___gte": "",  # blank inputs of a filter form are ignored
        "f.since": "",
        "f.note_": "boiler",
    }
    assert parse_field_filters(params, FILTER_SPECS, tz="Europe/Moscow") == [
        FieldFilter("floor", "eq", value=3),
        FieldFilter("kind", "any", values=("a", "b")),
        FieldFilter("note_", "eq", value="boiler"),
        FieldFilter("area", "range", min="10.5", max="20"),
        FieldFilter("due", "range", max="2027-01-31T07:00:00+00:00"),
    ]


@pytest.mark.parametrize(
    ("params", "code", "reason"),
    [
        ({"f.color": "red"}, "color", "unknown_field"),
        ({"f.floor__lt": "3"}, "floor", "unsupported_operator"),
        ({"f.floor": "three"}, "floor", "not_integer"),
        ({"f.floor__in": "1,2"}, "floor", "unsupported_operator"),
        ({"f.note___lte": "x"}, "note_", "unsupported_operator"),
        ({"f.area__gte": "9", "f.area__lte": "1"}, "area", "invalid_range"),
        ({"f.kind": "z"}, "kind", "not_a_choice"),
        ({"f.since__gte": "2027-02-30"}, "since", "invalid_date"),
    ],
)
def test_parse_field_filters_rejects(params: dict[str, str], code: str, reason: str) -> None:
    with pytest.raises(FieldValueError) as info:
        parse_field_filters(params, FILTER_SPECS)
    assert (info.value.code, info.value.reason) == (code, reason)
