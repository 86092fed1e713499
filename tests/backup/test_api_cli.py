"""Backups over HTTP (backup:admin) and from the CLI, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from mlgate.auth.schemas import Principal
from mlgate.runtime import Runtime
from tests.backup.conftest import populate
from tests.cli.conftest import Cli, cli  # noqa: F401  (fixture)
from tests.conftest import KeyFactory, bearer


def test_backups_over_http_need_backup_admin(
    client: TestClient, make_key: KeyFactory, runtime: Runtime, admin: Principal
) -> None:
    populate(runtime, admin, versions=1)
    other = bearer(make_key("registry:write"))
    ops = bearer(make_key("backup:admin"))
    assert client.post("/api/v1/backups", headers=other).status_code == 403
    created = client.post("/api/v1/backups", headers=ops)
    assert created.status_code == 201, created.text
    backup_id = created.json()["id"]
    assert [b["id"] for b in client.get("/api/v1/backups", headers=ops).json()] == [backup_id]
    verified = client.post(f"/api/v1/backups/{backup_id}/verify", headers=ops).json()
    assert verified["ok"]
    assert verified["deep"]
    assert client.get("/api/v1/backups/..", headers=ops).status_code == 404
    assert client.get("/api/v1/backups/%2Etmp", headers=ops).status_code == 404
    drill = client.post("/api/v1/backups/drills", headers=ops)
    assert drill.status_code == 201, drill.text
    assert drill.json()["ok"], drill.text
    assert len(client.get("/api/v1/backups/drills", headers=ops).json()) == 1
    pruned = client.post("/api/v1/backups/prune", headers=ops).json()
    assert pruned == {
        "dry_run": True,
        "keep": [backup_id],
        "delete": [],
        "duplicates": [],
        "leftovers": [],
        "failed": [],
    }


def test_backup_commands(cli: Cli, tmp_path: Path, db_url: str) -> None:  # noqa: F811
    assert cli("init").code == 0
    key_file = tmp_path / "backup.key"
    assert cli("backup", "keygen", "--out", str(key_file)).code == 0
    assert cli("backup", "keygen", "--out", str(key_file)).code == 1  # never overwritten
    made = cli("backup", "create", "--key-file", str(key_file), "--json")
    assert made.code == 0, made.err
    backup_id = json.loads(made.out)["id"]
    listed = json.loads(cli("backup", "list", "--json").out)
    assert [b["id"] for b in listed] == [backup_id]
    assert listed[0]["encrypted"]
    assert cli("backup", "verify", backup_id, "--key-file", str(key_file)).code == 0
    # The configured store is not empty: restore refuses, and --dry-run says what it would do.
    refused = cli("backup", "restore", backup_id, "--key-file", str(key_file))
    assert refused.code == 1
    assert "not empty" in refused.err
    plan = cli(
        "backup",
        "restore",
        backup_id,
        "--key-file",
        str(key_file),
        "--force",
        "--dry-run",
        "--json",
    )
    assert plan.code == 0, plan.err
    assert json.loads(plan.out)["dry_run"] is True
    no_key = cli("backup", "restore", backup_id, "--target", "sqlite:///" + str(tmp_path / "x.db"))
    assert no_key.code == 1
    drill = cli("backup", "drill", "--key-file", str(key_file), "--json")
    assert drill.code == 0, drill.err
    assert json.loads(drill.out)["ok"] is True
    pruned = cli("backup", "prune", "--dry-run", "--json")
    assert json.loads(pruned.out)["delete"] == []
    opened = cli("incidents", "open", "Disk full", "--severity", "SEV3")
    assert opened.code == 0, opened.err
    assert cli("incidents", "note", "1", "cleaned /tmp").code == 0
    assert cli("incidents", "handover", "1", "--to", "bob").code == 0
    shown = json.loads(cli("incidents", "show", "INC-1", "--json").out)
    assert [e["kind"] for e in shown["events"]] == ["opened", "note", "handover"]
    rendered = cli("incidents", "postmortem", "1", "--set", "root_causes=log growth")
    assert rendered.code == 0
    assert "log growth" in rendered.out
    long_cause = "the log volume filled up because rotation was off " * 5
    existing = tmp_path / "pm.md"
    existing.write_text("mine")
    refused = cli(
        "incidents", "postmortem", "1", "--set", f"root_causes={long_cause}", "--out", str(existing)
    )
    assert refused.code == 1  # the file exists: and the edit is not made either
    as_json = cli("incidents", "postmortem", "1", "--format", "json")
    assert json.loads(as_json.out)["root_causes"] == "log growth"  # whole JSON, never wrapped
    cli("incidents", "postmortem", "1", "--set", f"root_causes={long_cause}")
    assert (
        json.loads(cli("incidents", "postmortem", "1", "--format", "json").out)["root_causes"]
        == long_cause
    )
    assert cli("incidents", "close", "1").code == 0


def test_an_operators_typo_is_refused_without_an_incident(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    assert cli("init").code == 0
    key_file, other_key = tmp_path / "backup.key", tmp_path / "other.key"
    assert cli("backup", "keygen", "--out", str(key_file)).code == 0
    assert cli("backup", "keygen", "--out", str(other_key)).code == 0
    assert cli("backup", "create", "--key-file", str(key_file)).code == 0
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a directory")
    for args, says in (
        (("backup", "create", "--to", str(a_file)), "is a file"),
        (("backup", "drill"), "give its key"),
        (("backup", "drill", "--key-file", str(other_key)), "does not open"),
        (("backup", "verify", "latest", "--key-file", str(other_key)), "does not open"),
    ):
        refused = cli(*args)
        assert refused.code == 1, (args, refused.err)
        assert says in refused.err
        assert "damaged" not in refused.err  # the backup is fine: the key is not its key
    opened = json.loads(cli("incidents", "list", "--all", "--json").out)
    assert opened == []  # they used to open SEV2 "Backup failed" and "Restore drill failed"
    assert json.loads(cli("backup", "drills", "--json").out) == []


def test_verify_latest_names_a_damaged_newest_backup(cli: Cli, tmp_path: Path) -> None:  # noqa: F811
    """``latest`` skipped a newest backup whose manifest is damaged and verified the one before
    it (exit 0): latest means the newest, damaged or not."""
    assert cli("init").code == 0
    first = json.loads(cli("backup", "create", "--json").out)["id"]
    newest = json.loads(cli("backup", "create", "--json").out)["id"]
    manifest = Path(cli.data_dir, "backups", newest, "manifest.json")  # type: ignore[attr-defined]
    manifest.write_text(manifest.read_text().replace('"dialect"', '"dialekt"'))
    verified = cli("backup", "verify", "latest")
    assert verified.code == 1
    assert f"the newest backup {newest} is damaged: manifest.json is corrupted" in verified.err
    assert cli("backup", "verify", first).code == 0  # an older one, named, still verifies
    drill = cli("backup", "drill")
    assert (drill.code, "damaged" in drill.err) == (1, True)
    assert json.loads(cli("backup", "drills", "--json").out) == []
