"""``mlgate pii scan|redact`` on text and JSON Lines files."""

from __future__ import annotations

import json
from pathlib import Path

from tests.privacy.conftest import CliRunner

LINES = [
    {"id": 1, "note": "write to jane.doe@example.com"},
    {"id": 2, "nested": {"phone": "call +1 415 555 2671", "ok": "nothing here"}},
    {"id": 3, "note": "no pii"},
]


def _jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    return path


def test_scan_reports_types_and_places_never_values(cli: CliRunner, tmp_path: Path) -> None:
    scanned = cli("pii", "scan", str(_jsonl(tmp_path)), "--json")
    assert scanned.code == 0, scanned.err
    report = json.loads(scanned.out)
    assert report["counts"]["EMAIL_ADDRESS"] == 1
    assert report["counts"]["PHONE_NUMBER"] == 1
    paths = {(f["line"], f["path"]) for f in report["findings"]}
    assert paths == {(1, "$.note"), (2, "$.nested.phone")}
    assert "jane.doe" not in scanned.out


def test_pii_in_keys_and_numbers_is_found_and_paths_never_show_it(
    cli: CliRunner, tmp_path: Path
) -> None:
    path = tmp_path / "keyed.jsonl"
    path.write_text(json.dumps({"alice@example.com": {"note": "x"}, "card": 4111111111111111}))
    scanned = cli("pii", "scan", str(path), "--json")
    assert scanned.code == 0, scanned.err
    report = json.loads(scanned.out)
    assert {(f["path"], f["entity_type"]) for f in report["findings"]} == {
        ("$.<EMAIL_ADDRESS> (key)", "EMAIL_ADDRESS"),
        ("$.card", "CREDIT_CARD"),
    }
    assert "alice" not in scanned.out
    clean = tmp_path / "clean.jsonl"
    assert cli("pii", "redact", str(path), "-o", str(clean)).code == 0
    assert json.loads(clean.read_text()) == {
        "<EMAIL_ADDRESS>": {"note": "x"},
        "card": "<CREDIT_CARD>",
    }


def test_redact_writes_a_copy_and_refuses_to_overwrite(cli: CliRunner, tmp_path: Path) -> None:
    source = _jsonl(tmp_path)
    target = tmp_path / "clean.jsonl"
    done = cli("pii", "redact", str(source), "-o", str(target))
    assert done.code == 0, done.err
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert rows[0]["note"] == "write to <EMAIL_ADDRESS>"
    assert rows[1]["nested"]["ok"] == "nothing here"
    assert rows[2] == LINES[2]
    again = cli("pii", "redact", str(source), "-o", str(target))
    assert again.code == 1
    assert "exists" in again.err


def test_text_files_are_redacted_line_by_line(cli: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("hello jane.doe@example.com\nsecond line\n")
    done = cli("pii", "redact", str(source), "--operator", "mask")
    assert done.code == 0, done.err
    assert "jane.doe@example.com" not in done.out
    assert done.out.splitlines()[1] == "second line"
    bad = cli("pii", "scan", str(tmp_path / "records.jsonl"))
    assert bad.code == 2
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    failed = cli("pii", "scan", str(broken))
    assert failed.code == 1
    assert "line 1" in failed.err


def test_a_redaction_that_fails_midway_leaves_no_file(cli: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "broken.jsonl"
    source.write_text(json.dumps({"note": "mail jane.doe@example.com"}) + "\n{not json\n")
    out = tmp_path / "out"
    out.mkdir()
    target = out / "clean.jsonl"
    failed = cli("pii", "redact", str(source), "-o", str(target))
    assert failed.code == 1
    assert list(out.iterdir()) == []  # nothing half-written
    source.write_text(json.dumps({"note": "mail jane.doe@example.com"}) + "\n")
    assert cli("pii", "redact", str(source), "-o", str(target)).code == 0  # a rerun works


def test_a_planted_partial_file_is_never_written_through(cli: CliRunner, tmp_path: Path) -> None:
    """In a shared directory someone may leave a link where the temporary copy goes."""
    source = _jsonl(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    target = tmp_path / "clean.jsonl"
    (tmp_path / ".clean.jsonl.partial").symlink_to(victim)
    done = cli("pii", "redact", str(source), "-o", str(target))
    assert done.code == 0, done.err
    assert victim.read_text() == "keep me"
    assert json.loads(target.read_text().splitlines()[0])["note"] == "write to <EMAIL_ADDRESS>"
    assert (tmp_path / ".clean.jsonl.partial").is_symlink()  # someone else's: left alone
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [
        ".clean.jsonl.partial"  # and no temporary copy of ours left behind
    ]


def test_a_link_at_the_output_path_is_refused(cli: CliRunner, tmp_path: Path) -> None:
    source = _jsonl(tmp_path)
    elsewhere = tmp_path / "elsewhere.jsonl"
    target = tmp_path / "clean.jsonl"
    target.symlink_to(elsewhere)  # dangling: exists() says no, but writing would follow it
    done = cli("pii", "redact", str(source), "-o", str(target))
    assert done.code == 1
    assert "exists" in done.err
    assert not elsewhere.exists()
