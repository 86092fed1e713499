"""Imports every domain's tables so ``Base.metadata`` (and Alembic) sees the whole schema."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from mlgate.store.base import Base

__all__ = ["MODEL_MODULES", "load_metadata"]

# One line per domain that owns tables. Add yours here when you add a models.py.
MODEL_MODULES = (
    "mlgate.auth.models",
    "mlgate.audit.models",
    "mlgate.registry.models",
    "mlgate.gateway.models",
    "mlgate.readiness.models",
    "mlgate.approvals.models",
    "mlgate.cards.models",
    "mlgate.backup.models",
    "mlgate.incidents.models",
    "mlgate.privacy.models",
    "mlgate.scanning.models",
    "mlgate.monitoring.models",
    "mlgate.web.models",
)


def load_metadata() -> MetaData:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return Base.metadata
