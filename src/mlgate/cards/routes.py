"""Model cards over HTTP: set, show, history, lint, render, diff, import and export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response

from mlgate.auth.deps import SessionDep, VersionNumber, require_scope
from mlgate.auth.schemas import Principal
from mlgate.cards import CardDiff, CardLint, service
from mlgate.cards.revisions import (
    CardFormat,
    CardImport,
    CardRevisionImported,
    CardRevisionRead,
    CardSet,
    RenderFormat,
)
from mlgate.ids import MAX_NUMBER

# ``{version:int}``: a path like ``/churn/diff`` must not match ``/{model}/{version}``, so that a
# PUT there is a 405 naming GET, not a 422 about a version called "diff".
router = APIRouter(prefix="/api/v1/cards", tags=["cards"])
Reader = Annotated[Principal, Depends(require_scope("registry:read"))]
Writer = Annotated[Principal, Depends(require_scope("registry:write"))]
Revision = Annotated[
    int | None, Query(ge=1, le=MAX_NUMBER, description="Default: the newest revision.")
]

OMITTED_HEADER = "X-Card-Omitted"
NOT_IMPORTED_HEADER = "X-Card-Not-Imported"
MEDIA_TYPES = {
    RenderFormat.HTML: "text/html; charset=utf-8",
    RenderFormat.MARKDOWN: "text/markdown; charset=utf-8",
    RenderFormat.JSON: "application/json",
}


@router.get("/{model}/diff", response_model=CardDiff)
def diff_versions(
    model: str,
    session: SessionDep,
    actor: Reader,
    from_version: Annotated[int, Query(ge=1, le=MAX_NUMBER)],
    to_version: Annotated[int, Query(ge=1, le=MAX_NUMBER)],
) -> CardDiff:
    """The current card of one version against another's."""
    return service.diff_versions(
        session, model_name=model, from_version=from_version, to_version=to_version
    )


@router.put("/{model}/{version:int}", response_model=CardRevisionRead)
def set_card(
    model: str, version: VersionNumber, body: CardSet, session: SessionDep, actor: Writer
) -> CardRevisionRead:
    """Add the next revision of the card (earlier revisions are kept)."""
    return service.set_card(
        session,
        model_name=model,
        version=version,
        card=body.card,
        actor=actor,
        comment=body.comment,
    )


@router.get("/{model}/{version:int}", response_model=CardRevisionRead)
def show_card(
    model: str,
    version: VersionNumber,
    session: SessionDep,
    actor: Reader,
    revision: Revision = None,
) -> CardRevisionRead:
    return service.get_card(session, model_name=model, version=version, revision=revision)


@router.get("/{model}/{version:int}/revisions", response_model=list[CardRevisionRead])
def card_revisions(
    model: str, version: VersionNumber, session: SessionDep, actor: Reader
) -> list[CardRevisionRead]:
    return service.list_revisions(session, model_name=model, version=version)


@router.get("/{model}/{version:int}/lint", response_model=CardLint)
def lint_card(
    model: str,
    version: VersionNumber,
    session: SessionDep,
    actor: Reader,
    revision: Revision = None,
) -> CardLint:
    return service.lint_card(session, model_name=model, version=version, revision=revision)


@router.get(
    "/{model}/{version:int}/render",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "text/markdown": {}, "application/json": {}}}},
)
def render_card(
    model: str,
    version: VersionNumber,
    session: SessionDep,
    actor: Reader,
    format: RenderFormat = RenderFormat.HTML,
    revision: Revision = None,
) -> Response:
    text = service.render_card(
        session, model_name=model, version=version, format=format, revision=revision
    )
    return Response(text, media_type=MEDIA_TYPES[format])


@router.get("/{model}/{version:int}/diff", response_model=CardDiff)
def diff_revisions(
    model: str,
    version: VersionNumber,
    session: SessionDep,
    actor: Reader,
    from_revision: Revision = None,
    to_revision: Revision = None,
) -> CardDiff:
    """Between two revisions (default: the newest against the one before)."""
    return service.diff_revisions(
        session,
        model_name=model,
        version=version,
        from_revision=from_revision,
        to_revision=to_revision,
    )


@router.post(
    "/{model}/{version:int}/import",
    response_model=CardRevisionImported,
    responses={
        200: {
            "headers": {
                NOT_IMPORTED_HEADER: {
                    "description": "The input's fields (dotted paths) the card does not hold,"
                    " comma-separated; at most 4,000 characters, a longer list ends 'and N more'.",
                    "schema": {"type": "string"},
                }
            }
        }
    },
)
def import_card(
    model: str,
    version: VersionNumber,
    body: CardImport,
    session: SessionDep,
    actor: Writer,
    response: Response,
) -> CardRevisionImported:
    """Add a revision from a HF README, MCT JSON or card JSON; ``not_imported`` (and the
    ``X-Card-Not-Imported`` header) lists what of an MCT card the card has no place for
    (graphics, documentation, …) or cannot read (a ``version.date`` that is no ISO date nor an
    unambiguous MM/DD/YYYY or DD/MM/YYYY), ``notes`` says why for the latter."""
    imported = service.import_card(
        session,
        model_name=model,
        version=version,
        text=body.content,
        format=body.format,
        actor=actor,
        comment=body.comment,
    )
    if imported.not_imported:
        response.headers[NOT_IMPORTED_HEADER] = _listed(imported.not_imported)
    return imported


def _listed(paths: list[str], limit: int = 4_000) -> str:
    """Comma-separated, at most ``limit`` characters, so a client reads the header whole."""
    listed = ", ".join(paths)
    if len(listed) <= limit:
        return listed
    shown: list[str] = []
    size = len("and 9999999 more")  # room for the tail; the content caps the count far lower
    for path in paths:
        size += len(path) + 2
        if size > limit:
            break
        shown.append(path)
    return ", ".join([*shown, f"and {len(paths) - len(shown)} more"])


@router.get(
    "/{model}/{version:int}/export",
    response_class=PlainTextResponse,
    responses={
        200: {
            "content": {"application/json": {}, "text/markdown": {}},
            "headers": {
                OMITTED_HEADER: {
                    "description": "The card's fields the format cannot hold, comma-separated.",
                    "schema": {"type": "string"},
                }
            },
        }
    },
)
def export_card(
    model: str,
    version: VersionNumber,
    session: SessionDep,
    actor: Reader,
    format: CardFormat = CardFormat.JSON,
    revision: Revision = None,
) -> PlainTextResponse:
    """The card as a HF README, MCT JSON or card JSON; ``X-Card-Omitted`` lists the card's
    fields the format cannot hold (MCT has no place for some), which the export leaves out."""
    exported = service.export(
        session, model_name=model, version=version, format=format, revision=revision
    )
    media = (
        "text/markdown; charset=utf-8" if format == CardFormat.HUGGINGFACE else "application/json"
    )
    headers = {OMITTED_HEADER: ", ".join(exported.omitted)} if exported.omitted else None
    return PlainTextResponse(exported.text, media_type=media, headers=headers)
