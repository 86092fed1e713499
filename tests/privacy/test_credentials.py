"""Credential shapes are found in time linear in the text, however hostile the text."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgate.privacy import REDACTED, SecretScrubFilter, detect
from mlgate.privacy.credentials import MAX_PEM_BODY, iter_credentials

# Linear scans of these texts (~0.5 MB) take under 0.1 s here; the quadratic patterns they
# replaced took ~100 s on the first one. The bound leaves room for a slow, busy 2-core runner.
SECONDS = 2.0

HEADERS = [f"-----BEGIN {label}PRIVATE KEY-----" for label in ("", "RSA ", "EC ", "ENCRYPTED ")]
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"

HOSTILE = {
    "one header repeated": HEADERS[0] * 20_000,
    "headers of every label": "".join(HEADERS) * 5_000,
    "headers sharing their dashes": "-----BEGIN PRIVATE KEY" * 20_000 + "-----",
    "headers and foreign footers": (HEADERS[1] + "\n-----END CERTIFICATE-----\n") * 8_000,
    "headers glued to a word": ("x" + HEADERS[0]) * 20_000,
    "a header and endless labels": "-----BEGIN " + "RSA " * 100_000,
    "sk- prefixes ending in a letter": "sk-" * 100_000 + "é",
    "bearer and blanks": ("Bearer" + " \t" * 10) * 20_000,
    "basic and blanks": ("Basic" + " \t" * 10) * 20_000,
    "basic and base64 of no credential": "Basic QUFBQUFB " * 30_000,
    "basic and one endless token": "Basic " + "QUFB" * 120_000,
    "basics glued into one token": "Basic " * 80_000 + "QUFB",
    "auth cues without a separator": ("Authorization" + "\\" * 40 + " Basic QUFBQUFB ") * 8_000,
    "stripe prefixes ending in a letter": "sk_live_" * 60_000 + "é",
    "bearer and words": "Bearer authentication " * 25_000,
    "bearers glued into one word": "bearer-" * 80_000 + "instrument",
    "authorization headers and words": "Authorization: Basic information\n" * 16_000,
    "header shapes and blanks": ('{"Authorization":[' + " \t" * 10 + 'Basic information"]') * 8_000,
    "header tuples and words": "(b'authorization', b'Basic information'), " * 12_000,
    "auth names and blanks": ("authentication" + " \t" * 20 + "Bearer authentication ") * 8_000,
}


T = TypeVar("T")


def _timed(work: Callable[[], T]) -> T:
    started = time.perf_counter()
    result = work()
    assert time.perf_counter() - started < SECONDS
    return result


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_scrubbing_hostile_text_is_fast_and_leaves_it_as_it_was(text: str) -> None:
    scrubber = SecretScrubFilter()
    assert _timed(lambda: scrubber.scrub(text)) == text
    assert _timed(lambda: scrubber.clean(text)) is True


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_detecting_in_hostile_text_is_fast_and_finds_no_credential(text: str) -> None:
    assert _timed(lambda: detect(text, ["CREDENTIAL"])) == []


def test_a_hostile_request_path_in_an_access_line_is_logged_quickly() -> None:
    path = "/v1/" + HEADERS[0] * 20_000
    record = logging.makeLogRecord({"msg": "request", "path": path, "status": 404})
    _timed(lambda: SecretScrubFilter().filter(record))
    assert record.path == path  # type: ignore[attr-defined]


def test_a_key_after_many_stray_headers_is_still_scrubbed() -> None:
    text = HEADERS[0] * 20_000 + "\n" + PEM
    scrubbed = _timed(lambda: SecretScrubFilter().scrub(text))
    assert scrubbed.endswith(REDACTED)
    assert "MIIEvQIBADANBg" not in scrubbed


def test_a_key_among_hostile_text_is_found() -> None:
    text = "sk-" * 50_000 + "é " + PEM + " " + HEADERS[1] * 10_000
    findings = _timed(lambda: detect(text, ["CREDENTIAL"]))
    assert [text[f.start : f.end] for f in findings] == [PEM]


def test_a_block_longer_than_any_key_is_not_one_credential() -> None:
    body = "A" * (MAX_PEM_BODY + 1)
    text = f"{HEADERS[0]}{body}-----END PRIVATE KEY-----"
    assert list(iter_credentials(text)) == []
    shorter = f"{HEADERS[0]}{body[1:]}-----END PRIVATE KEY-----"
    assert list(iter_credentials(shorter)) == [(0, len(shorter), 0, len(shorter))]


def test_a_glued_shape_does_not_hide_a_key_after_it() -> None:
    text = "nonbearer sk-proj-" + "x" * 30
    assert [text[s:e] for _, _, s, e in iter_credentials(text)] == ["sk-proj-" + "x" * 30]


# The lazy pattern the PEM scan replaced: right, but quadratic. On short texts it is the oracle.
_LAZY_PEM = re.compile(
    r"(?<![\w-])-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    r".*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
    re.DOTALL,
)
_PEM_PIECES = st.sampled_from(
    [
        *HEADERS,
        "-----END PRIVATE KEY-----",
        "-----END RSA PRIVATE KEY-----",
        "-----END CERTIFICATE-----",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "-",
        "x",
        " ",
        "\n",
        "MIIE",
    ]
)


@settings(max_examples=300, database=None, deadline=None)
@given(st.lists(_PEM_PIECES, max_size=16).map("".join))
def test_pem_blocks_are_the_ones_the_lazy_pattern_finds(text: str) -> None:
    expected = [(m.start(), m.end()) for m in _LAZY_PEM.finditer(text)]
    assert [(s, e) for _, _, s, e in iter_credentials(text)] == expected
