"""The error tree of mlgate; HTTP maps it to problem+json (RFC 9457), the CLI to one line.

    MlgateError                 500 internal
    ├── Invalid                 422 invalid         (carries field errors)
    ├── NotFound                404 not-found
    ├── Conflict                409 conflict
    ├── Unauthorized            401 unauthorized
    ├── Forbidden               403 forbidden
    ├── PayloadTooLarge         413 payload-too-large
    ├── RateLimited             429 rate-limited    (carries retry_after)
    └── Unavailable             503 unavailable     (carries retry_after)

Each class has a stable ``type`` slug; the problem ``type`` URI is ``urn:mlgate:problem:<slug>``.
Messages are written for the user and say what to do next. They never contain secrets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import ValidationError

from mlgate.ids import NAME_PATTERN, NAME_RULE

__all__ = [
    "Conflict",
    "FieldError",
    "Forbidden",
    "Invalid",
    "MlgateError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "field_errors",
    "problem_type",
]


def problem_type(slug: str) -> str:
    return f"urn:mlgate:problem:{slug}"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One wrong field: a dotted path (``body.input_schema``) and what is wrong with it."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def field_errors(error: ValidationError, *, root: str = "body") -> list[FieldError]:
    """Each wrong field of a pydantic ``error`` by its path (``fallbacks[0].model``)."""
    return [FieldError(_dotted(e["loc"], root), message_of(e)) for e in error.errors()]


def message_of(item: Mapping[str, Any]) -> str:
    """A pydantic error's message in words: without the "Value error, " our own validators
    would get, and a name's rule instead of its regular expression."""
    message = str(item.get("msg", "invalid"))
    if item.get("type") == "value_error":
        return message.removeprefix("Value error, ")
    context = item.get("ctx")
    if isinstance(context, Mapping) and context.get("pattern") == NAME_PATTERN:
        return NAME_RULE
    return message


def _dotted(location: Sequence[int | str], root: str) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or root


class MlgateError(Exception):
    """Base of every error mlgate raises on purpose."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def problem(self) -> dict[str, Any]:
        return {
            "type": problem_type(self.slug),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }


class Invalid(MlgateError):
    status = 422
    slug = "invalid"
    title = "Invalid input"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        return cls(f"{field}: {message}", errors=[FieldError(field, message)])

    def problem(self) -> dict[str, Any]:
        body = super().problem()
        body["errors"] = [error.as_dict() for error in self.errors]
        return body


class NotFound(MlgateError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(MlgateError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class Unauthorized(MlgateError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class Forbidden(MlgateError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class PayloadTooLarge(MlgateError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class RateLimited(MlgateError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(MlgateError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
