"""``mlgate routes create|show|list|set-fallbacks|set-canary|delete|traffic``: what the gateway
serves, and how it is doing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from mlgate.cli.args import validated
from mlgate.cli.context import console, err_console, state
from mlgate.cli.output import print_json, print_table
from mlgate.clock import utcnow
from mlgate.errors import Conflict
from mlgate.gateway import service
from mlgate.gateway.schemas import RouteCreate, RouteRead, RouteUpdate
from mlgate.ids import parse_number
from mlgate.monitoring.traffic import TrafficReport, build_traffic_report, parse_window
from mlgate.monitoring.traffic_page import format_ms, format_share

app = typer.Typer(help="Create and change gateway routes.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Name = Annotated[str, typer.Argument(help="Route name: lowercase letters, digits and '-'.")]


def _target(ref: str, upstream: str | None = None, protocol: str = "json") -> dict[str, Any]:
    """MODEL[@N|@alias] as a target spec, optionally served by an upstream URL."""
    model, _, which = ref.partition("@")
    target: dict[str, Any] = {"model": model}
    if (number := parse_number(which)) is not None:
        target["version"] = number
    elif which:
        target["alias"] = which
    if upstream:
        target["upstream"] = {"url": upstream, "protocol": protocol}
    return target


def _show(route: RouteRead) -> None:
    primary = route.primary.describe() if route.primary else f"{route.model}@production"
    console.print(f"[bold]{route.name}[/bold] → {escape(primary)}")
    for fallback in route.fallbacks:
        console.print(f"  fallback {fallback.describe()}", markup=False)
    if route.canary:
        console.print(
            f"  canary {route.canary.target.describe()} at {route.canary.percent}%", markup=False
        )
    r = route.resilience
    console.print(
        f"  deadline {r.deadline_ms} ms (streams {r.stream_deadline_ms} ms), "
        f"attempt {r.attempt_timeout_ms} ms, "
        f"{r.max_attempts} attempts, degradation {route.degradation.mode}, log {route.log_mode}"
    )


@app.command("create")
def create(
    ctx: typer.Context,
    name: Name,
    model: Annotated[str, typer.Option(help="The model whose production version is served.")],
    upstream: Annotated[str | None, typer.Option(help="Serve through this model server.")] = None,
    protocol: Annotated[str, typer.Option(help="json, kserve, mlflow or openai.")] = "json",
    fallback: Annotated[
        list[str] | None, typer.Option("--fallback", help="MODEL@N fallback; repeatable.")
    ] = None,
    spec: Annotated[
        Path | None, typer.Option(help="JSON file with the rest of the route spec.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create a route; every target must be an approved version."""
    cli = state(ctx)
    body: dict[str, Any] = json.loads(spec.read_text()) if spec else {}
    body.update({"name": name, "model": model})
    if upstream:
        body["primary"] = _target(model, upstream, protocol)
    if fallback:
        body["fallbacks"] = [_target(ref) for ref in fallback]
    route_in = validated(RouteCreate, body)
    actor = cli.principal()
    with cli.session() as session:
        route = service.create_route(session, route_in=route_in, actor=actor)
    if as_json:
        print_json(route)
        return
    _show(route)


@app.command("list")
def list_routes(ctx: typer.Context, as_json: AsJson = False) -> None:
    """List routes."""
    with state(ctx).session() as session:
        routes = service.get_all(session)
    if as_json:
        print_json(routes)
        return
    rows = [
        (
            r.name,
            r.model,
            len(r.fallbacks),
            f"{r.canary.percent}%" if r.canary else "-",
            r.degradation.mode,
            r.log_mode,
        )
        for r in routes
    ]
    print_table("routes", ["name", "model", "fallbacks", "canary", "degradation", "log"], rows)


@app.command("show")
def show(ctx: typer.Context, name: Name, as_json: AsJson = False) -> None:
    """Show one route."""
    with state(ctx).session() as session:
        route = service.get_route(session, name=name)
    if as_json:
        print_json(route)
        return
    _show(route)


@app.command("set-fallbacks")
def set_fallbacks(
    ctx: typer.Context,
    name: Name,
    fallback: Annotated[
        list[str] | None, typer.Argument(help="MODEL@N in order; none clears them.")
    ] = None,
) -> None:
    """Replace the ordered fallback list (with none, clear it)."""
    cli = state(ctx)
    update = validated(RouteUpdate, {"fallbacks": [_target(ref) for ref in fallback or []]})
    actor = cli.principal()
    with cli.session() as session:
        route = service.update_route(session, name=name, route_in=update, actor=actor)
    _show(route)


@app.command("set-canary")
def set_canary(
    ctx: typer.Context,
    name: Name,
    target: Annotated[str | None, typer.Argument(help="MODEL@N, or nothing to remove it.")] = None,
    percent: Annotated[
        float | None, typer.Option(help="Share of callers sent to the canary (default 10).")
    ] = None,
    sticky_by: Annotated[str | None, typer.Option(help="key (default) or subject.")] = None,
) -> None:
    """Send a sticky share of callers to another approved version (no TARGET: remove it)."""
    cli = state(ctx)
    if target is None:
        if percent is not None or sticky_by is not None:
            raise typer.BadParameter(
                "name the canary's MODEL@N; without one the canary is removed",
                param_hint="TARGET",
            )
        update = RouteUpdate(clear_canary=True)
    else:
        canary = {"target": _target(target), "percent": 10.0 if percent is None else percent}
        update = validated(RouteUpdate, {"canary": canary | {"sticky_by": sticky_by or "key"}})
    actor = cli.principal()
    with cli.session() as session:
        route = service.update_route(session, name=name, route_in=update, actor=actor)
    _show(route)


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: Name,
    confirm: Annotated[
        str | None, typer.Option(help="Retype the route's name to confirm (or --yes).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go; change nothing.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Delete a route (its model and versions stay)."""
    cli = state(ctx)
    if dry_run:
        with cli.session() as session:
            route = service.get_route(session, name=name)
        if as_json:
            print_json({"dry_run": True, "would_delete": route.model_dump(mode="json")})
        else:
            console.print(f"would delete route {route.name} (model {route.model})")
        return
    if not yes and confirm != name:
        raise Conflict(f"refusing to delete route '{name}': pass --confirm {name} or --yes")
    actor = cli.principal()
    with cli.session() as session:
        route = service.delete_route(session, name=name, actor=actor)
    if as_json:
        print_json({"deleted": route.model_dump(mode="json")})
    else:
        console.print(f"deleted route {route.name}")


@app.command("traffic")
def traffic(
    ctx: typer.Context,
    name: Name,
    since: Annotated[
        str, typer.Option(help="ISO-8601, or a duration before --until: 30m, 1h, 7d.")
    ] = "1h",
    until: Annotated[
        str | None, typer.Option(help="ISO-8601, or a duration before now (default now).")
    ] = None,
    buckets: Annotated[int, typer.Option(help="Equal time buckets, 1 to 500.")] = 60,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as an HTML page.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Latency percentiles, outcomes and targets of a route, from its request logs."""
    start, end = parse_window(since, until, now=utcnow())
    with state(ctx).session() as session:
        report = build_traffic_report(session, route=name, since=start, until=end, buckets=buckets)
    if html is not None:
        report.write_html(html)
    if as_json:
        print_json(report)
        if html is not None:  # stdout stays pure JSON
            err_console.print(f"wrote {html}", markup=False, highlight=False)
        return
    _show_traffic(report)
    if html is not None:
        console.print(f"wrote {html}", markup=False, highlight=False)


def _show_traffic(report: TrafficReport) -> None:
    window = f"{report.since.isoformat()} to {report.until.isoformat()}"
    kept = f"log {report.log_mode}" if report.log_mode else "route deleted"
    console.print(
        f"[bold]{escape(report.route)}[/bold] {window} ({kept}, kept {report.retention_days} days)",
        highlight=False,
    )
    if report.log_mode == "off":
        console.print("  [yellow]log mode 'off': this route's requests are not logged[/yellow]")
    latency = report.latency_ms
    console.print(
        f"  {report.requests} requests, errors {format_share(report.error_share)} "
        f"({report.errors}), degraded {format_share(report.degraded_share)} "
        f"({report.degraded}), caller closed {report.client_closed}",
        highlight=False,
    )
    console.print(
        f"  latency ms: p50 {format_ms(latency.p50)}, p90 {format_ms(latency.p90)}, "
        f"p99 {format_ms(latency.p99)}, max {format_ms(latency.max)}, "
        f"mean {format_ms(latency.mean)}",
        highlight=False,
    )
    outcomes = list(report.outcomes.items())
    print_table("outcomes", ["outcome", "requests"], outcomes)
    print_table(
        "targets",
        ["target", "requests", "share", "p50 ms", "p99 ms"],
        [
            (
                t.target,
                t.requests,
                format_share(t.share),
                format_ms(t.p50),
                format_ms(t.p99),
            )
            for t in report.targets
        ],
    )
