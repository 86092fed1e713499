"""Scans, signatures and dependency audits of registered versions, stored and audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mlgate.audit import service as audit
from mlgate.config import Settings
from mlgate.errors import NotFound
from mlgate.registry import service as registry
from mlgate.runtime import Runtime
from mlgate.scanning import service
from mlgate.scanning.manifest import key_fingerprint
from mlgate.scanning.schemas import DependencyStatus, RequirementsIn, Severity, VerificationRead
from tests.scanning.factories import (
    ADMIN,
    SCANNER,
    make_version,
    malicious_pickle,
    sign,
    tamper,
    write_keypair,
)


def _actions(runtime: Runtime, ref: str) -> list[str]:
    with runtime.db.unit_of_work() as session:
        return [e.action for e in audit.get_all(session, object_id=ref)]


def test_scanning_a_version_stores_findings_under_artifact_names(runtime: Runtime) -> None:
    name, number = make_version(
        runtime, {"weights/model.pkl": malicious_pickle(), "README.txt": b"hello"}
    )
    with runtime.db.unit_of_work() as session:
        scan = service.scan_version(
            session, blobs=runtime.blobs, model_name=name, version=number, actor=SCANNER
        )
    assert scan.max_severity is Severity.CRITICAL
    assert scan.counts["critical"] >= 1
    assert not scan.passed
    assert {f.path for f in scan.files} == {"weights/model.pkl", "README.txt"}
    critical = [f for f in scan.findings if f.severity is Severity.CRITICAL]
    assert critical[0].file == "weights/model.pkl"
    assert "system" in (critical[0].subject or "")
    assert scan.scanner_version.startswith("mlgate-scan ")
    with runtime.db.unit_of_work() as session:
        stored = service.list_scans(session, model_name=name, version=number)
    assert [s.id for s in stored] == [scan.id]
    assert stored[0].findings == scan.findings
    assert _actions(runtime, f"{name}@{number}") == ["version.registered", "version.scanned"]


def test_a_clean_version_passes_its_scan(runtime: Runtime) -> None:
    name, number = make_version(runtime)
    with runtime.db.unit_of_work() as session:
        scan = service.scan_version(
            session, blobs=runtime.blobs, model_name=name, version=number, actor=SCANNER
        )
    assert scan.passed
    assert scan.counts["critical"] == scan.counts["high"] == 0


def test_signed_version_verifies_and_one_flipped_byte_fails(
    runtime: Runtime, signing_keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = signing_keys
    name, number = make_version(runtime)
    signed = sign(runtime, name, number, private)
    assert set(signed.manifest) == {"model.pkl", "config/labels.json"}
    assert len(signed.key_fingerprint) == 64
    _, stranger = write_keypair(tmp_path, "stranger")
    with runtime.db.unit_of_work() as session:
        ok = service.verify_version(session, blobs=runtime.blobs, model_name=name, version=number)
        pinned = service.verify_version(
            session, blobs=runtime.blobs, model_name=name, version=number, public_key=public
        )
        forged = service.verify_version(
            session, blobs=runtime.blobs, model_name=name, version=number, public_key=stranger
        )
    assert ok.verified
    assert pinned.verified
    assert ok.signed_by == "alice"
    assert not forged.verified
    tamper(runtime, signed.manifest["model.pkl"])
    with runtime.db.unit_of_work() as session:
        broken = service.verify_version(
            session, blobs=runtime.blobs, model_name=name, version=number
        )
    assert not broken.verified
    assert "does not verify" in broken.reason or "could not be verified" in broken.reason
    assert "version.signed" in _actions(runtime, f"{name}@{number}")


def test_with_trusted_keys_set_only_their_signatures_verify(
    runtime: Runtime, signing_keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, _ = signing_keys
    name, number = make_version(runtime)
    signed = sign(runtime, name, number, private)
    _, stranger = write_keypair(tmp_path, "stranger")
    theirs = key_fingerprint(stranger.read_text())

    def verify(trusted: set[str]) -> VerificationRead:
        with runtime.db.unit_of_work() as session:
            return service.verify_version(
                session, blobs=runtime.blobs, model_name=name, version=number, trusted=trusted
            )

    # Whoever may sign can record a key of their own: the bytes match, the signer is not trusted.
    untrusted = verify({theirs})
    assert not untrusted.verified
    assert "MLGATE_TRUSTED_SIGNING_KEYS" in untrusted.reason
    trusted = verify({theirs, signed.key_fingerprint})
    assert trusted.verified
    assert "a trusted key" in trusted.reason
    assert "any signer counts" in verify(set()).reason  # unset: as before, and it says so


def test_an_unsigned_version_does_not_verify(runtime: Runtime) -> None:
    name, number = make_version(runtime)
    with runtime.db.unit_of_work() as session:
        result = service.verify_version(
            session, blobs=runtime.blobs, model_name=name, version=number
        )
        with pytest.raises(NotFound, match="not signed"):
            service.get_signature(session, model_name=name, version=number)
    assert not result.verified
    assert result.reason == "the version is not signed"


def test_requests_2_19_has_advisories_and_a_current_release_none_offline(
    runtime: Runtime, osv_pypa: Path
) -> None:
    name, number = make_version(runtime)
    old = RequirementsIn(text="requests==2.19.0\n", source="requirements.txt")
    current = RequirementsIn(text="requests==2.32.5\n", source="requirements.txt")
    with runtime.db.unit_of_work() as session:
        vulnerable = service.audit_dependencies(
            session,
            model_name=name,
            version=number,
            requirements_in=old,
            advisories_dir=osv_pypa,
            actor=SCANNER,
        )
        clean = service.audit_dependencies(
            session,
            model_name=name,
            version=number,
            requirements_in=current,
            advisories_dir=osv_pypa,
            actor=SCANNER,
        )
    assert vulnerable.status is DependencyStatus.VULNERABLE
    advisories = vulnerable.dependencies[0].advisories
    assert "CVE-2018-18074" in {alias for a in advisories for alias in a.aliases}
    assert {a.fixed for a in advisories} >= {"2.20.0"}
    assert clean.status is DependencyStatus.CLEAN
    assert clean.dependencies[0].advisories == []
    with runtime.db.unit_of_work() as session:
        latest = service.latest_dependency_audit(session, model_name=name, version=number)
    assert latest is not None
    assert latest.status is DependencyStatus.CLEAN
    assert latest.source == "requirements.txt"


def test_without_an_advisory_database_dependencies_are_unknown_never_clean(
    runtime: Runtime,
) -> None:
    name, number = make_version(runtime)
    with runtime.db.unit_of_work() as session:
        audited = service.audit_dependencies(
            session,
            model_name=name,
            version=number,
            requirements_in=RequirementsIn(text="requests==2.32.5\nnumpy==2.3.0\n"),
            advisories_dir=None,
            actor=SCANNER,
        )
    assert audited.status is DependencyStatus.UNKNOWN
    assert audited.advisories is None
    assert {d.status for d in audited.dependencies} == {DependencyStatus.UNKNOWN}
    assert audited.counts == {"vulnerable": 0, "clean": 0, "unknown": 2}


def test_an_unknown_version_is_not_found(runtime: Runtime) -> None:
    name, _ = make_version(runtime)
    with runtime.db.unit_of_work() as session, pytest.raises(NotFound):
        service.scan_version(
            session, blobs=runtime.blobs, model_name=name, version=9, actor=SCANNER
        )
    with runtime.db.unit_of_work() as session:
        assert registry.get_version(session, model_name=name, version=1).version == 1


def test_a_signature_made_for_other_artifacts_is_not_recorded(
    runtime: Runtime, signing_keys: tuple[Path, Path]
) -> None:
    from mlgate.errors import Conflict
    from mlgate.scanning.manifest import sign_manifest

    first = make_version(runtime)
    other = make_version(runtime, {"model.pkl": b"\x80\x04K\x01."})
    with runtime.db.unit_of_work() as session:
        artifacts = service.version_artifacts(session, model_name=other[0], version=1)
    signed = sign_manifest(runtime.blobs.path, artifacts, private_key=signing_keys[0])
    with runtime.db.unit_of_work() as session, pytest.raises(Conflict, match="does not cover"):
        service.sign_version(
            session,
            blobs=runtime.blobs,
            model_name=first[0],
            version=first[1],
            private_key=None,
            signed=signed,
            actor=ADMIN,
        )


def test_a_trusted_key_that_is_not_a_fingerprint_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="'abc' is not a key fingerprint"):
        Settings(trusted_signing_keys="abc")
    fingerprint = "AB" * 32
    settings = Settings(trusted_signing_keys=f" {fingerprint} ,")
    assert settings.trusted_keys == {fingerprint.lower()}  # as mlgate prints them
