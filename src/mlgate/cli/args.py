"""Arguments several commands take: ``MODEL@N`` references and options checked by a schema.

Kept apart from any one command's module, so a command that reads a reference does not import
another command group's domain code (the CLI imports a group only when it is named).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from mlgate.errors import FieldError, Invalid, message_of
from mlgate.ids import parse_number

__all__ = ["parse_ref", "validated"]


def parse_ref(ref: str) -> tuple[str, int]:
    """``churn@3`` as ``("churn", 3)``; anything else is a 422-style error naming ``ref``."""
    name, sep, text = ref.partition("@")
    number = parse_number(text)
    if not sep or number is None or not name:
        raise Invalid.field("ref", f"{ref!r} is not MODEL@N, e.g. churn@3")
    return name, number


def validated(schema: type[BaseModel], data: dict[str, Any]) -> Any:
    """``data`` as ``schema``, or one error naming each field that is wrong."""
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        errors = [FieldError(".".join(map(str, e["loc"])), message_of(e)) for e in error.errors()]
        raise Invalid(
            "; ".join(f"{e.field}: {e.message}" for e in errors), errors=errors
        ) from error
