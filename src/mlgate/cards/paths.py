"""Flatten a card into dotted field paths (``metrics.performance_metrics[0].value``) and leaves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlgate.cards.schemas import ModelCard

__all__ = ["flatten", "string_leaves"]


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    elif value is not None:
        yield path, value


def flatten(card: ModelCard) -> dict[str, Any]:
    """Every non-empty leaf of the card in JSON form (dates as ISO strings), keyed by path.

    None and empty lists have no leaves, so "unset" and "absent" read the same.
    """
    return dict(_walk(card.model_dump(mode="json"), ""))


def string_leaves(card: ModelCard) -> Iterator[tuple[str, str]]:
    for path, value in flatten(card).items():
        if isinstance(value, str):
            yield path, value
