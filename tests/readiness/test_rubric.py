"""Rubrics ship as YAML, load by name, and accept user extensions with errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.errors import Invalid
from mlgate.readiness import (
    CHECKS,
    Rubric,
    Severity,
    load_maturity_model,
    load_ml_test_score,
    load_production_checklist,
    load_rubric,
    parse_rubric,
    score_ml_test,
)
from tests.readiness.conftest import NOW, ready_attestations, ready_facts


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def field_of(error: Invalid) -> list[str]:
    return [e.field for e in error.errors]


def test_ml_test_score_has_seven_tests_in_each_of_four_sections(ml_test_score: Rubric) -> None:
    sections = ["data", "model", "infrastructure", "monitoring"]
    assert [s.id for s in ml_test_score.sections] == sections
    assert [len(ml_test_score.items_in(s.id)) for s in ml_test_score.sections] == [7, 7, 7, 7]
    assert ml_test_score.items_in("infrastructure")[5].title == "Models are canaried before serving"


@pytest.mark.parametrize(
    ("score", "starts"),
    [
        (0.0, "More of a research project"),
        (0.5, "Not totally untested"),
        (1.0, "Not totally untested"),
        (1.5, "There's been first pass"),
        (3.0, "Reasonably tested"),
        (5.0, "Strong levels"),
        (5.5, "Exceptional levels"),
    ],
)
def test_bands_follow_the_paper(ml_test_score: Rubric, score: float, starts: str) -> None:
    assert ml_test_score.band_for(score).label.startswith(starts)


def test_checklist_groups_and_item_fields(checklist: Rubric) -> None:
    assert [s.id for s in checklist.sections] == [
        "reliability",
        "security",
        "privacy",
        "disaster_recovery",
        "data_management",
        "experimentation",
        "code_quality",
        "deployment",
        "monitoring",
    ]
    fallback = next(i for i in checklist.items if i.id == "rel-fallback")
    assert (fallback.severity, fallback.exposure.value, fallback.check) == (
        Severity.CRITICAL,
        "traffic",
        "route_fallback",
    )


def test_every_shipped_check_name_exists(
    ml_test_score: Rubric, checklist: Rubric, maturity: Rubric
) -> None:
    for rubric in (ml_test_score, checklist, maturity):
        assert {i.check for i in rubric.items if i.check} <= set(CHECKS)


def test_an_extension_adds_a_section_and_an_item(tmp_path: Path) -> None:
    extra = write(
        tmp_path,
        "team.yaml",
        """
extends: production_checklist
sections:
  - id: llm
    title: LLM safety
items:
  - id: llm-jailbreak
    section: llm
    title: Jailbreak prompts are tested
    severity: high
    exposure: traffic
  - id: rel-load-test
    section: reliability
    title: The route survives twice the peak load
""",
    )

    rubric = load_production_checklist(extra=[extra])

    assert rubric.sections[-1].id == "llm"
    assert [i.id for i in rubric.items_in("llm")] == ["llm-jailbreak"]
    assert rubric.items_in("reliability")[-1].severity is Severity.MEDIUM


def test_an_extra_test_changes_the_ml_test_score(tmp_path: Path) -> None:
    extra = write(
        tmp_path,
        "more.yaml",
        "extends: ml_test_score\nitems:\n"
        "  - {id: data-8, section: data, title: Labels are audited, check: scan_clean}\n",
    )

    score = score_ml_test(
        load_ml_test_score(extra=[extra]), ready_facts(), ready_attestations(), now=NOW
    )

    assert score.sections[0].score == 4.5
    assert score.sections[0].max_score == 8.0


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        (
            "extends: production_checklist\nitems:\n"
            "  - {id: x-1, section: security, title: T, severity: urgent}\n",
            "items.0.severity",
            "'critical', 'high', 'medium' or 'low'",
        ),
        (
            "extends: production_checklist\nitems:\n  - {id: x-1, section: nowhere, title: T}\n",
            "items.0.section",
            "unknown section 'nowhere'",
        ),
        (
            "extends: production_checklist\nitems:\n"
            "  - {id: x-1, section: security, title: T, check: vibes}\n",
            "items.0.check",
            "unknown check 'vibes'",
        ),
        (
            "extends: production_checklist\nitems:\n"
            "  - {id: rel-fallback, section: security, title: T}\n",
            "items.0.id",
            "duplicate item 'rel-fallback'",
        ),
        (
            "extends: production_checklist\nitems:\n  - {id: x-1, section: security}\n",
            "items.0.title",
            "Field required",
        ),
        ("extends: ml_test_score\n", "extends", "not 'production_checklist'"),
        ("extends: production_checklist\nitems: [\n", "(yaml)", "while parsing"),
        ("- just a list\n", "(root)", "YAML mapping"),
    ],
    ids=["severity", "section", "check", "duplicate", "missing-title", "extends", "yaml", "root"],
)
def test_a_bad_extension_names_the_file_and_field(
    tmp_path: Path, text: str, field: str, message: str
) -> None:
    bad = write(tmp_path, "bad.yaml", text)

    with pytest.raises(Invalid) as caught:
        load_production_checklist(extra=[bad])

    assert field_of(caught.value) == [field]
    assert "bad.yaml" in caught.value.detail
    assert field in caught.value.detail
    assert message in caught.value.detail


def test_a_whole_rubric_file_can_be_loaded_by_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mini.yaml",
        """
id: mini
kind: checklist
title: Mini
sections: [{id: basics, title: Basics}]
items: [{id: b-1, section: basics, title: Approved, check: version_approved, severity: high}]
""",
    )

    rubric = load_rubric(path)

    assert (rubric.id, len(rubric.items)) == ("mini", 1)


def test_ml_test_score_rubric_needs_an_open_ended_last_band() -> None:
    text = """
id: mts
kind: ml_test_score
title: T
sections: [{id: a, title: A}]
bands: [{max: 1, label: low}]
"""
    with pytest.raises(Invalid) as caught:
        parse_rubric(text, source="mts.yaml")

    assert field_of(caught.value) == ["bands"]


def test_an_unreadable_rubric_file_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="cannot read rubric file"):
        load_rubric(tmp_path / "missing.yaml")


def test_a_maturity_extension_cannot_repeat_a_level(tmp_path: Path) -> None:
    extra = write(
        tmp_path,
        "levels.yaml",
        "extends: maturity\nsections:\n  - {id: level-2b, title: Again, level: 2}\n",
    )

    with pytest.raises(Invalid) as caught:
        load_maturity_model(extra=[extra])

    assert field_of(caught.value) == ["sections.0.level"]
    assert "duplicate level 2" in caught.value.detail


def test_a_maturity_extension_adds_a_criterion_to_a_level(tmp_path: Path) -> None:
    extra = write(
        tmp_path,
        "crit.yaml",
        "extends: maturity\nitems:\n"
        "  - {id: mat-docs, section: level-1, title: Docs, recommendation: Write docs.}\n",
    )

    rubric = load_maturity_model(extra=[extra])

    assert [i.id for i in rubric.items_in("level-1")][-1] == "mat-docs"
