"""Diffs between two cards name every changed field by its path, with old and new values."""

from __future__ import annotations

from mlgate.cards import ModelCard, diff_cards
from tests.cards.conftest import full_card_data


def test_identical_cards_have_an_empty_diff(full_card: ModelCard) -> None:
    assert diff_cards(full_card, full_card.model_copy(deep=True)).is_empty


def test_changed_added_and_removed_fields_are_reported_by_path() -> None:
    old = full_card_data()
    new = full_card_data()
    new["metrics"]["performance_metrics"][0]["value"] = 0.93
    new["model_details"]["date"] = "2026-04-01"
    new["caveats_and_recommendations"]["failure_modes"].append("cold start")
    new["ethical_considerations"]["risks"][0].pop("mitigation")
    diff = diff_cards(ModelCard.model_validate(old), ModelCard.model_validate(new))
    assert {(c.path, c.old, c.new) for c in diff.changed} == {
        ("metrics.performance_metrics[0].value", 0.91, 0.93),
        ("model_details.date", "2026-03-01", "2026-04-01"),
    }
    assert [(c.path, c.new) for c in diff.added] == [
        ("caveats_and_recommendations.failure_modes[1]", "cold start")
    ]
    assert [(c.path, c.old) for c in diff.removed] == [
        ("ethical_considerations.risks[0].mitigation", "monitor offer rate per age band")
    ]


def test_diff_is_json_serialisable_for_the_api(full_card: ModelCard) -> None:
    other = full_card.model_copy(
        update={"intended_use": full_card.intended_use.model_copy(update={"primary_uses": []})}
    )
    diff = diff_cards(full_card, other)
    assert diff.model_dump(mode="json")["changes"] == [
        {
            "path": "intended_use.primary_uses[0]",
            "kind": "removed",
            "old": "rank accounts for retention offers",
            "new": None,
        }
    ]


def test_the_summary_names_both_cards_and_counts_each_kind_of_change() -> None:
    old, new = full_card_data(), full_card_data()
    new["model_details"]["version"] = "3.2.0"
    new["caveats_and_recommendations"]["failure_modes"].append("cold start")
    diff = diff_cards(
        ModelCard.model_validate(old),
        ModelCard.model_validate(new),
        from_card="churn@1 card revision 2",
        to_card="churn@1 card revision 3",
    )
    assert diff.summary == (
        "from churn@1 card revision 2 to churn@1 card revision 3:"
        " 1 field changed, 1 added, 0 removed"
    )
    assert (diff.from_card, diff.to_card) == ("churn@1 card revision 2", "churn@1 card revision 3")


def test_an_empty_diff_says_the_cards_are_the_same(full_card: ModelCard) -> None:
    same = diff_cards(
        full_card, full_card, from_card="churn@1 card revision 1", to_card="churn@2 card revision 1"
    )
    assert same.summary == (
        "no changes from churn@1 card revision 1 to churn@2 card revision 1: the cards are the same"
    )
    itself = diff_cards(
        full_card, full_card, from_card="churn@1 card revision 2", to_card="churn@1 card revision 2"
    )
    assert itself.summary == "churn@1 card revision 2 compared with itself: no changes"
