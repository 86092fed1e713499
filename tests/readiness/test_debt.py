"""Technical debt: the impact/effort matrix, overdue items, and debt from readiness gaps."""

from __future__ import annotations

from datetime import timedelta

from mlgate.readiness import (
    DebtCategory,
    DebtItem,
    DebtLevel,
    DebtStatus,
    Quadrant,
    Rubric,
    ScanFacts,
    assess_checklist,
    debt_from_assessments,
    prioritise,
)
from tests.readiness.conftest import NOW, ready_attestations, ready_facts

LOW, MEDIUM, HIGH = DebtLevel.LOW, DebtLevel.MEDIUM, DebtLevel.HIGH


def debt(id: str, impact: DebtLevel, effort: DebtLevel, **changes: object) -> DebtItem:
    item = DebtItem(id=id, title=id, category=DebtCategory.GLUE_CODE, impact=impact, effort=effort)
    return item.model_copy(update=changes)


def test_quick_wins_come_first_then_major_projects_fill_ins_and_thankless() -> None:
    items = [
        debt("thankless", LOW, HIGH),
        debt("fill-in", LOW, LOW),
        debt("major", HIGH, HIGH),
        debt("quick", HIGH, LOW),
        debt("medium-quick", MEDIUM, MEDIUM),
    ]

    ordered = prioritise(items, now=NOW)

    assert [(p.item.id, p.quadrant) for p in ordered] == [
        ("quick", Quadrant.QUICK_WIN),
        ("medium-quick", Quadrant.QUICK_WIN),
        ("major", Quadrant.MAJOR_PROJECT),
        ("fill-in", Quadrant.FILL_IN),
        ("thankless", Quadrant.THANKLESS),
    ]
    assert [p.rank for p in ordered] == [1, 2, 3, 4, 5]


def test_overdue_is_flagged_against_now_and_breaks_ties() -> None:
    items = [
        debt("b-later", HIGH, LOW, due=NOW + timedelta(days=1)),
        debt("a-late", HIGH, LOW, due=NOW - timedelta(days=1)),
        debt("c-no-date", HIGH, LOW),
    ]

    ordered = prioritise(items, now=NOW)

    assert [(p.item.id, p.overdue) for p in ordered] == [
        ("a-late", True),
        ("b-later", False),
        ("c-no-date", False),
    ]
    assert not prioritise(items, now=NOW - timedelta(days=2))[0].overdue


def test_resolved_debt_leaves_the_backlog_and_is_never_overdue() -> None:
    done = debt("done", HIGH, LOW, status=DebtStatus.RESOLVED, due=NOW - timedelta(days=9))

    assert prioritise([done], now=NOW) == []
    kept = prioritise([done, debt("open", LOW, HIGH)], now=NOW, include_closed=True)
    assert [(p.item.id, p.overdue) for p in kept] == [("open", False), ("done", False)]


def test_failed_checklist_items_become_debt_due_by_severity(checklist: Rubric) -> None:
    facts = ready_facts(
        scans=ScanFacts(scan_clean=False, artifact_signed=True, dependency_audit_clean=True)
    )
    claims = [a for a in ready_attestations() if a.item_id != "data-versioned"]
    result = assess_checklist(checklist, facts, claims, now=NOW)

    debts = debt_from_assessments(checklist, result.items, now=NOW, owner="sre-team")

    assert [(d.id, d.category, d.impact, d.effort, d.due) for d in debts] == [
        (
            "production_checklist:sec-artifact-scan",
            DebtCategory.INFRASTRUCTURE,
            HIGH,
            MEDIUM,
            NOW + timedelta(days=7),
        ),
        (
            "production_checklist:data-versioned",
            DebtCategory.UNSTABLE_DATA_DEPENDENCIES,
            MEDIUM,
            HIGH,
            NOW + timedelta(days=90),
        ),
    ]
    assert debts[0].owner == "sre-team"
    assert debts[0].description == "the artifact scan found problems"
    assert [p.item.source_item for p in prioritise(debts, now=NOW)] == [
        "sec-artifact-scan",
        "data-versioned",
    ]


def test_sculley_debts_are_categories() -> None:
    named = {
        "entanglement",
        "correction_cascades",
        "undeclared_consumers",
        "unstable_data_dependencies",
        "glue_code",
        "pipeline_jungles",
        "dead_code_paths",
        "configuration_debt",
        "feedback_loops",
    }
    assert named <= {category.value for category in DebtCategory}
