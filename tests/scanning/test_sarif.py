"""SARIF output has the 2.1.0 shape code-scanning tools ingest."""

from __future__ import annotations

import json
from pathlib import Path

from mlgate.scanning import Severity, scan_path, to_sarif


def test_sarif_has_the_2_1_0_shape(malicious: list[Path]) -> None:
    report = scan_path(malicious[0].parent)
    sarif = json.loads(json.dumps(to_sarif(report)))
    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"].endswith("sarif-2.1.0.json")
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "mlgate-scan"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    assert len(run["results"]) == len(report.findings)
    for result in run["results"]:
        assert result["ruleId"] in rule_ids
        assert result["level"] in {"error", "warning", "note", "none"}
        assert result["message"]["text"]
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert not uri.startswith("/")
    for rule in driver["rules"]:
        assert 0.0 <= float(rule["properties"]["security-severity"]) <= 10.0
    assert {a["location"]["uri"] for a in run["artifacts"]} == {f.path for f in report.files}


def test_critical_findings_are_errors_with_member_and_subject(malicious: list[Path]) -> None:
    path = next(p for p in malicious if p.name == "torch_zip.pt")
    report = scan_path(path)
    results = to_sarif(report)["runs"][0]["results"]
    critical = [r for r in results if r["properties"]["severity"] == Severity.CRITICAL.value]
    assert critical[0]["level"] == "error"
    assert critical[0]["properties"]["member"] == "archive/data.pkl"
    assert critical[0]["properties"]["subject"] == "posix.system"


def test_clean_report_has_no_results(tmp_path: Path) -> None:
    path = tmp_path / "weights.npy"
    path.write_bytes(
        b"\x93NUMPY\x01\x00v\x00"
        + b"{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }".ljust(118)
        + b"\n"
    )
    sarif = to_sarif(scan_path(path))
    assert sarif["runs"][0]["results"] == []
    assert sarif["runs"][0]["properties"]["filesScanned"] == 1
