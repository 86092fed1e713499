"""The scanning commands through the real ``mlgate`` entry point."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlgate.cli.main import run
from mlgate.config import Settings
from mlgate.scanning import archives
from tests.conftest import KeyFactory
from tests.scanning.factories import (
    benign_pickle,
    headerless_pickle,
    malicious_pickle,
    write_keypair,
)


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"benign": tmp_path / "benign.pkl", "evil": tmp_path / "evil.pkl"}
    paths["benign"].write_bytes(benign_pickle())
    paths["evil"].write_bytes(malicious_pickle())
    return paths


def mlgate(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    capsys.readouterr()
    code = run(list(argv))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def test_scan_file_exits_0_when_clean_1_on_findings_2_on_error(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path], tmp_path: Path
) -> None:
    assert mlgate(capsys, "scan", "file", str(files["benign"])).code == 0
    evil = mlgate(capsys, "scan", "file", str(files["evil"]), str(files["benign"]))
    assert evil.code == 1
    assert "critical" in evil.out
    missing = mlgate(capsys, "scan", "file", str(tmp_path / "absent.pkl"))
    assert missing.code == 2
    assert "nothing to scan" in missing.err
    assert mlgate(capsys, "scan", "file", "--fail-on", "bogus", str(files["benign"])).code == 2


def test_scan_file_speaks_json_and_sarif_for_ci(
    capsys: pytest.CaptureFixture[str], files: dict[str, Path]
) -> None:
    sarif = mlgate(capsys, "scan", "file", "--format", "sarif", str(files["evil"]))
    assert sarif.code == 1
    document = json.loads(sarif.out)
    assert document["version"] == "2.1.0"
    assert document["runs"][0]["results"][0]["level"] == "error"
    plain = mlgate(capsys, "scan", "file", "--format", "json", str(files["evil"]))
    assert json.loads(plain.out)["max_severity"] == "critical"


def test_scan_file_fails_a_pickle_without_proto_header(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "payload.dat"
    path.write_bytes(headerless_pickle())
    result = mlgate(capsys, "scan", "file", str(path))
    assert result.code == 1
    assert "posix.system" in result.out


def test_scan_file_fails_an_archive_it_could_not_scan_whole(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archives, "_MAX_MEMBERS", 2)
    path = tmp_path / "bundle.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("a.txt", "b.txt", "c.txt"):
            archive.writestr(name, "notes")
    result = mlgate(capsys, "scan", "file", "--format", "json", str(path))
    assert result.code == 1
    assert json.loads(result.out)["max_severity"] == "high"


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLGATE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MLGATE_DATA_DIR", str(settings.data_dir))
    assert settings.secret_key is not None
    monkeypatch.setenv("MLGATE_SECRET_KEY", settings.secret_key.get_secret_value())


def test_version_scan_sign_verify_deps_audit_and_waive(
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, Path],
    tmp_path: Path,
    osv_pypa: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_key: KeyFactory,
) -> None:
    monkeypatch.setenv("MLGATE_ADVISORIES_DIR", str(osv_pypa))
    assert mlgate(capsys, "models", "create", "fraud").code == 0
    assert mlgate(capsys, "versions", "register", str(files["evil"]), "--model", "fraud").code == 0
    scanned = mlgate(capsys, "scan", "version", "fraud@1", "--json")
    assert scanned.code == 0, scanned.err
    assert json.loads(scanned.out)["findings"][0]["file"] == "evil.pkl"

    private, public = write_keypair(tmp_path, "signer")
    _, stranger = write_keypair(tmp_path, "stranger")
    assert mlgate(capsys, "sign", "fraud@1", "--key", str(private)).code == 0
    verified = mlgate(capsys, "verify", "fraud@1", "--key", str(public))
    assert verified.code == 0
    assert "verified" in verified.out
    refused = mlgate(capsys, "verify", "fraud@1", "--key", str(stranger))
    assert refused.code == 1
    assert "another key" in refused.out
    assert ".tmp" not in refused.out  # no staging path of the blob store

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("requests==2.19.0\n")
    deps = mlgate(capsys, "scan", "deps", "fraud@1", "--requirements", str(requirements))
    assert deps.code == 0, deps.err
    assert "dependencies: vulnerable" in deps.out
    flags = ("--requirements", str(requirements), "--json")
    audited = json.loads(mlgate(capsys, "scan", "deps", "fraud@1", *flags).out)
    advisories = audited["dependencies"][0]["advisories"]
    assert "CVE-2018-18074" in {alias for a in advisories for alias in a["aliases"]}

    report = mlgate(capsys, "audit-model", "fraud@1", "--format", "json")
    assert report.code == 0, report.err
    findings = json.loads(report.out)["findings"]
    assert findings[0]["severity"] == "critical"
    table = mlgate(capsys, "audit-model", "fraud@1")
    assert table.code == 0
    assert "block the security gate" in table.out

    monkeypatch.setenv("MLGATE_API_KEY", make_key("scan:write", "registry:read"))
    refused = mlgate(
        capsys, "scan", "waive", "fraud@1", findings[0]["id"], "--reason", "looks fine"
    )
    assert refused.code == 1
    assert "only an admin" in refused.err
    monkeypatch.delenv("MLGATE_API_KEY")
    waived = mlgate(capsys, "scan", "waive", "fraud@1", findings[0]["id"], "--reason", "sandboxed")
    assert waived.code == 0, waived.err
    assert findings[0]["id"] in waived.out


def test_bad_references_are_one_line_errors(
    cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    result = mlgate(capsys, "scan", "version", "fraud")
    assert result.code == 1
    assert "MODEL@N" in result.err
    assert mlgate(capsys, "audit-model", "nope@1").code == 1


def test_scan_file_stops_at_its_budget_with_a_high_finding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    slow = tmp_path / "model.pkl"
    slow.write_bytes(b"\x80\x02" + b"N0" * (4 << 20) + b"N.")  # 8M opcodes doing nothing
    result = mlgate(capsys, "scan", "file", "--format", "json", "--budget", "0.05", str(slow))
    assert result.code == 1
    assert [f["rule"] for f in json.loads(result.out)["findings"]] == ["scan.time-budget"]


def test_the_scan_budget_setting_reaches_version_scans(
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow = tmp_path / "model.pkl"
    slow.write_bytes(b"\x80\x02" + b"N0" * (4 << 20) + b"N.")
    monkeypatch.setenv("MLGATE_SCAN_BUDGET_SECONDS", "0.05")
    assert mlgate(capsys, "models", "create", "slow").code == 0
    assert mlgate(capsys, "versions", "register", str(slow), "--model", "slow").code == 0
    scanned = mlgate(capsys, "scan", "version", "slow@1", "--json")
    assert scanned.code == 0, scanned.err
    assert [f["rule"] for f in json.loads(scanned.out)["findings"]] == ["scan.time-budget"]
