"""What other domains read from scanning: the approvals gate and the readiness facts.

Importing this module registers the ``security_audit_clean`` gate check and the ``scanning``
fact provider (approvals/policy.py and readiness/providers.py import it, so both are always
there). Both only read the scanning tables, and import the heavier scanning modules lazily.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mlgate.approvals.gates import GateContext, GateOutcome, register_check
from mlgate.readiness.facts import Facts
from mlgate.readiness.providers import register_fact_provider
from mlgate.registry.models import Model, ModelVersion
from mlgate.scanning.models import ArtifactScan, ArtifactSignature, DependencyAudit
from mlgate.scanning.schemas import Finding, Severity

__all__ = ["GATE_CHECK", "scan_facts", "security_audit_clean"]

GATE_CHECK = "security_audit_clean"


@register_check(
    GATE_CHECK,
    "The latest security audit (`mlgate audit-model`) has no critical or high finding that is"
    " not waived.",
)
def security_audit_clean(context: GateContext) -> GateOutcome:
    from mlgate.scanning import posture

    ref = f"{context.model_name}@{context.version.version}"
    row = posture.latest_audit_row(context.session, version_id=context.version.id)
    if row is None:
        return GateOutcome(False, f"no security audit is recorded; run `mlgate audit-model {ref}`")
    report = posture.read_audit(
        context.session, row=row, model_name=context.model_name, version=context.version.version
    )
    blocking = report.blocking
    if blocking:
        listed = ", ".join(f"{f.id} ({f.severity.value}: {f.rule})" for f in blocking[:10])
        return GateOutcome(
            False,
            f"the security audit of {ref} has {len(blocking)} unwaived high or critical "
            f"findings: {listed}; fix them and run `mlgate audit-model {ref}` again, or have an "
            f"admin waive one with `mlgate scan waive {ref} FINDING_ID --reason …`",
        )
    waived = sum(1 for f in report.findings if f.waived)
    return GateOutcome(
        True,
        f"the security audit of {report.created_at:%Y-%m-%d %H:%M} UTC has no unwaived high or "
        f"critical finding ({waived} waived)",
    )


def _latest(
    session: Session,
    table: type[ArtifactScan | ArtifactSignature | DependencyAudit],
    version_id: str,
) -> object | None:
    return session.scalars(
        select(table)
        .where(table.version_id == version_id)
        .order_by(table.created_at.desc(), table.id.desc())
        .limit(1)
    ).one_or_none()


def scan_facts(session: Session, model: Model, version: ModelVersion, facts: Facts) -> Facts:
    """scan_clean, artifact_signed and dependency_audit_clean from the scanning tables.

    What was never recorded (no scan, no signature, no dependency audit) stays unknown (None).
    """
    scan = _latest(session, ArtifactScan, version.id)
    scan_clean = None
    if isinstance(scan, ArtifactScan):
        worst = [Finding.model_validate(f).severity for f in scan.findings]
        scan_clean = all(severity.rank <= Severity.LOW.rank for severity in worst)
    signature = _latest(session, ArtifactSignature, version.id)
    current = {artifact.name: artifact.sha256 for artifact in version.artifacts}
    signed = None
    if isinstance(signature, ArtifactSignature):  # a signature over other artifacts is a "no"
        signed = signature.manifest == current
    deps = _latest(session, DependencyAudit, version.id)
    deps_clean = None
    if isinstance(deps, DependencyAudit) and deps.status in ("clean", "vulnerable"):
        deps_clean = deps.status == "clean"
    scans = facts.scans.model_copy(
        update={
            "scan_clean": scan_clean,
            "artifact_signed": signed,
            "dependency_audit_clean": deps_clean,
        }
    )
    return facts.model_copy(update={"scans": scans})


register_fact_provider(scan_facts, name="scanning")
