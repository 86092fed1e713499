"""PII scanning and redaction of files, line by line: plain text or JSON Lines.

Both stream: one line is read, checked or rewritten, and forgotten, so a file of any size runs
in constant memory. Findings carry positions and entity types, never the matched text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mlgate.errors import Invalid
from mlgate.privacy.payload import as_scannable, detect_in_value, redact_json
from mlgate.privacy.redact import Mask, Operator, Remove, Replace, redact_text

__all__ = ["OPERATORS", "LineFinding", "redact_lines", "scan_lines"]

OPERATORS: dict[str, Operator] = {"replace": Replace(), "mask": Mask(), "remove": Remove()}


@dataclass(frozen=True, slots=True)
class LineFinding:
    line: int
    path: str
    entity_type: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "path": self.path,
            "entity_type": self.entity_type,
            "start": self.start,
            "end": self.end,
            "score": self.score,
        }


def _parse(line: str, number: int) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise Invalid.field(f"line {number}", f"is not JSON ({exc.msg})") from exc


def _strings(
    value: Any, path: str, key: str | None = None, depth: int = 0
) -> Iterator[tuple[str, str, str | None]]:
    """(path, text, context key) of every string, key and long number; paths show keys redacted."""
    if depth > 200:
        raise Invalid.field(path, "nested deeper than 200 levels")
    if isinstance(value, dict):
        for name, item in value.items():
            named = f"{path}.{redact_text(str(name), Replace())}"
            yield f"{named} (key)", str(name), None
            yield from _strings(item, named, str(name), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]", key, depth + 1)
    elif (text := as_scannable(value)) is not None:
        yield path, text, key


def scan_lines(lines: Iterable[str], *, jsonl: bool) -> Iterator[LineFinding]:
    """Findings of every line (1-based); in JSONL, ``path`` names the string's JSON path.

    A JSON value is scanned with its key as context, as the payload redactor does.
    """
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if jsonl and not line.strip():
            continue
        parts = _strings(_parse(line, number), "$") if jsonl else iter([("", line, None)])
        for path, text, key in parts:
            for f in detect_in_value(text, key):
                yield LineFinding(number, path, f.entity_type, f.start, f.end, f.score)


def redact_lines(lines: Iterable[str], *, jsonl: bool, operator: Operator) -> Iterator[str]:
    """Each line with its entities replaced (JSONL lines stay one compact JSON document)."""
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if jsonl:
            if not line.strip():
                yield ""
                continue
            redacted = redact_json(_parse(line, number), operator)
            yield json.dumps(redacted, ensure_ascii=False, separators=(",", ":"))
        else:
            yield redact_text(line, operator)
