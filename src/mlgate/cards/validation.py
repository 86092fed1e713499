"""Turn untrusted input into a `ModelCard`, reporting every bad field as an `Invalid` error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from mlgate.cards.schemas import ModelCard
from mlgate.errors import FieldError, Invalid

__all__ = ["field_errors", "validate_card"]


def _dotted(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "card"


def field_errors(exc: ValidationError) -> list[FieldError]:
    return [FieldError(_dotted(tuple(err["loc"])), err["msg"]) for err in exc.errors()]


def validate_card(data: Mapping[str, Any], *, source: str = "model card") -> ModelCard:
    """Validate ``data`` as a card; raise `Invalid` listing each wrong field by its path."""
    try:
        return ModelCard.model_validate(dict(data))
    except ValidationError as exc:
        errors = field_errors(exc)
        raise Invalid(
            f"{source} is not valid: {len(errors)} field error(s); fix the fields listed",
            errors=errors,
        ) from exc
