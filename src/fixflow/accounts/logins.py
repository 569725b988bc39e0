"""Normalising what people type as a login: an e-mail (any case) or a phone (any usual format)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

from fixflow.core.errors import ValidationFailed

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Login:
    kind: str  # "email" | "phone"
    value: str


def normalize_email(raw: str) -> str | None:
    value = raw.strip().lower()
    return value if _EMAIL.match(value) else None


def normalize_phone(raw: str, region: str = "RU") -> str | None:
    """E.164, or None. Russian habits: ``8 (900) …`` and ``+7 900 …`` are the same number."""
    text = raw.strip()
    if not text or not re.search(r"\d", text) or re.search(r"[A-Za-z@]", text):
        return None
    digits = re.sub(r"\D", "", text)
    if region == "RU" and not text.startswith("+") and len(digits) == 11 and digits[0] == "8":
        text = "+7" + digits[1:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def parse_login(raw: str) -> Login:
    if "@" in raw:
        email = normalize_email(raw)
        if email:
            return Login("email", email)
    else:
        phone = normalize_phone(raw)
        if phone:
            return Login("phone", phone)
    raise ValidationFailed("Enter a phone number or an e-mail address")


def format_phone(e164: str | None) -> str:
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
