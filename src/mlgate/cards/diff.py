"""A structured diff between two cards: which field paths were added, removed or changed.

Lists are compared by position, so inserting an item at the front reports every later item
as changed; that is the honest reading of an ordered list and keeps paths stable to cite.
"""

from __future__ import annotations

from mlgate.cards.paths import flatten
from mlgate.cards.schemas import CardDiff, FieldChange, ModelCard

__all__ = ["diff_cards"]


def diff_cards(
    old: ModelCard,
    new: ModelCard,
    *,
    from_card: str | None = None,
    to_card: str | None = None,
) -> CardDiff:
    """Every leaf that differs from ``old`` to ``new``, in the order the fields appear.

    ``from_card`` and ``to_card`` name the two cards in the summary ("churn@1 card revision 2");
    unnamed, they keep ``CardDiff``'s labels ("the old card", "the new card").
    """
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
    labels = {"from_card": from_card, "to_card": to_card}
    return CardDiff.model_validate(
        {"changes": changes} | {key: label for key, label in labels.items() if label is not None}
    )
