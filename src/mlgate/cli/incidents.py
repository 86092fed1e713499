"""``mlgate incidents …``: open, follow, hand over and close incidents; postmortems; runbooks."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from mlgate.cli.args import validated
from mlgate.cli.context import console, state
from mlgate.cli.output import print_json, print_table
from mlgate.errors import Conflict, Forbidden, Invalid
from mlgate.incidents import postmortem, runbooks, service
from mlgate.incidents.schemas import (
    Handover,
    IncidentCreate,
    IncidentRead,
    IncidentStatus,
    IncidentUpdate,
    NoteCreate,
    PostmortemUpdate,
    RunbookCreate,
    Severity,
    TaskCreate,
)

app = typer.Typer(help="Incidents, timelines, postmortems and runbooks.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Routes = Annotated[list[str] | None, typer.Option("--route", help="Affected route; repeatable.")]
Models = Annotated[list[str] | None, typer.Option("--model", help="Affected model; repeatable.")]
Ref = Annotated[str, typer.Argument(help="Incident number (12 or INC-12) or id.")]


def _show(incident: IncidentRead, as_json: bool) -> None:
    if as_json:
        print_json(incident)
        return
    console.print(
        f"[bold]INC-{incident.number}[/bold] {incident.severity.value} {incident.status.value}:"
        f" {escape(incident.title)}",
        highlight=False,
    )
    console.print(
        f"commander {incident.commander or '-'}, scribe {incident.scribe or '-'}, communications"
        f" {incident.communications or '-'}; routes {', '.join(incident.affected_routes) or '-'};"
        f" models {', '.join(incident.affected_models) or '-'}",
        markup=False,
    )
    if incident.postmortem_required:
        done = "written" if incident.postmortem_written else "NOT written yet"
        reasons = ", ".join(incident.postmortem_reasons)
        console.print(f"postmortem required ({reasons}): {done}", markup=False)
    print_table(
        "timeline",
        ["at", "who", "what", ""],
        [(e.at, e.actor, e.kind, e.text) for e in incident.events],
    )
    if incident.tasks:
        print_table(
            "tasks",
            ["id", "task", "owner", "due", "done"],
            [(t.id, t.title, t.owner, t.due_at, t.done_at) for t in incident.tasks],
        )
    for runbook in incident.runbooks:
        console.print(
            f"runbook [bold]{runbook.name}[/bold]: {escape(runbook.title)}", highlight=False
        )
        console.print(runbook.body, markup=False)


@app.command("open")
def open_incident(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="One-line title.")],
    severity: Annotated[Severity, typer.Option(help="SEV1 (worst) .. SEV4.")],
    summary: Annotated[str, typer.Option(help="What is known so far.")] = "",
    commander: Annotated[str | None, typer.Option(help="Default: you.")] = None,
    route: Routes = None,
    model: Models = None,
    user_impact: Annotated[
        bool, typer.Option("--user-impact", help="Users were affected.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Open an incident by hand."""
    cli = state(ctx)
    incident_in = validated(
        IncidentCreate,
        {
            "title": title,
            "severity": severity,
            "summary": summary,
            "commander": commander,
            "affected_routes": route or [],
            "affected_models": model or [],
            "user_impact": user_impact,
        },
    )
    actor = cli.principal()
    with cli.session() as session:
        incident = service.open_incident(
            session,
            incident_in=incident_in,
            actor=actor,
            threshold_minutes=cli.settings.incident_postmortem_minutes,
        )
    _show(incident, as_json)


@app.command("list")
def list_incidents(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Include closed incidents.")] = False,
    severity: Annotated[
        Severity | None, typer.Option(help="Only incidents of this severity.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Most incidents to show (1 to 500).")] = 50,
    as_json: AsJson = False,
) -> None:
    """Open incidents (--all for closed ones too), newest first."""
    cli = state(ctx)
    with cli.session() as session:
        items = service.get_all(
            session,
            open_only=not all_,
            severity=severity,
            limit=limit,
            threshold_minutes=cli.settings.incident_postmortem_minutes,
        )
    if as_json:
        print_json(items)
        return
    print_table(
        f"incidents ({len(items)})",
        ["#", "sev", "status", "title", "commander", "opened"],
        [
            (f"INC-{i.number}", i.severity.value, i.status.value, i.title, i.commander, i.opened_at)
            for i in items
        ],
    )


@app.command("show")
def show(ctx: typer.Context, ref: Ref, as_json: AsJson = False) -> None:
    """An incident with its timeline, tasks and matching runbooks."""
    cli = state(ctx)
    with cli.session() as session:
        incident = service.get(
            session, ref=ref, threshold_minutes=cli.settings.incident_postmortem_minutes
        )
    _show(incident, as_json)


@app.command("update")
def update(
    ctx: typer.Context,
    ref: Ref,
    severity: Annotated[
        Severity | None, typer.Option(help="A new severity, SEV1 (worst) .. SEV4.")
    ] = None,
    status: Annotated[
        IncidentStatus | None,
        typer.Option(help="active or stable (closing is `mlgate incidents close`)."),
    ] = None,
    title: Annotated[str | None, typer.Option(help="A new title.")] = None,
    summary: Annotated[str | None, typer.Option(help="A new summary.")] = None,
    scribe: Annotated[str | None, typer.Option(help="Who keeps the timeline.")] = None,
    communications: Annotated[
        str | None, typer.Option(help="Who keeps stakeholders informed.")
    ] = None,
    route: Routes = None,
    model: Models = None,
    user_impact: Annotated[
        bool | None,
        typer.Option(
            "--user-impact/--no-user-impact",
            help="Users were (or were not) affected; if so, a postmortem is required.",
        ),
    ] = None,
    data_loss: Annotated[
        bool | None,
        typer.Option(
            "--data-loss/--no-data-loss",
            help="Data was (or was not) lost; if so, a postmortem is required.",
        ),
    ] = None,
    rollback: Annotated[
        bool | None,
        typer.Option(
            "--rollback/--no-rollback",
            help="A rollback was (or was not) needed; if so, a postmortem is required.",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Change severity, status, roles (not the commander: use handover) or impact."""
    cli = state(ctx)
    values: dict[str, Any] = {
        "severity": severity,
        "status": status,
        "title": title,
        "summary": summary,
        "scribe": scribe,
        "communications": communications,
        "affected_routes": route,
        "affected_models": model,
        "user_impact": user_impact,
        "data_loss": data_loss,
        "rollback": rollback,
    }
    update_in = validated(IncidentUpdate, {k: v for k, v in values.items() if v is not None})
    actor = cli.principal()
    with cli.session() as session:
        incident = service.update(
            session,
            ref=ref,
            update_in=update_in,
            actor=actor,
            threshold_minutes=cli.settings.incident_postmortem_minutes,
        )
    _show(incident, as_json)


@app.command("handover")
def handover(
    ctx: typer.Context,
    ref: Ref,
    to: Annotated[str, typer.Option("--to", help="The new incident commander.")],
    note: Annotated[str, typer.Option(help="Why, or what the new commander should know.")] = "",
) -> None:
    """Hand incident command to someone else (logged on the timeline)."""
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        incident = service.handover(
            session,
            ref=ref,
            handover_in=Handover(to=to, note=note),
            actor=actor,
            threshold_minutes=cli.settings.incident_postmortem_minutes,
        )
    console.print(f"INC-{incident.number} is now commanded by {incident.commander}", markup=False)


@app.command("task")
def task(
    ctx: typer.Context,
    ref: Ref,
    title: Annotated[str, typer.Argument(help="What needs doing.")],
    owner: Annotated[str, typer.Option(help="Who does it.")],
    due: Annotated[datetime | None, typer.Option(help="Due time, ISO 8601 (UTC).")] = None,
) -> None:
    """Add a task with an owner and an optional due date."""
    cli = state(ctx)
    task_in = validated(TaskCreate, {"title": title, "owner": owner, "due_at": due})
    if task_in.due_at is not None and task_in.due_at.tzinfo is None:
        task_in.due_at = task_in.due_at.replace(tzinfo=UTC)
    actor = cli.principal()
    with cli.session() as session:
        created = service.add_task(session, ref=ref, task_in=task_in, actor=actor)
    console.print(f"task {created.id} for {created.owner}", markup=False)


@app.command("done")
def done(
    ctx: typer.Context,
    ref: Ref,
    task_id: Annotated[str, typer.Argument(help="Task id, as incidents show lists it.")],
) -> None:
    """Mark a task done."""
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        finished = service.complete_task(session, ref=ref, task_id=task_id, actor=actor)
    console.print(f"task {finished.id} done", markup=False)


@app.command("note")
def note(
    ctx: typer.Context,
    ref: Ref,
    text: Annotated[str, typer.Argument(help="The line to add to the timeline.")],
) -> None:
    """Add a line to the timeline."""
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        incident = service.add_note(
            session,
            ref=ref,
            note_in=validated(NoteCreate, {"text": text}),
            actor=actor,
            threshold_minutes=cli.settings.incident_postmortem_minutes,
        )
    console.print(f"noted on INC-{incident.number}")


@app.command("close")
def close(
    ctx: typer.Context,
    ref: Ref,
    note: Annotated[str, typer.Option(help="Closing note, added to the timeline.")] = "",
) -> None:
    """Close an incident (refused until its postmortem is written, when one is required)."""
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        incident = service.close(
            session,
            ref=ref,
            actor=actor,
            note=note,
            threshold_minutes=cli.settings.incident_postmortem_minutes,
        )
    console.print(f"INC-{incident.number} closed")


@app.command("postmortem")
def show_postmortem(
    ctx: typer.Context,
    ref: Ref,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="FIELD=TEXT, e.g. root_causes=…; repeatable.")
    ] = None,
    format_: Annotated[str, typer.Option("--format", help="markdown, html or json.")] = "markdown",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write.")] = None,
) -> None:
    """Edit (--set) and render the blameless postmortem, prefilled from the timeline."""
    cli = state(ctx)
    if format_ not in ("markdown", "html", "json"):
        raise Invalid.field("format", "must be markdown, html or json")
    # Before any edit, so a refused command changes nothing.
    if out is not None and out.exists():
        raise Conflict(f"{out} exists; choose another file")
    if out is not None and not out.parent.is_dir():
        raise Invalid.field(
            "out", f"{out.parent} is not a directory; create it first or choose another file"
        )
    if set_:
        fields: dict[str, str] = {}
        for item in set_:
            name, sep, text = item.partition("=")
            if not sep:
                raise Invalid.field("set", f"{item!r} is not FIELD=TEXT")
            fields[name.strip()] = text
        update_in = validated(PostmortemUpdate, fields)
        actor = cli.principal()
        if not actor.has("incidents:write"):
            raise Forbidden("editing a postmortem (--set) needs the 'incidents:write' scope")
        with cli.session() as session:
            service.set_postmortem(
                session,
                ref=ref,
                postmortem_in=update_in,
                actor=actor,
                threshold_minutes=cli.settings.incident_postmortem_minutes,
            )
    with cli.session() as session:
        draft = service.get_postmortem(
            session, ref=ref, threshold_minutes=cli.settings.incident_postmortem_minutes
        )
    if format_ == "json":
        text = draft.model_dump_json(indent=2)
    elif format_ == "html":
        text = postmortem.render_html(draft)
    else:
        text = postmortem.render_markdown(draft)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")  # as is: never wrapped
        return
    out.write_text(text)
    console.print(f"wrote {out}", markup=False)


runbook_app = typer.Typer(
    help="Markdown runbooks linked to routes and models.", no_args_is_help=True
)
app.add_typer(runbook_app, name="runbook")


@runbook_app.command("add")
def add_runbook(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Markdown file.")],
    name: Annotated[str, typer.Option(help="Runbook name, e.g. churn-latency.")],
    title: Annotated[str, typer.Option(help="One-line title.")],
    route: Routes = None,
    model: Models = None,
) -> None:
    """Add or replace a runbook; incidents on its routes/models show it."""
    cli = state(ctx)
    try:
        body = path.read_text()
    except OSError as error:
        raise Invalid.field("path", f"cannot read {path}: {error.strerror}") from error
    runbook_in = validated(
        RunbookCreate,
        {"name": name, "title": title, "body": body, "routes": route or [], "models": model or []},
    )
    actor = cli.principal()
    with cli.session() as session:
        saved = runbooks.put_runbook(session, runbook_in=runbook_in, actor=actor)
    console.print(f"runbook {saved.name} saved", markup=False)


@runbook_app.command("list")
def list_runbooks(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Every runbook with the routes and models it covers."""
    with state(ctx).session() as session:
        items = runbooks.list_runbooks(session)
    if as_json:
        print_json(items)
        return
    print_table(
        "runbooks",
        ["name", "title", "routes", "models"],
        [(r.name, r.title, ", ".join(r.routes), ", ".join(r.models)) for r in items],
    )
