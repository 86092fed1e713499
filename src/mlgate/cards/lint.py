"""Score a card's completeness per section and find the gaps a reviewer would send back.

A field counts as filled when it holds something other than placeholder text. Each section's
score is the share of its expected fields that are filled; the overall completeness is the mean
over the nine sections, so every section weighs the same.
"""

from __future__ import annotations

import re
from typing import Any

from mlgate.cards.paths import string_leaves
from mlgate.cards.schemas import CardLint, Finding, ModelCard, SectionScore, Severity

__all__ = ["EXPECTED_FIELDS", "REQUIRED_SECTIONS", "is_placeholder", "lint"]

# The fields each section is expected to fill; the order is the order of `missing`.
EXPECTED_FIELDS: dict[str, tuple[str, ...]] = {
    "model_details": (
        "overview",
        "version",
        "owners",
        "model_type",
        "architecture",
        "licenses",
    ),
    "intended_use": ("primary_uses", "primary_users", "out_of_scope_uses"),
    "factors": ("relevant_factors", "evaluation_factors"),
    "metrics": ("performance_metrics", "decision_thresholds"),
    "evaluation_data": ("description", "datasets", "preprocessing"),
    "training_data": ("description", "datasets", "preprocessing"),
    "quantitative_analyses": ("fairness_metrics", "unitary_results", "intersectional_results"),
    "ethical_considerations": (
        "sensitive_data",
        "potential_biases",
        "risks",
        "privacy_measures",
        "regulatory_requirements",
    ),
    "caveats_and_recommendations": ("known_limitations", "failure_modes", "recommendations"),
}

# A card without these cannot be reviewed at all; the others are warned about.
REQUIRED_SECTIONS = frozenset(
    {
        "model_details",
        "intended_use",
        "metrics",
        "evaluation_data",
        "training_data",
        "ethical_considerations",
        "caveats_and_recommendations",
    }
)

_WHOLE = re.compile(
    r"^\s*(tbd|tba|todo|fixme|n/?a|n\.a\.?|xxx|\.{2,}|-+|\?+|<[^>]*>|\[[^\]]*\])\s*\.?\s*$",
    re.IGNORECASE,
)
_ANYWHERE = re.compile(r"lorem ipsum|\[more information needed\]", re.IGNORECASE)
_MARKER = re.compile(r"\b(TBD|TODO|FIXME)\b")  # upper case only: "todo list" is real prose


def is_placeholder(text: str) -> bool:
    """True for text that stands in for an answer: "TBD", "N/A" alone, "lorem ipsum", ..."""
    return not text.strip() or bool(
        _WHOLE.match(text) or _ANYWHERE.search(text) or _MARKER.search(text)
    )


def _filled(value: Any, placeholders: set[str], path: str) -> bool:
    """Whether a field holds a real answer; placeholder leaves under ``path`` do not count."""
    if value is None:
        return False
    if isinstance(value, list):
        return any(_filled(item, placeholders, f"{path}[{i}]") for i, item in enumerate(value))
    if isinstance(value, dict):
        if "declared" in value and "categories" in value:  # SensitiveData: answered or not
            return value["declared"] is not None
        return any(_filled(v, placeholders, f"{path}.{k}") for k, v in value.items())
    if isinstance(value, str):
        return path not in placeholders
    return True


def _score(card: ModelCard, placeholders: set[str]) -> list[SectionScore]:
    dumped = card.model_dump(mode="json")
    scores: list[SectionScore] = []
    for section, fields in EXPECTED_FIELDS.items():
        missing = [
            f for f in fields if not _filled(dumped[section][f], placeholders, f"{section}.{f}")
        ]
        score = round(1.0 - len(missing) / len(fields), 4)
        scores.append(SectionScore(section=section, score=score, missing=missing))
    return scores


def _rules(card: ModelCard) -> list[Finding]:
    findings: list[Finding] = []
    metrics = card.metrics.performance_metrics
    ethics = card.ethical_considerations
    if ethics.sensitive_data.declared and not card.quantitative_analyses.fairness_metrics:
        findings.append(
            Finding(
                code="sensitive-data-without-fairness-metrics",
                severity=Severity.ERROR,
                field="quantitative_analyses.fairness_metrics",
                message="the model uses sensitive data; report fairness metrics per group",
            )
        )
    if ethics.sensitive_data.declared and not ethics.sensitive_data.categories:
        findings.append(
            Finding(
                code="sensitive-data-without-categories",
                severity=Severity.WARNING,
                field="ethical_considerations.sensitive_data.categories",
                message="sensitive data is declared; name its categories (e.g. health, ethnicity)",
            )
        )
    has_eval_data = bool(card.evaluation_data.datasets or card.evaluation_data.description)
    for i, metric in enumerate(metrics):
        if metric.dataset is None and not has_eval_data:
            findings.append(
                Finding(
                    code="metric-without-dataset",
                    severity=Severity.WARNING,
                    field=f"metrics.performance_metrics[{i}].dataset",
                    message=f"metric '{metric.name}' names no dataset and the card declares no "
                    "evaluation data; say what it was measured on",
                )
            )
    if card.metrics.decision_thresholds and not metrics:
        findings.append(
            Finding(
                code="thresholds-without-metrics",
                severity=Severity.ERROR,
                field="metrics.decision_thresholds",
                message="decision thresholds are set but no performance metric justifies them",
            )
        )
    names = {m.name for m in metrics}
    for i, threshold in enumerate(card.metrics.decision_thresholds):
        if metrics and threshold.metric is not None and threshold.metric not in names:
            findings.append(
                Finding(
                    code="threshold-unknown-metric",
                    severity=Severity.WARNING,
                    field=f"metrics.decision_thresholds[{i}].metric",
                    message=f"threshold refers to metric '{threshold.metric}', which the card "
                    "does not report",
                )
            )
    for i, owner in enumerate(card.model_details.owners):
        if not owner.contact:
            findings.append(
                Finding(
                    code="owner-without-contact",
                    severity=Severity.INFO,
                    field=f"model_details.owners[{i}].contact",
                    message=f"owner '{owner.name}' has no contact; add an address people can reach",
                )
            )
    return findings


def lint(card: ModelCard) -> CardLint:
    """Completeness (0..1) per section and overall, and every finding, errors first."""
    findings: list[Finding] = []
    placeholders: set[str] = set()
    for path, text in string_leaves(card):
        if is_placeholder(text):
            placeholders.add(path)
            findings.append(
                Finding(
                    code="placeholder",
                    severity=Severity.WARNING,
                    field=path,
                    message=f"placeholder text {text.strip()[:40]!r}; write the real answer",
                )
            )
    sections = _score(card, placeholders)
    for score in sections:
        if score.score == 0.0:
            required = score.section in REQUIRED_SECTIONS
            findings.append(
                Finding(
                    code="required-section-empty" if required else "section-empty",
                    severity=Severity.ERROR if required else Severity.WARNING,
                    field=score.section,
                    message=f"section '{score.section}' is empty; fill in "
                    + ", ".join(score.missing),
                )
            )
    findings.extend(_rules(card))
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    findings.sort(key=lambda f: order[f.severity])
    completeness = round(sum(s.score for s in sections) / len(sections), 4)
    return CardLint(completeness=completeness, sections=sections, findings=findings)
