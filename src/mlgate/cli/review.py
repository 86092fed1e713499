"""``mlgate review …``: request, queue, show and decide reviews; show and set policies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from mlgate.approvals import policy as policies
from mlgate.approvals import service
from mlgate.approvals.gates import available_checks
from mlgate.approvals.schemas import ApprovalRequestRead, RequestState
from mlgate.cli.args import parse_ref
from mlgate.cli.context import console, state
from mlgate.cli.output import print_json, print_table
from mlgate.errors import Forbidden, Invalid
from mlgate.ids import MAX_NUMBER

app = typer.Typer(help="Approval reviews: request, queue, decide.", no_args_is_help=True)
policy_app = typer.Typer(help="Show and set approval policies.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Comment = Annotated[str, typer.Option("--comment", "-m", help="Why; recorded with the decision.")]
Stage = Annotated[
    str | None,
    typer.Option(help="The stage you decide (default: the open one); refused if it has moved on."),
]
Ref = Annotated[str, typer.Argument(help="MODEL@N, or a request id.")]
PageLimit = Annotated[
    int, typer.Option(min=1, max=service.MAX_PAGE, help="Items per page (as the API allows).")
]
PageOffset = Annotated[int, typer.Option(min=0, max=MAX_NUMBER, help="Items to skip.")]


def _request_id(session: object, ref: str) -> str:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    if "@" not in ref:
        return ref
    name, number = parse_ref(ref)
    return service.get_for_version(session, model_name=name, version=number).id


def _show(request: ApprovalRequestRead, as_json: bool) -> None:
    if as_json:
        print_json(request)
        return
    where = f" at stage {request.current_stage}" if request.current_stage else ""
    console.print(
        f"[bold]{request.model}@{request.version}[/bold] {request.state.value}{where} "
        f"(request {request.id}, round {request.round}, by {escape(request.requester)}, "
        f"policy {escape(request.policy_subject)} v{request.policy_version})",
        highlight=False,
    )
    print_table(
        "stages",
        ["#", "stage", "reviewers", "status", "approved by"],
        [
            (s.index + 1, s.name, ", ".join(s.reviewer_groups) or "any", s.status, s.approved_by)
            for s in request.stages
        ],
    )
    if request.gate_results:
        print_table(
            "gate checks of the open stage",
            ["check", "passed", "reason"],
            [(g.check, "yes" if g.passed else "NO", g.reason) for g in request.gate_results],
        )
    if request.decisions:
        print_table(
            "decisions",
            ["round", "stage", "decision", "by", "at", "comment"],
            [
                (d.round, d.stage, d.kind.value, d.actor, d.created_at, d.comment)
                for d in request.decisions
            ],
        )


@app.command("request")
def request_review(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="MODEL@N, e.g. churn@3.")],
    comment: Comment = "",
    as_json: AsJson = False,
) -> None:
    """Submit MODEL@N for review under the model's current policy."""
    cli = state(ctx)
    name, number = parse_ref(ref)
    actor = cli.principal()
    if not actor.has("approvals:request"):
        raise Forbidden("requesting a review needs the 'approvals:request' scope")
    with cli.session() as session:
        request = service.request_review(
            session, model_name=name, version=number, requester=actor, comment=comment
        )
    _show(request, as_json)


@app.command("queue")
def review_queue(
    ctx: typer.Context, limit: PageLimit = 50, offset: PageOffset = 0, as_json: AsJson = False
) -> None:
    """Requests whose open stage you may decide, oldest request first, a page at a time."""
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        page = service.queue(session, reviewer=actor, limit=limit, offset=offset)
    if as_json:
        print_json(page)
        return
    shown_to = offset + len(page.items)
    more = f"; more with --offset {shown_to}" if shown_to < page.total else ""
    print_table(
        f"review queue of {actor.name} ({page.total}{more})",
        ["ref", "stage", "requester", "requested", "gates"],
        [
            (
                f"{r.model}@{r.version}",
                r.current_stage,
                r.requester,
                r.created_at,
                "pass" if all(g.passed for g in r.gate_results) else "FAIL",
            )
            for r in page.items
        ],
    )


@app.command("list")
def list_reviews(
    ctx: typer.Context,
    state_: Annotated[
        RequestState | None, typer.Option("--state", help="Only reviews in this state.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Only reviews of this model.")] = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
    as_json: AsJson = False,
) -> None:
    """All reviews, filtered by state or model, a page at a time."""
    with state(ctx).session() as session:
        items = service.list_requests(
            session, state=state_, model_name=model, limit=limit, offset=offset
        )
        total = service.count_requests(session, state=state_, model_name=model)
    if as_json:
        print_json(items)
        return
    print_table(
        f"reviews ({total})",
        ["ref", "state", "stage", "requester", "updated"],
        [
            (f"{r.model}@{r.version}", r.state.value, r.current_stage, r.requester, r.updated_at)
            for r in items
        ],
    )
    shown_to = offset + len(items)
    if shown_to < total:
        console.print(
            f"showing {len(items)} of {total}; use --offset {shown_to} for more",
            markup=False,
        )


@app.command("show")
def show(ctx: typer.Context, ref: Ref, as_json: AsJson = False) -> None:
    """A review's stages, gate checks and decisions."""
    with state(ctx).session() as session:
        request = service.get(session, request_id=_request_id(session, ref))
    _show(request, as_json)


def _decide(
    ctx: typer.Context,
    decision: Callable[..., ApprovalRequestRead],
    ref: str,
    comment: str,
    stage: str | None,
    as_json: bool,
) -> None:
    """Run one reviewer decision (approve, reject, request changes) as the CLI's principal."""
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        request = decision(
            session,
            request_id=_request_id(session, ref),
            reviewer=actor,
            comment=comment,
            stage=stage,
        )
    _show(request, as_json)


@app.command("approve")
def approve(
    ctx: typer.Context, ref: Ref, comment: Comment, stage: Stage = None, as_json: AsJson = False
) -> None:
    """Approve the open stage (its gate checks must pass)."""
    _decide(ctx, service.approve, ref, comment, stage, as_json)


@app.command("reject")
def reject(
    ctx: typer.Context, ref: Ref, comment: Comment, stage: Stage = None, as_json: AsJson = False
) -> None:
    """Reject the request (terminal: the version is rejected)."""
    _decide(ctx, service.reject, ref, comment, stage, as_json)


@app.command("request-changes")
def request_changes(
    ctx: typer.Context, ref: Ref, comment: Comment, stage: Stage = None, as_json: AsJson = False
) -> None:
    """Send the request back to its requester; it restarts at the first stage on resubmit."""
    _decide(ctx, service.request_changes, ref, comment, stage, as_json)


@app.command("resubmit")
def resubmit(ctx: typer.Context, ref: Ref, comment: Comment, as_json: AsJson = False) -> None:
    """Resubmit a request that needs revision; review starts again at the first stage."""
    cli = state(ctx)
    actor = cli.principal()
    with cli.session() as session:
        request = service.resubmit(
            session, request_id=_request_id(session, ref), requester=actor, comment=comment
        )
    _show(request, as_json)


@app.command("checks")
def checks(as_json: AsJson = False) -> None:
    """The gate checks a policy may name."""
    items = available_checks()
    if as_json:
        print_json(items)
        return
    print_table("gate checks", ["name", "description"], [(c.name, c.description) for c in items])


@policy_app.command("show")
def policy_show(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="'default' or a model name.")] = "default",
    version: Annotated[
        int | None, typer.Option(min=0, max=MAX_NUMBER, help="A given version.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Show a policy (the model's own, or the default)."""
    with state(ctx).session() as session:
        read = policies.get_policy(session, subject=subject, version=version)
    if as_json:
        print_json(read)
        return
    console.print(
        f"[bold]policy {escape(read.subject)} v{read.version}[/bold] "
        f"same reviewer across stages: {read.document.allow_same_reviewer_across_stages}",
        highlight=False,
    )
    print_table(
        "stages",
        ["#", "stage", "scope", "groups", "gates"],
        [
            (
                i + 1,
                s.name,
                s.reviewer_scope,
                ", ".join(s.reviewer_groups) or "any",
                ", ".join(g.check for g in s.gates),
            )
            for i, s in enumerate(read.document.stages)
        ],
    )


@policy_app.command("set")
def policy_set(
    ctx: typer.Context,
    subject: Annotated[str, typer.Argument(help="'default' or a model name.")],
    file: Annotated[Path, typer.Option("--file", "-f", help="Policy as YAML or JSON.")],
    as_json: AsJson = False,
) -> None:
    """Add a new version of a policy from a YAML/JSON file."""
    cli = state(ctx)
    try:
        text = file.read_text()
    except OSError as error:
        raise Invalid.field("file", f"cannot read {file}: {error.strerror}") from error
    document = policies.parse_policy(text)
    actor = cli.principal()
    if not actor.is_admin:
        raise Forbidden("setting a policy needs the 'admin' scope")
    with cli.session() as session:
        read = policies.set_policy(session, subject=subject, document=document, actor=actor)
    if as_json:
        print_json(read)
        return
    console.print(f"policy {read.subject} is now at version {read.version}", markup=False)
