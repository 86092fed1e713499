"""``mlgate scan …``, ``mlgate sign``, ``mlgate verify`` and ``mlgate audit-model``.

``scan file`` is made for CI and has its own exit codes (the issue's contract): 0 clean,
1 a finding at or above ``--fail-on``, 2 the scan could not run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeElapsedColumn

from mlgate.cli.args import parse_ref
from mlgate.cli.context import console, err_console, state
from mlgate.cli.output import print_json, print_table
from mlgate.errors import Invalid, MlgateError
from mlgate.scanning import posture, service
from mlgate.scanning.manifest import sign_manifest
from mlgate.scanning.sarif import to_sarif
from mlgate.scanning.scanner import SCAN_BUDGET_S
from mlgate.scanning.schemas import (
    Finding,
    RequirementsIn,
    ScanReport,
    SecurityAuditRead,
    Severity,
    WaiverCreate,
)

__all__ = ["app", "audit_model", "sign", "verify"]

app = typer.Typer(
    help="Scan artifacts, audit dependencies and waive security findings.", no_args_is_help=True
)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Ref = Annotated[str, typer.Argument(help="MODEL@N, e.g. churn@3.")]


class ScanFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def _findings_table(title: str, findings: list[Finding]) -> None:
    rows = [
        (
            f.severity.value,
            f.rule,
            f.file + (f"!{f.member}" if f.member else ""),
            f.subject or ("" if f.offset is None else f"@{f.offset}"),
            f.message,
        )
        for f in findings
    ]
    print_table(title, ["severity", "rule", "file", "subject", "message"], rows)


def _print_scan(report: ScanReport, fmt: ScanFormat) -> None:
    if fmt is ScanFormat.SARIF:
        typer.echo(json.dumps(to_sarif(report), indent=2))
    elif fmt is ScanFormat.JSON:
        typer.echo(report.model_dump_json(indent=2))
    else:
        worst = report.max_severity.value if report.max_severity else "none"
        _findings_table(f"{report.files_scanned} files, worst: {worst}", report.findings)


def _size_of(paths: list[Path]) -> int:
    """Bytes under ``paths`` (what a progress bar counts down); what is missing counts 0."""
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total


@contextmanager
def _scanning(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (bytes scanned, file by file); gone once the scan is done."""
    with Progress(
        "scanning",
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("scanning", total=total or None)
        yield lambda size: progress.advance(task, size)


@app.command("file")
def scan_file(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to scan.")],
    fail_on: Annotated[
        Severity, typer.Option(help="Exit 1 when a finding is at least this severe.")
    ] = Severity.HIGH,
    fmt: Annotated[ScanFormat, typer.Option("--format", help="table, json or sarif.")] = (
        ScanFormat.TABLE
    ),
    budget: Annotated[
        float,
        typer.Option(
            "--budget", min=0.001, max=86_400, help="Seconds a path's scan may take (then HIGH)."
        ),
    ] = SCAN_BUDGET_S,
) -> None:
    """Scan files without registering them: exit 0 clean, 1 findings, 2 error."""
    try:
        with _scanning(_size_of(paths)) as advance:
            report = service.scan_files(paths, progress=advance, budget_s=budget)
    except (MlgateError, OSError) as error:
        detail = error.detail if isinstance(error, MlgateError) else str(error)
        err_console.print(f"error: {detail}", markup=False, highlight=False)
        raise typer.Exit(2) from error
    _print_scan(report, fmt)
    if any(f.severity.rank >= fail_on.rank for f in report.findings):
        raise typer.Exit(1)


@app.command("version")
def scan_version(ctx: typer.Context, ref: Ref, as_json: AsJson = False) -> None:
    """Scan every artifact of MODEL@N from the blob store and store the result."""
    name, number = parse_ref(ref)
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:  # read, scan outside any transaction, then record
        artifacts = service.version_artifacts(session, model_name=name, version=number)
    blobs = cli.runtime.blobs
    with _scanning(sum(blobs.size(sha256) for sha256 in artifacts.values())) as advance:
        report = service.scan_artifacts(
            blobs=blobs,
            artifacts=artifacts,
            progress=advance,
            budget_s=cli.runtime.settings.scan_budget_seconds,
        )
    with cli.session() as session:
        scan = service.scan_version(
            session,
            blobs=cli.runtime.blobs,
            model_name=name,
            version=number,
            actor=actor,
            report=report,
        )
    if as_json:
        print_json(scan)
        return
    worst = scan.max_severity.value if scan.max_severity else "none"
    _findings_table(f"{ref}: {len(scan.files)} files scanned, worst: {worst}", scan.findings)


@app.command("deps")
def scan_deps(
    ctx: typer.Context,
    ref: Ref,
    requirements: Annotated[
        Path, typer.Option(help="requirements.txt, `pip freeze` output or pyproject.toml.")
    ],
    as_json: AsJson = False,
) -> None:
    """Record MODEL@N's requirements and audit them against the offline OSV advisories."""
    name, number = parse_ref(ref)
    try:
        text = requirements.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise Invalid.field("requirements", f"cannot read {requirements}: {error}") from error
    requirements_in = RequirementsIn(text=text, source=requirements.name)
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        audited = service.audit_dependencies(
            session,
            model_name=name,
            version=number,
            requirements_in=requirements_in,
            advisories_dir=cli.runtime.settings.advisories_dir,
            actor=actor,
        )
    if as_json:
        print_json(audited)
        return
    rows = [
        (
            d.name,
            d.spec,
            d.status.value,
            ", ".join(a.id for a in d.advisories),
            ", ".join(alias for a in d.advisories for alias in a.aliases),
            ", ".join(sorted({a.fixed for a in d.advisories if a.fixed})),
            d.reason or "",
        )
        for d in audited.dependencies
    ]
    columns = ["package", "spec", "status", "advisories", "aliases", "fixed in", "note"]
    print_table(f"{ref} dependencies: {audited.status.value}", columns, rows)


@app.command("waive")
def waive(
    ctx: typer.Context,
    ref: Ref,
    finding_id: Annotated[str, typer.Argument(help="The finding's id from `mlgate audit-model`.")],
    reason: Annotated[str, typer.Option(help="Why the finding is accepted (audited).")],
) -> None:
    """Waive one finding of MODEL@N's latest security audit (admins only)."""
    name, number = parse_ref(ref)
    waiver_in = WaiverCreate(finding_id=finding_id, reason=reason)
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        waiver = posture.waive_finding(
            session, model_name=name, version=number, waiver_in=waiver_in, actor=actor
        )
    console.print(f"waived {waiver.finding_id} of {ref}: {waiver.reason}", markup=False)


def sign(
    ctx: typer.Context,
    ref: Ref,
    key: Annotated[Path, typer.Option("--key", help="PEM EC P-256 private key.")],
    as_json: AsJson = False,
) -> None:
    """Sign every artifact of MODEL@N (model-signing bundle) and store the signature."""
    name, number = parse_ref(ref)
    cli = state(ctx)
    actor = cli.principal()
    blobs = cli.runtime.blobs
    with cli.session() as session:
        artifacts = service.version_artifacts(session, model_name=name, version=number)
    signed = sign_manifest(blobs.path, artifacts, private_key=key)
    with cli.session() as session:
        signature = service.sign_version(
            session,
            blobs=blobs,
            model_name=name,
            version=number,
            private_key=None,
            signed=signed,
            actor=actor,
        )
    if as_json:
        print_json(signature)
        return
    console.print(
        f"signed {ref}: {len(signature.manifest)} artifacts, key {signature.key_fingerprint}",
        markup=False,
    )


def verify(
    ctx: typer.Context,
    ref: Ref,
    key: Annotated[
        Path | None, typer.Option("--key", help="PEM public key the signer must hold.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Check MODEL@N's signature against its current blobs; exit 1 if it does not match."""
    name, number = parse_ref(ref)
    cli = state(ctx)
    with cli.session() as session:
        check = service.signature_check(session, model_name=name, version=number)
    result = service.run_signature_check(
        check, blobs=cli.runtime.blobs, public_key=key, trusted=cli.runtime.settings.trusted_keys
    )
    if as_json:
        print_json(result)
    else:
        verdict = "verified" if result.verified else "NOT verified"
        console.print(f"{ref}: {verdict}: {result.reason}", markup=False)
    if not result.verified:
        raise typer.Exit(1)


def _print_audit(report: SecurityAuditRead) -> None:
    worst = report.max_severity.value if report.max_severity else "none"
    rows = [
        (
            f.id,
            f.severity.value + (" (waived)" if f.waived else ""),
            f.category,
            f.rule,
            f.message,
        )
        for f in report.findings
    ]
    title = f"{report.model}@{report.version} security audit: worst {worst}"
    print_table(title, ["id", "severity", "category", "rule", "message"], rows)
    if report.blocking:
        console.print(f"{len(report.blocking)} findings block the security gate", markup=False)


def audit_model(
    ctx: typer.Context,
    ref: Ref,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="table or json.")] = (
        ReportFormat.TABLE
    ),
) -> None:
    """One security report of MODEL@N: scan, signature, dependencies, schema, routes (stored)."""
    name, number = parse_ref(ref)
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        check = service.signature_check(session, model_name=name, version=number)
    verification = service.run_signature_check(
        check, blobs=cli.runtime.blobs, trusted=cli.runtime.settings.trusted_keys
    )
    with cli.session() as session:
        report = posture.audit_model(
            session,
            blobs=cli.runtime.blobs,
            model_name=name,
            version=number,
            actor=actor,
            verification=verification,
        )
    if fmt is ReportFormat.JSON:
        print_json(report)
    else:
        _print_audit(report)
