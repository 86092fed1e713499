"""``mlgate --help`` is quick: a sub-command's module is imported only when it is named."""

from __future__ import annotations

import inspect
import json
import logging
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main

from mlgate.cli.main import SUBCOMMANDS, app, run
from tests.cli.conftest import Cli

# What makes the CLI slow to start; the root's help needs none of it.
HEAVY = ("onnxruntime", "sklearn", "fastapi", "sqlalchemy", "mlgate.gateway", "mlgate.runtime")
COMMAND_MODULES = {f"mlgate.cli.{sub.module}" for sub in SUBCOMMANDS.values()}

# Runs the real entry point in a fresh interpreter and reports what it imported.
PROBE = """
import contextlib, io, json, sys
from mlgate.cli.main import run
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = run(sys.argv[1:])
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


RUN = "import sys; from mlgate.cli.main import run; sys.exit(run(sys.argv[1:]))"


def _probe(cwd: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,  # no mlgate.toml of the checkout's
        timeout=120,
    )
    probe: dict[str, Any] = json.loads(done.stdout)
    return probe


@pytest.mark.parametrize("args", [("--help",), ("--version",)], ids=" ".join)
def test_root_help_and_version_import_no_command(args: tuple[str, ...], tmp_path: Path) -> None:
    probe = _probe(tmp_path, *args)
    assert probe["code"] == 0
    modules = set(probe["modules"])
    assert modules.isdisjoint(COMMAND_MODULES)
    assert [m for m in modules if m.startswith(HEAVY)] == []


def test_root_help_lists_every_command_with_its_line(tmp_path: Path) -> None:
    out = _probe(tmp_path, "--help")["out"]
    for name in SUBCOMMANDS:
        assert re.search(rf"^\W*{re.escape(name)} ", out, re.MULTILINE), name
    assert SUBCOMMANDS["keys"].help in out


@pytest.mark.parametrize(
    ("group", "command"),
    [("keys", "list"), ("pii", "scan"), ("models", "list"), ("incidents", "list")],
)
def test_a_group_imports_its_own_module_and_no_other(
    group: str, command: str, tmp_path: Path
) -> None:
    probe = _probe(tmp_path, group, command, "--help")
    assert probe["code"] == 0
    modules = set(probe["modules"])
    own = f"mlgate.cli.{SUBCOMMANDS[group].module}"
    assert own in modules
    assert modules & COMMAND_MODULES == {own}
    assert [m for m in modules if m.startswith(("onnxruntime", "sklearn", "fastapi"))] == []


def test_each_line_of_the_root_help_is_the_command_s_own() -> None:
    """The root lists sub-commands from a table, so that table must say what they say."""
    root = typer.main.get_command(app)
    ctx = typer.Context(root)
    for name, sub in SUBCOMMANDS.items():
        command = root.get_command(ctx, name)  # type: ignore[attr-defined]
        assert command.name == name
        first = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert " ".join(first.split()) == sub.help, name


def test_a_mistyped_command_is_told_the_right_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["modles", "list"]) == 2
    assert "Did you mean 'models'?" in capsys.readouterr().err


@pytest.mark.parametrize("args", [("--help",), ("keys", "list", "--help")], ids=" ".join)
def test_help_shows_no_value_type_beside_a_flag(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(list(args)) == 0
    out = capsys.readouterr().out
    assert "--help" in out
    assert "<str>" in out  # options that take a value still show its type
    assert "<bool>" not in out


def test_a_command_keeps_the_settings_secrets_out_of_log_lines(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Log scrubbing is installed when a command runs (not before: help logs nothing)."""
    secret = f"never-logged-{uuid.uuid4().hex}"
    monkeypatch.setenv("MLGATE_SECRET_KEY", secret)
    assert cli("config", "show").code == 0
    logging.getLogger("mlgate.cli").warning("the key is %s", secret)
    assert "the key is" in caplog.text
    assert secret not in caplog.text


@pytest.mark.parametrize("args", [(), ("keys",)], ids=["mlgate", "mlgate keys"])
def test_a_group_without_a_command_shows_its_help_and_no_empty_usage_line(
    args: tuple[str, ...], tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2  # a usage problem, as click has it
    assert "Usage: mlgate" in done.stdout
    assert done.stderr == ""
