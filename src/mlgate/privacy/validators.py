"""Validators that confirm regex candidates: Luhn, card brands, IP parsing, phone numbers, dates.

Each returns a score for a valid value, or ``None`` to reject the candidate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable

import phonenumbers

__all__ = [
    "Validator",
    "card",
    "date_of_birth",
    "digits_of",
    "ipv4",
    "ipv6",
    "luhn_valid",
    "phone_validator",
    "stdnum_validator",
    "url",
]

Validator = Callable[[str], float | None]


def digits_of(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def luhn_valid(number: str) -> bool:
    """Whether a digit string passes the Luhn check (credit cards, IMEI, ...)."""
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


# Brand prefixes and the lengths each brand issues: a Luhn-valid number of another length is
# more likely an account or id number.
_CARD_BRANDS = (
    (re.compile(r"4"), (13, 16, 19)),
    (re.compile(r"5[1-5]|2(?:2[2-9]|[3-6]|7[01]|720)"), (16,)),
    (re.compile(r"3[47]"), (15,)),
    (re.compile(r"6(?:011|5|4[4-9])"), (16, 17, 18, 19)),
    (re.compile(r"35(?:2[89]|[3-8])"), (16, 17, 18, 19)),
    (re.compile(r"3(?:0[0-5]|[68])"), (14, 16)),
)


def card(value: str) -> float | None:
    digits = digits_of(value)
    for prefix, lengths in _CARD_BRANDS:
        if len(digits) in lengths and prefix.match(digits):
            return 1.0 if luhn_valid(digits) else None
    return None


def ipv4(value: str) -> float | None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return None
    return 0.9


def ipv6(value: str) -> float | None:
    if value.count(":") < 2 or not any(c not in ":" for c in value):
        return None
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return None
    return 0.9


def phone_validator(region: str) -> Validator:
    fmt = phonenumbers.PhoneNumberFormat.NATIONAL
    with_plus = phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_PLUS_SIGN
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    general = metadata.general_desc if metadata is not None else None
    national_lengths = frozenset(general.possible_length) if general is not None else None

    def validate(value: str) -> float | None:
        count = len(digits_of(value))
        if count < 7 or count > 15:
            return None
        # Parsing is the slow part: skip national numbers of impossible length (+1 for "1 ...").
        if (
            national_lengths
            and value[0] != "+"
            and not (
                count in national_lengths or (count - 1 in national_lengths and value[0] == "1")
            )
        ):
            return None
        try:
            number = phonenumbers.parse(value, region, keep_raw_input=True)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        if number.country_code_source != with_plus:
            # Without "+" any digit run may parse; demand the national grouping (or none), so
            # dates, id numbers and account fragments are not taken for phone numbers.
            groups = re.findall(r"\d+", value)
            if len(groups) > 1:
                expected = re.findall(r"\d+", phonenumbers.format_number(number, fmt))
                if groups[0] == "1" and len(groups) == len(expected) + 1:
                    groups = groups[1:]
                if groups != expected:
                    return None
        return 0.6

    return validate


def stdnum_validator(module: object, score: float, *, digits: bool = False) -> Validator:
    """``score`` when ``module.is_valid``; with ``digits``, only the value's digits are checked
    (``stdnum`` takes "536-22-1234" but not "536 22 1234" or "536.22.1234")."""
    is_valid = module.is_valid  # type: ignore[attr-defined]

    def validate(value: str) -> float | None:
        return score if is_valid(digits_of(value) if digits else value) else None

    return validate


_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}


def date_of_birth(value: str) -> float | None:
    numbers = [int(n) for n in re.findall(r"\d+", value)]
    month_word = re.search(r"[A-Za-z]{3}", value)
    try:
        if month_word:
            day = next(n for n in numbers if n <= 31)
            year = next(n for n in numbers if n > 31)
            dt.date(year, _MONTHS[month_word.group().lower()], day)
        elif len(numbers) == 3 and numbers[0] > 31:
            dt.date(numbers[0], numbers[1], numbers[2])
        elif len(numbers) == 3:
            year = numbers[2] + (1900 if numbers[2] < 100 else 0)
            # Accept day/month and month/day orders: either is a real date of birth.
            day_first = _date_ok(year, numbers[1], numbers[0])
            if not (day_first or _date_ok(year, numbers[0], numbers[1])):
                return None
        else:
            return None
    except (ValueError, KeyError, StopIteration):
        return None
    return 0.9


def _date_ok(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def url(value: str) -> float | None:
    return 0.8 if len(value) > 10 else None
