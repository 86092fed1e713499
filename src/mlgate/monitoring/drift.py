"""Data drift: a version's reference profile, the gateway's binned counts, and their comparison.

A *profile* is built once from reference rows (the data the version was validated on). Each
numeric feature gets the reference's quantiles as cut points (``bins`` bins of about equal
reference share), each categorical feature its most common values plus "other". What the
gateway serves is counted in the same bins, plus one bin for a missing or unreadable value, so
production keeps only counts: no input value is stored.

Comparison is per feature, on bin shares: the population stability index (PSI, the drift
decision: ``>= threshold``, 0.2 by default, the usual "significant shift" line), the
Jensen-Shannon distance (base 2, 0 to 1) and a chi-square test's p-value for those who want a
test. PSI is the decision rather than the test because with thousands of requests a test
flags shifts too small to matter. The dataset drifts when at least ``drift_share`` of its
features drift (0.5, as Evidently's default).
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlgate.errors import Invalid
from mlgate.monitoring.schemas import DriftFeatureProfile, FeatureDrift

__all__ = [
    "DEFAULT_BINS",
    "MAX_CATEGORIES",
    "MAX_FEATURES",
    "Binner",
    "DriftWatch",
    "build_profile",
    "check_columns",
    "compare",
]

DEFAULT_BINS = 10
MAX_FEATURES = 200
MAX_CATEGORIES = 20
_EPSILON = 1e-4  # floor of a bin's share in PSI, so an empty bin does not make it infinite
_HALF_MAX = sys.float_info.max / 2
# Type tuples for the binner's loops: a union such as ``list | tuple`` is built on every call.
_SEQUENCES = (list, tuple)
_ROW_TYPES = (list, tuple, dict)
_NUMBERS = (int, float)  # and bool, an int


def check_columns(columns: Sequence[str], input_schema: Any) -> None:
    """Refuse a reference the served inputs cannot be matched to, as far as the schema says.

    Served rows are read by position (lists) or by name (objects, or columns of lists): a
    reference whose width differs from fixed-width rows, or that names a field closed objects
    cannot have, would leave every request unreadable and drift unmeasured.
    """
    if not isinstance(input_schema, dict):
        return
    rows = input_schema.get("items")
    if isinstance(rows, dict) and rows.get("type") == "array":
        width = _fixed_width(rows)
        if width is not None and width != len(columns):
            raise Invalid.field(
                "columns",
                f"the reference has {len(columns)} columns; the version's inputs are rows of"
                f" {width} values",
            )
        return
    shape = rows if isinstance(rows, dict) and rows.get("type") == "object" else input_schema
    names = shape.get("properties")
    if shape.get("type") != "object" or not isinstance(names, dict):
        return
    unknown = [c for c in columns if c not in names]
    if unknown and shape.get("additionalProperties") is False:
        raise Invalid.field(
            "columns",
            f"the version's inputs have no field {', '.join(unknown[:5])};"
            f" they have {', '.join(list(names)[:20])}",
        )


def _fixed_width(row: dict[str, Any]) -> int | None:
    prefix = row.get("prefixItems")
    if isinstance(prefix, list) and row.get("items") is False:
        return len(prefix)
    low, high = row.get("minItems"), row.get("maxItems")
    return low if isinstance(low, int) and low == high else None


def build_profile(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], *, bins: int = DEFAULT_BINS
) -> list[DriftFeatureProfile]:
    """The reference profile of ``rows`` (one value per column each)."""
    if not columns:
        raise Invalid.field("columns", "name at least one feature")
    if len(columns) > MAX_FEATURES:
        raise Invalid.field("columns", f"at most {MAX_FEATURES} features are profiled")
    repeated = [name for name, count in Counter(columns).items() if count > 1]
    if repeated:
        raise Invalid.field(
            "columns",
            f"feature names must be unique; {', '.join(repeated[:5])} appear more than once",
        )
    if not 2 <= bins <= 50:
        raise Invalid.field("bins", "must be between 2 and 50")
    if len(rows) < bins * 10:
        raise Invalid.field("rows", f"need at least {bins * 10} reference rows for {bins} bins")
    for index, row in enumerate(rows):
        if len(row) != len(columns):
            raise Invalid.field(
                f"rows[{index}]", f"has {len(row)} values for {len(columns)} columns"
            )
    return [
        _profile_feature(name, [row[i] for row in rows], bins) for i, name in enumerate(columns)
    ]


def _number(value: Any) -> float | None:
    """A finite number of the reference (a boolean or a text is not one), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float's range: JSON allows one
        return None
    return number if math.isfinite(number) else None


def _missing(value: Any) -> bool:
    """None, '' and a number that is not finite (NaN, as CSV and pandas write a gap, ±inf, or
    an integer beyond float's range)."""
    if value is None or value == "":
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and _number(value) is None


def _cuts(data: np.ndarray, bins: int) -> np.ndarray:
    """Cut points at the reference's quantiles, and one just above each point mass.

    A value holding a bin's share or more on its own (a flag's 0, a zero-inflated amount's 0, a
    constant) gets the bin ``[v, nextafter(v))`` for itself: otherwise values above it would be
    counted with it, and a flag going from 5 % to 50 % ones would not move a single bin.
    """
    ordered = np.sort(data)
    shares = np.linspace(0, 1, bins + 1)[1:-1]
    if ordered[-1] / 2 - ordered[0] / 2 > _HALF_MAX:  # the range itself overflows: halve it
        cuts = np.unique(np.quantile(ordered / 2, shares) * 2)
    else:
        cuts = np.unique(np.quantile(ordered, shares))
    mass = np.searchsorted(ordered, cuts, side="right") - np.searchsorted(ordered, cuts)
    above = np.nextafter(cuts[mass * bins >= ordered.size], np.inf)
    return np.union1d(cuts, above[np.isfinite(above)])


def _profile_feature(name: str, values: list[Any], bins: int) -> DriftFeatureProfile:
    present = [v for v in values if not _missing(v)]
    numbers = [n for n in map(_number, present) if n is not None]
    if present and len(numbers) == len(present):
        data = np.asarray(numbers)
        cuts = _cuts(data, bins)
        edges = [float(c) for c in cuts]
        counts = np.bincount(np.searchsorted(cuts, data, side="right"), minlength=len(edges) + 1)
        # Values near float's limit would overflow the sum or the squares: scale them first.
        peak = float(np.abs(data).max())
        scale = peak if peak > 1e100 else 1.0
        scaled = data / scale
        return DriftFeatureProfile(
            name=name,
            kind="numeric",
            edges=edges,
            reference=[*counts.tolist(), len(values) - len(numbers)],
            mean=float(scaled.mean()) * scale,
            std=float(scaled.std()) * scale,
            min=float(data.min()),
            max=float(data.max()),
        )
    common = Counter(str(v) for v in present).most_common(MAX_CATEGORIES)
    categories = [value for value, _ in common]
    known = sum(count for _, count in common)
    return DriftFeatureProfile(
        name=name,
        kind="categorical",
        categories=categories,
        reference=[
            *(count for _, count in common),
            len(present) - known,
            len(values) - len(present),
        ],
    )


@dataclass(frozen=True, slots=True)
class _Columns:
    """A request sent as columns by feature name, and its rows: its longest feature column."""

    inputs: dict[str, Any]
    rows: int


@dataclass(frozen=True, slots=True)
class _Feature:
    name: str
    edges: tuple[float, ...] | None  # numeric: cut points
    categories: dict[str, int] | None  # categorical: value -> bin
    bins: int  # including "other" (categorical) and the last bin: missing
    spellings: dict[tuple[bool, float], int]  # categorical: (is a boolean, value) -> bin


def _spellings(categories: Sequence[str]) -> dict[tuple[bool, float], int]:
    """The bins a served JSON boolean or number takes when a category is its text in another
    spelling: ``true`` or ``TRUE`` for true, ``1`` or ``1.0`` for 1. Keyed apart, as True == 1."""
    found: dict[tuple[bool, float], int] = {}
    for index, text in enumerate(categories):
        if text.lower() in ("true", "false"):
            found.setdefault((True, text.lower() == "true"), index)
            continue
        try:
            number = float(text)
        except ValueError:
            continue
        if math.isfinite(number):
            found.setdefault((False, number), index)
    return found


class Binner:
    """Counts served inputs into a profile's bins; built once per route table, used off-loop.

    Inputs are read as rows: a list of rows (each a list, by position, or an object, by
    feature name), one row, an object of columns (feature name -> list of values), or one named
    tensor holding rows (see ``_rows``). A request none of whose rows can be read is unreadable.
    A value is read as the model reads it: in a numeric feature numeric text is its number and
    a boolean 1 or 0; in a categorical one a JSON boolean or number matches its category however
    the reference spelled it (``true``, ``TRUE``; ``1``, ``1.0``). Values are binned a column
    at a time with numpy (``bench/drift.py``: one value at a time with ``bisect`` it took 15 µs
    per 10-feature row), since this runs on a thread that shares the GIL with the event loop.
    Counting a request reads at most ``size(inputs)`` values (and one per feature), whatever
    its shape: columns are counted as columns, never padded out to rows.
    """

    __slots__ = ("_edges", "_features", "_known", "_names")

    def __init__(self, profile: Sequence[DriftFeatureProfile]) -> None:
        self._features = tuple(
            _Feature(
                p.name,
                tuple(p.edges) if p.kind == "numeric" else None,
                {c: i for i, c in enumerate(p.categories)} if p.kind == "categorical" else None,
                len(p.reference),
                _spellings(p.categories) if p.kind == "categorical" else {},
            )
            for p in profile
        )
        self._names = tuple(f.name for f in self._features)
        self._known = frozenset(self._names)
        self._edges = tuple(
            np.asarray(f.edges, dtype=float) if f.edges is not None else None
            for f in self._features
        )

    def empty(self) -> list[list[int]]:
        return [[0] * f.bins for f in self._features]

    def size(self, inputs: Any) -> int:
        """The values counting ``inputs`` reads and holds until then: its rows times the features
        (times the first row's width, or the object's keys, where more), at least the features.

        Rows are counted exactly in every shape (columns: the longest feature column), so a
        request cannot pass as small and cost rows times features when it is counted. Constant
        time for lists; an object costs one look-up per key or per feature, whichever are fewer.
        """
        width = len(self._names)
        found = self._rows(inputs)
        if isinstance(found, _Columns):
            return max(found.rows, 1) * max(width, len(found.inputs))
        if not found:
            return width
        first = found[0]
        return len(found) * max(width, len(first) if isinstance(first, _ROW_TYPES) else 1)

    def count(self, counts: list[list[int]], inputs: Any) -> int:
        """Add one request's rows to ``counts``; returns the rows read (0: unreadable)."""
        return self.count_all(counts, [inputs])[0]

    def count_all(self, counts: list[list[int]], requests: Iterable[Any]) -> tuple[int, int]:
        """Add every request's rows to ``counts``; returns (rows read, unreadable requests)."""
        width, names = len(self._features), self._names
        table: list[Sequence[Any]] = []
        columns: list[list[Any]] = [[] for _ in names]  # the values of requests sent as columns
        gaps = [0] * width  # and the rows their column of each feature lacks: missing values
        read = unreadable = 0
        for inputs in requests:
            found = self._rows(inputs)
            if isinstance(found, _Columns):
                rows = found.rows
                for index, column in enumerate(map(found.inputs.get, names)):
                    held = column if isinstance(column, list) else ()
                    columns[index].extend(held)
                    gaps[index] += rows - len(held)
            else:
                before = len(table)
                for row in found:
                    if isinstance(row, _SEQUENCES):
                        if len(row) == width:
                            table.append(row)
                    elif isinstance(row, dict):
                        table.append([row.get(name) for name in names])
                rows = len(table) - before
            read += rows
            unreadable += rows == 0
        if read:
            for index, feature in enumerate(self._features):
                column = [row[index] for row in table]
                column += columns[index]
                edges = self._edges[index]
                if edges is not None:
                    _tally_numbers(counts[index], edges, column)
                else:
                    _tally_categories(counts[index], feature, column)
                counts[index][-1] += gaps[index]
        return read, unreadable

    def _rows(self, inputs: Any) -> Sequence[Any] | _Columns:
        """The rows of the shapes the backends take: rows, one row (a flat list, or an object),
        or one named tensor (KServe v2, MLflow) holding any of the list shapes; or columns by
        feature name (one missing, or short, lacks those values), to be counted as columns."""
        if isinstance(inputs, list):
            flat = bool(inputs) and not isinstance(inputs[0], _ROW_TYPES)
            return (inputs,) if flat else inputs
        if not isinstance(inputs, dict) or not inputs:
            return ()
        present = self._present(inputs)
        lengths = [len(value) for value in present if isinstance(value, list)]
        if lengths:
            return _Columns(inputs, max(lengths))
        if present:
            return (inputs,)
        if len(inputs) == 1:
            (tensor,) = inputs.values()
            return self._rows(tensor) if isinstance(tensor, list) else ()
        return ()

    def _present(self, inputs: dict[str, Any]) -> list[Any]:
        """The values ``inputs`` holds for features, looked up from its keys or the features,
        whichever are fewer: a request may send thousands of keys, a profile has 200 features."""
        if len(inputs) < len(self._names):
            known = self._known
            return [value for key, value in inputs.items() if key in known]
        return [inputs[name] for name in self._names if name in inputs]


def _as_number(value: Any) -> float:
    """A served value as the model reads it: text that is a number as that number, a boolean as
    1 or 0 (as numpy casts it); anything else NaN, which is counted as missing."""
    try:
        return float(value) if isinstance(value, int | float | str) else math.nan
    except (ValueError, OverflowError):  # not a number; an integer beyond float's range
        return math.nan


def _tally_numbers(tally: list[int], edges: np.ndarray, column: list[Any]) -> None:
    """Numbers into the bins cut at ``edges``; anything else (None, NaN, ±inf) missing."""
    try:  # plain numbers, the usual case, and missing ones (None) skip the call
        values = np.fromiter(
            (
                v
                if type(v) is float or type(v) is int
                else math.nan
                if v is None
                else _as_number(v)
                for v in column
            ),
            dtype=float,
            count=len(column),
        )
    except OverflowError:  # an integer beyond float's range (orjson reads it as a float)
        values = np.fromiter(map(_as_number, column), dtype=float, count=len(column))
    finite = np.isfinite(values)
    bins = np.searchsorted(edges, values[finite], side="right")
    found = np.bincount(bins, minlength=len(edges) + 1)
    for index, count in enumerate(found.tolist()):
        tally[index] += count
    tally[-1] += len(column) - int(finite.sum())


def _tally_categories(tally: list[int], feature: _Feature, column: list[Any]) -> None:
    assert feature.categories is not None
    categories, spellings, missing = feature.categories, feature.spellings, feature.bins - 1
    other = missing - 1
    for value in column:
        if value is None or value == "":
            tally[missing] += 1
            continue
        if isinstance(value, str):
            found = categories.get(value, other)
        elif isinstance(value, _NUMBERS):
            found = categories.get(str(value), other)
            if found == other and spellings:
                found = spellings.get((isinstance(value, bool), value), other)
        else:  # a list or an object is no category (and str() of one nested deep recurses)
            found = other
        tally[found] += 1


@dataclass(frozen=True, slots=True)
class DriftWatch:
    """What the gateway needs to count a target's inputs: its reference's id and bins."""

    reference_id: str
    binner: Binner


def compare(
    profile: DriftFeatureProfile, current: Sequence[int], *, threshold: float
) -> FeatureDrift:
    """How far ``current`` counts (in ``profile``'s bins) moved from the reference."""
    # Imported here: the gateway builds Binners from this module and never compares.
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency

    reference = np.asarray(profile.reference, dtype=float)
    observed = np.asarray(current, dtype=float)
    if observed.shape != reference.shape:
        raise ValueError(f"{profile.name}: {observed.size} counts for {reference.size} bins")
    total = int(observed.sum())
    if total == 0:
        return FeatureDrift(name=profile.name, kind=profile.kind, rows=0, current=list(current))
    expected_share = reference / reference.sum()
    actual_share = observed / total
    floor_e = np.maximum(expected_share, _EPSILON)
    floor_a = np.maximum(actual_share, _EPSILON)
    psi = float(np.sum((floor_a - floor_e) * np.log(floor_a / floor_e)))
    js = float(jensenshannon(expected_share, actual_share, base=2))
    used = (reference + observed) > 0
    p_value = 1.0
    if used.sum() >= 2:
        p_value = float(chi2_contingency(np.vstack([reference[used], observed[used]]))[1])
    return FeatureDrift(
        name=profile.name,
        kind=profile.kind,
        rows=total,
        current=list(current),
        psi=round(psi, 6),
        js_distance=round(js if math.isfinite(js) else 0.0, 6),
        p_value=p_value,
        drifted=psi >= threshold,
    )
