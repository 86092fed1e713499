"""``mlgate assess|attest|maturity|debt`` through the real entry point, on both databases."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlgate.cli.main import run


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    def __init__(self, db_url: str, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.db_url, self.data_dir, self.capsys = db_url, data_dir, capsys

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = run(["--database-url", self.db_url, "--data-dir", str(self.data_dir), *args])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)


@pytest.fixture
def cli(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    cli = Cli(db_url, tmp_path / "cli-data", capsys)
    artifact = tmp_path / "model.onnx"
    artifact.write_bytes(b"weights")
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object"}))
    for args in (
        ("init",),
        ("models", "create", "churn"),
        ("versions", "register", str(artifact), "--model", "churn", "--input-schema", str(schema)),
    ):
        result = cli(*args)
        assert result.code == 0, result.err
    return cli


# Anything a browser would fetch from elsewhere: scripts, styles, images, fonts, frames.
EXTERNAL = re.compile(
    r"<script|<link|<iframe|@import|(src|href)\s*=\s*[\"']?(https?:)?//|url\(\s*[\"']?(https?:)?//",
    re.IGNORECASE,
)


def test_assess_writes_a_self_contained_html_report(cli: Cli, tmp_path: Path) -> None:
    attested = cli("attest", "churn@1", "model-1", "--note", "reviewed in PR 7", "--expires", "30d")
    assert attested.code == 0, attested.err
    assert "attested model-1 (manual) for churn@1" in attested.out
    out = tmp_path / "report.html"
    result = cli("assess", "--model", "churn", "--format", "html", "--out", str(out))
    assert result.code == 0, result.err
    page = out.read_text()
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "churn" in page
    assert "<svg" in page
    assert not EXTERNAL.search(page)


def test_a_report_that_cannot_be_written_records_no_assessment(cli: Cli, tmp_path: Path) -> None:
    def assessed() -> int:
        log = cli("audit", "export")
        assert log.code == 0, log.err
        return sum(
            json.loads(line)["action"] == "readiness.assessed" for line in log.out.splitlines()
        )

    failed = cli("assess", "--model", "churn", "--out", str(tmp_path / "no-such-dir" / "r.md"))
    assert failed.code == 1
    assert len(failed.err.strip().splitlines()) == 1  # one line, no traceback
    assert assessed() == 0
    written = cli("assess", "--model", "churn", "--out", str(tmp_path / "r.md"))
    assert written.code == 0, written.err
    assert assessed() == 1


def test_assess_all_and_the_other_formats(cli: Cli, tmp_path: Path) -> None:
    as_json = cli("assess", "--all", "--format", "json")
    assert as_json.code == 0, as_json.err
    assert [r["model"] for r in json.loads(as_json.out)] == ["churn"]
    folder = tmp_path / "reports"
    assert cli("assess", "--all", "--format", "md", "--out", str(folder)).code == 0
    assert (folder / "churn-v1.md").read_text().startswith("#")
    usage = cli("assess", "--format", "md")
    assert usage.code == 1
    assert "give either --model M or --all" in usage.err


def test_assess_takes_the_model_and_version_as_an_argument(cli: Cli) -> None:
    latest = cli("assess", "churn", "--format", "json")
    assert latest.code == 0, latest.err
    assert (json.loads(latest.out)["model"], json.loads(latest.out)["version"]) == ("churn", 1)
    pinned = cli("assess", "churn@1", "--format", "json", "--no-record")
    assert pinned.code == 0, pinned.err
    assert json.loads(pinned.out)["version"] == 1
    both = cli("assess", "churn@1", "--model", "churn")
    assert (both.code, both.err.count("\n")) == (1, 1)
    assert "not both" in both.err
    assert cli("assess", "churn@x").code == 1
    assert "is not MODEL@N" in cli("assess", "churn@x").err


def test_debt_from_assessment_list_and_close(cli: Cli) -> None:
    opened = cli("debt", "from-assessment", "churn@1", "--owner", "ml", "--json")
    assert opened.code == 0, opened.err
    items = json.loads(opened.out)
    assert len(items) == 37  # the CLI's version records no provenance
    added = cli(
        "debt", "add", "pin numpy", "--category", "glue_code", "--impact", "high",
        "--effort", "low", "--due", "2020-01-01", "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    listed = json.loads(cli("debt", "list", "--json").out)
    assert len(listed) == 38
    mine = next(d for d in listed if d["title"] == "pin numpy")
    assert mine["overdue"] is True
    reopen = cli("debt", "close", mine["id"], "--status", "open")  # open is no way to close
    assert reopen.code == 2
    assert "'resolved', 'accepted'" in reopen.err
    closed = cli("debt", "close", mine["id"], "--status", "accepted")
    assert closed.code == 0
    assert "accepted" in closed.out
    again = cli("debt", "close", mine["id"])
    assert again.code == 1
    assert "already accepted" in again.err
    maturity = json.loads(cli("maturity", "--json").out)
    assert maturity["level"] == 0


def test_attest_refuses_bad_targets_and_dates(cli: Cli) -> None:
    assert "is not MODEL@N" in cli("attest", "churn", "model-1").err
    assert "neither like 90d" in cli("attest", "churn@1", "model-1", "--expires", "soon").err
    assert cli("attest", "workspace", "mat-ci-cd").code == 0
