"""With a key, the CLI acts as its owner: each command needs the scope its API route needs."""

from __future__ import annotations

import json

import pytest
import typer.main

from mlgate.cli import scopes
from mlgate.cli.main import app
from tests.cli.conftest import Cli


def test_every_command_names_its_scope() -> None:
    listed = set(scopes.COMMAND_SCOPES)
    found = set(scopes.commands(typer.main.get_command(app)))
    assert found - listed == set(), "commands without a scope in mlgate.cli.scopes"
    assert listed - found == set(), "scopes listed for commands that do not exist"


def _key(cli: Cli, *scope: str) -> str:
    created = cli("keys", "create", "k", "--owner", "o", *[f"--scope={s}" for s in scope])
    assert created.code == 0, created.err
    return created.out.strip().splitlines()[-1]


def test_a_key_without_the_scope_is_refused_before_anything_runs(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("init")
    app_key = _key(cli, "gateway:invoke")
    reader = _key(cli, "registry:read")
    monkeypatch.setenv("MLGATE_API_KEY", app_key)
    for args, scope in (
        (("keys", "revoke", "01M8ZK01QH3F5A8NB61KMJASK2"), "admin"),
        (("secrets", "delete", "openai", "--yes"), "privacy:admin"),
        (("privacy", "export", "alice"), "privacy:admin"),
        (("backup", "list"), "backup:admin"),
        (("audit", "export"), "audit:read"),
        (("models", "list"), "registry:read"),
    ):
        refused = cli(*args)
        assert refused.code == 1, (args, refused.err)
        assert f"'{scope}'" in refused.err
        assert len(refused.err.strip().splitlines()) == 1
    assert cli("pii", "scan", "--help").code == 0  # local files only: no scope
    monkeypatch.setenv("MLGATE_API_KEY", reader)
    assert cli("models", "list").code == 0
    refused = cli("models", "create", "churn")
    assert refused.code == 1
    assert "'registry:write'" in refused.err
    monkeypatch.delenv("MLGATE_API_KEY")
    assert cli("models", "list", "--json").out.count('"name"') == 0  # nothing was created
    keys = json.loads(cli("keys", "list", "--json").out)
    assert [k["revoked_at"] for k in keys] == [None, None, None]  # nor revoked
