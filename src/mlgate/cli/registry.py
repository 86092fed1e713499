"""``mlgate models …`` and ``mlgate versions …``: the registry from the command line."""

from __future__ import annotations

import unicodedata
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from mlgate.cli.args import parse_ref, validated
from mlgate.cli.context import console, state
from mlgate.cli.output import print_json, print_table
from mlgate.errors import Invalid
from mlgate.ids import MAX_NUMBER
from mlgate.jsontext import load_json
from mlgate.registry import service
from mlgate.registry.schemas import ModelCreate, VersionCreate

models_app = typer.Typer(help="Create, list and show models.", no_args_is_help=True)
versions_app = typer.Typer(help="Register and show model versions.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PageLimit = Annotated[
    int, typer.Option(min=1, max=service.MAX_PAGE, help="Items per page (as the API allows).")
]
PageOffset = Annotated[int, typer.Option(min=0, max=MAX_NUMBER, help="Items to skip.")]
ModelName = Annotated[str, typer.Argument(help="Model name.")]


@models_app.command("create")
def create_model(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name: lowercase letters, digits and '-'.")],
    description: Annotated[str, typer.Option(help="What the model does.")] = "",
    owner: Annotated[str | None, typer.Option(help="Owning team or person.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Repeat for each tag.")] = None,
) -> None:
    """Create a model (versions are registered separately)."""
    cli = state(ctx)
    model_in = validated(
        ModelCreate, {"name": name, "description": description, "owner": owner, "tags": tag or []}
    )
    actor = cli.principal()
    with cli.session() as session:
        model = service.create_model(session, model_in=model_in, actor=actor)
    console.print(f"created model {model.name} (owner {model.owner})", markup=False)


@models_app.command("list")
def list_models(
    ctx: typer.Context,
    tag: Annotated[str | None, typer.Option(help="Only models with this tag.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only models of this owner.")] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Only names containing this.")
    ] = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
    as_json: AsJson = False,
) -> None:
    """List models, filtered by tag, owner or name."""
    with state(ctx).session() as session:
        page = service.list_models(
            session, tag=tag, owner=owner, query=query, limit=limit, offset=offset
        )
    if as_json:
        print_json(page)
        return
    rows = [
        (m.name, m.owner, " ".join(m.tags), m.latest_version, m.description) for m in page.items
    ]
    print_table(f"models ({page.total})", ["name", "owner", "tags", "latest", "description"], rows)


@models_app.command("show")
def show_model(ctx: typer.Context, name: ModelName, as_json: AsJson = False) -> None:
    """Show a model and its latest versions."""
    with state(ctx).session() as session:
        model = service.get_model(session, name=name)
        versions = service.list_versions(session, model_name=name, limit=20)
    if as_json:
        print_json(
            {
                "model": model.model_dump(mode="json"),
                "versions": [v.model_dump(mode="json") for v in versions.items],
            }
        )
        return
    owner, tags = escape(str(model.owner)), escape(" ".join(model.tags))
    console.print(f"[bold]{model.name}[/bold] owner={owner} tags={tags}")
    if model.description:
        console.print(model.description, markup=False)
    rows = [
        (v.version, v.status, v.framework, v.created_by, v.created_at, len(v.artifacts))
        for v in versions.items
    ]
    print_table("versions", ["version", "status", "framework", "by", "at", "artifacts"], rows)


def _read_json_file(path: Path | None, field: str) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise Invalid.field(field, f"cannot read JSON from {path}: {error}") from error
    value = load_json(text, field)
    if not isinstance(value, dict):
        raise Invalid.field(field, f"{path} must hold a JSON object")
    return value


def _composed(name: str) -> str:
    # macOS file systems hand out decomposed names ("cafe" + U+0301); the registry takes NFC.
    return unicodedata.normalize("NFC", name)


@versions_app.command("register")
def register(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Artifact files (their names are kept).")],
    model: Annotated[str, typer.Option("--model", "-m", help="The model to add a version to.")],
    framework: Annotated[str, typer.Option(help="e.g. onnx, sklearn, pytorch.")] = "",
    description: Annotated[
        str, typer.Option(help="Notes on this version, e.g. what changed.")
    ] = "",
    input_schema: Annotated[Path | None, typer.Option(help="JSON Schema file of inputs.")] = None,
    output_schema: Annotated[Path | None, typer.Option(help="JSON Schema file of outputs.")] = None,
    git_commit: Annotated[str | None, typer.Option(help="Commit the model was trained at.")] = None,
    data_version: Annotated[str | None, typer.Option(help="Training-data version.")] = None,
    trainer: Annotated[str | None, typer.Option(help="Who or what trained it.")] = None,
    sha256: Annotated[
        list[str] | None, typer.Option(help="NAME=DIGEST expected for an artifact; repeatable.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Register PATHS as the next version of MODEL, with a progress bar for large files."""
    cli = state(ctx)
    expected: dict[str, str] = {}
    for item in sha256 or []:
        name, sep, digest = item.partition("=")
        if not sep:
            raise Invalid.field("sha256", f"{item!r} is not NAME=DIGEST")
        expected[_composed(name)] = digest
    version_in = validated(
        VersionCreate,
        {
            "framework": framework,
            "description": description,
            "input_schema": _read_json_file(input_schema, "input_schema"),
            "output_schema": _read_json_file(output_schema, "output_schema"),
            "git_commit": git_commit,
            "training_data_version": data_version,
            "trainer": trainer,
            "artifact_sha256": expected,
        },
    )
    for path in paths:
        if not path.is_file():
            raise Invalid.field("paths", f"{path} is not a readable file")
    actor = cli.principal()
    total = sum(path.stat().st_size for path in paths)
    with ExitStack() as stack:
        uploads = [
            service.ArtifactUpload(
                name=_composed(path.name), stream=stack.enter_context(path.open("rb"))
            )
            for path in paths
        ]
        progress = stack.enter_context(
            Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=console,
                transient=True,
                disable=total < 8 * 1024 * 1024,
            )
        )
        task = progress.add_task(f"uploading to {escape(model)}", total=total)
        with cli.session() as session:
            version = service.register_version(
                session,
                blobs=cli.runtime.blobs,
                model_name=model,
                version_in=version_in,
                uploads=uploads,
                max_bytes=cli.runtime.settings.max_upload_bytes,
                actor=actor,
                progress=lambda n: progress.advance(task, n),
            )
    if as_json:
        print_json(version)
        return
    console.print(
        f"registered {version.model}@{version.version} ({len(version.artifacts)} artifacts)"
    )


@versions_app.command("show")
def show_version(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="MODEL@N, e.g. churn@3.")],
    as_json: AsJson = False,
) -> None:
    """Show MODEL@N with its artifacts and provenance."""
    name, number = parse_ref(ref)
    with state(ctx).session() as session:
        version = service.get_version(session, model_name=name, version=number)
    if as_json:
        print_json(version)
        return
    console.print(
        f"[bold]{version.model}@{version.version}[/bold] {version.status} "
        f"framework={escape(version.framework or '-')} by {escape(version.created_by)}"
    )
    print_table(
        "artifacts",
        ["name", "sha256", "size"],
        [(a.name, a.sha256, a.size) for a in version.artifacts],
    )


@versions_app.command("list")
def list_versions(
    ctx: typer.Context,
    model: ModelName,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
    as_json: AsJson = False,
) -> None:
    """List versions of MODEL, newest first."""
    with state(ctx).session() as session:
        page = service.list_versions(session, model_name=model, limit=limit, offset=offset)
    if as_json:
        print_json(page)
        return
    print_table(
        f"{model} versions ({page.total})",
        ["version", "status", "framework", "by", "at"],
        [(v.version, v.status, v.framework, v.created_by, v.created_at) for v in page.items],
    )
