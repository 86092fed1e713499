"""README stays honest: every CLI command and every setting is documented there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main

from mlgate.cli import scopes
from mlgate.cli.main import app
from mlgate.config import Settings

README = (Path(__file__).parents[1] / "README.md").read_text()


def command_paths() -> Iterator[tuple[str, ...]]:
    """Every leaf command, the root's lazily built sub-commands included."""
    for path in scopes.commands(typer.main.get_command(app)):
        yield tuple(path.split(" "))


def test_readme_opens_with_the_two_commands() -> None:
    head = "\n".join(README.splitlines()[:10])
    assert "make run" in head
    assert "make test" in head


@pytest.mark.parametrize("path", sorted(command_paths()), ids=" ".join)
def test_every_cli_command_is_in_the_readme_reference(path: tuple[str, ...]) -> None:
    group, leaf = " ".join(path[:-1]), path[-1]
    prefix = f"`mlgate {group} " if group else f"`mlgate {leaf}"
    rows = [line for line in README.splitlines() if line.startswith("|") and prefix in line]
    assert any(leaf in row for row in rows), f"mlgate {' '.join(path)} is not in README"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name: str) -> None:
    assert f"| {name} | `MLGATE_{name.upper()}`" in README
    assert Settings.model_fields[name].description
