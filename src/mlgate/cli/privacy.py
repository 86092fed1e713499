"""``mlgate privacy purge|hold|export|erase|report|purpose``: request-log privacy admin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from mlgate.cli.context import console, state
from mlgate.cli.output import new_file, print_json, print_table
from mlgate.cli.secrets import privacy_keys
from mlgate.errors import Invalid
from mlgate.privacy import service
from mlgate.privacy.schemas import HoldCreate, PurposeSet

app = typer.Typer(
    help="Retention, legal holds, subject export and erasure, records of processing.",
    no_args_is_help=True,
)
hold_app = typer.Typer(help="Legal holds that suspend purging and erasure.", no_args_is_help=True)
app.add_typer(hold_app, name="hold")
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Count, change nothing.")]


def _subject(value: str) -> str:
    if not value.strip():  # as the API's min_length: an empty subject names nobody
        raise typer.BadParameter("give the subject's id; it is empty")
    return value


Subject = Annotated[
    str,
    typer.Argument(
        help="Data subject as requests name it (e.g. a customer id), not its pseudonym.",
        callback=_subject,
    ),
]


@app.command("purge")
def purge(ctx: typer.Context, dry_run: DryRun = False, as_json: AsJson = False) -> None:
    """Delete request logs and drift counts older than their route's retention (legal holds
    are respected)."""
    cli = state(ctx)
    result = service.purge_job(cli.runtime, dry_run=dry_run, actor=cli.principal())
    if as_json:
        print_json(result)
        return
    verb = "would delete" if dry_run else "deleted"
    rows = [
        (
            r.route,
            r.retention_days,
            r.cutoff,
            r.logs,
            r.payloads,
            r.drift_counts,
            "held" if r.held else "",
        )
        for r in result.routes
    ]
    columns = ["route", "days", "cutoff", "logs", "payloads", "drift counts", "hold"]
    print_table("Purge", columns, rows)
    console.print(
        f"{verb} {result.logs} log(s), {result.payloads} payload(s) and "
        f"{result.drift_counts} drift count row(s)"
    )


@hold_app.command("add")
def hold_add(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why (case number, request).")],
    subject: Annotated[str | None, typer.Option(help="Hold a data subject.")] = None,
    route: Annotated[str | None, typer.Option(help="Hold a route.")] = None,
    as_json: AsJson = False,
) -> None:
    """Put a subject or a route on legal hold."""
    if (subject is None) == (route is None):
        raise Invalid.field("target", "give exactly one of --subject or --route")
    cli = state(ctx)
    hold_in = HoldCreate(
        kind="subject" if subject is not None else "route",
        target=subject if subject is not None else str(route),
        reason=reason,
    )
    actor = cli.principal()
    with cli.session() as session:
        read = service.add_hold(session, secret=cli.runtime.secret, hold_in=hold_in, actor=actor)
    if as_json:
        print_json(read)
        return
    console.print(f"hold {read.id} on {read.kind} {read.target}", markup=False)


@hold_app.command("remove")
def hold_remove(
    ctx: typer.Context,
    hold_id: Annotated[str, typer.Argument(help="Hold id, as privacy hold list shows it.")],
) -> None:
    """Lift a legal hold."""
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        read = service.remove_hold(session, hold_id=hold_id, actor=actor)
    console.print(f"hold {read.id} on {read.kind} {read.target} removed", markup=False)


@hold_app.command("list")
def hold_list(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List legal holds (subjects appear as pseudonyms)."""
    cli = state(ctx)
    with cli.session() as session:
        holds = service.list_holds(session)
    if as_json:
        print_json(holds)
        return
    rows = [(h.id, h.kind, h.target, h.reason, h.created_at, h.created_by) for h in holds]
    print_table("Legal holds", ["id", "kind", "target", "reason", "since", "by"], rows)


@app.command("export")
def export(
    ctx: typer.Context,
    subject: Subject,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here.")] = None,
) -> None:
    """Every record of a subject, payloads decrypted, as JSON (audited)."""
    cli = state(ctx)
    keys = privacy_keys(ctx)
    if output is None:
        result = service.export_job(cli.runtime, keys, subject=subject, actor=cli.principal())
        typer.echo(result.model_dump_json(indent=2))
        return
    # Decrypted personal data: the file is created first, new and for the owner only (0600),
    # so a path that cannot be written fails before the export is run and audited.
    with new_file(output, mode=0o600) as handle:
        try:
            result = service.export_job(cli.runtime, keys, subject=subject, actor=cli.principal())
            handle.write(result.model_dump_json(indent=2) + "\n")
        except BaseException:
            output.unlink(missing_ok=True)
            raise
    console.print(f"{len(result.records)} record(s) written to {output}", markup=False)


@app.command("erase")
def erase(
    ctx: typer.Context,
    subject: Subject,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask to retype the subject.")] = False,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Delete a subject's records and destroy its key (backups become unreadable too)."""
    cli = state(ctx)
    if not dry_run and not yes and typer.prompt("retype the subject to erase it") != subject:
        raise Invalid.field("confirm", "the subject did not match; nothing was erased")
    keys = privacy_keys(ctx)
    result = service.erase_job(
        cli.runtime, keys, subject=subject, actor=cli.principal(), dry_run=dry_run
    )
    if as_json:
        print_json(result)
        return
    verb = "would erase" if dry_run else "erased"
    key = "and destroy its key" if dry_run else "and destroyed its key"
    console.print(
        f"{verb} {result.logs} log(s), {result.payloads} payload(s)"
        + (f" {key}" if result.key_destroyed else "")
        + f" of subject {result.pseudonym[:16]}…"
    )


@app.command("report")
def report(
    ctx: typer.Context,
    format: Annotated[
        Literal["markdown", "html", "json"], typer.Option(help="markdown, html or json.")
    ] = "markdown",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here.")] = None,
) -> None:
    """Records of processing per route: purposes, data seen, log mode, retention, recipients."""
    cli = state(ctx)
    keys = privacy_keys(ctx)
    with cli.session() as session:
        built = service.build_report(session, master_key=keys.master.key_id)
    if format == "html":
        text = built.to_html()
    elif format == "json":
        text = json.dumps(built.model_dump(mode="json"), indent=2)
    else:
        text = built.to_markdown()
    if output is None:
        typer.echo(text)
        return
    # As `privacy export` does: a new file or none, never one written over or through a link.
    with new_file(output, mode=0o644) as handle:
        handle.write(text)
    console.print(f"report written to {output}", markup=False)


@app.command("purpose")
def purpose(
    ctx: typer.Context,
    route: Annotated[str, typer.Argument(help="Route name.")],
    purpose: Annotated[list[str], typer.Option("--purpose", help="Repeat for each purpose.")],
    legal_basis: Annotated[str, typer.Option(help="e.g. 'contract', 'consent'.")] = "",
) -> None:
    """Declare what a route processes personal data for (shown in the report)."""
    cli = state(ctx)
    purposes_in = PurposeSet(purposes=purpose, legal_basis=legal_basis)
    actor = cli.principal()
    with cli.session() as session:
        service.set_purposes(session, route=route, purposes_in=purposes_in, actor=actor)
    console.print(f"purposes of route {route}: {', '.join(purpose)}", markup=False)
