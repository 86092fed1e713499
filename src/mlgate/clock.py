"""The one place mlgate reads the time: UTC, timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["ensure_utc", "utcnow"]


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Attach UTC to a naive datetime (SQLite returns them naive) or convert an aware one."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
