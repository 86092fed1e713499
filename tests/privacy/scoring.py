"""Precision, recall and F1 per entity type of a detector over the evaluation set."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .evalset import Record

Predict = Callable[[str], Iterable[tuple[str, int, int]]]


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def _iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    if inter <= 0:
        return 0.0
    return inter / (max(a[1], b[1]) - min(a[0], b[0]))


def evaluate(
    records: Iterable[Record], predict: Predict, types: Iterable[str]
) -> dict[str, Counts]:
    """A prediction matches a gold span of the same type overlapping it by IoU >= 0.5."""
    wanted = set(types)
    counts: dict[str, Counts] = defaultdict(Counts)
    for record in records:
        gold = [s for s in record.spans if s.entity_type in wanted]
        predicted = [p for p in predict(record.text) if p[0] in wanted]
        used: set[int] = set()
        for entity_type, start, end in predicted:
            match = next(
                (
                    i
                    for i, g in enumerate(gold)
                    if i not in used
                    and g.entity_type == entity_type
                    and _iou((start, end), (g.start, g.end)) >= 0.5
                ),
                None,
            )
            if match is None:
                counts[entity_type].fp += 1
            else:
                used.add(match)
                counts[entity_type].tp += 1
        for i, g in enumerate(gold):
            if i not in used:
                counts[g.entity_type].fn += 1
    return {t: counts[t] for t in sorted(wanted)}
