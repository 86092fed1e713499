"""``mlgate cards …``: set, show, render, lint, diff, import and export model cards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from mlgate.cards import CardDiff, validate_card
from mlgate.cards import service as cards
from mlgate.cards.revisions import CardFormat, RenderFormat
from mlgate.cli.args import parse_ref
from mlgate.cli.context import console, err_console, state
from mlgate.cli.output import print_json, print_table
from mlgate.errors import Forbidden, Invalid
from mlgate.ids import MAX_NUMBER

app = typer.Typer(help="Model cards of versions, with their history.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Ref = Annotated[str, typer.Argument(help="MODEL@N")]
Revision = Annotated[
    int | None,
    typer.Option(min=1, max=MAX_NUMBER, help="A given revision (default: newest)."),
]
Out = Annotated[Path | None, typer.Option("--out", "-o", help="Write to FILE, not stdout.")]
Comment = Annotated[str, typer.Option("--comment", "-m", help="What changed.")]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as error:
        raise Invalid.field("file", f"cannot read {path}: {error.strerror}") from error


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    out.write_text(text)
    console.print(f"wrote {out}", markup=False, highlight=False)


@app.command("set")
def set_card(
    ctx: typer.Context,
    ref: Ref,
    file: Annotated[Path, typer.Option("--file", "-f", help="The card as YAML or JSON.")],
    comment: Comment = "",
    as_json: AsJson = False,
) -> None:
    """Add a new revision of the card of MODEL@N from a YAML/JSON file."""
    cli = state(ctx)
    name, number = parse_ref(ref)
    try:
        data = yaml.safe_load(_read(file))
    except yaml.YAMLError as error:
        raise Invalid.field("file", f"{file} is not YAML or JSON: {error}") from error
    if not isinstance(data, dict):
        raise Invalid.field("file", f"{file} must hold a mapping (the card)")
    card = validate_card(data, source=str(file))
    actor = cli.principal()
    if not actor.has("registry:write"):
        raise Forbidden("changing a card needs the 'registry:write' scope")
    with cli.session() as session:
        read = cards.set_card(
            session, model_name=name, version=number, card=card, actor=actor, comment=comment
        )
    if as_json:
        print_json(read)
        return
    console.print(
        f"{ref} card revision {read.revision}, completeness {read.completeness:.0%}",
        markup=False,
        highlight=False,
    )


@app.command("show")
def show(ctx: typer.Context, ref: Ref, revision: Revision = None, as_json: AsJson = False) -> None:
    """The card of MODEL@N and its revisions."""
    name, number = parse_ref(ref)
    with state(ctx).session() as session:
        read = cards.get_card(session, model_name=name, version=number, revision=revision)
        history = cards.list_revisions(session, model_name=name, version=number)
    if as_json:
        print_json(read)
        return
    typer.echo(read.card.model_dump_json(indent=2, exclude_defaults=True))
    print_table(
        f"{ref} card revisions",
        ["revision", "completeness", "source", "by", "at", "comment"],
        [
            (h.revision, f"{h.completeness:.0%}", h.source, h.created_by, h.created_at, h.comment)
            for h in history
        ],
    )


@app.command("render")
def render(
    ctx: typer.Context,
    ref: Ref,
    format: Annotated[RenderFormat, typer.Option("--format", help="html, markdown or json.")] = (
        RenderFormat.MARKDOWN
    ),
    revision: Revision = None,
    out: Out = None,
) -> None:
    """Render the card of MODEL@N as HTML, Markdown or JSON."""
    name, number = parse_ref(ref)
    with state(ctx).session() as session:
        text = cards.render_card(
            session, model_name=name, version=number, format=format, revision=revision
        )
    _emit(text, out)


@app.command("lint")
def lint(ctx: typer.Context, ref: Ref, revision: Revision = None, as_json: AsJson = False) -> None:
    """Completeness per section and what a reviewer would send back."""
    name, number = parse_ref(ref)
    with state(ctx).session() as session:
        report = cards.lint_card(session, model_name=name, version=number, revision=revision)
    if as_json:
        print_json(report)
        return
    console.print(f"{ref} completeness {report.completeness:.0%}", markup=False, highlight=False)
    print_table(
        "sections",
        ["section", "score", "missing"],
        [(s.section, f"{s.score:.0%}", ", ".join(s.missing)) for s in report.sections],
    )
    if report.findings:
        print_table(
            "findings",
            ["severity", "field", "message"],
            [(f.severity.value, f.field, f.message) for f in report.findings],
        )


@app.command("diff")
def diff(
    ctx: typer.Context,
    ref: Ref,
    other: Annotated[str | None, typer.Argument(help="MODEL@M: compare two versions.")] = None,
    from_revision: Annotated[
        int | None,
        typer.Option(
            "--from", min=1, max=MAX_NUMBER, help="Old revision (default: the one before --to)."
        ),
    ] = None,
    to_revision: Annotated[
        int | None,
        typer.Option("--to", min=1, max=MAX_NUMBER, help="New revision (default: newest)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Diff two revisions of MODEL@N's card, or the cards of MODEL@N and MODEL@M."""
    name, number = parse_ref(ref)
    with state(ctx).session() as session:
        if other is not None:
            other_name, other_number = parse_ref(other)
            if other_name != name:
                raise Invalid.field("other", "compare two versions of the same model")
            result: CardDiff = cards.diff_versions(
                session, model_name=name, from_version=number, to_version=other_number
            )
        else:
            result = cards.diff_revisions(
                session,
                model_name=name,
                version=number,
                from_revision=from_revision,
                to_revision=to_revision,
            )
    if as_json:
        print_json(result)
        return
    print_table(
        result.summary,
        ["change", "field", "old", "new"],
        [(c.kind, c.path, c.old, c.new) for c in result.changes],
    )


_FORMAT_NAMES = {CardFormat.MCT: "Model Card Toolkit JSON", CardFormat.HUGGINGFACE: "a HF README"}


@app.command("import")
def import_card(
    ctx: typer.Context,
    ref: Ref,
    file: Annotated[Path, typer.Argument(help="A HF README.md, an MCT JSON or a card JSON.")],
    format: Annotated[
        CardFormat | None,
        typer.Option(
            "--format",
            help="huggingface, mct or json (default: read from the file: Markdown is"
            " huggingface, JSON with MCT's sections is mct, other JSON is json).",
        ),
    ] = None,
    comment: Comment = "",
) -> None:
    """Import a card into MODEL@N as a new revision."""
    cli = state(ctx)
    name, number = parse_ref(ref)
    text = _read(file)
    format = format or _format_of(text)
    actor = cli.principal()
    if not actor.has("registry:write"):
        raise Forbidden("changing a card needs the 'registry:write' scope")
    with cli.session() as session:
        read = cards.import_card(
            session,
            model_name=name,
            version=number,
            text=text,
            format=format,
            actor=actor,
            comment=comment,
        )
    console.print(
        f"{ref} card revision {read.revision} from {format.value}, "
        f"completeness {read.completeness:.0%}",
        markup=False,
        highlight=False,
    )
    if read.not_imported:
        where = _FORMAT_NAMES.get(format, format.value)
        fields = ", ".join(
            f"{path} ({read.notes[path]})" if path in read.notes else path
            for path in read.not_imported
        )
        note = f"note: not imported from {where}, the card has no place for them: {fields}"
        err_console.print(note, markup=False, highlight=False, soft_wrap=True)


# Top-level keys only a Model Card Toolkit document has (ours has intended_use, metrics, ...).
_MCT_KEYS = frozenset(
    {"schema_version", "model_parameters", "quantitative_analysis", "considerations"}
)


def _format_of(text: str) -> CardFormat:
    """What a card file holds, when --format does not say: JSON is ours or MCT's, else HF."""
    if not text.lstrip().startswith("{"):
        return CardFormat.HUGGINGFACE
    try:
        document = json.loads(text)
    except ValueError:
        return CardFormat.JSON  # the JSON import names the error
    if isinstance(document, dict) and _MCT_KEYS & document.keys():
        return CardFormat.MCT
    return CardFormat.JSON


@app.command("export")
def export_card(
    ctx: typer.Context,
    ref: Ref,
    format: Annotated[CardFormat, typer.Option("--format", help="huggingface, mct or json.")] = (
        CardFormat.JSON
    ),
    revision: Revision = None,
    out: Out = None,
) -> None:
    """Export the card of MODEL@N as a HF README, MCT JSON or card JSON."""
    name, number = parse_ref(ref)
    with state(ctx).session() as session:
        exported = cards.export(
            session, model_name=name, version=number, format=format, revision=revision
        )
    _emit(exported.text, out)
    if exported.omitted:
        where = _FORMAT_NAMES.get(format, format.value)
        fields = ", ".join(exported.omitted)
        note = f"note: {where} has no place for: {fields}; they are left out"
        err_console.print(note, markup=False, highlight=False, soft_wrap=True)
