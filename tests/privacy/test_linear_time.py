"""Redaction takes time linear in the payload, however many entities a hostile one holds.

The payload sink redacts in the request-log writer's thread, which shares the GIL with the
gateway's event loop: a payload that takes seconds to redact stalls every request meanwhile.
Before these were fixed, ~300 KB of the texts below took 10-70 s (overlap resolution compared
each finding with every one kept; each key that redacted to one already present tried every
suffix before its own). Now each takes well under a second here; the bound leaves room for a
slow, busy 2-core runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.privacy import Finding, detect, redact_json, redact_text, resolve_overlaps

SECONDS = 3.0
SIZE = 300_000

T = TypeVar("T")


def _timed(work: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = work()
    assert time.perf_counter() - started < SECONDS
    return result


def _repeat(unit: str) -> str:
    return unit * (SIZE // len(unit))


DENSE = {
    "names after cues": _repeat("Mr Aaaa Bbbb "),
    "dates of birth": _repeat("born 12/12/12 "),
    "addresses": _repeat("255.255.255.255 "),
    "e-mail addresses": _repeat("a@b.co "),
    "mixed": _repeat(
        "Call 415-555-2671 or mail a.b@example.com from 10.0.0.1, card 4111 1111 1111 1111. "
    ),
}


@pytest.mark.parametrize("text", DENSE.values(), ids=DENSE.keys())
def test_a_text_dense_with_entities_is_redacted_in_linear_time(text: str) -> None:
    findings = _timed(lambda: detect(text))
    assert len(findings) > SIZE // 100
    assert _timed(lambda: redact_text(text)) != text


# Text that takes the slow path of folding (folding.py), dense with the disguises it removes;
# each unit is one address, redacted whole.
FOLDED = {
    "full-width at signs": "a\uff20b.co ",
    "zero-width spaces": "j\u200bo@b\u200b.co ",
    "combining marks": "jo\u0301e@b.co\u0301 ",
    "all three": "e\u0301\u200b\uff20b.co ",
}


@pytest.mark.parametrize("unit", FOLDED.values(), ids=FOLDED.keys())
def test_a_text_dense_with_disguises_is_redacted_in_linear_time(unit: str) -> None:
    text = _repeat(unit)
    assert _timed(lambda: redact_text(text)) == "<EMAIL_ADDRESS> " * (SIZE // len(unit))


def test_a_text_of_combining_marks_is_folded_in_linear_time() -> None:
    assert _timed(lambda: detect(_repeat("e\u0301") + "\u0300" * SIZE)) == []


def test_many_keys_that_redact_alike_are_numbered_in_linear_time() -> None:
    payload = {f"user{i}@example.com": i for i in range(20_000)}
    out = _timed(lambda: redact_json(payload))
    assert len(out) == len(payload)  # no value lost to a collision
    assert out["<EMAIL_ADDRESS>"] == 0
    assert out["<EMAIL_ADDRESS>#20000"] == 19_999


def test_a_numbered_key_already_in_the_payload_is_not_overwritten() -> None:
    payload = {"<EMAIL_ADDRESS>#2": "mine", "a@example.com": 1, "b@example.com": 2}
    assert redact_json(payload) == {
        "<EMAIL_ADDRESS>#2": "mine",
        "<EMAIL_ADDRESS>": 1,
        "<EMAIL_ADDRESS>#3": 2,
    }


def _reference_resolution(findings: list[Finding]) -> list[Finding]:
    """The rule spelled out: by score, then length, keep what overlaps nothing kept."""
    ranked = sorted(findings, key=lambda f: (-f.score, -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for candidate in ranked:
        if candidate.end > candidate.start and all(
            candidate.end <= k.start or candidate.start >= k.end for k in kept
        ):
            kept.append(candidate)
    return sorted(kept, key=lambda f: f.start)


_FINDINGS = st.lists(
    st.builds(
        lambda start, length, score: Finding("X", start, start + length, score),
        st.integers(0, 60),
        st.integers(-1, 15),
        st.sampled_from([0.5, 0.6, 0.9, 1.0]),
    ),
    max_size=40,
)


@given(_FINDINGS)
def test_overlap_resolution_keeps_what_the_rule_says(findings: list[Finding]) -> None:
    assert resolve_overlaps(findings) == _reference_resolution(findings)
