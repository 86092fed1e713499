"""The model-card value types: the card itself (Mitchell et al., 2019), its lint and its diff.

Every section and almost every field is optional, so a half-written card is still a valid
card; `lint()` says how complete it is. Unknown keys are refused (``extra="forbid"``) so a
typo never silently drops content.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

__all__ = [
    "CardDiff",
    "CardLint",
    "Caveats",
    "ConfidenceInterval",
    "DataSection",
    "Dataset",
    "DecisionThreshold",
    "EthicalConsiderations",
    "Factors",
    "FairnessMetric",
    "FieldChange",
    "Finding",
    "IntendedUse",
    "Metrics",
    "ModelCard",
    "ModelDetails",
    "Owner",
    "PerformanceMetric",
    "QuantitativeAnalyses",
    "Risk",
    "SectionScore",
    "SensitiveData",
    "Severity",
]


class _Strict(BaseModel):
    # NaN and infinity are no metric value to publish, and JSON has no way to store them.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Owner(_Strict):
    name: str = Field(min_length=1)
    contact: str | None = None


class ModelDetails(_Strict):
    name: str = Field(min_length=1)
    overview: str | None = None
    version: str | None = None
    date: dt.date | None = None
    owners: list[Owner] = Field(default_factory=list)
    model_type: str | None = None
    architecture: str | None = None
    input_format: str | None = None
    output_format: str | None = None
    licenses: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    citations: list[str] = Field(default_factory=list)
    path: str | None = None


class IntendedUse(_Strict):
    primary_uses: list[str] = Field(default_factory=list)
    primary_users: list[str] = Field(default_factory=list)
    out_of_scope_uses: list[str] = Field(default_factory=list)


class Factors(_Strict):
    relevant_factors: list[str] = Field(default_factory=list)
    evaluation_factors: list[str] = Field(default_factory=list)


class ConfidenceInterval(_Strict):
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> ConfidenceInterval:
        if self.low > self.high:
            raise ValueError("confidence interval low must not exceed high")
        return self


class PerformanceMetric(_Strict):
    """One measured value; ``slice`` names the group it was computed on (None: overall)."""

    name: str = Field(min_length=1)
    value: float
    slice: str | None = None
    confidence_interval: ConfidenceInterval | None = None
    dataset: str | None = None


class DecisionThreshold(_Strict):
    value: float
    metric: str | None = None
    description: str | None = None


class Metrics(_Strict):
    performance_metrics: list[PerformanceMetric] = Field(default_factory=list)
    decision_thresholds: list[DecisionThreshold] = Field(default_factory=list)
    variation_approaches: str | None = None


class Dataset(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    link: str | None = None
    size: int | None = Field(default=None, ge=0, description="number of examples")
    date_start: dt.date | None = None
    date_end: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Dataset:
        if self.date_start and self.date_end and self.date_start > self.date_end:
            raise ValueError("date_start must not be after date_end")
        return self


class DataSection(_Strict):
    """Training or evaluation data: what it is, which datasets, how it was preprocessed."""

    description: str | None = None
    datasets: list[Dataset] = Field(default_factory=list)
    preprocessing: str | None = None


class FairnessMetric(_Strict):
    name: str = Field(min_length=1)
    group: str = Field(min_length=1)
    value: float


class QuantitativeAnalyses(_Strict):
    fairness_metrics: list[FairnessMetric] = Field(default_factory=list)
    unitary_results: str | None = None
    intersectional_results: str | None = None


class SensitiveData(_Strict):
    """``declared`` is None until someone answers; False is an answer ("no sensitive data")."""

    declared: bool | None = None
    categories: list[str] = Field(default_factory=list)


class Risk(_Strict):
    name: str = Field(min_length=1)
    mitigation: str | None = None


class EthicalConsiderations(_Strict):
    sensitive_data: SensitiveData = Field(default_factory=SensitiveData)
    potential_biases: list[str] = Field(default_factory=list)
    risks: list[Risk] = Field(default_factory=list)
    privacy_measures: list[str] = Field(default_factory=list)
    regulatory_requirements: list[str] = Field(default_factory=list)


class Caveats(_Strict):
    known_limitations: list[str] = Field(default_factory=list)
    failure_modes: list[str] = Field(default_factory=list)
    tradeoffs: list[str] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)


class ModelCard(_Strict):
    """A model card; the nine sections of the Model Cards paper, in its order."""

    model_details: ModelDetails
    intended_use: IntendedUse = Field(default_factory=IntendedUse)
    factors: Factors = Field(default_factory=Factors)
    metrics: Metrics = Field(default_factory=Metrics)
    evaluation_data: DataSection = Field(default_factory=DataSection)
    training_data: DataSection = Field(default_factory=DataSection)
    quantitative_analyses: QuantitativeAnalyses = Field(default_factory=QuantitativeAnalyses)
    ethical_considerations: EthicalConsiderations = Field(default_factory=EthicalConsiderations)
    caveats_and_recommendations: Caveats = Field(default_factory=Caveats)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Finding(_Strict):
    """One lint finding; ``code`` is a stable slug that gate checks may match on."""

    code: str
    severity: Severity
    field: str
    message: str


class SectionScore(_Strict):
    section: str
    score: float = Field(ge=0.0, le=1.0)
    missing: list[str] = Field(default_factory=list)


class CardLint(_Strict):
    completeness: float = Field(ge=0.0, le=1.0)
    sections: list[SectionScore]
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    def section(self, name: str) -> SectionScore:
        for score in self.sections:
            if score.section == name:
                return score
        raise KeyError(name)


class FieldChange(_Strict):
    """One leaf that differs: ``path`` is dotted with list indexes (``metrics.x[0].value``)."""

    path: str
    kind: Literal["added", "removed", "changed"]
    old: Any = None
    new: Any = None


class CardDiff(_Strict):
    """What changed from one card to another; ``summary`` says it in one sentence."""

    from_card: str = "the old card"
    to_card: str = "the new card"
    changes: list[FieldChange] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        if self.from_card == self.to_card:
            return f"{self.from_card} compared with itself: no changes"
        if self.is_empty:
            return f"no changes from {self.from_card} to {self.to_card}: the cards are the same"
        changed = len(self.changed)
        return (
            f"from {self.from_card} to {self.to_card}: {changed}"
            f" field{'' if changed == 1 else 's'} changed, {len(self.added)} added,"
            f" {len(self.removed)} removed"
        )

    @property
    def added(self) -> list[FieldChange]:
        return [c for c in self.changes if c.kind == "added"]

    @property
    def removed(self) -> list[FieldChange]:
        return [c for c in self.changes if c.kind == "removed"]

    @property
    def changed(self) -> list[FieldChange]:
        return [c for c in self.changes if c.kind == "changed"]

    @property
    def is_empty(self) -> bool:
        return not self.changes
