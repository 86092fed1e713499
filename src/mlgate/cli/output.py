"""How commands show results: a Rich table for people, JSON with ``--json`` for scripts."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel
from rich.table import Table
from rich.text import Text

from mlgate.cli.context import console
from mlgate.errors import Conflict

__all__ = ["new_file", "print_json", "print_table", "visible"]

# Control characters but the line break, as visible escapes: names, titles and findings come
# from users and artifacts, and an escape sequence in one could clear or rewrite the terminal.
_VISIBLE = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)] if c != 0x0A}


def visible(text: str) -> str:
    return text.translate(_VISIBLE)


def print_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    if isinstance(value, BaseModel):
        text = value.model_dump_json()
    elif isinstance(value, dict):
        text = json.dumps(value, default=str)
    else:
        text = json.dumps([item.model_dump(mode="json") for item in value])
    console.print_json(text)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Cells are plain text, never Rich markup: names and titles come from users, and a title
    like ``[/red]`` would otherwise stop the command (or ``[x]`` vanish from the output). Their
    control characters show as ``\\xNN``."""
    table = Table(title=Text(visible(title)))
    for column in columns:  # a value wraps within its cell, never cut: ids are copied from here
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text("" if cell is None else visible(str(cell))) for cell in row))
    console.print(table)


def new_file(path: Path, *, mode: int, exists: str = "choose another file") -> TextIO:
    """``path`` created for writing, new (never written over, nor through a link) with ``mode``;
    Conflict when something is there already, saying ``exists``."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as error:
        raise Conflict(f"{path} exists; {exists}") from error
    return os.fdopen(fd, "w", encoding="utf-8")
