"""Drift benchmark: mlgate's binned drift against Evidently's DataDriftPreset, in one run.

The same reference (10,000 rows, 10 numeric features) and the same served data in three
scenarios: no change (100,000 rows), a change (100,000 rows: three features shifted by half a
standard deviation, one widened by half, six untouched), and few rows (300) without and with
one feature shifted by half a standard deviation. For each: which features each tool
flags, the dataset verdict, and the time to a report. mlgate's time is split as the gateway
pays it (binning the served rows a flush gathered, per row) and as the report pays it (from
stored counts), and end to end (profile, bin, compare); Evidently reads both datasets whole
each time. Storage: what each keeps of the
served data (mlgate: the counts; Evidently: the rows).

    .venv/bin/pip install -e '.[bench]'   # Evidently
    .venv/bin/python bench/drift.py [--repeat 3]

With ``--stored-rows [N]`` it runs only the section on the store instead (bench/drift_store.py:
the report over N stored flush rows, 200,000 when N is left out, before and after the hourly
roll-up, on SQLite and PostgreSQL) and writes bench/results/drift_store.json, leaving the
comparison's drift.json as it is:

    .venv/bin/python bench/drift.py --stored-rows [N] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's usage telemetry: off, and offline here

import drift_store
from common import write_result
from mlgate.monitoring.drift import Binner, build_profile, compare

FEATURES = [f"f{i}" for i in range(10)]
THRESHOLD = 0.2
DRIFT_SHARE = 0.5


def scenarios(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, set[str]]]:
    """name -> (served rows, the features that really changed)."""
    same = rng.normal(size=(100_000, 10))
    changed = rng.normal(size=(100_000, 10))
    changed[:, :3] += 0.5
    changed[:, 3] *= 1.5
    few = rng.normal(size=(300, 10))
    few[:, 0] += 0.5
    return {
        "no_change_100k": (same, set()),
        "four_changed_100k": (changed, {"f0", "f1", "f2", "f3"}),
        "no_change_300": (rng.normal(size=(300, 10)), set()),
        "one_changed_300": (few, {"f0"}),
    }


def mlgate_run(reference: np.ndarray, served: np.ndarray) -> dict[str, Any]:
    started = time.perf_counter()
    profile = build_profile(FEATURES, reference.tolist(), bins=10)
    profiled = time.perf_counter()
    binner = Binner(profile)
    counts = binner.empty()
    requests = [[row] for row in served.tolist()]  # one row a request, as the gateway serves
    binned_at = time.perf_counter()
    binner.count_all(counts, requests)  # what a flush does with the requests it gathered
    binned = time.perf_counter()
    features = [compare(p, c, threshold=THRESHOLD) for p, c in zip(profile, counts, strict=True)]
    reported = time.perf_counter()
    flagged = {f.name for f in features if f.drifted}
    return {
        "flagged": sorted(flagged),
        "dataset_drift": len(flagged) >= DRIFT_SHARE * len(FEATURES),
        "profile_s": profiled - started,
        "bin_us_per_row": (binned - binned_at) / len(requests) * 1e6,
        "psi": {f.name: f.psi for f in features},
        "report_from_counts_s": reported - binned,
        "stored_bytes": len(json.dumps(counts)),
    }


def evidently_run(reference: np.ndarray, served: np.ndarray) -> dict[str, Any]:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    ref = pd.DataFrame(reference, columns=FEATURES)
    cur = pd.DataFrame(served, columns=FEATURES)
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset(drift_share=DRIFT_SHARE)]).run(
        current_data=cur, reference_data=ref
    )
    result = snapshot.dict()
    elapsed = time.perf_counter() - started
    flagged, methods, values = set(), set(), {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            methods.add(config["method"])
            value, threshold = metric["value"], config["threshold"]
            values[config["column"]] = round(value, 4)
            # p-value tests drift below their threshold, distances above it
            is_test = "p_value" in config["method"].lower() or "test" in config["method"].lower()
            if (value < threshold) if is_test else (value >= threshold):
                flagged.add(config["column"])
    return {
        "flagged": sorted(flagged),
        "dataset_drift": len(flagged) >= DRIFT_SHARE * len(FEATURES),
        "methods": sorted(methods),
        "values": values,
        "report_s": elapsed,
        "stored_bytes": int(served.astype(np.float64).nbytes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and scenario")
    parser.add_argument(
        "--stored-rows",
        type=int,
        nargs="?",
        const=200_000,
        metavar="N",
        help="run only the report over N stored count rows (default N: 200,000)",
    )
    args = parser.parse_args()
    if args.stored_rows is not None:
        stored = drift_store.run(args.stored_rows, args.repeat)
        print(json.dumps(stored, indent=2))
        print(f"wrote {write_result('drift_store', stored)}")
        return
    rng = np.random.default_rng(20261203)
    reference = rng.normal(size=(10_000, 10))
    results: dict[str, Any] = {"reference_rows": len(reference), "features": len(FEATURES)}
    for name, (served, truth) in scenarios(rng).items():
        ours = [mlgate_run(reference, served) for _ in range(args.repeat)]
        theirs = [evidently_run(reference, served) for _ in range(args.repeat)]
        mine, peer = ours[0], theirs[0]
        results[name] = {
            "served_rows": len(served),
            "changed": sorted(truth),
            "mlgate": {
                "flagged": mine["flagged"],
                "dataset_drift": mine["dataset_drift"],
                "profile_s": round(statistics.median(r["profile_s"] for r in ours), 4),
                "bin_us_per_row": round(statistics.median(r["bin_us_per_row"] for r in ours), 2),
                "psi": {k: round(v, 4) for k, v in mine["psi"].items()},
                "report_from_counts_s": round(
                    statistics.median(r["report_from_counts_s"] for r in ours), 5
                ),
                "stored_bytes": mine["stored_bytes"],
            },
            "evidently": {
                "flagged": peer["flagged"],
                "dataset_drift": peer["dataset_drift"],
                "methods": peer["methods"],
                "values": peer["values"],
                "report_s": round(statistics.median(r["report_s"] for r in theirs), 4),
                "stored_bytes": peer["stored_bytes"],
            },
            "same_features_flagged": mine["flagged"] == peer["flagged"],
            "end_to_end_s": round(
                statistics.median(
                    r["profile_s"]
                    + r["bin_us_per_row"] * len(served) / 1e6
                    + r["report_from_counts_s"]
                    for r in ours
                ),
                4,
            ),
            "report_speedup": round(
                statistics.median(r["report_s"] for r in theirs)
                / statistics.median(r["report_from_counts_s"] for r in ours),
                1,
            ),
        }
    import evidently

    results["evidently_version"] = evidently.__version__
    print(json.dumps(results, indent=2))
    print(f"wrote {write_result('drift', results)}")


if __name__ == "__main__":
    main()
