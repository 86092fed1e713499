"""Read a Model Card Toolkit (MCT) JSON card, v0.0.2 or v0.0.1, and name what of it is not read.

The mapping is the one `mlgate.cards.mct` describes. Import also reads the v0.0.1 shape:
``data`` as ``{"train": …, "eval": …}`` (the key is the role; a nameless dataset is named as
MCT's own upgrade names it), ``sensitive`` as a yes/no, ``license`` and ``citation`` as one
string, references and considerations as plain strings.

Nothing is dropped silently: `read_mct` names, as dotted paths in the input, every non-empty
value the card has no place for (``model_details.documentation``,
``model_parameters.data[0].graphics``, ``quantitative_analysis.graphics``; a v0.0.1 dataset by
its key, ``model_parameters.data.eval.graphics``). The paths come from the parsed input — each
key no input model declares stays in pydantic's ``model_extra`` — so they cannot drift from
what the import reads, while the fields it reads are still type-checked. Empty values (null,
"", [], {}) lose nothing and are not named. A key that is not plain (``[A-Za-z0-9_-]+``) is
written as an escaped JSON string in brackets, ``model_details["gr\\u00f6\\u00dfe"]``: printable
ASCII without commas, so a list of paths is one line and fits an HTTP header.

``version.date`` is free text in MCT and an ISO date on our card. A date the card reads
(``2020-08-28``) is taken as it is. ``MM/DD/YYYY`` or ``DD/MM/YYYY`` is read when one of the
first two numbers is over 12 (``08/28/2020`` and ``28/08/2020`` are 2020-08-28) or both are
equal. Anything else, including an ambiguous date (``03/04/2020``: March 4 or April 3?), does
not fail the import: the card gets no date and ``model_details.version.date`` is named, with the
reason in `ImportedCard.notes`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from mlgate.cards.schemas import ModelCard
from mlgate.cards.validation import validate_card
from mlgate.errors import Invalid, field_errors

__all__ = ["ImportedCard", "from_mct", "read_mct"]

TRAINING, EVALUATION = "training_data", "evaluation_data"
MARKERS = {TRAINING: "[training]", EVALUATION: "[evaluation]"}
# How MCT's v0.0.1 -> v0.0.2 update names a nameless train or eval dataset.
SPLIT_NAMES = {"train": "Training Set", "eval": "Validation Set"}

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SLASHED_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
Unread = Iterator[tuple[str, str | None]]  # (path, why) of what is not read; why None: no place


@dataclass(frozen=True, slots=True)
class ImportedCard:
    """A card read from MCT, and the input's fields (dotted paths) it does not hold."""

    card: ModelCard
    not_imported: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # path -> why, if not "no place"


def _key(path: str, key: str) -> str:
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    quoted = json.dumps(key).replace(",", "\\u002c")  # ASCII, and no comma to split a list at
    return f"{path}[{quoted}]"


def _holds_something(value: Any) -> bool:
    """Not null, "", or containers of only those (iterative: input may nest deeply)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None and item != "":
            return True
    return False


def _unread(value: Any, path: str, keys: list[str] | None = None) -> Unread:
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unread(item, _key(path, keys[index]) if keys else f"{path}[{index}]")
    elif isinstance(value, _Loose):
        yield from value.unread(path)


def _date_of(text: str) -> tuple[dt.date | None, str | None]:
    """MCT's free-text ``version.date`` as a date, or None and why (see the module docstring)."""
    text = text.strip()
    if not text:
        return None, None
    if _ISO_DATE.fullmatch(text):  # not pydantic's lax date: it reads "86400" as Unix time
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(text), None
    shown = json.dumps(text if len(text) <= 40 else text[:37] + "...")
    match = _SLASHED_DATE.fullmatch(text)
    if match:
        first, second, year = (int(n) for n in match.groups())
        readings: set[dt.date] = set()
        for month, day in ((first, second), (second, first)):  # MM/DD, then DD/MM
            with contextlib.suppress(ValueError):  # not a date that way round
                readings.add(dt.date(year, month, day))
        if len(readings) == 1:
            return readings.pop(), None
        if readings:
            early, late = sorted(readings)
            return None, f"{shown} may be {early} or {late}; write it as YYYY-MM-DD"
    return None, f"{shown} is not a date the card can read; write it as YYYY-MM-DD"


class _Loose(BaseModel):
    """MCT input: declared fields are read and type-checked; other keys stay in
    ``model_extra``, where `unread` finds them."""

    model_config = ConfigDict(extra="allow")

    def unread(self, path: str) -> Unread:
        """What of this object, at ``path`` in the input, the import does not read."""
        for name in type(self).model_fields:
            yield from _unread(getattr(self, name), _key(path, name), self._item_keys(name))
        yield from self._unreadable(path)
        for key, value in (self.model_extra or {}).items():
            if _holds_something(value):
                yield _key(path, key), None

    def _item_keys(self, name: str) -> list[str] | None:
        """The input's keys of a list field's items, if the input had an object there."""
        return None

    def _unreadable(self, path: str) -> Unread:
        """Values of declared fields the import cannot read."""
        return iter(())


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

    def read_date(self) -> tuple[dt.date | None, str | None]:
        return _date_of(self.date) if self.date else (None, None)

    def _unreadable(self, path: str) -> Unread:
        _, why = self.read_date()
        if why:
            yield _key(path, "date"), why


class _License(_Loose):
    identifier: str | None = None
    custom_text: str | None = None

    def _unreadable(self, path: str) -> Unread:
        if self.identifier and self.custom_text:
            why = "a license has an identifier or a custom_text; the identifier is imported"
            yield _key(path, "custom_text"), why


class _Owner(_Loose):
    name: str | None = None
    contact: str | None = None


class _Reference(_Loose):
    reference: str | None = None


class _Citation(_Loose):
    citation: str | None = None


class _Details(_Loose):
    name: str
    overview: str | None = None
    owners: list[_Owner] = Field(default_factory=list)
    version: _Version | None = None
    licenses: list[_License] = Field(default_factory=list)
    license: str | None = None  # v0.0.1
    references: list[_Reference] = Field(default_factory=list)
    citations: list[_Citation] = Field(default_factory=list)
    citation: str | None = None  # v0.0.1
    path: str | None = None

    @field_validator("references", mode="before")
    @classmethod
    def _plain_references(cls, value: Any) -> Any:
        return _wrap("reference", value)


def _v001_data(value: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """v0.0.1's ``{"train": dataset, "eval": dataset}`` as a v0.0.2 list (role marked), and
    the key each item came from."""
    data, keys = [], []
    for split, role in (("train", TRAINING), ("eval", EVALUATION)):
        item = value.get(split)
        if isinstance(item, dict):
            described = f"{MARKERS[role]} {item.get('description') or ''}".strip()
            data.append({"name": SPLIT_NAMES[split], **item, "description": described})
        elif item is None:
            continue
        else:
            data.append(item)  # not an object: validation names it
        keys.append(split)
    return data, keys


class _Parameters(_Loose):
    model_architecture: str | None = None
    data: list[_Data] = Field(default_factory=list)
    input_format: str | None = None
    output_format: str | None = None
    _splits: dict[str, Any] | None = PrivateAttr(default=None)  # v0.0.1's data object
    _split_keys: list[str] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _v001(cls, value: Any, handler: ModelWrapValidatorHandler[_Parameters]) -> _Parameters:
        if not (isinstance(value, dict) and isinstance(value.get("data"), dict)):
            return handler(value)
        data, keys = _v001_data(value["data"])
        parameters = handler({**value, "data": data})
        parameters._splits, parameters._split_keys = value["data"], keys
        return parameters

    def _item_keys(self, name: str) -> list[str] | None:
        return self._split_keys if name == "data" else None

    def _unreadable(self, path: str) -> Unread:
        for key, value in (self._splits or {}).items():
            if key not in SPLIT_NAMES and _holds_something(value):
                yield _key(_key(path, "data"), key), None


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
    schema_version: Any = None  # read as a hint only: both shapes are read, whatever it says
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
    for role, marker in MARKERS.items():
        if description[: len(marker)].casefold() == marker:
            return role, description[len(marker) :].strip() or None
    word = _ROLE_WORD.match(description)
    if word:
        training = word.group(1).casefold() in {"train", "training"}
        return (TRAINING if training else EVALUATION), description
    if dataset.name == SPLIT_NAMES["eval"]:
        return EVALUATION, description or None
    return TRAINING, description or None


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


def _card(mct: _MctCard) -> dict[str, Any]:
    """The card's fields from what the input models read."""
    d, p, c = mct.model_details, mct.model_parameters, mct.considerations
    datasets: dict[str, list[dict[str, Any]]] = {TRAINING: [], EVALUATION: []}
    for item in p.data:
        role, description = _role(item)
        datasets[role].append({"name": item.name, "link": item.link, "description": description})
    citations = [x.citation for x in d.citations if x.citation is not None]
    return {
        "model_details": {
            "name": d.name,
            "overview": d.overview,
            "owners": [{"name": o.name, "contact": o.contact} for o in d.owners],
            "version": d.version.name if d.version else None,
            "date": d.version.read_date()[0] if d.version else None,
            "licenses": _licenses(d),
            "references": [x.reference for x in d.references if x.reference is not None],
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
        "training_data": {"datasets": datasets[TRAINING]},
        "evaluation_data": {"datasets": datasets[EVALUATION]},
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


def read_mct(document: Mapping[str, Any]) -> ImportedCard:
    """Parse an MCT v0.0.1 or v0.0.2 JSON object into a card, naming what it does not read;
    raise `Invalid` if malformed."""
    try:
        mct = _MctCard.model_validate(dict(document))
    except ValidationError as exc:
        errors = field_errors(exc, root="card")
        raise Invalid("not a Model Card Toolkit card", errors=errors) from exc
    card = validate_card(_card(mct), source="Model Card Toolkit card")
    unread = list(mct.unread(""))
    notes = {path: why for path, why in unread if why}
    return ImportedCard(card=card, not_imported=[path for path, _ in unread], notes=notes)


def from_mct(document: Mapping[str, Any]) -> ModelCard:
    """Parse an MCT v0.0.1 or v0.0.2 JSON object into a card; raise `Invalid` if malformed."""
    return read_mct(document).card
