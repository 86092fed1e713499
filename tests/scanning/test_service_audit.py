"""The combined security audit, its approvals gate, waivers and the readiness facts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlgate.approvals import service as approvals
from mlgate.approvals.policy import DEFAULT_POLICY, set_policy
from mlgate.approvals.schemas import PolicyDocument, StagePolicy
from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.errors import Conflict, Forbidden, NotFound
from mlgate.readiness.providers import gather_facts
from mlgate.runtime import Runtime
from mlgate.scanning import posture, service
from mlgate.scanning.schemas import (
    AuditFinding,
    RequirementsIn,
    SecurityAuditRead,
    Severity,
    VerificationRead,
    WaiverCreate,
)
from tests.scanning.factories import (
    ADMIN,
    SCANNER,
    make_version,
    malicious_pickle,
    serve,
    tamper,
)

SECURITY = Principal(name="sam", scopes=frozenset({"approvals:review"}), groups=frozenset({"sec"}))


def _audit(runtime: Runtime, name: str, number: int) -> SecurityAuditRead:
    with runtime.db.unit_of_work() as session:
        return posture.audit_model(
            session, blobs=runtime.blobs, model_name=name, version=number, actor=SCANNER
        )


def _prepare(runtime: Runtime, name: str, number: int, keys: tuple[Path, Path], osv: Path) -> None:
    """Scan, sign and record clean requirements: everything the audit looks for."""
    with runtime.db.unit_of_work() as session:
        service.scan_version(
            session, blobs=runtime.blobs, model_name=name, version=number, actor=SCANNER
        )
        service.sign_version(
            session,
            blobs=runtime.blobs,
            model_name=name,
            version=number,
            private_key=keys[0],
            actor=ADMIN,
        )
        service.audit_dependencies(
            session,
            model_name=name,
            version=number,
            requirements_in=RequirementsIn(text="requests==2.32.5\n"),
            advisories_dir=osv,
            actor=SCANNER,
        )


def _security_review(runtime: Runtime, name: str, number: int) -> str:
    """A request under a one-stage policy whose only gate is security_audit_clean."""
    document = PolicyDocument(
        stages=[
            StagePolicy(
                name="security-review", reviewer_groups=["sec"], gates=["security_audit_clean"]
            )
        ]
    )
    with runtime.db.unit_of_work() as session:
        set_policy(session, subject=name, document=document, actor=ADMIN)
        return approvals.request_review(
            session, model_name=name, version=number, requester=ADMIN
        ).id


def _approve(runtime: Runtime, request_id: str) -> None:
    with runtime.db.unit_of_work() as session:
        approvals.approve(session, request_id=request_id, reviewer=SECURITY, comment="ok")


def test_the_default_policy_gates_security_review_on_the_audit() -> None:
    stage = next(s for s in DEFAULT_POLICY.stages if s.name == "security-review")
    assert [g.check for g in stage.gates] == ["security_audit_clean"]


def test_a_version_never_audited_or_never_scanned_is_refused(runtime: Runtime) -> None:
    name, number = make_version(runtime)
    request_id = _security_review(runtime, name, number)
    with pytest.raises(approvals.GateFailed, match="no security audit is recorded"):
        _approve(runtime, request_id)
    report = _audit(runtime, name, number)
    assert report.findings[0].rule == "scan.missing"
    assert report.max_severity is Severity.HIGH
    ranks = [f.severity.rank for f in report.findings]
    assert ranks == sorted(ranks, reverse=True)
    assert {f.rule for f in report.findings} >= {"signature.missing", "dependencies.missing"}
    with pytest.raises(approvals.GateFailed, match=r"scan\.missing"):
        _approve(runtime, request_id)


def test_a_scanned_signed_clean_version_passes_the_gate(
    runtime: Runtime, signing_keys: tuple[Path, Path], osv_pypa: Path
) -> None:
    name, number = make_version(runtime)
    _prepare(runtime, name, number, signing_keys, osv_pypa)
    report = _audit(runtime, name, number)
    assert report.blocking == []
    assert report.sections["signature"]["verified"] is True
    assert report.sections["dependencies"]["status"] == "clean"
    assert report.sections["input_schema"] == {"declared": True}
    request_id = _security_review(runtime, name, number)
    _approve(runtime, request_id)
    with runtime.db.unit_of_work() as session:
        assert approvals.get(session, request_id=request_id).state == "approved"


def test_tampering_after_signing_is_a_critical_finding(
    runtime: Runtime, signing_keys: tuple[Path, Path], osv_pypa: Path
) -> None:
    name, number = make_version(runtime)
    _prepare(runtime, name, number, signing_keys, osv_pypa)
    with runtime.db.unit_of_work() as session:
        signature = service.get_signature(session, model_name=name, version=number)
    tamper(runtime, signature.manifest["model.pkl"])
    report = _audit(runtime, name, number)
    assert report.findings[0].rule == "signature.invalid"
    assert report.max_severity is Severity.CRITICAL


def test_vulnerable_dependencies_block_with_their_advisories(
    runtime: Runtime, osv_pypa: Path
) -> None:
    name, number = make_version(runtime)
    with runtime.db.unit_of_work() as session:
        service.audit_dependencies(
            session,
            model_name=name,
            version=number,
            requirements_in=RequirementsIn(text="requests==2.19.0\nmystery-pkg-xyz==1.0\n"),
            advisories_dir=osv_pypa,
            actor=SCANNER,
        )
    report = _audit(runtime, name, number)
    vulnerable = [f for f in report.findings if f.rule == "dependencies.vulnerable"]
    assert vulnerable
    assert vulnerable[0].severity is Severity.HIGH
    assert "CVE-2018-18074" in vulnerable[0].message
    assert "2.31.0" in vulnerable[0].message
    unknown = [f for f in report.findings if f.rule == "dependencies.unknown"]
    assert unknown
    assert unknown[0].severity is Severity.LOW


def test_only_an_admin_waives_and_a_waiver_unblocks_the_gate(
    runtime: Runtime, signing_keys: tuple[Path, Path], osv_pypa: Path
) -> None:
    name, number = make_version(runtime, {"model.pkl": malicious_pickle()})
    _prepare(runtime, name, number, signing_keys, osv_pypa)
    report = _audit(runtime, name, number)
    assert report.max_severity is Severity.CRITICAL
    blocking = report.blocking
    request_id = _security_review(runtime, name, number)
    with pytest.raises(approvals.GateFailed, match=blocking[0].id):
        _approve(runtime, request_id)
    first = WaiverCreate(finding_id=blocking[0].id, reason="sandboxed loader, reviewed")
    with runtime.db.unit_of_work() as session, pytest.raises(Forbidden):
        posture.waive_finding(
            session, model_name=name, version=number, waiver_in=first, actor=SCANNER
        )
    with runtime.db.unit_of_work() as session:
        for finding in blocking:
            waiver_in = WaiverCreate(finding_id=finding.id, reason="sandboxed loader, reviewed")
            posture.waive_finding(
                session, model_name=name, version=number, waiver_in=waiver_in, actor=ADMIN
            )
    with runtime.db.unit_of_work() as session, pytest.raises(Conflict, match="already waived"):
        posture.waive_finding(
            session, model_name=name, version=number, waiver_in=first, actor=ADMIN
        )
    unknown = WaiverCreate(finding_id="scan-000000000000", reason="nothing")
    with runtime.db.unit_of_work() as session, pytest.raises(NotFound):
        posture.waive_finding(
            session, model_name=name, version=number, waiver_in=unknown, actor=ADMIN
        )
    _approve(runtime, request_id)
    again = _audit(runtime, name, number)  # waivers stick to the same findings in a new audit
    assert again.blocking == []
    assert all(f.waived for f in again.findings if f.id in {b.id for b in blocking})
    with runtime.db.unit_of_work() as session:
        actions = [e.action for e in audit.get_all(session, object_id=f"{name}@{number}")]
        waivers = posture.list_waivers(session, model_name=name, version=number)
    assert actions.count("security_finding.waived") == len(blocking)
    assert {w.finding_id for w in waivers} == {b.id for b in blocking}


def test_routes_report_open_keys_missing_limits_and_unencrypted_logs(
    runtime: Runtime,
) -> None:
    name, number = make_version(runtime)
    serve(runtime, name, number, log_mode="redacted")
    report = _audit(runtime, name, number)
    rules = {f.rule: f for f in report.findings}
    assert {"access.no-rate-limit", "logging.unencrypted-payloads"} <= set(rules)
    assert rules["logging.unencrypted-payloads"].subject == name
    assert report.sections["routes"]["routes"][0]["log_mode"] == "redacted"
    limited = make_version(runtime)
    serve(runtime, *limited, log_mode="full", limits={"route_rate": "10/second"})
    rules_limited = {f.rule for f in _audit(runtime, *limited).findings}
    assert "access.no-rate-limit" not in rules_limited
    assert "logging.unencrypted-payloads" not in rules_limited


def test_readiness_facts_come_from_the_scanning_tables(
    runtime: Runtime, signing_keys: tuple[Path, Path], osv_pypa: Path
) -> None:
    name, number = make_version(runtime)
    with runtime.db.unit_of_work() as session:
        before = gather_facts(session, model=name, version=number).scans
    assert (before.scan_clean, before.artifact_signed, before.dependency_audit_clean) == (
        None,
        None,
        None,
    )
    _prepare(runtime, name, number, signing_keys, osv_pypa)
    with runtime.db.unit_of_work() as session:
        after = gather_facts(session, model=name, version=number).scans
    assert (after.scan_clean, after.artifact_signed, after.dependency_audit_clean) == (
        True,
        True,
        True,
    )
    bad = make_version(runtime, {"model.pkl": malicious_pickle()})
    with runtime.db.unit_of_work() as session:
        service.scan_version(
            session, blobs=runtime.blobs, model_name=bad[0], version=1, actor=ADMIN
        )
        assert gather_facts(session, model=bad[0], version=1).scans.scan_clean is False


def _osv(root: Path, *idents: str) -> Path:
    """An OSV directory where each of ``idents`` affects demo-pkg below 2.0."""
    (root / "demo-pkg").mkdir(parents=True)
    for ident in idents:
        advisory = {
            "id": ident,
            "affected": [
                {
                    "package": {"name": "demo-pkg", "ecosystem": "PyPI"},
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}
                    ],
                }
            ],
        }
        (root / "demo-pkg" / f"{ident}.json").write_text(json.dumps(advisory))
    return root


def test_a_waiver_does_not_cover_advisories_published_after_it(
    runtime: Runtime, tmp_path: Path
) -> None:
    name, number = make_version(runtime)

    def vulnerable(osv: Path) -> list[AuditFinding]:
        with runtime.db.unit_of_work() as session:
            service.audit_dependencies(
                session,
                model_name=name,
                version=number,
                requirements_in=RequirementsIn(text="demo-pkg==1.0\n"),
                advisories_dir=osv,
                actor=SCANNER,
            )
        report = _audit(runtime, name, number)
        return [f for f in report.findings if f.rule == "dependencies.vulnerable"]

    (first,) = vulnerable(_osv(tmp_path / "before", "LOW-1"))
    with runtime.db.unit_of_work() as session:
        waiver_in = WaiverCreate(finding_id=first.id, reason="header leak not reachable")
        posture.waive_finding(
            session, model_name=name, version=number, waiver_in=waiver_in, actor=ADMIN
        )
    (same,) = vulnerable(_osv(tmp_path / "same", "LOW-1"))
    assert same.id == first.id
    assert same.waived
    (grown,) = vulnerable(_osv(tmp_path / "after", "LOW-1", "RCE-2"))
    assert grown.id != first.id
    assert not grown.waived


def test_a_signature_failure_for_another_reason_is_a_new_finding(runtime: Runtime) -> None:
    name, number = make_version(runtime)
    signed = {"model": name, "version": number, "verified": False, "key_fingerprint": "ab12"}

    def invalid(reason: str) -> str:
        with runtime.db.unit_of_work() as session:
            report = posture.audit_model(
                session,
                blobs=runtime.blobs,
                model_name=name,
                version=number,
                actor=SCANNER,
                verification=VerificationRead(
                    **signed, reason=reason, signed_at=datetime(2026, 1, 1, tzinfo=UTC)
                ),
            )
        (finding,) = [f for f in report.findings if f.rule == "signature.invalid"]
        return finding.id

    assert invalid("model.pkl does not match") == invalid("model.pkl does not match")
    assert invalid("model.pkl does not match") != invalid("weights.bin does not match")
