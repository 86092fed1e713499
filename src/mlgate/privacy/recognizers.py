"""The built-in recognizers: regex candidates confirmed by checksums or parsers.

A regex only proposes a candidate; a validator (Luhn, IBAN mod 97, ``ipaddress``,
``phonenumbers``, ``python-stdnum``) decides and returns a score, or ``None`` to reject it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from stdnum import iban as std_iban
from stdnum.de import idnr as de_idnr
from stdnum.es import dni as es_dni
from stdnum.fr import nir as fr_nir
from stdnum.it import codicefiscale as it_cf
from stdnum.nl import bsn as nl_bsn
from stdnum.us import ssn as us_ssn

from mlgate.privacy import validators
from mlgate.privacy.credentials import CredentialRecognizer
from mlgate.privacy.names import NameRecognizer
from mlgate.privacy.pii import Finding, Recognizer

__all__ = ["DigitRunRecognizers", "PatternRecognizer", "builtin_recognizers"]


# How far before a candidate its veto or cue is looked for: "social security number is ".
_CONTEXT_REACH = 32


@dataclass(frozen=True, slots=True)
class PatternRecognizer:
    """A compiled regex whose group ``v`` (or whole match) is checked by ``validate``.

    ``veto``, when given, is searched in the few characters before a candidate (it should end
    with ``$``): a match refuses the candidate, as "version" refuses "1.2.3.4" as an address.
    ``cue`` is searched there the same way and must match, as "SSN:" must come before nine
    digits for them to be a social security number.
    """

    entity: str
    pattern: re.Pattern[str]
    validate: validators.Validator
    trigger: str | None
    veto: re.Pattern[str] | None = None
    cue: re.Pattern[str] | None = None

    @property
    def entities(self) -> tuple[str, ...]:
        return (self.entity,)

    def find(self, text: str, start: int = 0, end: int | None = None) -> Iterator[Finding]:
        has_group = "v" in self.pattern.groupindex
        matches = self.pattern.finditer(text, start, len(text) if end is None else end)
        for match in matches:
            start, end = match.span("v") if has_group else match.span()
            before = max(0, start - _CONTEXT_REACH)
            if self.veto is not None and self.veto.search(text, before, start):
                continue
            if self.cue is not None and not self.cue.search(text, before, start):
                continue
            score = self.validate(text[start:end])
            if score is not None:
                yield Finding(self.entity, start, end, score)


def _iban_find(text: str) -> Iterator[Finding]:
    for match in _IBAN.finditer(text):
        start = match.start() - 2  # the country code, before the check digits matched first
        parts = text[start : match.end()].split(" ")
        for cut in range(len(parts), 0, -1):
            candidate = " ".join(parts[:cut])
            if len(candidate) >= 15 and std_iban.is_valid(
                candidate.replace(" ", ""), check_country=False
            ):
                yield Finding("IBAN_CODE", start, start + len(candidate), 1.0)
                break


# A number candidate must not start or end inside a longer run of digit groups.
_NUM_START = r"(?<![\w-])(?<!\d[ -])"
_NUM_END = r"(?![\w-]|[ -]\d)"
# Any case: "de89 3704 …" typed or lower-cased by a pipeline is still an IBAN. The mod-97
# checksum, the country and its BBAN format (``stdnum``) refuse nearly every look-alike.
# The pattern starts at the check digits and looks back for the country code: a search that
# stops only at digits is three times as fast as one that stops at every letter (measured).
_IBAN = re.compile(r"\d\d(?<=\b[A-Za-z]{2}\d\d)(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,3})?\b")
_MONTH_RE = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
_DATE_RE = (
    rf"\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)? {_MONTH_RE},? \d{{4}}"
    rf"|{_MONTH_RE} \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}"
)


# Nine digits are an SSN only after a word that says so, as in Presidio ("SSN: 536221234",
# "social security no. 536 22 1234", "my SSN is …"): without one they are an order number as
# often as anything. The dashed form needs no cue. The cue says what the number is, not that
# any number after it is one: nine digits followed by a decimal part ("536221234.5",
# "536.22.1234.5") are a measure or a version, and are left alone, but not when the part is
# zero: "536221234.0" is how pandas writes an SSN column read as floats. Dashed, the same
# holds ("536-22-1234.5" is none): every form of the number ends alike.
_SSN_GLUE = r"[\s:=#.,\"'()-]"
_SSN_END = rf"{_NUM_END}(?!\.0*+[1-9])"  # possessive: a run of zeros is read once
_SSN_CUE = re.compile(
    r"(?i:\b(?:ssns?|ss#|social[ _-]?security(?:[ _-]?(?:number|num|nr|no))?)(?![a-z]))"
    rf"(?:{_SSN_GLUE}{{1,4}}(?i:is|was|number|num|nr|no|of))?{_SSN_GLUE}{{0,4}}$"
)

# What comes just before a version number, never before an address: "version 1.2.3.4",
# "numpy==1.26.4.0", a user agent's "Chrome/120.0.0.0" (and, from a JSON key,
# "app_version: 1.2.3.4"). Not any "word/": "/api/clients/10.1.2.3" and "gw/192.168.1.20" are
# addresses. Not a lone "v" either ("ip v 10.0.0.1"); "v1.2.3.4" is no candidate anyway.
_VERSION_CUE = re.compile(
    r"(?:(?i:(?<![a-z])(?:version|ver|release|build|firmware|revision|rev))[\s:=\"'_.-]{0,3}"
    r"|(?:[=<>!~]=|\^|~)\s*"
    r"|(?i:(?<![a-z])(?:mozilla|applewebkit|gecko|(?:headless)?chrome|chromium|crios|firefox"
    r"|fxios|safari|version|edge?|edg[ai]|edgios|opr|opera|yabrowser|samsungbrowser|vivaldi"
    r"|brave|electron|msie|trident)/))$"
)

_EMAIL_DOMAIN = re.compile(r"[^\W_][\w-]*(?:\.[\w-]+)*\.[^\W\d_]{2,}\b")
_EMAIL_LOCAL = frozenset("._%+-")


class _EmailRecognizer:
    """Anchors on each "@" and grows outwards, instead of trying a regex at every position.

    The local part grows left without a length cap (one longer than RFC 5321's 64 characters
    is still somebody's address, and a capped span left its start in clear); this stays
    linear because "@" ends every local part, so no character is walked over twice.
    """

    entities = ("EMAIL_ADDRESS",)
    trigger = "@"

    def find(self, text: str) -> Iterator[Finding]:
        at = text.find("@")
        while at != -1:
            start = at
            while start > 0:
                ch = text[start - 1]
                if not (ch.isalnum() or ch in _EMAIL_LOCAL):
                    break
                start -= 1
            while start < at and not text[start].isalnum():
                start += 1  # a local part starts with a letter or digit
            domain = _EMAIL_DOMAIN.match(text, at + 1)
            if domain is not None and start < at:
                yield Finding("EMAIL_ADDRESS", start, domain.end(), 1.0)
            at = text.find("@", at + 1)


_DIGIT_RUN = re.compile(r"\d(?:[ .()/-]{0,2}\d)*")
_RUN_SEPARATORS = str.maketrans("", "", " .()/-")
_WINDOW_MARGIN = 3  # room for "+", "(" before a run and a letter or "-X" after it


class DigitRunRecognizers:
    """Runs numeric recognizers only around digit runs long enough for them.

    One pass finds the runs of digits (with separators); each member recognizer then scans
    only windows around runs holding at least its minimum number of digits, instead of the
    whole text. Lookarounds still see the text outside a window.
    """

    # Two digits, or one and a dot: "8.8.8.8" has no two digits in a row.
    trigger = r"\d[\d.]"

    def __init__(self, members: Sequence[tuple[PatternRecognizer, int]]) -> None:
        self._members = tuple(members)
        self.entities = tuple(dict.fromkeys(m.entity for m, _ in members))

    def find(self, text: str) -> Iterator[Finding]:
        runs = [
            (m.start(), m.end(), len(m.group().translate(_RUN_SEPARATORS)))
            for m in _DIGIT_RUN.finditer(text)
        ]
        for member, min_digits in self._members:
            for start, end in _windows(runs, min_digits, len(text)):
                yield from member.find(text, start, end)


def _windows(runs: list[tuple[int, int, int]], min_digits: int, size: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end, digits in runs:
        if digits < min_digits:
            continue
        low, high = max(0, start - _WINDOW_MARGIN), min(size, end + _WINDOW_MARGIN)
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], high)
        else:
            merged.append((low, high))
    return merged


class _IbanRecognizer:
    entities = ("IBAN_CODE",)
    trigger = r"\d\d"  # the check digits; shared with the numeric recognizers

    def find(self, text: str) -> Iterator[Finding]:
        return _iban_find(text)


def builtin_recognizers(*, phone_region: str = "US") -> Sequence[Recognizer]:
    """Every built-in recognizer; national phone numbers are parsed for ``phone_region``."""
    digits = r"\d\d"

    def rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
        return re.compile(pattern, flags)

    patterns = [
        PatternRecognizer(
            "URL",
            rx(r"\b(?:https?://|www\.)[^\s<>\"'`\]\[{}|\\^]+(?<![.,;:!?)'\"])"),
            validators.url,
            r"://|www\.",
        ),
        PatternRecognizer(
            "CREDIT_CARD",
            rx(rf"{_NUM_START}\d(?:[ -]?\d){{12,18}}{_NUM_END}"),
            validators.card,
            digits,
        ),
        PatternRecognizer(
            "IP_ADDRESS",
            rx(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\w)"),
            validators.ipv4,
            digits,
            _VERSION_CUE,
        ),
        PatternRecognizer(
            "IP_ADDRESS",
            rx(
                r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
            ),
            validators.ipv6,
            ":",
        ),
        PatternRecognizer(
            "PHONE_NUMBER",
            rx(
                r"(?<![\w+-])(?<!\d[ -])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?"
                r"\d{1,4}(?:[ .-]?\d{2,4}){1,5}(?![\w-]|\.\d|[ -]\d)"
            ),
            validators.phone_validator(phone_region),
            digits,
        ),
        PatternRecognizer(
            "US_SSN",
            rx(rf"{_NUM_START}\d{{3}}-\d{{2}}-\d{{4}}{_SSN_END}"),
            validators.stdnum_validator(us_ssn, 0.85),
            digits,
        ),
        PatternRecognizer(
            "US_SSN",
            rx(rf"{_NUM_START}\d{{3}}(?P<sep>[ .]?)\d{{2}}(?P=sep)\d{{4}}{_SSN_END}"),
            validators.stdnum_validator(us_ssn, 0.85, digits=True),
            digits,
            cue=_SSN_CUE,
        ),
        PatternRecognizer(
            "ES_NIF",
            rx(r"(?<![\w-])\d{8}-?[A-Za-z](?!\w)"),
            validators.stdnum_validator(es_dni, 0.95),
            digits,
        ),
        PatternRecognizer(
            "IT_FISCAL_CODE",
            rx(
                r"(?<!\w)[A-Za-z]{6}[\dLMNPQRSTUV]{2}[A-Za-z][\dLMNPQRSTUV]{2}[A-Za-z][\dLMNPQRSTUV]{3}[A-Za-z](?!\w)"
            ),
            validators.stdnum_validator(it_cf, 0.95),
            digits,  # codes with every digit replaced by a letter (omocodia) are not found
        ),
        PatternRecognizer(
            "NL_BSN",
            rx(rf"{_NUM_START}(?<!\.)\d{{4}}\.?\d{{2}}\.?\d{{3}}{_NUM_END}(?!\.\d)"),
            validators.stdnum_validator(nl_bsn, 0.7),
            digits,
        ),
        PatternRecognizer(
            "FR_NIR",
            rx(rf"{_NUM_START}[12] ?\d\d ?\d\d ?(?:\d\d|2[AB]) ?\d{{3}} ?\d{{3}} ?\d\d{_NUM_END}"),
            validators.stdnum_validator(fr_nir, 0.95),
            digits,
        ),
        PatternRecognizer(
            "DE_TAX_ID",
            rx(rf"{_NUM_START}[1-9]\d ?\d{{3}} ?\d{{3}} ?\d{{3}}{_NUM_END}"),
            validators.stdnum_validator(de_idnr, 0.7),
            digits,
        ),
        PatternRecognizer(
            "DATE_OF_BIRTH",
            rx(
                rf"(?i:\b(?:DOB|D\.O\.B\.|born(?: on)?|date[ _]of[ _]birth|birth[ _]?date"
                rf"|birthday)(?!\w))"
                rf"[\s:=,\"'-]{{0,4}}(?:on )?(?P<v>{_DATE_RE})",
            ),
            validators.date_of_birth,
            # Its first letter as a class, the rest in any case: "(?i:dob|born|…)" tried
            # every position of the text (21 ms per MB), this jumps to a D or a B (3 ms).
            r"[DdBb](?i:ob|\.o\.b|orn|irth)",
        ),
    ]
    min_digits = {"CREDIT_CARD": 13, "IP_ADDRESS": 4, "PHONE_NUMBER": 7, "US_SSN": 9,
                  "ES_NIF": 8, "NL_BSN": 9, "FR_NIR": 6, "DE_TAX_ID": 11}  # fmt: skip
    numeric = [
        (p, min_digits[p.entity])
        for p in patterns
        if p.trigger == digits and p.entity in min_digits
    ]
    others = [p for p in patterns if not (p.trigger == digits and p.entity in min_digits)]
    return [
        CredentialRecognizer(),
        _EmailRecognizer(),
        DigitRunRecognizers(numeric),
        *others,
        _IbanRecognizer(),
        NameRecognizer(),
    ]
