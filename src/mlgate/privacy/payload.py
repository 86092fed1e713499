"""Redaction of JSON payloads: every string value, or per-field rules by a simple JSON path.

Paths are a small subset of JSONPath: ``$``, ``.name``, ``['name']``, ``[3]``, ``[*]`` and
``.*``. A rule that selects an object or array applies to every value beneath it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from mlgate.errors import Invalid
from mlgate.privacy.pii import Detector, Finding, detect
from mlgate.privacy.redact import Operator, Operators, Replace, apply_operators, redact_text

__all__ = ["JsonPath", "as_scannable", "detect_in_value", "redact_json"]

# Integral numbers this long may be card, phone or national id numbers: scanned as their digits.
_SCANNED_INT = 10**8
# A float holds every integer up to 2**53 exactly; past that its digits are not the number sent.
_EXACT_FLOAT = 2**53
# How much of a key is context for its value: enough for "date_of_birth", "customer_name".
_KEY_CONTEXT = 32
_WORD_BREAK = re.compile(r"[_-]+|(?<=[a-z])(?=[A-Z])")
# The words a recognizer reads just before a value: date-of-birth, SSN and version cues
# (recognizers.py), Authorization and "auth" keys (credentials.py), person and place cues
# (names.py). Only a key holding one is worth scanning as "key: value" rather than the value
# alone (that cost 18% of the throughput). Not "contact": a key of that name holds a note as
# often as a person ("Call me" is no name).
_CUE = re.compile(
    r"\b(?i:dob|d\.o\.b|birth\w*|born|name|customer|patient|client|employee|signed|"
    r"regards|sincerely|cardholder|holder|passenger|city|town|location|lives|living|located|"
    r"address|version|ver|release|build|firmware|revision|rev|ssn|social|auth|authorization|"
    r"authentication)\b"
)
# A key ending in "name" names a person only when its other words say so, or when it is
# "name" alone: "customer_name", "firstName", "contact_name", but not "model_name",
# "product_name", "feature_name" or "host_name" (read without the "name": "city_name" is a
# place).
_NAME_WORD = re.compile(r"(?i)(?:^| )name$")
_PERSON_NAME = re.compile(
    r"(?i)(?:^|\b(?:first|last|full|given|family|middle|maiden|nick|legal|display|birth"
    r"|customer|patient|client|user|person|contact|employee|holder|cardholder|passenger|owner"
    r"|member|guest|student|applicant|recipient|sender|signer|beneficiary|spouse|parent) )name$"
)


@lru_cache(maxsize=4096)
def _context(key: str) -> str | None:
    """The context a key gives its value ("dateOfBirth" gives "date Of Birth: "), if any."""
    words = _WORD_BREAK.sub(" ", key[-_KEY_CONTEXT:]).strip()
    if _NAME_WORD.search(words) and not _PERSON_NAME.search(words):
        words = _NAME_WORD.sub("", words)
    return f"{words}: " if _CUE.search(words) else None


def as_scannable(value: Any) -> str | None:
    """The text of ``value`` worth scanning for PII: a string, or a long integral number's digits.

    A number is scanned whatever its JSON type: a card number sent as ``4111111111111111.0``
    or with a minus sign is still a card number.
    """
    if isinstance(value, str):
        return value
    if type(value) is int:
        number = abs(value)
    elif type(value) is float and value.is_integer() and abs(value) < _EXACT_FLOAT:
        number = int(abs(value))
    else:
        return None
    return str(number) if number >= _SCANNED_INT else None


def detect_in_value(
    text: str,
    key: str | None,
    *,
    entities: Iterable[str] | None = None,
    detector: Detector | None = None,
) -> list[Finding]:
    """Findings in a JSON value whose nearest key is ``key``; spans are positions in ``text``.

    The key is read as context, as a label is in a sentence: ``{"dob": "1990-01-02"}`` is
    scanned as ``dob: 1990-01-02``, a date of birth, ``{"firstName": "Zed"}`` as a person's
    name and ``{"app_version": "1.2.3.4"}`` as a version, not an address. Findings in the key
    itself are left out (keys are scanned alone).
    """
    prefix = _context(key) if key else None
    if prefix is None:
        return detect(text, entities, detector=detector)
    shift = len(prefix)
    return [
        Finding(f.entity_type, max(f.start, shift) - shift, f.end - shift, f.score)
        for f in detect(prefix + text, entities, detector=detector)
        if f.end > shift
    ]


_WILD = object()
_STEP = re.compile(r"\.(?P<name>[A-Za-z_][\w-]*|\*)|\[(?:(?P<index>\d+)|\*|'(?P<quoted>[^']*)')\]")


class JsonPath:
    """A compiled path like ``$.items[*].note``; :meth:`covers` tests a concrete location."""

    __slots__ = ("steps", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        if not text.startswith("$"):
            raise Invalid.field("path", f"{text!r} must start with '$', e.g. '$.user.email'")
        steps: list[object] = []
        position = 1
        while position < len(text):
            match = _STEP.match(text, position)
            if match is None:
                raise Invalid.field(
                    "path", f"cannot parse {text!r} at {position}; use .name, [n], [*] or ['name']"
                )
            if match.group("index") is not None:
                steps.append(int(match.group("index")))
            elif match.group("quoted") is not None:
                steps.append(match.group("quoted"))
            elif match.group("name") not in (None, "*"):
                steps.append(match.group("name"))
            else:
                steps.append(_WILD)
            position = match.end()
        self.steps = tuple(steps)

    def covers(self, location: tuple[str | int, ...]) -> bool:
        """Whether ``location`` is the selected node or lies beneath it."""
        if len(location) < len(self.steps):
            return False
        return all(
            step is _WILD or (step == part and type(step) is type(part))
            for step, part in zip(self.steps, location, strict=False)
        )

    def __repr__(self) -> str:
        return f"JsonPath({self.text!r})"


def redact_json(
    payload: Any,
    operators: Operators | None = None,
    *,
    rules: Mapping[str, Operator] | None = None,
    scan_strings: bool = True,
    entities: Iterable[str] | None = None,
    detector: Detector | None = None,
) -> Any:
    """Return a redacted copy of a JSON value; the input is not changed.

    A value selected by a rule is replaced whole by the rule's operator (numbers and booleans are
    turned to strings first; the entity type passed is ``FIELD``). With ``scan_strings``, every
    other string value, object key and long integral number is scanned for entities, a value
    with its key as context (:func:`detect_in_value`), and redacted with ``operators`` (a number
    that holds one becomes the redacted string; a key that redacts to one already present gets
    ``#2``, ``#3``… so no value is lost).
    """
    compiled = [(JsonPath(path), op) for path, op in (rules or {}).items()]
    chosen: Operators = operators if operators is not None else Replace()
    wanted = None if entities is None else tuple(entities)

    def walk(value: Any, location: tuple[str | int, ...], key: str | None, depth: int) -> Any:
        if depth > 200:
            raise Invalid.field("payload", "nested deeper than 200 levels")
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            # The last suffix given to each redacted key: numbering the n-th collision starts
            # there, not at #2 (trying every suffix again was quadratic in the collisions).
            suffixes: dict[Any, int] = {}
            for k, v in value.items():
                name = (
                    redact_text(k, chosen, entities=wanted, detector=detector)
                    if (scan_strings and isinstance(k, str))
                    else k
                )
                unique = name
                if unique in out:
                    n = suffixes.get(name, 1)
                    while unique in out:
                        n += 1
                        unique = f"{name}#{n}"
                    suffixes[name] = n
                out[unique] = walk(v, (*location, str(k)), str(k), depth + 1)
            return out
        if isinstance(value, list):
            return [walk(v, (*location, i), key, depth + 1) for i, v in enumerate(value)]
        for path, operator in compiled:
            if value is not None and path.covers(location):
                return operator(value if isinstance(value, str) else _scalar(value), "FIELD")
        text = as_scannable(value) if scan_strings else None
        if text is not None:
            findings = detect_in_value(text, key, entities=wanted, detector=detector)
            return apply_operators(text, findings, chosen) if findings else value
        return value

    return walk(payload, (), None, 0)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
