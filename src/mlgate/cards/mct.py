"""Import and export Google Model Card Toolkit (MCT) JSON, schema version 0.0.2.

What an MCT v0.0.2 card holds of ours:

* ``model_details`` — name, overview, owners (name, contact), version (``version.name``) and
  date (``version.date``), licenses (``identifier``), references, citations, path.
* ``model_parameters`` — architecture, input and output format, and the datasets of training
  and evaluation data (name, link, description) in one ``data`` list. MCT has no field that
  says which is which, so, as its schema suggests, the description says it: we prefix it with
  ``[training]`` or ``[evaluation]`` and read the prefix back (a dataset without one is
  training data). Declared sensitive-data categories go into every dataset's
  ``sensitive.sensitive_data`` and come back as their union, with ``declared`` true.
* ``quantitative_analysis.performance_metrics`` — name (``type``), value, slice and confidence
  interval of each performance metric.
* ``considerations`` — primary users (``users``), primary uses (``use_cases``), known
  limitations, tradeoffs, and risks with their mitigation (``ethical_considerations``).

Everything else (model type, out-of-scope uses, factors, metric datasets, decision
thresholds, dataset size, date range and preprocessing, data descriptions, fairness metrics,
biases, privacy, regulation, failure modes, recommendations) has no place in MCT v0.0.2 and is
dropped on export. Sensitive categories survive only when the card has at least one dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlgate.cards.schemas import ModelCard
from mlgate.cards.validation import validate_card
from mlgate.errors import Invalid, field_errors

__all__ = ["MCT_SCHEMA_VERSION", "from_mct", "to_mct"]

MCT_SCHEMA_VERSION = "0.0.2"
_TRAINING, _EVALUATION = "[training]", "[evaluation]"


def _described(values: list[str]) -> list[dict[str, str]]:
    return [{"description": v} for v in values]


def _dataset(dataset: dict[str, Any], role: str, sensitive: list[str]) -> dict[str, Any]:
    described = f"{role} {dataset['description']}" if dataset.get("description") else role
    out: dict[str, Any] = {"name": dataset["name"], "description": described}
    if dataset.get("link"):
        out["link"] = dataset["link"]
    if sensitive:
        out["sensitive"] = {"sensitive_data": sensitive}
    return out


def to_mct(card: ModelCard) -> dict[str, Any]:
    """The card as an MCT v0.0.2 JSON object (absent values are left out, not null)."""
    d = card.model_details
    sensitive = card.ethical_considerations.sensitive_data
    categories = list(sensitive.categories) if sensitive.declared else []
    version = {"name": d.version, "date": d.date.isoformat() if d.date else None}
    details: dict[str, Any] = {
        "name": d.name,
        "overview": d.overview,
        "owners": [o.model_dump(exclude_none=True) for o in d.owners],
        "version": version,
        "licenses": [{"identifier": x} for x in d.licenses],
        "references": [{"reference": x} for x in d.references],
        "citations": [{"citation": x} for x in d.citations],
        "path": d.path,
    }
    data = [
        _dataset(ds.model_dump(), role, categories)
        for role, section in ((_TRAINING, card.training_data), (_EVALUATION, card.evaluation_data))
        for ds in section.datasets
    ]
    parameters = {
        "model_architecture": d.architecture,
        "data": data,
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
    return _prune(
        {
            "schema_version": MCT_SCHEMA_VERSION,
            "model_details": details,
            "model_parameters": parameters,
            "quantitative_analysis": {"performance_metrics": metrics},
            "considerations": considerations,
        }
    )


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
    sensitive: _Sensitive | None = None


class _Version(_Loose):
    name: str | None = None
    date: str | None = None


class _Details(_Loose):
    name: str
    overview: str | None = None
    owners: list[dict[str, str]] = Field(default_factory=list)
    version: _Version | None = None
    licenses: list[dict[str, str]] = Field(default_factory=list)
    references: list[dict[str, str]] = Field(default_factory=list)
    citations: list[dict[str, str]] = Field(default_factory=list)
    path: str | None = None


class _Parameters(_Loose):
    model_architecture: str | None = None
    data: list[_Data] = Field(default_factory=list)
    input_format: str | None = None
    output_format: str | None = None


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


class _MctCard(_Loose):
    model_details: _Details
    model_parameters: _Parameters = Field(default_factory=_Parameters)
    quantitative_analysis: _Quantitative = Field(default_factory=_Quantitative)
    considerations: _Considerations = Field(default_factory=_Considerations)


def _split_role(dataset: _Data) -> tuple[str, dict[str, Any]]:
    description = (dataset.description or "").strip()
    role = "training_data"
    for prefix, section in ((_TRAINING, "training_data"), (_EVALUATION, "evaluation_data")):
        if description.startswith(prefix):
            role, description = section, description[len(prefix) :].strip()
    out = {"name": dataset.name, "link": dataset.link, "description": description or None}
    return role, out


def from_mct(document: Mapping[str, Any]) -> ModelCard:
    """Parse an MCT v0.0.2 JSON object into a card; raise `Invalid` for a malformed one."""
    try:
        mct = _MctCard.model_validate(dict(document))
    except ValidationError as exc:
        errors = field_errors(exc, root="card")
        raise Invalid("not a Model Card Toolkit card", errors=errors) from exc
    d, p, c = mct.model_details, mct.model_parameters, mct.considerations
    datasets: dict[str, list[dict[str, Any]]] = {"training_data": [], "evaluation_data": []}
    categories: list[str] = []
    for item in p.data:
        role, dataset = _split_role(item)
        datasets[role].append(dataset)
        for category in item.sensitive.sensitive_data if item.sensitive else []:
            if category not in categories:
                categories.append(category)
    card = {
        "model_details": {
            "name": d.name,
            "overview": d.overview,
            "owners": [{"name": o.get("name"), "contact": o.get("contact")} for o in d.owners],
            "version": d.version.name if d.version else None,
            "date": d.version.date if d.version else None,
            "licenses": [x["identifier"] for x in d.licenses if "identifier" in x],
            "references": [x["reference"] for x in d.references if "reference" in x],
            "citations": [x["citation"] for x in d.citations if "citation" in x],
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
        "training_data": {"datasets": datasets["training_data"]},
        "evaluation_data": {"datasets": datasets["evaluation_data"]},
        "ethical_considerations": {
            "sensitive_data": {"declared": True, "categories": categories} if categories else {},
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
