"""A structured diff between two cards: which field paths were added, removed or changed.

Lists are compared by position, so inserting an item at the front reports every later item
as changed; that is the honest reading of an ordered list and keeps paths stable to cite.
"""

from __future__ import annotations

from mlgate.cards.paths import flatten
from mlgate.cards.schemas import CardDiff, FieldChange, ModelCard

__all__ = ["diff_cards"]


def diff_cards(old: ModelCard, new: ModelCard) -> CardDiff:
    """Every leaf that differs from ``old`` to ``new``, in the order the fields appear."""
    before, after = flatten(old), flatten(new)
    changes: list[FieldChange] = []
    for path, value in before.items():
        if path not in after:
            changes.append(FieldChange(path=path, kind="removed", old=value))
        elif after[path] != value:
            changes.append(FieldChange(path=path, kind="changed", old=value, new=after[path]))
    changes.extend(
        FieldChange(path=path, kind="added", new=value)
        for path, value in after.items()
        if path not in before
    )
    return CardDiff(changes=changes)
