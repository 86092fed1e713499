"""Benchmarks the artifact scanner against picklescan and modelscan: throughput and detections.

Run: ``.venv/bin/python bench/scan.py [--size-gb 1.0] [--repeat 3]``. It writes a >= 1 GB PyTorch
checkpoint and the test corpora under a temporary directory (never the repo), scans each with every
tool available, and writes medians, MB/s, ratios and side-by-side verdicts to
bench/results/scan.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import pickle
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.scanning.corpus import build_benign, build_malicious

from mlgate.scanning import Severity, scan_path

Verdict = Callable[[Path], bool | None]  # True flagged, False clean, None: tool errored


def mlgate_flags(path: Path) -> bool | None:
    report = scan_path(path)
    return report.max_severity is not None and report.max_severity.rank >= Severity.HIGH.rank


def picklescan_flags(path: Path) -> bool | None:
    from picklescan.scanner import scan_directory_path, scan_file_path

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = scan_directory_path(str(path)) if path.is_dir() else scan_file_path(str(path))
    if result.issues_count or result.infected_files:
        return True
    return None if result.scan_err else False


def modelscan_flags(path: Path) -> bool | None:
    from modelscan.modelscan import ModelScan

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = ModelScan().scan(str(path))
    severities = result["summary"]["total_issues_by_severity"]
    if severities.get("CRITICAL", 0) or severities.get("HIGH", 0):
        return True
    if result["errors"] or not result["summary"]["scanned"]["total_scanned"]:
        return None  # errored, or skipped the file as unsupported
    return False


def available_tools() -> dict[str, Verdict]:
    tools: dict[str, Verdict] = {"mlgate": mlgate_flags}
    for name, probe, fn in (
        ("picklescan", "picklescan.scanner", picklescan_flags),
        ("modelscan", "modelscan.modelscan", modelscan_flags),
    ):
        try:
            __import__(probe)
        except ImportError:
            logging.warning("%s not installed; skipped", name)
            continue
        tools[name] = fn
    return tools


def make_checkpoint(directory: Path, size_gb: float) -> Path:
    import torch

    path = directory / f"checkpoint-{size_gb:g}gb.pt"
    if path.exists():
        return path
    per_tensor = 64 << 20  # float32 elements: 256 MiB each
    count = max(1, round(size_gb * (1 << 30) / (per_tensor * 4)))
    state = {f"layer{i}.weight": torch.full((per_tensor,), float(i)) for i in range(count)}
    state["meta.step"] = torch.tensor(1000)
    torch.save(state, path)
    return path


def make_opcode_heavy_pickle(directory: Path, items: int = 1_000_000) -> Path:
    """Many small objects: every opcode is disassembled, nothing is skipped."""
    path = directory / f"objects-{items}.pkl"
    if not path.exists():
        rows = [(i, float(i), f"k{i}", {"n": i}) for i in range(items)]
        path.write_bytes(pickle.dumps(rows, protocol=4))
    return path


def make_joblib_arrays(directory: Path, megabytes: int = 256) -> Path:
    """A joblib dump whose arrays are written inline after the pickle opcodes."""
    import joblib
    import numpy as np

    path = directory / f"arrays-{megabytes}mb.joblib"
    if not path.exists():
        arrays = {f"a{i}": np.ones((megabytes << 20) // 8 // 4, dtype=np.float64) for i in range(4)}
        joblib.dump(arrays, path)
    return path


def timed(fn: Verdict, path: Path, repeat: int) -> tuple[float, bool | None]:
    times, verdict = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        verdict = fn(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times), verdict


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def throughput(tools: dict[str, Verdict], targets: dict[str, Path], repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, target in targets.items():
        size = size_of(target)
        row: dict[str, Any] = {"bytes": size, "tools": {}}
        for name, fn in tools.items():
            median, verdict = timed(fn, target, repeat)
            row["tools"][name] = {
                "median_s": round(median, 4),
                "mb_per_s": round(size / 1e6 / median, 1) if median else None,
                "flagged": verdict,
            }
        base = row["tools"]["mlgate"]["median_s"]
        for stats in row["tools"].values():
            stats["time_vs_mlgate"] = round(stats["median_s"] / base, 2) if base else None
        out[label] = row
    return out


def detections(tools: dict[str, Verdict], files: list[Path]) -> dict[str, dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for path in files:
        table[path.name] = {}
        for name, fn in tools.items():
            try:
                table[path.name][name] = fn(path)
            except Exception as exc:  # a competitor crashing is a result, not a bench failure
                table[path.name][name] = f"crash: {type(exc).__name__}"
    return table


def summarise(
    table: dict[str, dict[str, Any]], tools: dict[str, Verdict], malicious: bool
) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in tools:
        verdicts = [row[name] for row in table.values()]
        hits = sum(v is True for v in verdicts)
        summary[name] = {
            "files": len(verdicts),
            ("detected" if malicious else "false_positives"): hits,
            "errored_or_skipped": sum(v is None or isinstance(v, str) for v in verdicts),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "mlgate-bench"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scan.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("modelscan", "picklescan"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)

    args.workdir.mkdir(parents=True, exist_ok=True)
    for name in ("malicious", "benign"):
        shutil.rmtree(args.workdir / name, ignore_errors=True)
    malicious = build_malicious(args.workdir / "malicious")
    benign = build_benign(args.workdir / "benign")
    checkpoint = make_checkpoint(args.workdir, args.size_gb)
    tools = available_tools()

    results = {
        "bench": "scan",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "repeat": args.repeat,
        "notes": "mlgate reads only the magic bytes of zip tensor members, so checkpoint MB/s "
        "counts bytes covered, not bytes read; the opcode-heavy pickle and joblib "
        "targets measure full disassembly",
        "throughput": throughput(
            tools,
            {
                "pytorch_checkpoint": checkpoint,
                "opcode_heavy_pickle": make_opcode_heavy_pickle(args.workdir),
                "joblib_inline_arrays": make_joblib_arrays(args.workdir),
                "malicious_corpus": args.workdir / "malicious",
                "benign_corpus": args.workdir / "benign",
            },
            args.repeat,
        ),
    }
    mal_table = detections(tools, malicious)
    ben_table = detections(tools, benign)
    results["malicious"] = {"summary": summarise(mal_table, tools, True), "files": mal_table}
    results["benign"] = {"summary": summarise(ben_table, tools, False), "files": ben_table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: results[k] for k in ("throughput",)}, indent=2))
    print(
        json.dumps(
            {"malicious": results["malicious"]["summary"], "benign": results["benign"]["summary"]},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
