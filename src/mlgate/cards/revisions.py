"""Shapes of stored card revisions as the API and CLI exchange them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from mlgate.cards.schemas import ModelCard

__all__ = [
    "CardExport",
    "CardFormat",
    "CardImport",
    "CardRevisionImported",
    "CardRevisionRead",
    "CardSet",
    "RenderFormat",
]


class CardFormat(StrEnum):
    """Interchange formats for import and export."""

    JSON = "json"
    MCT = "mct"
    HUGGINGFACE = "huggingface"


class RenderFormat(StrEnum):
    HTML = "html"
    MARKDOWN = "markdown"
    JSON = "json"


class CardSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    card: ModelCard
    comment: str = Field(default="", max_length=2_000)


class CardImport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: CardFormat
    content: str = Field(
        min_length=1, max_length=2_000_000, description="JSON text, MCT JSON or a HF README."
    )
    comment: str = Field(default="", max_length=2_000)


class CardRevisionRead(BaseModel):
    model: str
    version: int
    revision: int
    completeness: float
    source: str
    comment: str
    created_by: str
    created_at: datetime
    card: ModelCard


class CardRevisionImported(CardRevisionRead):
    """An imported revision; ``not_imported`` names the input's fields (dotted paths) the card
    does not hold, ``notes`` says why for those not simply without a place on the card.

    The API answers with all of it and names the paths in a header too."""

    not_imported: list[str] = Field(default_factory=list)
    notes: dict[str, str] = Field(default_factory=dict)


class CardExport(BaseModel):
    """An exported card; ``omitted`` names the card's fields the format cannot hold."""

    text: str
    omitted: list[str] = Field(default_factory=list)
