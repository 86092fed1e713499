"""PII detection benchmark: mlgate vs Microsoft Presidio on the labelled evaluation set.

Measures throughput (records/s, MB/s) and precision/recall/F1 per entity type for both, in one
run, and writes bench/results/pii.json. Presidio runs fully offline: the 'no-op' NLP engine
(no spaCy model), predefined pattern recognizers, and no public-suffix-list download.

    .venv/bin/python bench/pii.py [--records 3000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Must be set before presidio (and tldextract) are imported.
PRESIDIO_ENV = {"TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "", "PRESIDIO_DEVICE": "cpu"}
os.environ.update(PRESIDIO_ENV)

from tests.privacy.evalset import PATTERN_TYPES, Record, generate
from tests.privacy.scoring import evaluate

from mlgate.privacy import Finding, detect, resolve_overlaps

# Types Presidio also recognizes with an offline pattern recognizer (same entity names).
SHARED_TYPES = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "URL",
    "US_SSN", "ES_NIF", "IT_FISCAL_CODE", "DE_TAX_ID",
)  # fmt: skip
ALL_TYPES = (*PATTERN_TYPES, "PERSON", "LOCATION")

Spans = Callable[[str], list[tuple[str, int, int]]]


def presidio_analyzer() -> tuple[Any, dict[str, Any]]:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        DeTaxIdRecognizer,
        EsNifRecognizer,
        ItFiscalCodeRecognizer,
    )

    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(nlp_engine=nlp, languages=["en"])
    # Country recognizers ship for their own language; register them for English text too.
    for recognizer in (EsNifRecognizer, ItFiscalCodeRecognizer, DeTaxIdRecognizer):
        registry.add_recognizer(recognizer(supported_language="en"))
    engine = AnalyzerEngine(nlp_engine=nlp, registry=registry, supported_languages=["en"])
    from importlib.metadata import version

    config = {
        "version": version("presidio-analyzer"),
        "env": PRESIDIO_ENV,
        "nlp_engine": "NoOpNlpEngine(models=[{'lang_code': 'en', 'model_name': 'none'}])",
        "registry": "RecognizerRegistry(supported_languages=['en'])"
        ".load_predefined_recognizers(nlp_engine=nlp, languages=['en']) + EsNif, ItFiscalCode,"
        " DeTaxId recognizers with supported_language='en'",
        "analyze": f"engine.analyze(text, language='en', entities={list(SHARED_TYPES)})",
        "score_threshold": 0.0,
        "note": "no spaCy model loaded, so no PERSON/LOCATION and no NLP context enhancement; "
        "PRESIDIO_DEVICE=cpu skips Presidio's torch/CUDA probe (it crashes on a broken torch)",
    }
    return engine, config


def throughput(records: list[Record], spans: Spans, repeat: int) -> dict[str, float]:
    size = sum(len(r.text.encode()) for r in records)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for record in records:
            spans(record.text)
        best = min(best, time.perf_counter() - start)
    return {
        "seconds": round(best, 4),
        "records_per_s": round(len(records) / best, 1),
        "mb_per_s": round(size / best / 1e6, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pii.json")
    args = parser.parse_args()

    records = generate(args.records)
    engine, presidio_config = presidio_analyzer()

    def mlgate_all(text: str) -> list[tuple[str, int, int]]:
        return [(f.entity_type, f.start, f.end) for f in detect(text)]

    def mlgate_shared(text: str) -> list[tuple[str, int, int]]:
        return [(f.entity_type, f.start, f.end) for f in detect(text, SHARED_TYPES)]

    def presidio(text: str) -> list[tuple[str, int, int]]:
        results = engine.analyze(text, language="en", entities=list(SHARED_TYPES))
        return [(r.entity_type, r.start, r.end) for r in results]

    def presidio_resolved(text: str) -> list[tuple[str, int, int]]:
        # Presidio's analyzer returns overlapping results of different types (its anonymizer
        # merges them later); give it mlgate's overlap resolution for a like-for-like F1.
        results = engine.analyze(text, language="en", entities=list(SHARED_TYPES))
        kept = resolve_overlaps(Finding(r.entity_type, r.start, r.end, r.score) for r in results)
        return [(f.entity_type, f.start, f.end) for f in kept]

    for spans in (mlgate_all, presidio):  # warm caches, compile lazily built patterns
        for record in records[:50]:
            spans(record.text)

    speed = {
        "mlgate_all_types": throughput(records, mlgate_all, args.repeat),
        "mlgate_shared_types": throughput(records, mlgate_shared, args.repeat),
        "presidio_shared_types": throughput(records, presidio, max(1, args.repeat // 3)),
    }
    ratio = (
        speed["mlgate_all_types"]["records_per_s"] / speed["presidio_shared_types"]["records_per_s"]
    )
    quality_mlgate = evaluate(records, mlgate_all, ALL_TYPES)
    quality_presidio = evaluate(records, presidio, SHARED_TYPES)
    quality_resolved = evaluate(records, presidio_resolved, SHARED_TYPES)
    comparison = {
        t: {
            "mlgate_f1": round(quality_mlgate[t].f1, 4),
            "presidio_f1": round(quality_presidio[t].f1, 4),
            "presidio_f1_overlaps_resolved": round(quality_resolved[t].f1, 4),
            "mlgate_at_least_as_good": quality_mlgate[t].f1
            >= max(quality_presidio[t].f1, quality_resolved[t].f1),
        }
        for t in SHARED_TYPES
    }
    result = {
        "benchmark": "pii-detection",
        "dataset": {
            "generator": "tests/privacy/evalset.py",
            "records": len(records),
            "bytes": sum(len(r.text.encode()) for r in records),
            "labelled_spans": sum(len(r.spans) for r in records),
            "matching": "same entity type and span IoU >= 0.5, one-to-one",
            "caveat": "synthetic and written alongside mlgate's recognizers; treat as a "
            "regression set, not an independent benchmark",
        },
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "presidio_config": presidio_config,
        "throughput": speed,
        "speedup_vs_presidio": round(ratio, 1),
        "f1_shared_types": comparison,
        "mlgate": {t: c.as_dict() for t, c in quality_mlgate.items()},
        "presidio": {t: c.as_dict() for t, c in quality_presidio.items()},
        "presidio_overlaps_resolved": {t: c.as_dict() for t, c in quality_resolved.items()},
        "targets": {
            "speedup_at_least_10x": ratio >= 10,
            "f1_equal_or_better_on_shared_types": all(
                c["mlgate_at_least_as_good"] for c in comparison.values()
            ),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("throughput", "speedup_vs_presidio", "targets")}))
    print(json.dumps(comparison))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
