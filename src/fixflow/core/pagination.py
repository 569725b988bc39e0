"""Opaque keyset cursors: the client gets a token, never an offset."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fixflow.core.errors import FieldProblem, ValidationFailed

INVALID_CURSOR = "The cursor is not valid"

T = TypeVar("T")

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, arity: int, kinds: tuple[type, ...] | None = None) -> list[Any]:
    """The cursor's values; ``kinds`` checks each value's JSON type (a crafted cursor is a 422, not a 500)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise invalid_cursor() from None
    if not isinstance(values, list) or len(values) != arity:
        raise invalid_cursor()
    if kinds is not None and not all(
        isinstance(v, k) and not isinstance(v, bool) for v, k in zip(values, kinds, strict=True)
    ):
        raise invalid_cursor()
    return values


def invalid_cursor() -> ValidationFailed:
    return ValidationFailed(INVALID_CURSOR, errors=[FieldProblem("cursor", INVALID_CURSOR)])


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            "limit must be between 1 and {max}",
            max=MAX_LIMIT,
            errors=[FieldProblem("limit", f"Must be between 1 and {MAX_LIMIT}")],
        )
    return limit


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
