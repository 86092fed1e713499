"""A reversible Markdown codec for card fields kept under headings: text, bullet lists, tables.

Values are written so they read naturally on the Hugging Face Hub and parse back unchanged:
HTML special characters become entities, a line that would start a heading or a code fence
is backslashed, table cells escape ``|`` and write newlines as ``<br>``. Leading and trailing
whitespace of a value is not kept, and an empty string reads back as absent.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "decode_list",
    "decode_table",
    "decode_text",
    "encode_list",
    "encode_table",
    "encode_text",
    "split_sections",
]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_OPTIONAL = re.compile(r"\s*\[optional\]\s*$", re.IGNORECASE)
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
# Lines that Markdown would read as a heading or a code fence; escaped with one more backslash.
_BLOCK_START = re.compile(r"^(\s*)(\\*(?:#|```|~~~))")
_ESCAPED_BLOCK_START = re.compile(r"^(\s*)\\(\\*(?:#|```|~~~))")


def normalize_title(title: str) -> str:
    return _OPTIONAL.sub("", title).strip().casefold()


def split_sections(body: str) -> dict[str, str]:
    """Map each heading's normalized title to the text up to the next heading.

    A repeated title keeps its first occurrence. Fenced code blocks are not headings.
    """
    sections: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    in_fence = False

    def close() -> None:
        if current is not None and current not in sections:
            sections[current] = "\n".join(lines).strip("\n")

    # Lines end at "\n" only, as the encoders write them: str.splitlines would also break at
    # U+2028, form feeds and a lone CR inside a value, and drop what follows.
    for line in body.replace("\r\n", "\n").split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            close()
            current, lines = normalize_title(match.group(2)), []
        else:
            lines.append(line)
    close()
    return sections


def _escape_lines(text: str) -> list[str]:
    escaped = html.escape(text.strip(), quote=False)
    return [_BLOCK_START.sub(r"\1\\\2", line) for line in escaped.split("\n")]


def _unescape_lines(lines: Sequence[str]) -> str:
    cleaned = [_ESCAPED_BLOCK_START.sub(r"\1\2", line) for line in lines]
    return html.unescape("\n".join(cleaned)).strip()


def encode_text(value: Any) -> str:
    return "\n".join(_escape_lines(str(value)))


def decode_text(block: str) -> str | None:
    return _unescape_lines(block.split("\n")) or None


def encode_list(values: Sequence[Any]) -> str:
    items = []
    for value in values:
        lines = _escape_lines(str(value))
        items.append("- " + "\n".join([lines[0], *("  " + line for line in lines[1:])]))
    return "\n".join(items)


def decode_list(block: str) -> list[str]:
    """Bullet items (continuation lines indented); prose without bullets is one item."""
    lines = block.split("\n")
    if not any(re.match(r"^[-*+] ", line) for line in lines):
        text = decode_text(block)
        return [text] if text else []
    items: list[list[str]] = []
    for line in lines:
        if re.match(r"^[-*+] ", line):
            items.append([line[2:]])
        elif items and line.startswith("  "):
            items[-1].append(line[2:])
    return [text for item in items if (text := _unescape_lines(item))]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = html.escape(str(value).strip(), quote=False)
    return text.replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")


def encode_table(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """A pipe table; a dotted column (``confidence_interval.low``) reads a nested value."""
    out = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            value: Any = row
            for part in column.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            cells.append(_cell(value))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def decode_table(block: str) -> list[dict[str, Any]]:
    """Rows of the first pipe table as nested dicts; empty cells are left out."""
    rows = [line.strip() for line in block.split("\n") if line.strip().startswith("|")]
    if len(rows) < 2:
        return []
    split = [[c.strip() for c in _CELL_SPLIT.split(row.strip().strip("|"))] for row in rows]
    header, body = split[0], [r for r in split[2:]]
    decoded: list[dict[str, Any]] = []
    for cells in body:
        row: dict[str, Any] = {}
        for column, raw in zip(header, cells, strict=False):
            text = html.unescape(raw.replace("\\|", "|").replace("<br>", "\n")).strip()
            if not text:
                continue
            target = row
            *parents, leaf = column.split(".")
            for part in parents:
                target = target.setdefault(part, {})
            target[leaf] = text
        decoded.append(row)
    return decoded
