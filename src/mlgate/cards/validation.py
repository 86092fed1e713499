"""Turn untrusted input into a `ModelCard`, reporting every bad field as an `Invalid` error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from mlgate.cards.schemas import ModelCard
from mlgate.errors import Invalid, field_errors

__all__ = ["validate_card"]


def validate_card(data: Mapping[str, Any], *, source: str = "model card") -> ModelCard:
    """Validate ``data`` as a card; raise `Invalid` listing each wrong field by its path."""
    try:
        return ModelCard.model_validate(dict(data))
    except ValidationError as exc:
        errors = field_errors(exc, root="card")
        raise Invalid(
            f"{source} is not valid: {len(errors)} field error(s); fix the fields listed",
            errors=errors,
        ) from exc
