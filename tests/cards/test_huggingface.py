"""Hugging Face model cards: export with model-index, import, round trip, all offline."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
import yaml
from huggingface_hub import ModelCard as HFModelCard
from huggingface_hub import ModelCardData

from mlgate.cards import ModelCard, from_huggingface, lint, to_huggingface, to_huggingface_card
from mlgate.cards.frontmatter import MAX_FRONT_MATTER
from mlgate.errors import Invalid


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the Hub fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def front_matter(readme: str) -> dict[str, object]:
    _, meta, _ = readme.split("---\n", 2)
    loaded = yaml.safe_load(meta)
    assert isinstance(loaded, dict)
    return loaded


def test_round_trip_keeps_every_field(full_card: ModelCard) -> None:
    assert from_huggingface(to_huggingface(full_card)) == full_card


@pytest.mark.parametrize(
    "text",
    [
        "a | b \\| c",
        "# not a heading\n- not a bullet\n\n  indented",
        "<b>&amp;</b> *x* _y_",
        "[More Information Needed]",
        "line one\r\nline two: yes",
        "Retention ML\u2028(EU) and\x0cmore",  # str.splitlines broke here and lost the rest
    ],
)
def test_round_trip_keeps_awkward_text_in_every_field(
    text: str, card_with_text: Callable[[str], ModelCard]
) -> None:
    card = card_with_text(text)
    back = from_huggingface(to_huggingface(card))
    expected = card_with_text(text.replace("\r\n", "\n").strip())
    assert back == expected


def test_export_carries_eval_results_in_model_index(full_card: ModelCard) -> None:
    meta = front_matter(to_huggingface(full_card))
    assert meta["license"] == "Apache-2.0"
    assert meta["datasets"] == ["accounts-2024-2025", "holdout-2026q1"]
    index = meta["model-index"]
    assert isinstance(index, list)
    assert index[0]["name"] == "churn"
    results = index[0]["results"]
    assert results[0]["dataset"] == {"name": "holdout-2026q1", "type": "holdout-2026q1"}
    metrics = results[0]["metrics"]
    assert metrics[0] == {
        "type": "auc",
        "name": "auc",
        "value": 0.91,
        "args": {"ci_low": 0.89, "ci_high": 0.93},
    }
    assert metrics[1]["args"] == {"slice": "age 65+"}


def test_export_is_a_huggingface_card_the_hub_library_reads(full_card: ModelCard) -> None:
    card = HFModelCard(str(to_huggingface_card(full_card)))
    data = card.data
    assert isinstance(data, ModelCardData)
    assert data.model_name == "churn"
    assert [r.metric_value for r in data.eval_results or []] == [0.91, 0.87]
    assert "## Uses" in card.text
    assert "### Out-of-Scope Use" in card.text


def test_export_escapes_html_in_the_body() -> None:
    card = ModelCard.model_validate(
        {
            "model_details": {"name": "churn", "overview": "<script>alert(1)</script>"},
        }
    )
    readme = to_huggingface(card)
    assert "<script>" not in readme
    assert from_huggingface(readme).model_details.overview == "<script>alert(1)</script>"


HUB_README = """---
license: mit
datasets:
- imdb
model-index:
- name: sentiment-small
  results:
  - task:
      type: text-classification
    dataset:
      name: IMDb
      type: imdb
    metrics:
    - type: accuracy
      value: 0.93
    - type: f1
      value: not-a-number
---

# Model Card for sentiment-small

<!-- Provide a quick summary of what the model is/does. -->

## Model Details

### Model Description

A small sentiment classifier.

## Uses

### Direct Use [optional]

Classify English movie reviews.

### Out-of-Scope Use

[More Information Needed]

## Bias, Risks, and Limitations

### Recommendations

Users should be made aware of the risks.
"""


def test_import_of_a_card_written_on_the_hub() -> None:
    card = from_huggingface(HUB_README)
    assert card.model_details.name == "sentiment-small"
    assert card.model_details.licenses == ["mit"]
    assert card.model_details.overview == "A small sentiment classifier."
    assert card.intended_use.primary_uses == ["Classify English movie reviews."]
    assert [d.name for d in card.training_data.datasets] == ["imdb"]
    [metric] = card.metrics.performance_metrics  # the non-numeric f1 is skipped
    assert (metric.name, metric.value, metric.dataset) == ("accuracy", 0.93, "IMDb")
    placeholders = [f.field for f in lint(card).findings if f.code == "placeholder"]
    assert placeholders == ["intended_use.out_of_scope_uses[0]"]


@pytest.mark.parametrize(
    ("answer", "declared"),
    [
        ("Yes.", True),
        ("Yes - health records", True),
        ("no, none collected", False),
        ("TBD", None),  # no answer is not a "no": it was read as False and passed the gate
        ("[More Information Needed]", None),
    ],
)
def test_the_sensitive_data_answer_is_read_by_its_first_word(
    answer: str, declared: bool | None
) -> None:
    readme = (
        "---\nlicense: mit\n---\n# churn\n\n## Ethical Considerations\n\n"
        f"### Sensitive Data\n\n{answer}\n"
    )
    assert from_huggingface(readme).ethical_considerations.sensitive_data.declared is declared


def test_a_metric_that_is_not_a_number_is_refused_by_name() -> None:
    readme = (
        "---\nlicense: mit\nmodel-index:\n- name: churn\n  results:\n  - task: {type: x}\n"
        "    dataset: {type: d, name: D}\n    metrics:\n    - {type: auc, value: .nan}\n"
        "---\n# churn\n"
    )
    with pytest.raises(Invalid) as caught:  # stored, NaN became null and every read was a 500
        from_huggingface(readme)
    assert [e.field for e in caught.value.errors] == ["metrics.performance_metrics[0].value"]
    assert from_huggingface(readme.replace(".nan", "0.5")).metrics.performance_metrics


def test_import_without_a_model_name_is_invalid() -> None:
    with pytest.raises(Invalid) as caught:
        from_huggingface("---\nlicense: mit\n---\n\nJust text.\n")
    assert caught.value.errors[0].field == "readme"


# A model-index with one result; what follows "metrics: " lists its metrics.
INDEX = (
    "model-index:\n- name: m\n  results:\n  - task: {type: t}\n"
    "    dataset: {name: d, type: d}\n    metrics: "
)


@pytest.mark.parametrize(
    "front",
    [
        "license: [unclosed",
        "- a list\n- not a mapping",
        "model-index: 5",
        INDEX + "[{type: acc, value: 1}]\n    source: not-a-mapping",
        "model_name: " + "1" * 5_000,
    ],
)
def test_import_of_broken_front_matter_is_invalid(front: str) -> None:
    with pytest.raises(Invalid) as caught:
        from_huggingface(f"---\n{front}\n---\n\n# Model Card for x\n")
    assert caught.value.errors[0].field == "readme"


def _readme(front: str) -> str:
    return f"---\n{front}\n---\n\n# Model Card for x\n"


def _refusal(readme: str) -> str:
    """The message of the `Invalid` that importing ``readme`` raises, within a second."""
    started = time.perf_counter()
    with pytest.raises(Invalid) as caught:
        from_huggingface(readme)
    assert time.perf_counter() - started < 1.0  # a few ms here; the bomb took minutes and GBs
    [error] = caught.value.errors
    assert error.field == "readme"
    return error.message


def _alias_bomb(field: str) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return "\n".join([*lines, f"{field}: *a8"])


@pytest.mark.parametrize("field", ["datasets", "model_name", "license"])
def test_a_yaml_alias_bomb_is_refused_before_it_expands(field: str) -> None:
    message = _refusal(_readme(_alias_bomb(field)))
    assert "anchors and aliases" in message
    assert "line 1" in message


@pytest.mark.parametrize(
    "front",
    ["license: &l mit", "base: &b {x: 1}\nmodel_name: m", "model_name: m\nx: {<<: *b}"],
    ids=["anchor", "anchored mapping", "merge key"],
)
def test_any_anchor_or_alias_is_refused(front: str) -> None:
    assert "anchors and aliases" in _refusal(_readme(front))


@pytest.mark.parametrize(
    ("front", "field"),
    [
        ("model_name: [[a, b], [c]]", "'model_name' must be a string, not list"),
        ("license: {id: mit}", "'license' must be a string, not dict"),
        ("license: [mit]", "'license' must be a string, not list"),
        ("datasets: [imdb, [a, b]]", "'datasets[1]' must be a string, not list"),
        ("datasets: {imdb: 1}", "'datasets' must be a string or a list of strings, not dict"),
        ("datasets: true", "'datasets' must be a string or a list of strings, not bool"),
        (
            "model-index:\n- name: [m]\n  results: []",
            "'model-index name' must be a string, not list",
        ),
        (
            INDEX + "[{type: acc, value: 1}, {type: [[f1]], value: 2}]",
            "'model-index result 2 metric type' must be a string, not list",
        ),
        (
            INDEX + "[{type: acc, value: 1, args: [slice]}]",
            "'model-index result 1 metric args' must be a mapping",
        ),
    ],
)
def test_a_front_matter_field_of_the_wrong_type_is_refused_by_name(front: str, field: str) -> None:
    assert f"front matter field {field}" in _refusal(_readme(front))


def test_deeply_nested_front_matter_is_refused() -> None:
    assert "nested deeper than" in _refusal(_readme("x: " + "[" * 5_000 + "]" * 5_000))


def test_front_matter_longer_than_the_cap_is_refused() -> None:
    front = "model_name: m\nnotes: " + "x" * MAX_FRONT_MATTER
    assert "move long text into the Markdown body" in _refusal(_readme(front))


def test_a_single_dataset_and_a_numeric_name_still_import() -> None:
    card = from_huggingface(_readme("model_name: 2024\ndatasets: imdb\nlicense: mit"))
    assert card.model_details.name == "2024"
    assert card.model_details.licenses == ["mit"]
    assert [d.name for d in card.training_data.datasets] == ["imdb"]
