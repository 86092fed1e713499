"""Model cards as a pure library: schema, lint, render, import/export and diff; no database."""

from mlgate.cards import schemas
from mlgate.cards.diff import diff_cards
from mlgate.cards.huggingface import from_huggingface, to_huggingface, to_huggingface_card
from mlgate.cards.lint import is_placeholder, lint
from mlgate.cards.mct import MCT_SCHEMA_VERSION, mct_omissions, to_mct
from mlgate.cards.mctread import ImportedCard, from_mct, read_mct
from mlgate.cards.render import render_html, render_json, render_markdown
from mlgate.cards.schemas import *  # noqa: F403  # the value types, as schemas.__all__ lists them
from mlgate.cards.validation import validate_card

__all__ = [
    "MCT_SCHEMA_VERSION",
    "ImportedCard",
    "diff_cards",
    "from_huggingface",
    "from_mct",
    "is_placeholder",
    "lint",
    "mct_omissions",
    "read_mct",
    "render_html",
    "render_json",
    "render_markdown",
    "to_huggingface",
    "to_huggingface_card",
    "to_mct",
    "validate_card",
]
__all__ += schemas.__all__
