"""``mlgate assess``, ``mlgate attest``, ``mlgate maturity`` and ``mlgate debt …``."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

import mlgate.readiness.gates  # noqa: F401  # registers the readiness:<group> approval gates
from mlgate.cli.args import parse_ref
from mlgate.cli.context import console, state
from mlgate.cli.output import print_json, print_table
from mlgate.clock import ensure_utc, utcnow
from mlgate.errors import Invalid
from mlgate.ids import MAX_NUMBER
from mlgate.readiness import debt_register, service
from mlgate.readiness.debt import DebtCategory, DebtClosing, DebtLevel
from mlgate.readiness.evidence import EvidenceLevel
from mlgate.readiness.report import ReadinessReport
from mlgate.readiness.schemas import AttestationCreate, DebtClose, DebtCreate, DebtRead

debt_app = typer.Typer(help="The technical-debt register.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_DAYS = re.compile(r"^(\d{1,5})d$")


class ReportFormat(StrEnum):
    HTML = "html"
    MD = "md"
    JSON = "json"


def _when(value: str | None, field: str) -> datetime | None:
    """``90d`` (from now), an ISO date (midnight UTC) or an ISO datetime (naive means UTC)."""
    if value is None:
        return None
    days = _DAYS.match(value)
    if days:
        return utcnow() + timedelta(days=int(days.group(1)))
    try:
        return ensure_utc(datetime.fromisoformat(value))
    except ValueError:
        raise Invalid.field(field, f"{value!r} is neither like 90d nor an ISO date") from None


def _render(report: ReadinessReport, fmt: ReportFormat) -> str:
    if fmt is ReportFormat.HTML:
        return report.to_html()
    if fmt is ReportFormat.MD:
        return report.to_markdown()
    return report.to_json()


def assess(
    ctx: typer.Context,
    ref: Annotated[
        str | None,
        typer.Argument(
            metavar="MODEL[@N]", help="Model (and version) to assess, as --model/--version."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model to assess.")] = None,
    version: Annotated[
        int | None, typer.Option(min=1, max=MAX_NUMBER, help="Version (default: latest).")
    ] = None,
    all_models: Annotated[
        bool, typer.Option("--all", help="The latest version of every model.")
    ] = False,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Report format: md, html or json.")
    ] = ReportFormat.MD,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File (with --all: a directory).")
    ] = None,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="Keep the scores for the trend.")
    ] = True,
) -> None:
    """Assess readiness (ML Test Score, checklist, maturity, risks, debt) and write the report."""
    if ref is not None:
        if model is not None or version is not None:
            raise Invalid.field("ref", "give MODEL@N or --model/--version, not both")
        model, version = parse_ref(ref) if "@" in ref else (ref, None)
    if all_models == (model is not None):
        raise Invalid.field("model", "give either --model M or --all")
    if all_models and version is not None:
        raise Invalid.field("version", "--version needs --model")
    if all_models and out is None and fmt is ReportFormat.HTML:
        raise Invalid.field("out", "--all --format html writes one page per model: give --out DIR")
    cli = state(ctx)
    actor = cli.principal()
    # The report is written inside the transaction that records its scores: a write that
    # fails (no such directory, no permission) records nothing.
    with cli.session() as session:
        if model is not None:
            report = service.assess(
                session, model=model, version=version, actor=actor, record=record
            )
            _write_one(report, fmt, out)
        else:
            _write_many(service.assess_all(session, actor=actor, record=record), fmt, out)


def _write_one(report: ReadinessReport, fmt: ReportFormat, out: Path | None) -> None:
    text = _render(report, fmt)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    console.print(
        f"wrote {out} ({report.model}@{report.version}: score {report.ml_test_score.final})",
        markup=False,
    )


def _write_many(reports: list[ReadinessReport], fmt: ReportFormat, out: Path | None) -> None:
    if out is None:
        if fmt is ReportFormat.JSON:
            typer.echo(json.dumps([json.loads(r.to_json()) for r in reports], indent=2))
        else:
            typer.echo("\n\n".join(r.to_markdown() for r in reports), nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    for report in reports:
        path = out / f"{report.model}-v{report.version}.{fmt.value}"
        path.write_text(_render(report, fmt), encoding="utf-8")
        console.print(f"wrote {path} (score {report.ml_test_score.final})", markup=False)


def attest(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="MODEL@N, route:NAME or workspace.")],
    item: Annotated[str, typer.Argument(help="Rubric item id, e.g. dep-rollback.")],
    level: Annotated[EvidenceLevel, typer.Option(help="manual or automated.")] = (
        EvidenceLevel.MANUAL
    ),
    note: Annotated[str, typer.Option(help="Link to or note on the result.")] = "",
    expires: Annotated[
        str | None, typer.Option(help="90d, or an ISO date (default 180 days).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Attest that ITEM is done for TARGET; it counts until it expires."""
    cli = state(ctx)
    attestation_in = AttestationCreate(
        item_id=item, level=level, note=note, expires_at=_when(expires, "expires")
    )
    model: str | None = None
    number: int | None = None
    route: str | None = None
    if target.startswith("route:"):
        route = target.removeprefix("route:")
    elif target != "workspace":
        model, number = parse_ref(target)
    actor = cli.principal()
    with cli.session() as session:
        read = service.attest(
            session,
            attestation_in=attestation_in,
            actor=actor,
            model=model,
            version=number,
            route=route,
        )
    if as_json:
        print_json(read)
        return
    console.print(
        f"attested {read.item_id} ({read.level.value}) for {target}, "
        f"valid until {read.expires_at.date().isoformat()}",
        markup=False,
    )


def maturity(ctx: typer.Context, as_json: AsJson = False) -> None:
    """The workspace's MLOps maturity level and what is missing for the next."""
    with state(ctx).session() as session:
        result = service.maturity(session)
    if as_json:
        print_json(result)
        return
    console.print(f"maturity level {result.level} (workspace {result.workspace})", markup=False)
    print_table(
        "missing",
        ["level", "criterion", "next step"],
        [(m.level, m.id, m.recommendation) for m in result.missing],
    )


def _debt_table(items: list[DebtRead], title: str) -> None:
    rows = [
        (
            d.rank or "",
            d.id,
            d.model or "-",
            d.title,
            d.quadrant.value,
            d.status.value,
            d.owner or "",
            d.due.date().isoformat() if d.due else "",
            "OVERDUE" if d.overdue else "",
        )
        for d in items
    ]
    columns = ["#", "id", "model", "title", "quadrant", "status", "owner", "due", ""]
    print_table(title, columns, rows)


@debt_app.command("add")
def add_debt(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="One-line title.")],
    category: Annotated[DebtCategory, typer.Option(help="e.g. data, glue_code, monitoring.")],
    impact: Annotated[DebtLevel, typer.Option(help="low, medium or high.")],
    effort: Annotated[DebtLevel, typer.Option(help="low, medium or high.")],
    owner: Annotated[str | None, typer.Option(help="Who pays it back.")] = None,
    due: Annotated[str | None, typer.Option(help="30d, or an ISO date.")] = None,
    description: Annotated[str, typer.Option(help="Details beyond the title.")] = "",
    model: Annotated[str | None, typer.Option(help="Model it belongs to (default: all).")] = None,
    version: Annotated[
        int | None, typer.Option(min=1, max=MAX_NUMBER, help="Version it was found in.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Add an item to the register."""
    cli = state(ctx)
    debt_in = DebtCreate(
        title=title,
        category=category,
        impact=impact,
        effort=effort,
        owner=owner,
        due=_when(due, "due"),
        description=description,
        model=model,
        version=version,
    )
    actor = cli.principal()
    with cli.session() as session:
        read = debt_register.create_debt(session, debt_in=debt_in, actor=actor)
    if as_json:
        print_json(read)
        return
    console.print(f"added debt {read.id} ({read.quadrant.value})")


@debt_app.command("list")
def list_debt(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Only this model's items.")] = None,
    include_closed: Annotated[bool, typer.Option("--all", help="Also closed items.")] = False,
    as_json: AsJson = False,
) -> None:
    """The register, prioritised: quick wins first, overdue items flagged."""
    with state(ctx).session() as session:
        items = debt_register.list_debt(session, model=model, include_closed=include_closed)
    if as_json:
        print_json(items)
        return
    _debt_table(items, f"technical debt ({len(items)})")


@debt_app.command("close")
def close_debt(
    ctx: typer.Context,
    debt_id: Annotated[str, typer.Argument(help="Item id, as debt list shows it.")],
    status: Annotated[
        DebtClosing, typer.Option(help="resolved (fixed) or accepted (the team lives with it).")
    ] = DebtClosing.RESOLVED,
    comment: Annotated[str, typer.Option(help="Why it is closed; recorded in the audit log.")] = "",
    as_json: AsJson = False,
) -> None:
    """Close an item as resolved (fixed) or accepted (the team lives with it)."""
    cli = state(ctx)
    close_in = DebtClose(status=status, comment=comment)
    actor = cli.principal()
    with cli.session() as session:
        read = debt_register.close_debt(session, debt_id=debt_id, close_in=close_in, actor=actor)
    if as_json:
        print_json(read)
        return
    console.print(f"closed debt {read.id} as {read.status.value}")


@debt_app.command("from-assessment")
def from_assessment(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="MODEL@N")],
    owner: Annotated[str | None, typer.Option(help="Owner of the new items.")] = None,
    as_json: AsJson = False,
) -> None:
    """Open a debt item for every unmet checklist item of MODEL@N not already tracked."""
    cli = state(ctx)
    model, number = parse_ref(ref)
    actor = cli.principal()
    with cli.session() as session:
        items = service.debt_from_assessment(
            session, model=model, version=number, owner=owner, actor=actor
        )
    if as_json:
        print_json(items)
        return
    _debt_table(items, f"opened {len(items)} debt items for {ref}")
