"""Maturity levels: 80% of a level and every lower level; what is missing and what to do next."""

from __future__ import annotations

import pytest

from mlgate.errors import Invalid
from mlgate.readiness import Facts, Rubric, assess_maturity
from tests.readiness.conftest import NOW, attest, ready_facts

LEVEL_1_PRACTICES = [attest("mat-pipeline-automation"), attest("mat-experiment-tracking")]


def test_observable_facts_alone_do_not_reach_level_one(maturity: Rubric) -> None:
    result = assess_maturity(maturity, ready_facts(), now=NOW)

    assert result.workspace == "acme"
    assert result.level == 0
    assert result.levels[0].ratio == 0.5
    assert [m.id for m in result.missing] == ["mat-pipeline-automation", "mat-experiment-tracking"]
    assert result.next_steps[0].startswith("Turn the training notebook into")


def test_level_one_then_stops_where_level_two_is_under_eighty_percent(maturity: Rubric) -> None:
    result = assess_maturity(maturity, ready_facts(), LEVEL_1_PRACTICES, now=NOW)

    assert result.level == 1
    assert [(lvl.level, lvl.ratio, lvl.reached) for lvl in result.levels] == [
        (1, 1.0, True),
        (2, 0.4, False),
        (3, 0.8, False),
    ]
    assert [m.id for m in result.missing] == [
        "mat-ci-cd",
        "mat-feature-store",
        "mat-automated-deployment",
    ]
    assert len(result.next_steps) == 3


def test_four_of_five_criteria_reach_a_level(maturity: Rubric) -> None:
    claims = [*LEVEL_1_PRACTICES, attest("mat-ci-cd"), attest("mat-automated-deployment")]

    result = assess_maturity(maturity, ready_facts(), claims, now=NOW)

    assert result.level == 3
    assert [m.id for m in result.missing] == ["mat-feature-store", "mat-continuous-training"]


def test_a_level_needs_every_lower_level(maturity: Rubric) -> None:
    level_3 = [attest("mat-continuous-training")]

    result = assess_maturity(maturity, ready_facts(), level_3, now=NOW)

    assert result.levels[2].ratio == 1.0
    assert not result.levels[2].reached
    assert result.level == 0


def test_every_model_in_the_workspace_must_meet_an_observable_criterion(
    maturity: Rubric,
) -> None:
    claims = [*LEVEL_1_PRACTICES, attest("mat-ci-cd"), attest("mat-automated-deployment")]
    unwatched = ready_facts(
        model="fraud",
        version=7,
        monitoring=ready_facts().monitoring.model_copy(
            update={"drift_monitor": False, "retraining_trigger": False}
        ),
    )

    result = assess_maturity(maturity, [ready_facts(), unwatched], claims, now=NOW)

    assert result.level == 2
    drift = next(m for m in result.levels[2].missing if m.id == "mat-drift-detection")
    assert drift.reason == "fraud@7: no drift monitor"


def test_empty_workspace_is_level_zero(maturity: Rubric) -> None:
    result = assess_maturity(maturity, [], now=NOW, workspace="new")

    assert (result.workspace, result.level) == ("new", 0)
    assert len(result.missing) == 4


def test_assess_maturity_refuses_another_kind_of_rubric(checklist: Rubric) -> None:
    with pytest.raises(Invalid, match="not a maturity model"):
        assess_maturity(checklist, Facts(model="m", version=1), now=NOW)
