"""Import and export Google Model Card Toolkit (MCT) JSON: export v0.0.2, import v0.0.1 and v0.0.2.

What an MCT v0.0.2 card holds of ours:

* ``model_details`` — name, overview, owners (name, contact), version (``version.name``) and
  date (``version.date``), licenses, references, citations, path. A license that is one SPDX
  identifier (``Apache-2.0``, ``proprietary``) goes out as ``identifier``, any other text as
  ``custom_text``; both come back as the license text.
* ``model_parameters`` — architecture, input and output format, and the datasets of training
  and evaluation data (name, link, description) in one ``data`` list. MCT has no field that
  says which is which; its schema says the description does, so we prefix it with
  ``[training]`` or ``[evaluation]`` and read the prefix back (see `_role`).
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

Import also reads the v0.0.1 shape: ``data`` as ``{"train": …, "eval": …}`` (the key is the
role; a nameless dataset is named as MCT's own upgrade names it), ``sensitive`` as a yes/no,
``license`` and ``citation`` as one string, references and considerations as plain strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlgate.cards.diff import diff_cards
from mlgate.cards.schemas import ModelCard
from mlgate.cards.validation import validate_card
from mlgate.errors import Invalid, field_errors

__all__ = ["MCT_SCHEMA_VERSION", "from_mct", "mct_omissions", "to_mct"]

MCT_SCHEMA_VERSION = "0.0.2"
_TRAINING, _EVALUATION = "training_data", "evaluation_data"
_MARKERS = {_TRAINING: "[training]", _EVALUATION: "[evaluation]"}
# How MCT's v0.0.1 -> v0.0.2 update names a nameless train or eval dataset.
_SPLIT_NAMES = {"train": "Training Set", "eval": "Validation Set"}
_SPDX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")
_INDEX = re.compile(r"\[\d+\]")


def _described(values: list[str]) -> list[dict[str, str]]:
    return [{"description": v} for v in values]


def _license(text: str) -> dict[str, str]:
    return {"identifier": text} if _SPDX_ID.fullmatch(text) else {"custom_text": text}


def _dataset(dataset: dict[str, Any], role: str, sensitive: list[str] | None) -> dict[str, Any]:
    marker = _MARKERS[role]
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
        for role in (_TRAINING, _EVALUATION)
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


class _Loose(BaseModel):
    """MCT input: unknown keys (graphics, documentation, ...) are ignored, types are checked."""

    model_config = ConfigDict(extra="ignore")


def _wrap(key: str, value: Any) -> Any:
    """v0.0.1 lists plain strings where v0.0.2 has ``{key: string}`` objects."""
    if isinstance(value, list):
        return [{key: item} if isinstance(item, str) else item for item in value]
    return value


class _Described(_Loose):
    description: str


class _Interval(_Loose):
    lower_bound: float
    upper_bound: float


class _Metric(_Loose):
    type: str
    value: float
    slice: str | None = None
    confidence_interval: _Interval | None = None


class _Sensitive(_Loose):
    sensitive_data: list[str] = Field(default_factory=list)


class _Data(_Loose):
    name: str
    link: str | None = None
    description: str | None = None
    sensitive: _Sensitive | bool | None = None  # v0.0.2: categories; v0.0.1: a yes/no


class _Version(_Loose):
    name: str | None = None
    date: str | None = None


class _License(_Loose):
    identifier: str | None = None
    custom_text: str | None = None


class _Details(_Loose):
    name: str
    overview: str | None = None
    owners: list[dict[str, str]] = Field(default_factory=list)
    version: _Version | None = None
    licenses: list[_License] = Field(default_factory=list)
    license: str | None = None  # v0.0.1
    references: list[dict[str, str]] = Field(default_factory=list)
    citations: list[dict[str, str]] = Field(default_factory=list)
    citation: str | None = None  # v0.0.1
    path: str | None = None

    @field_validator("references", mode="before")
    @classmethod
    def _plain_references(cls, value: Any) -> Any:
        return _wrap("reference", value)


def _v001_data(value: Any) -> Any:
    """v0.0.1's ``{"train": dataset, "eval": dataset}`` as a v0.0.2 list, role marked."""
    if not isinstance(value, dict):
        return value
    data = []
    for split, role in (("train", _TRAINING), ("eval", _EVALUATION)):
        item = value.get(split)
        if isinstance(item, dict):
            described = f"{_MARKERS[role]} {item.get('description') or ''}".strip()
            data.append({"name": _SPLIT_NAMES[split], **item, "description": described})
        elif item is not None:
            data.append(item)  # not an object: validation names it
    return data


class _Parameters(_Loose):
    model_architecture: str | None = None
    data: list[_Data] = Field(default_factory=list)
    input_format: str | None = None
    output_format: str | None = None

    @field_validator("data", mode="before")
    @classmethod
    def _splits(cls, value: Any) -> Any:
        return _v001_data(value)


class _Quantitative(_Loose):
    performance_metrics: list[_Metric] = Field(default_factory=list)


class _Risk(_Loose):
    name: str
    mitigation_strategy: str | None = None


class _Considerations(_Loose):
    users: list[_Described] = Field(default_factory=list)
    use_cases: list[_Described] = Field(default_factory=list)
    limitations: list[_Described] = Field(default_factory=list)
    tradeoffs: list[_Described] = Field(default_factory=list)
    ethical_considerations: list[_Risk] = Field(default_factory=list)

    @field_validator("users", "use_cases", "limitations", "tradeoffs", mode="before")
    @classmethod
    def _plain_strings(cls, value: Any) -> Any:
        return _wrap("description", value)


class _MctCard(_Loose):
    model_details: _Details
    model_parameters: _Parameters = Field(default_factory=_Parameters)
    quantitative_analysis: _Quantitative = Field(default_factory=_Quantitative)
    considerations: _Considerations = Field(default_factory=_Considerations)


# A foreign card's description may say the role in its first word ("Validation split, 10 %").
_ROLE_WORD = re.compile(r"(?i)(train|training|eval|evaluation|validation|test|testing)\b")


def _role(dataset: _Data) -> tuple[str, str | None]:
    """The dataset's role and its description without our marker.

    In order: our ``[training]``/``[evaluation]`` marker (only the first is ours: the rest is
    the user's text); the description's first word; MCT's own names for the v0.0.1 splits;
    else training data, what a model card's datasets most often are.
    """
    description = (dataset.description or "").strip()
    for role, marker in _MARKERS.items():
        if description[: len(marker)].casefold() == marker:
            return role, description[len(marker) :].strip() or None
    word = _ROLE_WORD.match(description)
    if word:
        training = word.group(1).casefold() in {"train", "training"}
        return (_TRAINING if training else _EVALUATION), description
    if dataset.name == _SPLIT_NAMES["eval"]:
        return _EVALUATION, description or None
    return _TRAINING, description or None


def _sensitive_data(data: list[_Data]) -> dict[str, Any]:
    """Our card's one answer from the datasets' answers; "none" only if every dataset says so."""
    categories: list[str] = []
    for item in data:
        if isinstance(item.sensitive, _Sensitive):
            categories.extend(c for c in item.sensitive.sensitive_data if c not in categories)
    if categories or any(item.sensitive is True for item in data):
        return {"declared": True, "categories": categories}
    if data and all(item.sensitive is not None for item in data):
        return {"declared": False}
    return {}


def _licenses(details: _Details) -> list[str]:
    texts = [x.identifier or x.custom_text for x in details.licenses]
    return [x for x in [*texts, details.license] if x]


def from_mct(document: Mapping[str, Any]) -> ModelCard:
    """Parse an MCT v0.0.1 or v0.0.2 JSON object into a card; raise `Invalid` if malformed."""
    try:
        mct = _MctCard.model_validate(dict(document))
    except ValidationError as exc:
        errors = field_errors(exc, root="card")
        raise Invalid("not a Model Card Toolkit card", errors=errors) from exc
    d, p, c = mct.model_details, mct.model_parameters, mct.considerations
    datasets: dict[str, list[dict[str, Any]]] = {_TRAINING: [], _EVALUATION: []}
    for item in p.data:
        role, description = _role(item)
        datasets[role].append({"name": item.name, "link": item.link, "description": description})
    citations = [x["citation"] for x in d.citations if "citation" in x]
    card = {
        "model_details": {
            "name": d.name,
            "overview": d.overview,
            "owners": [{"name": o.get("name"), "contact": o.get("contact")} for o in d.owners],
            "version": d.version.name if d.version else None,
            "date": d.version.date if d.version else None,
            "licenses": _licenses(d),
            "references": [x["reference"] for x in d.references if "reference" in x],
            "citations": citations + ([d.citation] if d.citation else []),
            "path": d.path,
            "architecture": p.model_architecture,
            "input_format": p.input_format,
            "output_format": p.output_format,
        },
        "intended_use": {
            "primary_users": [u.description for u in c.users],
            "primary_uses": [u.description for u in c.use_cases],
        },
        "metrics": {
            "performance_metrics": [
                {
                    "name": m.type,
                    "value": m.value,
                    "slice": m.slice,
                    "confidence_interval": {
                        "low": m.confidence_interval.lower_bound,
                        "high": m.confidence_interval.upper_bound,
                    }
                    if m.confidence_interval
                    else None,
                }
                for m in mct.quantitative_analysis.performance_metrics
            ]
        },
        "training_data": {"datasets": datasets[_TRAINING]},
        "evaluation_data": {"datasets": datasets[_EVALUATION]},
        "ethical_considerations": {
            "sensitive_data": _sensitive_data(p.data),
            "risks": [
                {"name": r.name, "mitigation": r.mitigation_strategy}
                for r in c.ethical_considerations
            ],
        },
        "caveats_and_recommendations": {
            "known_limitations": [x.description for x in c.limitations],
            "tradeoffs": [x.description for x in c.tradeoffs],
        },
    }
    return validate_card(card, source="Model Card Toolkit card")
