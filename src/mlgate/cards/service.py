"""Store model cards per version with their history; lint, render, diff, import and export.

Setting a card adds a revision; nothing is overwritten, so "what did the card say when it was
approved?" has an answer. The pure card library (``mlgate.cards``) does the parsing, scoring,
rendering and diffing; this module only stores and finds.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mlgate.audit import service as audit
from mlgate.auth.schemas import Principal
from mlgate.cards import (
    CardDiff,
    CardLint,
    ImportedCard,
    ModelCard,
    diff_cards,
    from_huggingface,
    lint,
    mct_omissions,
    read_mct,
    render_html,
    render_json,
    render_markdown,
    to_huggingface,
    to_mct,
    validate_card,
)
from mlgate.cards.models import CardRevision
from mlgate.cards.revisions import (
    CardExport,
    CardFormat,
    CardRevisionImported,
    CardRevisionRead,
    RenderFormat,
)
from mlgate.clock import utcnow
from mlgate.errors import Conflict, Invalid, NotFound
from mlgate.ids import new_id
from mlgate.registry import service as registry

__all__ = [
    "current_card",
    "diff_revisions",
    "diff_versions",
    "export",
    "get_card",
    "import_card",
    "lint_card",
    "list_revisions",
    "parse_card",
    "render_card",
    "set_card",
]


def _read(model_name: str, version: int, row: CardRevision) -> CardRevisionRead:
    return CardRevisionRead(
        model=model_name,
        version=version,
        revision=row.revision,
        completeness=row.completeness,
        source=row.source,
        comment=row.comment,
        created_by=row.created_by,
        created_at=row.created_at,
        card=ModelCard.model_validate(row.content),
    )


def _revision_row(session: Session, version_id: str, revision: int | None) -> CardRevision | None:
    query = select(CardRevision).where(CardRevision.version_id == version_id)
    if revision is None:
        query = query.order_by(CardRevision.revision.desc()).limit(1)
    else:
        query = query.where(CardRevision.revision == revision)
    return session.scalars(query).one_or_none()


def _row(session: Session, model_name: str, version: int, revision: int | None) -> CardRevision:
    version_row = registry.get_version_row(session, model_name=model_name, version=version)
    row = _revision_row(session, version_row.id, revision)
    if row is not None:
        return row
    newest = None if revision is None else _revision_row(session, version_row.id, None)
    if newest is None:
        raise NotFound(
            f"{model_name}@{version} has no model card; add one with "
            f"`mlgate cards set {model_name}@{version} --file card.json`"
        )
    raise NotFound(
        f"the card of {model_name}@{version} has no revision {revision};"
        f" it has revisions 1 to {newest.revision}"
    )


def _label(model_name: str, version: int, row: CardRevision) -> str:
    return f"{model_name}@{version} card revision {row.revision}"


def current_card(session: Session, *, version_id: str) -> ModelCard | None:
    """The newest card of a version (for gate checks), or None."""
    row = _revision_row(session, version_id, None)
    return None if row is None else ModelCard.model_validate(row.content)


def set_card(
    session: Session,
    *,
    model_name: str,
    version: int,
    card: ModelCard,
    actor: Principal,
    comment: str = "",
    source: str = "json",
    now: datetime | None = None,
) -> CardRevisionRead:
    """Add the next revision of the card of ``model_name@version``."""
    now = now or utcnow()
    version_row = registry.get_version_row(session, model_name=model_name, version=version)
    content = json.loads(card.model_dump_json())
    current = _revision_row(session, version_row.id, None)
    if current is not None and current.content == content:
        raise Conflict(
            f"the card of {model_name}@{version} is unchanged (revision {current.revision})"
        )
    last = session.scalar(
        select(func.max(CardRevision.revision)).where(CardRevision.version_id == version_row.id)
    )
    report = lint(card)
    row = CardRevision(
        id=new_id(),
        version_id=version_row.id,
        revision=(last or 0) + 1,
        content=content,
        completeness=report.completeness,
        source=source,
        comment=comment,
        created_by=actor.name,
        created_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as error:
        raise Conflict(
            f"the card of {model_name}@{version} was changed concurrently; try again"
        ) from error
    audit.record(
        session,
        actor=actor,
        action="card.revised",
        object_type="model_card",
        object_id=f"{model_name}@{version}",
        change={
            "revision": row.revision,
            "completeness": row.completeness,
            "source": source,
            "comment": comment,
        },
        now=now,
    )
    return _read(model_name, version, row)


def get_card(
    session: Session, *, model_name: str, version: int, revision: int | None = None
) -> CardRevisionRead:
    return _read(model_name, version, _row(session, model_name, version, revision))


def list_revisions(session: Session, *, model_name: str, version: int) -> list[CardRevisionRead]:
    version_row = registry.get_version_row(session, model_name=model_name, version=version)
    rows = session.scalars(
        select(CardRevision)
        .where(CardRevision.version_id == version_row.id)
        .order_by(CardRevision.revision)
    )
    return [_read(model_name, version, row) for row in rows]


def lint_card(
    session: Session, *, model_name: str, version: int, revision: int | None = None
) -> CardLint:
    return lint(get_card(session, model_name=model_name, version=version, revision=revision).card)


def render_card(
    session: Session,
    *,
    model_name: str,
    version: int,
    format: RenderFormat,
    revision: int | None = None,
) -> str:
    card = get_card(session, model_name=model_name, version=version, revision=revision).card
    renderers = {
        RenderFormat.HTML: render_html,
        RenderFormat.MARKDOWN: render_markdown,
        RenderFormat.JSON: render_json,
    }
    return renderers[format](card)


def diff_revisions(
    session: Session,
    *,
    model_name: str,
    version: int,
    from_revision: int | None = None,
    to_revision: int | None = None,
) -> CardDiff:
    """From ``from_revision`` (default: the one before ``to``) to ``to_revision`` (newest)."""
    new = _row(session, model_name, version, to_revision)
    old_number = from_revision if from_revision is not None else new.revision - 1
    if old_number < 1:
        if to_revision is None:
            raise Conflict(
                f"the card of {model_name}@{version} has a single revision; nothing to diff"
            )
        raise Conflict(
            f"revision 1 is the first of the card of {model_name}@{version}; nothing before it"
            " to diff against: give the revision to compare it with"
        )
    old = _row(session, model_name, version, old_number)
    return diff_cards(
        ModelCard.model_validate(old.content),
        ModelCard.model_validate(new.content),
        from_card=_label(model_name, version, old),
        to_card=_label(model_name, version, new),
    )


def diff_versions(
    session: Session, *, model_name: str, from_version: int, to_version: int
) -> CardDiff:
    """The current card of one version against the current card of another."""
    old = _row(session, model_name, from_version, None)
    new = _row(session, model_name, to_version, None)
    return diff_cards(
        ModelCard.model_validate(old.content),
        ModelCard.model_validate(new.content),
        from_card=_label(model_name, from_version, old),
        to_card=_label(model_name, to_version, new),
    )


def parse_card(text: str, *, format: CardFormat) -> ModelCard:
    """A card from interchange text; ``Invalid`` names what is wrong."""
    return _parse(text, format=format).card


def _parse(text: str, *, format: CardFormat) -> ImportedCard:
    if format == CardFormat.HUGGINGFACE:
        return ImportedCard(card=from_huggingface(text))
    try:  # orjson: deep nesting is a decode error here, where json.loads hit RecursionError
        data: Any = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise Invalid.field("content", f"is not valid JSON: {error.msg}") from error
    if not isinstance(data, dict):
        raise Invalid.field("content", "must be a JSON object")
    return read_mct(data) if format == CardFormat.MCT else ImportedCard(card=validate_card(data))


def import_card(
    session: Session,
    *,
    model_name: str,
    version: int,
    text: str,
    format: CardFormat,
    actor: Principal,
    comment: str = "",
) -> CardRevisionImported:
    """Add a revision from interchange text, naming what of the text the card does not hold."""
    imported = _parse(text, format=format)
    read = set_card(
        session,
        model_name=model_name,
        version=version,
        card=imported.card,
        actor=actor,
        comment=comment or f"imported from {format.value}",
        source=format.value,
    )
    return CardRevisionImported(
        **dict(read), not_imported=imported.not_imported, notes=imported.notes
    )


def export(
    session: Session,
    *,
    model_name: str,
    version: int,
    format: CardFormat,
    revision: int | None = None,
) -> CardExport:
    """The card in an interchange format, with the fields that format cannot hold."""
    card = get_card(session, model_name=model_name, version=version, revision=revision).card
    if format == CardFormat.HUGGINGFACE:
        return CardExport(text=to_huggingface(card))
    if format == CardFormat.MCT:
        text = json.dumps(to_mct(card), indent=2) + "\n"
        return CardExport(text=text, omitted=mct_omissions(card))
    return CardExport(text=render_json(card))
