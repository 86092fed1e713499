"""The store: SQLAlchemy engine and sessions over SQLite (default) or PostgreSQL."""

from mlgate.store.base import Base, JSONType, UTCDateTime
from mlgate.store.database import Database

__all__ = ["Base", "Database", "JSONType", "UTCDateTime"]
