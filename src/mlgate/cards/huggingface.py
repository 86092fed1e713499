"""Import and export Hugging Face model cards (README.md with YAML front matter), offline.

What a Hugging Face card holds of ours, and where:

* YAML front matter — ``model_name`` (our ``model_details.name``), ``license`` (when the card
  has exactly one), ``datasets`` (names of training and evaluation datasets), ``metrics``
  (metric names) and ``model-index``: every performance metric that names its ``dataset``
  becomes an ``EvalResult`` (metric type and name = our name, value, dataset name and type =
  our dataset; ``metric_args`` carry ``slice``, ``ci_low`` and ``ci_high``).
* Markdown body — every other field, under the well-known headings of the Hub's model-card
  template ("Model Description", "Direct Use", "Out-of-Scope Use", "Recommendations",
  "Training Data", "Testing Data", "Factors", "Results", "Citation", "Model Card Contact")
  plus headings of ours for what the template lacks ("Failure Modes", "Fairness Metrics", ...).
  See `_SECTIONS` for the full list. Lists are bullets, records are pipe tables.

So a round trip ours -> HF -> ours keeps every field, with three normalisations: text loses
leading/trailing whitespace and has LF line ends, empty strings read back as absent, and
performance metrics come back with the ones that name a dataset (from ``model-index``) before
the ones that do not (from the "Results" table). On import, the body wins over the front
matter; the front matter fills ``licenses`` and training dataset names only when the body has
none, so foreign cards written on the Hub import too. No function here talks to the network.

The front matter is untrusted YAML, read by ``frontmatter.split_front_matter``; every field the
import reads must have its type.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Literal

from huggingface_hub import EvalResult, ModelCardData
from huggingface_hub import ModelCard as HFModelCard

from mlgate.cards import mdsections as md
from mlgate.cards.frontmatter import split_front_matter
from mlgate.cards.schemas import ModelCard
from mlgate.cards.validation import validate_card
from mlgate.errors import Invalid

__all__ = ["from_huggingface", "to_huggingface", "to_huggingface_card"]

logger = logging.getLogger(__name__)

Kind = Literal["parent", "text", "list", "table", "bool"]

# (heading level, title, path into the card's JSON form, kind, table columns)
_SECTIONS: tuple[tuple[int, str, tuple[str, ...], Kind, tuple[str, ...]], ...] = (
    (2, "Model Details", (), "parent", ()),
    (3, "Model Description", ("model_details", "overview"), "text", ()),
    (3, "Model Type", ("model_details", "model_type"), "text", ()),
    (3, "Architecture", ("model_details", "architecture"), "text", ()),
    (3, "Version", ("model_details", "version"), "text", ()),
    (3, "Release Date", ("model_details", "date"), "text", ()),
    (3, "Input Format", ("model_details", "input_format"), "text", ()),
    (3, "Output Format", ("model_details", "output_format"), "text", ()),
    (3, "Model Path", ("model_details", "path"), "text", ()),
    (3, "License", ("model_details", "licenses"), "list", ()),
    (3, "Model Sources", ("model_details", "references"), "list", ()),
    (2, "Uses", (), "parent", ()),
    (3, "Direct Use", ("intended_use", "primary_uses"), "list", ()),
    (3, "Intended Users", ("intended_use", "primary_users"), "list", ()),
    (3, "Out-of-Scope Use", ("intended_use", "out_of_scope_uses"), "list", ()),
    (2, "Bias, Risks, and Limitations", (), "parent", ()),
    (3, "Known Limitations", ("caveats_and_recommendations", "known_limitations"), "list", ()),
    (3, "Failure Modes", ("caveats_and_recommendations", "failure_modes"), "list", ()),
    (3, "Tradeoffs", ("caveats_and_recommendations", "tradeoffs"), "list", ()),
    (3, "Potential Biases", ("ethical_considerations", "potential_biases"), "list", ()),
    (
        3,
        "Risks and Mitigations",
        ("ethical_considerations", "risks"),
        "table",
        ("name", "mitigation"),
    ),
    (3, "Sensitive Data", ("ethical_considerations", "sensitive_data", "declared"), "bool", ()),
    (
        3,
        "Sensitive Data Categories",
        ("ethical_considerations", "sensitive_data", "categories"),
        "list",
        (),
    ),
    (3, "Privacy Measures", ("ethical_considerations", "privacy_measures"), "list", ()),
    (
        3,
        "Regulatory Requirements",
        ("ethical_considerations", "regulatory_requirements"),
        "list",
        (),
    ),
    (3, "Recommendations", ("caveats_and_recommendations", "recommendations"), "list", ()),
    (2, "Training Details", (), "parent", ()),
    (3, "Training Data", ("training_data", "description"), "text", ()),
    (
        3,
        "Training Datasets",
        ("training_data", "datasets"),
        "table",
        ("name", "description", "link", "size", "date_start", "date_end"),
    ),
    (3, "Preprocessing", ("training_data", "preprocessing"), "text", ()),
    (2, "Evaluation", (), "parent", ()),
    (3, "Testing Data", ("evaluation_data", "description"), "text", ()),
    (
        3,
        "Testing Datasets",
        ("evaluation_data", "datasets"),
        "table",
        ("name", "description", "link", "size", "date_start", "date_end"),
    ),
    (3, "Testing Preprocessing", ("evaluation_data", "preprocessing"), "text", ()),
    (3, "Factors", ("factors", "relevant_factors"), "list", ()),
    (3, "Evaluation Factors", ("factors", "evaluation_factors"), "list", ()),
    (
        3,
        "Results",
        ("metrics", "performance_metrics"),
        "table",
        ("name", "value", "slice", "confidence_interval.low", "confidence_interval.high"),
    ),
    (
        3,
        "Decision Thresholds",
        ("metrics", "decision_thresholds"),
        "table",
        ("value", "metric", "description"),
    ),
    (3, "Variation Approaches", ("metrics", "variation_approaches"), "text", ()),
    (
        3,
        "Fairness Metrics",
        ("quantitative_analyses", "fairness_metrics"),
        "table",
        ("name", "group", "value"),
    ),
    (3, "Unitary Results", ("quantitative_analyses", "unitary_results"), "text", ()),
    (3, "Intersectional Results", ("quantitative_analyses", "intersectional_results"), "text", ()),
    (2, "Citation", ("model_details", "citations"), "list", ()),
    (2, "Model Card Contact", ("model_details", "owners"), "table", ("name", "contact")),
)

_TASK = "other"  # our cards carry no Hub task; "other" is the Hub's catch-all


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    *parents, leaf = path
    for part in parents:
        data = data.setdefault(part, {})
    data[leaf] = value


def _encode(kind: Kind, value: Any, columns: tuple[str, ...]) -> str | None:
    if value is None or value == []:
        return None
    if kind == "text":
        return md.encode_text(value)
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "list":
        return md.encode_list(value)
    return md.encode_table(columns, value)


def _body(data: dict[str, Any]) -> str:
    out = [f"# Model Card for {md.encode_text(data['model_details']['name'])}"]
    pending_parent: str | None = None
    for level, title, path, kind, columns in _SECTIONS:
        if kind == "parent":
            pending_parent = f"{'#' * level} {title}"
            continue
        block = _encode(kind, _get(data, path), columns)
        if block is None:
            continue
        if pending_parent and level > 2:
            out.append(pending_parent)
            pending_parent = None
        out.extend([f"{'#' * level} {title}", block])
    return "\n\n".join(out) + "\n"


def _eval_result(metric: dict[str, Any]) -> EvalResult:
    args = {
        "slice": metric.get("slice"),
        "ci_low": _get(metric, ("confidence_interval", "low")),
        "ci_high": _get(metric, ("confidence_interval", "high")),
    }
    return EvalResult(
        task_type=_TASK,
        dataset_type=metric["dataset"],
        dataset_name=metric["dataset"],
        metric_type=metric["name"],
        metric_name=metric["name"],
        metric_value=metric["value"],
        metric_args={k: v for k, v in args.items() if v is not None} or None,
    )


def to_huggingface_card(card: ModelCard) -> HFModelCard:
    """The card as a `huggingface_hub.ModelCard`, ready to `save()` as README.md."""
    data = card.model_dump(mode="json")
    metrics = data["metrics"]["performance_metrics"]
    data["metrics"]["performance_metrics"] = [m for m in metrics if m.get("dataset") is None]
    datasets = [
        d["name"] for s in ("training_data", "evaluation_data") for d in data[s]["datasets"]
    ]
    licenses = card.model_details.licenses
    card_data = ModelCardData(
        model_name=card.model_details.name,
        license=licenses[0] if len(licenses) == 1 else None,
        datasets=list(dict.fromkeys(datasets)) or None,
        metrics=list(dict.fromkeys(m["name"] for m in metrics)) or None,
        eval_results=[_eval_result(m) for m in metrics if m.get("dataset") is not None] or None,
    )
    return HFModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{_body(data)}")


def to_huggingface(card: ModelCard) -> str:
    """The text of a Hugging Face README.md for the card."""
    return str(to_huggingface_card(card))


def _clean(value: Any) -> str:
    """Front-matter text normalised like body text: LF line ends, no outer whitespace."""
    return str(value).replace("\r\n", "\n").strip()


def _text(value: Any, field: str, *, expected: str = "a string") -> str | None:
    """A front-matter value that must be text (a YAML string or number), cleaned."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid.field(
            "readme",
            f"front matter field {field!r} must be {expected}, not {type(value).__name__}",
        )
    return _clean(value)


def _texts(value: Any, field: str) -> list[str]:
    """A front-matter value that must be a string or a list of strings."""
    if not isinstance(value, list):
        text = _text(value, field, expected="a string or a list of strings")
        return [] if text is None else [text]
    return [_text(item, f"{field}[{i}]") or "" for i, item in enumerate(value)]


def _metric(result: EvalResult, field: str) -> dict[str, Any] | None:
    name = _text(result.metric_name, f"{field} metric name")
    kind = _text(result.metric_type, f"{field} metric type")
    dataset = _text(result.dataset_name, f"{field} dataset name")
    dataset_type = _text(result.dataset_type, f"{field} dataset type")
    args = result.metric_args or {}
    if not isinstance(args, dict):
        raise Invalid.field("readme", f"front matter field '{field} metric args' must be a mapping")
    try:
        value = float(result.metric_value)
    except (TypeError, ValueError):
        logger.info("skipping non-numeric eval result", extra={"metric": kind})
        return None
    metric: dict[str, Any] = {
        "name": name or kind,
        "value": value,
        "dataset": dataset or dataset_type,
    }
    if args.get("slice") is not None:
        metric["slice"] = _text(args["slice"], f"{field} metric args slice")
    if args.get("ci_low") is not None and args.get("ci_high") is not None:
        metric["confidence_interval"] = {"low": args["ci_low"], "high": args["ci_high"]}
    return metric


@dataclass(frozen=True, slots=True)
class _Metadata:
    """What the import reads from the front matter, each field of the type it must have."""

    name: str | None
    license: str | None
    datasets: list[str]
    metrics: list[dict[str, Any]]


def _metadata(front: dict[str, Any]) -> _Metadata:
    try:
        meta = ModelCardData(**front)
    except (ValueError, TypeError, AttributeError) as exc:  # a model-index of the wrong shape
        raise Invalid.field("readme", f"not a Hugging Face model card: {exc}") from exc
    named_by = "model_name" if meta.model_name is front.get("model_name") else "model-index name"
    metrics = [
        metric
        for i, result in enumerate(meta.eval_results or [])
        if (metric := _metric(result, f"model-index result {i + 1}")) is not None
    ]
    return _Metadata(
        name=_text(meta.model_name, named_by),
        license=_text(meta.license, "license"),
        datasets=_texts(meta.datasets, "datasets"),
        metrics=metrics,
    )


def _title_name(sections_title: str | None) -> str | None:
    prefix = "model card for "
    if sections_title and sections_title.casefold().startswith(prefix):
        return sections_title[len(prefix) :].strip() or None
    return sections_title


def _answer(block: str) -> bool | None:
    """A yes/no section read by its first word ("Yes.", "No, none collected"); anything else
    ("TBD", "[More Information Needed]") is no answer, never a "no"."""
    words = re.findall(r"[a-z]+", (md.decode_text(block) or "").casefold())
    first = words[0] if words else ""
    if first in {"yes", "true"}:
        return True
    if first in {"no", "false"}:
        return False
    return None


def from_huggingface(readme: str) -> ModelCard:
    """Parse a Hugging Face README.md into a card; raise `Invalid` when it cannot be one."""
    front, text = split_front_matter(readme)
    meta = _metadata(front)
    body = md.split_sections(text)
    data: dict[str, Any] = {"model_details": {}}
    for _level, title, path, kind, _columns in _SECTIONS:
        block = body.get(md.normalize_title(title))
        if kind == "parent" or block is None:
            continue
        value: Any
        if kind == "text":
            value = md.decode_text(block)
        elif kind == "bool":
            value = _answer(block)
        elif kind == "list":
            value = md.decode_list(block)
        else:
            value = md.decode_table(block)
        if value is not None and value != []:
            _set(data, path, value)
    details = data["model_details"]
    first_h1 = next(
        (md.decode_text(line[2:]) for line in text.split("\n") if line.startswith("# ")), None
    )
    details["name"] = meta.name or _title_name(first_h1)
    if not details["name"]:
        raise Invalid.field("readme", "the card names no model; set model_name in the metadata")
    if "licenses" not in details and meta.license:
        details["licenses"] = [meta.license]
    if meta.datasets and not (
        _get(data, ("training_data", "datasets")) or _get(data, ("evaluation_data", "datasets"))
    ):
        _set(data, ("training_data", "datasets"), [{"name": n} for n in meta.datasets])
    table = _get(data, ("metrics", "performance_metrics")) or []
    if meta.metrics or table:
        _set(data, ("metrics", "performance_metrics"), meta.metrics + table)
    return validate_card(data, source="Hugging Face model card")
