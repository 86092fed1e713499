"""Redaction of JSON payloads: every string value, or per-field rules by a simple JSON path.

Paths are a small subset of JSONPath: ``$``, ``.name``, ``['name']``, ``[3]``, ``[*]`` and
``.*``. A rule that selects an object or array applies to every value beneath it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from mlgate.errors import Invalid
from mlgate.privacy.pii import Detector
from mlgate.privacy.redact import Operator, Operators, Replace, redact_text

__all__ = ["JsonPath", "as_scannable", "redact_json"]

# Integers this long may be card, phone or national id numbers: scanned as their digits.
_SCANNED_INT = 10**8


def as_scannable(value: Any) -> str | None:
    """The text of ``value`` worth scanning for PII: a string, or a long integer's digits."""
    if isinstance(value, str):
        return value
    if type(value) is int and abs(value) >= _SCANNED_INT:
        return str(value)
    return None


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
    other string value, object key and long integer is scanned for entities and redacted with
    ``operators`` (an integer that holds one becomes the redacted string; a key that redacts
    to one already present gets ``#2``, ``#3``… so no value is lost).
    """
    compiled = [(JsonPath(path), op) for path, op in (rules or {}).items()]
    chosen: Operators = operators if operators is not None else Replace()
    wanted = None if entities is None else tuple(entities)

    def walk(value: Any, location: tuple[str | int, ...], depth: int) -> Any:
        if depth > 200:
            raise Invalid.field("payload", "nested deeper than 200 levels")
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for k, v in value.items():
                key = (
                    redact_text(k, chosen, entities=wanted, detector=detector)
                    if (scan_strings and isinstance(k, str))
                    else k
                )
                unique, n = key, 1
                while unique in out:
                    n += 1
                    unique = f"{key}#{n}"
                out[unique] = walk(v, (*location, str(k)), depth + 1)
            return out
        if isinstance(value, list):
            return [walk(v, (*location, i), depth + 1) for i, v in enumerate(value)]
        for path, operator in compiled:
            if value is not None and path.covers(location):
                return operator(value if isinstance(value, str) else _scalar(value), "FIELD")
        text = as_scannable(value) if scan_strings else None
        if text is not None:
            redacted = redact_text(text, chosen, entities=wanted, detector=detector)
            return value if redacted == text else redacted
        return value

    return walk(payload, (), 0)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
