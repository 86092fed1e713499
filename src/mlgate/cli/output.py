"""How commands show results: a Rich table for people, JSON with ``--json`` for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from rich.table import Table
from rich.text import Text

from mlgate.cli.context import console

__all__ = ["print_json", "print_table"]


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
    like ``[/red]`` would otherwise stop the command (or ``[x]`` vanish from the output)."""
    table = Table(title=Text(title))
    for column in columns:  # a value wraps within its cell, never cut: ids are copied from here
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
    console.print(table)
