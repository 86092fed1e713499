"""Text from users and the store reaches the terminal as written, never as Rich markup: a title
like ``[/red]`` must not stop a command, and ``[x]`` must not vanish from its output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.cli.context import console
from tests.cli.conftest import Cli

TITLE = "[/red] disk [x] full :fire:"  # markup and an emoji code, both text


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal wide enough that Rich never wraps a table cell, so the text is found whole."""
    monkeypatch.setattr(console, "width", 240)


def _ok(cli: Cli, *args: str) -> str:
    result = cli(*args)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    return result.out


def test_incident_title_with_markup_is_printed_literally(cli: Cli) -> None:
    _ok(cli, "init")
    opened = _ok(cli, "incidents", "open", TITLE, "--severity", "SEV3")
    assert TITLE in opened
    assert TITLE in _ok(cli, "incidents", "show", "INC-1")
    assert TITLE in _ok(cli, "incidents", "list")


def test_a_terminal_escape_in_a_title_is_shown_not_sent_to_the_terminal(cli: Cli) -> None:
    _ok(cli, "init")
    _ok(cli, "incidents", "open", "disk\x1b[2J full", "--severity", "SEV3")  # clears a screen
    listed = _ok(cli, "incidents", "list")
    assert "\x1b" not in listed
    assert "disk\\x1b[2J full" in listed


def test_task_and_runbook_titles_with_markup_are_printed_literally(
    cli: Cli, tmp_path: Path
) -> None:
    _ok(cli, "init")
    runbook = tmp_path / "runbook.md"
    runbook.write_text("# Restart\n\nrun `kubectl rollout restart [deploy]`\n")
    saved = _ok(
        cli, "incidents", "runbook", "add", str(runbook), "--name", "churn-latency",
        "--title", "[/i] restart [pods]", "--model", "churn",
    )  # fmt: skip
    assert "runbook churn-latency saved" in saved
    assert "[/i] restart [pods]" in _ok(cli, "incidents", "runbook", "list")
    _ok(cli, "incidents", "open", "slow answers", "--severity", "SEV2", "--model", "churn")
    task = _ok(
        cli, "incidents", "task", "INC-1", "[bold]page[/bold] the [vendor]", "--owner", "[ops]"
    )
    assert "for [ops]" in task
    shown = _ok(cli, "incidents", "show", "INC-1")
    assert "[bold]page[/bold] the [vendor]" in shown
    assert "runbook churn-latency: [/i] restart [pods]" in shown
    assert "kubectl rollout restart [deploy]" in shown


def test_debt_title_with_markup_is_listed_literally(cli: Cli) -> None:
    _ok(cli, "init")
    added = _ok(
        cli, "debt", "add", "[/b] pin [numpy]", "--category", "glue_code",
        "--impact", "high", "--effort", "low", "--owner", "[ml]",
    )  # fmt: skip
    assert "added debt" in added
    listed = _ok(cli, "debt", "list")
    assert "[/b] pin [numpy]" in listed
    assert "[ml]" in listed


def test_model_and_card_text_with_markup_are_printed_literally(cli: Cli, tmp_path: Path) -> None:
    _ok(cli, "init")
    created = _ok(
        cli, "models", "create", "churn", "--owner", "[/team] [risk]",
        "--description", "predicts [churn] [/b]",
    )  # fmt: skip
    assert "(owner [/team] [risk])" in created
    shown = _ok(cli, "models", "show", "churn")
    assert "owner=[/team] [risk]" in shown
    assert "predicts [churn] [/b]" in shown
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"weights")
    _ok(cli, "versions", "register", str(artifact), "--model", "churn")
    card = tmp_path / "card.yaml"
    card.write_text("model_details:\n  name: churn\n  overview: Predicts [churn] [/i].\n")
    _ok(cli, "cards", "set", "churn@1", "-f", str(card), "-m", "[/c] first [draft]")
    card_shown = _ok(cli, "cards", "show", "churn@1")
    assert "Predicts [churn] [/i]." in card_shown
    assert "[/c] first [draft]" in card_shown


def test_key_name_and_owner_with_markup_are_printed_literally(cli: Cli) -> None:
    _ok(cli, "init")
    created = _ok(cli, "keys", "create", "[/k] ci", "--owner", "[bot]", "--scope", "registry:read")
    assert "for [bot] (registry:read)" in created
    key_id = json.loads(_ok(cli, "keys", "list", "--owner", "[bot]", "--json"))[0]["id"]
    assert f"revoked {key_id} ([/k] ci)" in _ok(cli, "keys", "revoke", key_id)


def test_error_echoing_markup_is_one_line_and_exit_1(cli: Cli) -> None:
    _ok(cli, "init")
    result = cli("incidents", "show", "[/bold] nope")
    assert result.code == 1
    assert result.out == ""
    assert result.err.strip().splitlines() == [
        "error: incident '[/bold] nope' does not exist; list them with `mlgate incidents list`"
    ]
