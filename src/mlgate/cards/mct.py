"""Import and export Google Model Card Toolkit (MCT) JSON: export v0.0.2, import v0.0.1 and v0.0.2.

What an MCT v0.0.2 card holds of ours:

* ``model_details`` — name, overview, owners (name, contact), version (``version.name``) and
  date (``version.date``), licenses, references, citations, path. A license that is one SPDX
  identifier (``Apache-2.0``, ``proprietary``) goes out as ``identifier``, any other text as
  ``custom_text``; both come back as the license text.
* ``model_parameters`` — architecture, input and output format, and the datasets of training
  and evaluation data (name, link, description) in one ``data`` list. MCT has no field that
  says which is which; its schema says the description does, so we prefix it with
  ``[training]`` or ``[evaluation]`` and read the prefix back (see `mctread._role`).
* Sensitive data, which MCT records per dataset: declared categories go into every dataset's
  ``sensitive.sensitive_data`` and come back as their union, with ``declared`` true. "No
  sensitive data" (``declared`` false) goes out as an empty ``sensitive_data`` list on every
  dataset; a dataset without ``sensitive`` says nothing, so unknown stays unknown.
* ``quantitative_analysis.performance_metrics`` — name (``type``), value, slice and confidence
  interval of each performance metric.
* ``considerations`` — primary users (``users``), primary uses (``use_cases``), known
  limitations, tradeoffs, and risks with their mitigation (``ethical_considerations``).

Everything else (model type, out-of-scope uses, factors, metric datasets, decision thresholds,
dataset size, date range and preprocessing, data descriptions, fairness metrics, biases,
privacy, regulation, failure modes, recommendations) has no place in MCT, nor has a sensitive
data answer on a card without datasets or a "yes" without categories. `mct_omissions` names
what a card would lose, so the export can say so instead of dropping it silently.

Import (`mlgate.cards.mctread`) reads v0.0.2 and v0.0.1 and names, in turn, what of the input
the card has no place for (graphics, documentation, …) or cannot read (an ambiguous date).
"""

from __future__ import annotations

import re
from typing import Any

from mlgate.cards.diff import diff_cards
from mlgate.cards.mctread import EVALUATION, MARKERS, TRAINING, from_mct
from mlgate.cards.schemas import ModelCard

__all__ = ["MCT_SCHEMA_VERSION", "mct_omissions", "to_mct"]

MCT_SCHEMA_VERSION = "0.0.2"
_SPDX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
_INDEX = re.compile(r"\[\d+\]")


def _described(values: list[str]) -> list[dict[str, str]]:
    return [{"description": v} for v in values]


def _license(text: str) -> dict[str, str]:
    return {"identifier": text} if _SPDX_ID.fullmatch(text) else {"custom_text": text}


def _dataset(dataset: dict[str, Any], role: str, sensitive: list[str] | None) -> dict[str, Any]:
    marker = MARKERS[role]
    described = f"{marker} {dataset['description']}" if dataset.get("description") else marker
    out: dict[str, Any] = {"name": dataset["name"], "description": described}
    if dataset.get("link"):
        out["link"] = dataset["link"]
    if sensitive is not None:  # [] is an answer: no sensitive data
        out["sensitive"] = {"sensitive_data": sensitive}
    return out


def to_mct(card: ModelCard) -> dict[str, Any]:
    """The card as an MCT v0.0.2 JSON object (absent values are left out, not null)."""
    d = card.model_details
    sensitive = card.ethical_considerations.sensitive_data
    categories: list[str] | None = None  # None: say nothing; []: "no sensitive data"
    if sensitive.declared is False:
        categories = []
    elif sensitive.declared and sensitive.categories:
        categories = list(sensitive.categories)
    version = {"name": d.version, "date": d.date.isoformat() if d.date else None}
    details: dict[str, Any] = {
        "name": d.name,
        "overview": d.overview,
        "owners": [o.model_dump(exclude_none=True) for o in d.owners],
        "version": version,
        "licenses": [_license(x) for x in d.licenses],
        "references": [{"reference": x} for x in d.references],
        "citations": [{"citation": x} for x in d.citations],
        "path": d.path,
    }
    parameters = {
        "model_architecture": d.architecture,
        "input_format": d.input_format,
        "output_format": d.output_format,
    }
    metrics = []
    for m in card.metrics.performance_metrics:
        metric: dict[str, Any] = {"type": m.name, "value": m.value}
        if m.slice is not None:
            metric["slice"] = m.slice
        if m.confidence_interval:
            metric["confidence_interval"] = {
                "lower_bound": m.confidence_interval.low,
                "upper_bound": m.confidence_interval.high,
            }
        metrics.append(metric)
    caveats = card.caveats_and_recommendations
    considerations = {
        "users": _described(card.intended_use.primary_users),
        "use_cases": _described(card.intended_use.primary_uses),
        "limitations": _described(caveats.known_limitations),
        "tradeoffs": _described(caveats.tradeoffs),
        "ethical_considerations": [
            {"name": r.name, **({"mitigation_strategy": r.mitigation} if r.mitigation else {})}
            for r in card.ethical_considerations.risks
        ],
    }
    document = _prune(
        {
            "schema_version": MCT_SCHEMA_VERSION,
            "model_details": details,
            "model_parameters": parameters,
            "quantitative_analysis": {"performance_metrics": metrics},
            "considerations": considerations,
        }
    )
    # Added after pruning: an empty sensitive_data list is an answer, not an absent value.
    data = [
        _dataset(ds.model_dump(), role, categories)
        for role in (TRAINING, EVALUATION)
        for ds in getattr(card, role).datasets
    ]
    if data:
        document.setdefault("model_parameters", {})["data"] = data
    return document


def mct_omissions(card: ModelCard) -> list[str]:
    """The card's fields (paths without list indexes) that MCT v0.0.2 cannot hold.

    Found by a round trip, so the answer cannot drift from what `to_mct` and `from_mct` do.
    """
    changes = diff_cards(card, from_mct(to_mct(card))).changes
    return list(dict.fromkeys(_INDEX.sub("", change.path) for change in changes))


def _prune(value: dict[str, Any]) -> dict[str, Any]:
    pruned = _pruned(value)
    assert isinstance(pruned, dict)
    return pruned


def _pruned(value: Any) -> Any:
    """Drop None, empty lists and empty objects, recursively."""
    if isinstance(value, dict):
        pruned = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value
