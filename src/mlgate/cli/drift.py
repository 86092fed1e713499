"""``mlgate drift reference|show|report``: drift baselines per version and drift per route."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from mlgate.cli.args import parse_ref
from mlgate.cli.context import console, err_console, state
from mlgate.cli.output import print_json, print_table
from mlgate.clock import utcnow
from mlgate.errors import Forbidden, Invalid
from mlgate.monitoring import drift_page, service
from mlgate.monitoring.schemas import DriftReferenceCreate, DriftReferenceRead, DriftReport
from mlgate.monitoring.traffic import parse_window

app = typer.Typer(help="Data drift: reference profiles and drift reports.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


# What pandas reads as missing by default (its na_values), so a CSV pandas wrote reads the same.
MISSING = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)  # fmt: skip


_SEPARATORS = (",", ";", "\t", "|")


def read_csv(path: Path) -> tuple[list[str], list[list[Any]]]:
    """A CSV with a header row: numbers where a column holds only numbers; MISSING as missing.

    Values are separated by commas, or by the semicolons, tabs or pipes the file shows it uses
    (Excel writes semicolons where the decimal mark is a comma).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise Invalid.field("file", f"cannot read {path}: {reason}") from error
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    columns = next(reader, [])
    if not any(columns):
        raise Invalid.field("file", f"{path} has no header row naming the features")
    unnamed = [str(index) for index, name in enumerate(columns, start=1) if not name.strip()]
    if unnamed:
        which = (
            f"columns {', '.join(unnamed[:5])} have" if unnamed[1:] else f"column {unnamed[0]} has"
        )
        raise Invalid.field("file", f"{path}: the header's {which} no name")
    rows = []
    for row in reader:
        if not row:
            continue
        if len(row) != len(columns):  # the line the row ends on, as editors count them
            raise Invalid.field(
                "file", f"{path} line {reader.line_num}: {len(row)} values, not {len(columns)}"
            )
        rows.append(row)
    values: list[list[Any]] = [[None if v in MISSING else v for v in row] for row in rows]
    for index in range(len(columns)):
        parsed = [_float(row[index]) for row in values]
        if all(p is not None or row[index] is None for p, row in zip(parsed, values, strict=True)):
            for target, p in zip(values, parsed, strict=True):
                target[index] = p
    return columns, values


def _delimiter(text: str) -> str:
    """The separator the header row uses most outside quotes; a comma on a tie or none.

    The header alone decides, read once per candidate by the csv module (linear time):
    csv.Sniffer also read the rows, and took seconds on a quote-all file of empty fields.
    """
    head = text[:65_536]
    fields = {
        separator: len(next(csv.reader(io.StringIO(head, newline=""), delimiter=separator), []))
        for separator in _SEPARATORS
    }
    return max(_SEPARATORS, key=fields.__getitem__)  # max keeps the first of equals: comma


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


@app.command("reference")
def reference(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="MODEL@N")],
    file: Annotated[Path, typer.Argument(help="Reference rows: CSV with a header row.")],
    bins: Annotated[int, typer.Option(help="Bins per numeric feature, 2 to 50.")] = 10,
    as_json: AsJson = False,
) -> None:
    """Profile reference rows (e.g. the validation set) as MODEL@N's drift baseline.

    The gateway then counts the inputs it serves with MODEL@N in the same bins.
    """
    cli = state(ctx)
    name, number = parse_ref(ref)
    actor = cli.principal()
    if not actor.has("registry:write"):
        raise Forbidden("setting a drift reference needs the 'registry:write' scope")
    with err_console.status(f"reading and profiling {file}…"):  # seconds for 100,000s of rows
        columns, rows = read_csv(file)
        if not rows:
            raise Invalid.field("file", f"{file} has no rows")
        reference_in = DriftReferenceCreate(columns=columns, rows=rows, bins=bins)
        with cli.session() as session:
            read = service.set_reference(
                session, model_name=name, version=number, reference_in=reference_in, actor=actor
            )
    if as_json:
        print_json(read)
        return
    _show_reference(read)


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="MODEL@N")],
    as_json: AsJson = False,
) -> None:
    """MODEL@N's drift reference: its features and their bins."""
    name, number = parse_ref(ref)
    with state(ctx).session() as session:
        read = service.get_reference(session, model_name=name, version=number)
    if as_json:
        print_json(read)
        return
    _show_reference(read)


def _show_reference(read: DriftReferenceRead) -> None:
    console.print(
        f"{read.model}@{read.version}: drift reference of {read.rows} rows, "
        f"set by {read.created_by} at {read.created_at.isoformat()}",
        markup=False,
        highlight=False,
    )
    print_table(
        "features",
        ["feature", "kind", "bins", "summary"],
        [
            (
                f.name,
                f.kind,
                len(f.reference) - 1,
                f"mean {f.mean:.4g}, std {f.std:.4g}, {f.min:.4g} to {f.max:.4g}"
                if f.kind == "numeric"
                and f.mean is not None
                and f.std is not None
                and f.min is not None
                and f.max is not None
                else ", ".join(f.categories[:5]) + (" …" if len(f.categories) > 5 else ""),
            )
            for f in read.features
        ],
    )


@app.command("report")
def report(
    ctx: typer.Context,
    route: Annotated[str, typer.Argument(help="The route whose served inputs to compare.")],
    since: Annotated[
        str, typer.Option(help="ISO-8601, or a duration before --until: 30m, 1h, 7d.")
    ] = "24h",
    until: Annotated[
        str | None, typer.Option(help="ISO-8601, or a duration before now (default now).")
    ] = None,
    threshold: Annotated[
        float, typer.Option(help="A feature drifts when its PSI reaches this.")
    ] = service.DEFAULT_THRESHOLD,
    drift_share: Annotated[
        float, typer.Option(help="A version drifts when this share of its features do.")
    ] = service.DEFAULT_DRIFT_SHARE,
    min_rows: Annotated[
        int, typer.Option(help="Fewer served rows than this are not judged.")
    ] = service.DEFAULT_MIN_ROWS,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as an HTML page.")
    ] = None,
    open_incident: Annotated[
        bool,
        typer.Option("--open-incident", help="Open (or join) an incident per drifting version."),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Compare what ROUTE served with each version's reference: PSI, JS distance, p-value."""
    cli = state(ctx)
    actor = cli.principal()
    if open_incident and not actor.has("incidents:write"):
        raise Forbidden("--open-incident needs the 'incidents:write' scope")
    start, end = parse_window(since, until, now=utcnow())
    with cli.session() as session:
        drift = service.build_drift_report(
            session,
            route=route,
            since=start,
            until=end,
            threshold=threshold,
            drift_share=drift_share,
            min_rows=min_rows,
        )
        opened = (
            service.open_drift_incidents(
                session,
                report=drift,
                actor=actor,
                threshold_minutes=cli.settings.incident_postmortem_minutes,
            )
            if open_incident
            else []
        )
    if html is not None:
        html.write_text(drift_page.render(drift), encoding="utf-8")
    if as_json:
        print_json(drift)
        if html is not None:  # stdout stays pure JSON
            err_console.print(f"wrote {html}", markup=False, highlight=False)
        return
    _show_report(drift)
    for incident in opened:
        console.print(f"incident {incident.id}: {incident.title}", markup=False, highlight=False)
    if html is not None:
        console.print(f"wrote {html}", markup=False, highlight=False)


def _show_report(drift: DriftReport) -> None:
    judged = [t for t in drift.targets if t.status in ("drift", "no_drift")]
    if drift.drifted:
        verdict = "[red]drift[/red]"
    elif judged:
        verdict = "no drift"
    elif drift.targets and all(t.status == "no_reference" for t in drift.targets):
        verdict = "not judged (the counts were made against a reference since replaced or deleted)"
    else:
        verdict = f"not judged (fewer than {drift.min_rows} rows counted)"
    window = f"{drift.since.isoformat()} to {drift.until.isoformat()}"
    console.print(f"route {escape(drift.route)} {window}: {verdict}", highlight=False)
    if not drift.targets:
        console.print(
            "  nothing counted: no version with a drift reference has served this route in the"
            " window yet (the gateway writes its counts every MLGATE_DRIFT_FLUSH_SECONDS)",
            markup=False,
        )
    for target in drift.targets:
        unjudged = target.status == "not_enough_data"
        past = "past the threshold, not judged" if unjudged else "drifted"
        console.print(
            f"  {target.model}@{target.version}: {target.status}, {target.rows} rows in "
            f"{target.requests} requests ({target.unreadable} unreadable), "
            f"{target.drifted_features} of {len(target.features)} features {past}",
            markup=False,
            highlight=False,
        )
        if target.features:
            print_table(
                f"{target.model}@{target.version}",
                ["feature", "kind", "rows", "PSI", "JS distance", "p-value", "drifted"],
                [
                    (
                        f.name,
                        f.kind,
                        f.rows,
                        "-" if f.psi is None else f"{f.psi:.4f}",
                        "-" if f.js_distance is None else f"{f.js_distance:.4f}",
                        "-" if f.p_value is None else f"{f.p_value:.3g}",
                        "not judged" if unjudged else ("yes" if f.drifted else "no"),
                    )
                    for f in target.features
                ],
            )
