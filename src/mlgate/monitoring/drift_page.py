"""The drift report as a page: PSI and bin-share charts computed here, drawn by the template as SVG.

Like the traffic page it is self-contained (inline CSS and SVG, no scripts, nothing fetched) and
escapes every value it shows: route, model, feature and category names come from users, so no
text is ever marked safe. Bars run horizontally so that long names and ~50 features still read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from mlgate.monitoring.schemas import DriftFeatureProfile, DriftReport, FeatureDrift, TargetDrift
from mlgate.monitoring.traffic_page import Chart, Label, Rect, Series, environment, format_share

__all__ = ["render"]


def render(report: DriftReport) -> str:
    return (
        environment()
        .get_template("drift.html.j2")
        .render(
            report=report,
            verdict=_verdict(report),
            targets=[_target_view(report, target) for target in report.targets],
        )
    )


_STATUS = {
    "drift": "drift",
    "no_drift": "no drift",
    "not_enough_data": "not enough data",
    "no_reference": "no reference",
}


@dataclass(frozen=True, slots=True)
class _Verdict:
    kind: str  # the CSS class: drift, no_drift, unjudged
    text: str


@dataclass(frozen=True, slots=True)
class _FeatureView:
    name: str
    kind: str
    rows: int
    psi: str
    js_distance: str
    p_value: str
    drifted: bool  # at or past the threshold (in a version judged: drifted)
    chart: Chart | None  # None: the report holds no reference bins for it


@dataclass(frozen=True, slots=True)
class _TargetView:
    name: str  # model@version
    status: str  # the slug, also the CSS class
    status_text: str
    target: TargetDrift
    sentence: str | None  # why the version is not judged, or why it has no charts
    psi_chart: Chart | None
    features: tuple[_FeatureView, ...]
    judged: bool  # too few rows: features past the threshold are not called drifted


def _verdict(report: DriftReport) -> _Verdict:
    judged = [t for t in report.targets if t.status in ("drift", "no_drift")]
    if report.drifted:
        drifting = sum(t.status == "drift" for t in report.targets)
        return _Verdict("drift", f"Drift: {drifting} of {_versions(len(report.targets))} drifted.")
    if judged:
        return _Verdict("no_drift", f"No drift in the {_versions(len(judged))} judged.")
    if not report.targets:
        return _Verdict(
            "unjudged", "Not judged: no version with a drift reference served this route."
        )
    if all(t.status == "no_reference" for t in report.targets):
        return _Verdict(
            "unjudged",
            "Not judged: the versions served have no reference to compare with (it was "
            "replaced or the version deleted).",
        )
    return _Verdict("unjudged", "Not judged: no version served enough rows.")


def _versions(count: int) -> str:
    return f"{count} version" if count == 1 else f"{count} versions"


def _sentence(report: DriftReport, target: TargetDrift) -> str | None:
    if target.status == "no_reference":
        return (
            f"No reference to compare with: the profile these {target.requests} requests were "
            "counted against was replaced or its version deleted."
        )
    if target.rows == 0:
        unread = (
            f"; {target.unreadable} of {target.requests} requests could not be read as rows"
            if target.unreadable
            else ""
        )
        return f"Not enough data: no rows were read in this window{unread}."
    if target.status == "not_enough_data":
        return (
            f"Not enough data: {target.rows} rows, fewer than the {report.min_rows} needed to "
            "judge. The charts show what was served so far."
        )
    return None


def _target_view(report: DriftReport, target: TargetDrift) -> _TargetView:
    charted = target.status != "no_reference" and target.rows > 0
    profiles = {p.name: p for p in target.reference}
    features = tuple(
        _FeatureView(
            name=f.name,
            kind=f.kind,
            rows=f.rows,
            psi=_decimal(f.psi),
            js_distance=_decimal(f.js_distance),
            p_value="-" if f.p_value is None else f"{f.p_value:.3g}",
            drifted=f.drifted,
            chart=_bins_chart(profiles[f.name], f) if charted and f.name in profiles else None,
        )
        for f in target.features
    )
    return _TargetView(
        name=f"{target.model}@{target.version}",
        status=target.status,
        status_text=_STATUS.get(target.status, target.status),
        target=target,
        sentence=_sentence(report, target),
        psi_chart=_psi_chart(target.features, report.threshold) if charted else None,
        features=features,
        judged=target.status in ("drift", "no_drift"),
    )


def _decimal(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _clip(text: str, limit: int) -> str:
    """Room in a chart's margin is short; the table and <title> carry the whole name."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


_PSI_WIDTH, _PSI_LEFT, _PSI_RIGHT, _PSI_TOP = 720.0, 176.0, 650.0, 24.0


def _psi_chart(features: Sequence[FeatureDrift], threshold: float) -> Chart:
    row = 20.0 if len(features) <= 20 else 14.0
    bottom = _PSI_TOP + row * max(len(features), 1)
    plot = _PSI_RIGHT - _PSI_LEFT
    top = max([f.psi or 0.0 for f in features] + [threshold]) * 1.1
    rects, labels = [], []
    for index, feature in enumerate(features):
        y = _PSI_TOP + index * row
        middle = y + row / 2 + 4
        labels.append(Label(_PSI_LEFT - 6, middle, _clip(feature.name, 24), "end"))
        if feature.psi is None:
            labels.append(Label(_PSI_LEFT + 4, middle, "no rows", "start"))
            continue
        width = max(plot * feature.psi / top, 0.5)
        verdict = f"drifted: at or above {threshold:g}" if feature.drifted else "below threshold"
        kind = "drifted" if feature.drifted else "stable"
        title = f"{feature.name}: PSI {feature.psi:.6g} ({verdict})"
        rects.append(Rect(_PSI_LEFT, y + row * 0.15, width, row * 0.7, kind, title))
        labels.append(Label(_PSI_LEFT + width + 4, middle, f"{feature.psi:.3f}", "start"))
    line = _PSI_LEFT + plot * threshold / top
    anchor = "end" if line > _PSI_RIGHT - 60 else "start"
    labels += [
        Label(
            line + (-4 if anchor == "end" else 4), _PSI_TOP - 8, f"threshold {threshold:g}", anchor
        ),
        Label(_PSI_LEFT, bottom + 16, "0"),
        Label(_PSI_RIGHT, bottom + 16, f"PSI {top:.3g}", "end"),
    ]
    threshold_line = Series(
        "threshold", (f"{line:.1f},{_PSI_TOP - 4:.1f} {line:.1f},{bottom:.1f}",), ()
    )
    return Chart(
        "PSI per feature",
        rects=tuple(rects),
        series=(threshold_line,),
        labels=tuple(labels),
        width=_PSI_WIDTH,
        height=bottom + 24,
        left=_PSI_LEFT,
        right=_PSI_RIGHT,
        top=_PSI_TOP - 4,
        bottom=bottom,
    )


def _edge(value: float, exact: bool) -> str:
    if exact:
        return f"{value:g}"
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"


def _bin_names(profile: DriftFeatureProfile, *, exact: bool = False) -> list[str]:
    """One name per bin of ``profile``, in order; ``exact`` gives the edges in full.

    A cut just above another (``nextafter``) marks a point mass: the bin between them holds
    that one value ("= 0"), and the next starts above it ("> 0 to 5").
    """
    if profile.kind == "categorical":
        return [*profile.categories, "(other)", "(missing)"]
    edges = profile.edges
    if not edges:
        return ["any value", "(missing)"]
    text = [_edge(e, exact) for e in edges]
    names, start = [f"< {text[0]}"], text[0]  # start: how the next bin begins
    for index, (low, high) in enumerate(pairwise(edges), start=1):
        if high == math.nextafter(low, math.inf):
            names.append(f"= {text[index - 1]}")
            start = f"> {text[index - 1]}"
        else:
            names.append(f"{start} to {text[index]}")
            start = text[index]
    return [*names, start if start.startswith(">") else f">= {start}", "(missing)"]


_BINS_WIDTH, _BINS_LEFT, _BINS_RIGHT, _BINS_TOP = 310.0, 104.0, 298.0, 6.0


def _exact(count: int, total: int) -> str:
    if not total:
        return "none"
    return f"{count / total * 100:.2f}% ({count:,} of {total:,})"


def _bins_chart(profile: DriftFeatureProfile, feature: FeatureDrift) -> Chart:
    """Reference share over current share, one row per bin; each row's title has both exactly."""
    reference, current = profile.reference, feature.current
    names, exact = _bin_names(profile), _bin_names(profile, exact=True)
    bins = min(len(reference), len(current), len(names))
    ref_total, cur_total = sum(reference), sum(current)
    ref_shares = [c / ref_total if ref_total else 0.0 for c in reference[:bins]]
    cur_shares = [c / cur_total if cur_total else 0.0 for c in current[:bins]]
    top = max([*ref_shares, *cur_shares, 0.01])
    row = 16.0 if bins <= 24 else 10.0
    plot = _BINS_RIGHT - _BINS_LEFT
    bottom = _BINS_TOP + row * bins
    now = "drifted" if feature.drifted else "current"
    rects, labels = [], []
    for index in range(bins):
        y = _BINS_TOP + index * row
        title = (
            f"{exact[index]}: reference {_exact(reference[index], ref_total)}, "
            f"current {_exact(current[index], cur_total)}"
        )
        rects.append(Rect(0.0, y, _BINS_RIGHT, row, "band", title))
        for offset, kind, share, count, total in (
            (0.1, "reference", ref_shares[index], reference[index], ref_total),
            (0.5, now, cur_shares[index], current[index], cur_total),
        ):
            if share:
                which = "reference" if kind == "reference" else "current"
                bar_title = f"{exact[index]}: {which} {_exact(count, total)}"
                width = max(plot * share / top, 0.5)
                rects.append(Rect(_BINS_LEFT, y + row * offset, width, row * 0.38, kind, bar_title))
        labels.append(Label(_BINS_LEFT - 5, y + row / 2 + 3.5, _clip(names[index], 16), "end"))
    labels += [
        Label(_BINS_LEFT, bottom + 14, "0"),
        Label(_BINS_RIGHT, bottom + 14, format_share(top), "end"),
    ]
    return Chart(
        f"Reference and current share per bin of {profile.name}",
        rects=tuple(rects),
        labels=tuple(labels),
        width=_BINS_WIDTH,
        height=bottom + 20,
        left=_BINS_LEFT,
        right=_BINS_RIGHT,
        top=_BINS_TOP,
        bottom=bottom,
    )
