"""PII that is disguised, or put where a scanner of plain strings does not look, is still found.

And the reverse: values that only look like PII (version strings) are left as they were.
"""

from __future__ import annotations

import json
import sys
import tracemalloc
import unicodedata
from itertools import chain
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.privacy import detect, redact_json, redact_text
from mlgate.privacy.folding import fold
from mlgate.privacy.redact import Mask

CARD = "4111111111111111"


def redacted_with_peak(text: str) -> tuple[str, int]:
    """``redact_text(text)`` and the peak of memory traced while it ran, in bytes."""
    tracemalloc.start()
    try:
        redacted = redact_text(text)
        return redacted, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def fullwidth(text: str) -> str:
    """``text`` in the full-width forms of East Asian typing (U+FF01 to U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def arabic_indic(digits: str) -> str:
    return "".join(chr(0x0660 + int(d)) for d in digits)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail john\u200b.doe@example.com now", "mail <EMAIL_ADDRESS> now"),  # zero-width space
        ("mail john.doe@exam\u200bple.com now", "mail <EMAIL_ADDRESS> now"),
        ("mail john.doe\uff20example.com now", "mail <EMAIL_ADDRESS> now"),  # full-width @
        ("mail john.doe\ufe6bexample.com now", "mail <EMAIL_ADDRESS> now"),  # small @
        ("card " + fullwidth("4111 1111 1111 1111"), "card <CREDIT_CARD>"),
        ("card " + arabic_indic(CARD), "card <CREDIT_CARD>"),
        ("card 4111\u00a01111\u00a01111\u00a01111 ok", "card <CREDIT_CARD> ok"),  # NBSP
        ("card 4111\u202f1111\u202f1111\u202f1111 ok", "card <CREDIT_CARD> ok"),  # narrow NBSP
        ("card 4111\u00ad1111\u00ad1111\u00ad1111 ok", "card <CREDIT_CARD> ok"),  # soft hyphen
        ("card 4111\u200b1111\u200b1111\u200b1111 ok", "card <CREDIT_CARD> ok"),
        (f"call {fullwidth('415-555-2671')} today", "call <PHONE_NUMBER> today"),
        ("ssn 536\u200d-22-1234", "ssn <US_SSN>"),  # zero-width joiner
    ],
)
def test_unicode_disguises_do_not_hide_pii(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name Jos\u00e9 Garc\u00eda lives", "name <PERSON> lives"),
        ("mail j\u00f3hn@example.com now", "mail <EMAIL_ADDRESS> now"),
        ("mail john@ex\u00e1mple.com now", "mail <EMAIL_ADDRESS> now"),
        ("ssn 536-22-1234\u0301 x", "ssn <US_SSN> x"),
    ],
)
def test_accents_typed_decomposed_hide_nothing(text: str, expected: str) -> None:
    """NFD puts an accent after its letter as a character of its own (U+0301)."""
    decomposed = unicodedata.normalize("NFD", text)
    assert redact_text(text) == expected
    assert redact_text(decomposed) == expected


@pytest.mark.parametrize(
    "text",
    [
        "card 4111\u03011111\u03011111\u03011111 ok",  # combining acute between digit groups
        "card " + "".join(f"{d}\ufe0f\u20e3" for d in CARD) + " ok",  # keycap digits
        "mail jo\U000e0041hn@exa\U000e0020mple.com ok",  # tag characters ("ASCII smuggling")
    ],
)
def test_marks_and_tags_between_characters_hide_nothing(text: str) -> None:
    redacted = redact_text(text)
    assert redacted.startswith(("card <CREDIT_CARD>", "mail <EMAIL_ADDRESS>"))
    assert redacted.endswith(" ok")


@pytest.mark.parametrize(
    "text",
    [
        "mail jo\ud800hn.doe@example.com now",
        "mail john.\udfffdoe@example.com now",
        "mail john.doe@exa\udbffmple.com now",
        "mail j\ud83do\udc00hn@ex\ud800ample.c\udfffom now",
    ],
)
def test_a_lone_surrogate_hides_no_part_of_an_address(text: str) -> None:
    """A JSON string may hold one ("\\ud800"); it is no character and splits nothing."""
    assert redact_text(text) == "mail <EMAIL_ADDRESS> now"
    (value,) = redact_json({"note": text}).values()
    assert value == "mail <EMAIL_ADDRESS> now"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jo\ue000hn@example.com now", "mail <EMAIL_ADDRESS> now"),  # private use
        ("mail john@exa\U000f0000mple.com now", "mail <EMAIL_ADDRESS> now"),  # plane 15
        ("mail john@example.c\U0010fffdom now", "mail <EMAIL_ADDRESS> now"),  # plane 16
        ("mail jo\u0378hn@example.com now", "mail <EMAIL_ADDRESS> now"),  # unassigned
        ("mail john@example.c\U00050000om now", "mail <EMAIL_ADDRESS> now"),  # plane 5, empty
        ("mail john.doe@example.co\ufdd0m now", "mail <EMAIL_ADDRESS> now"),  # noncharacter
        ("mail jo\ue000hn\uff20example.com now", "mail <EMAIL_ADDRESS> now"),  # and full-width
        ("call (212) 555-\ue0000199 today", "call <PHONE_NUMBER> today"),
        ("to DE89 3704 0044 05\ue00032 0130 00 please", "to <IBAN_CODE> please"),
        ("card 4111 1111 1111 11\U000f000011 ok", "card <CREDIT_CARD> ok"),
        ("ssn 536-22-\U000500001234 x", "ssn <US_SSN> x"),
        ("a 1\u0378\ue0002\U0001f600 emoji stays", "a 1\u0378\ue0002\U0001f600 emoji stays"),
    ],
)
def test_private_use_and_unassigned_code_points_hide_no_pii(text: str, expected: str) -> None:
    """Neither is a character anyone typed: folded away, they split nothing, and the span
    redacted is the original one, code point included."""
    assert redact_text(text) == expected
    assert redact_json({"note": text}) == {"note": expected}


# Unassigned in this Python's Unicode (14 in Python 3.11), but among symbols and emoji, where
# later versions put new ones: U+1FA77 and U+1FAE8 are the emoji pink heart and shaking face
# (Unicode 15), U+20C1 a currency sign (Unicode 17). Seen as a glyph or a box, each is a
# character between its neighbours, as an emoji is.
_NEWER_SYMBOLS = ["\U0001fa77", "\U0001fae8", "\U0001fa75", "\U0001f6dc", "\U0001fb93", "\u20c1"]


@pytest.mark.parametrize("symbol", _NEWER_SYMBOLS, ids=ascii)
def test_an_unassigned_code_point_among_symbols_glues_nothing(symbol: str) -> None:
    for text, expected in [
        (f"card {CARD}{symbol}12/26", f"card <CREDIT_CARD>{symbol}12/26"),
        (f"ssn 536-22-1234{symbol}5", f"ssn <US_SSN>{symbol}5"),
        (f"love it {symbol} see you", f"love it {symbol} see you"),
    ]:
        assert redact_text(text) == expected
        assert fold(text) == (text, None)


def test_a_private_use_character_is_redacted_with_the_address_it_is_in() -> None:
    text = "to jo\ue000hn@exa\U000f0000mple.com\ue001"
    assert [text[f.start : f.end] for f in detect(text)] == [text[3:]]


def test_a_lone_surrogate_from_a_json_body_hides_no_part_of_an_address() -> None:
    body = json.loads('{"note": "write to jo\\ud800hn@example.com"}')
    assert redact_json(body) == {"note": "write to <EMAIL_ADDRESS>"}


def test_every_combining_mark_is_folded_away() -> None:
    """Marks outside the fast path's class would slip past folding in text already NFKC."""
    marks = [
        chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Mn", "Me")
    ]
    assert [m for m in marks if fold(f"1{m}2")[0] != "12"] == []


def _visible_unassigned(char: str) -> bool:
    code = ord(char)
    blocks = ((0x20A0, 0x20CF), (0x2100, 0x2BFF), (0x1CC00, 0x1CEBF), (0x1F000, 0x1FFFF))
    return unicodedata.category(char) == "Cn" and any(low <= code <= high for low, high in blocks)


def test_every_code_point_that_is_no_character_is_folded_away() -> None:
    """Private-use, unassigned (but among symbols and emoji) and surrogate code points, each
    alone in text otherwise NFKC: the fast path must send every one to folding. All of planes
    0 to 3 (where the fast path lists them) are tried, and a sample of the planes it takes
    whole."""
    codes = chain(range(0x40000), range(0x40000, sys.maxunicode + 1, 97))
    chars = [chr(c) for c in codes if unicodedata.category(chr(c)) in ("Co", "Cn", "Cs")]
    folded = [c for c in chars if not _visible_unassigned(c)]
    kept = [c for c in chars if _visible_unassigned(c)]
    assert [hex(ord(c)) for c in folded if fold(f"1{c}2")[0] != "12"] == []
    assert [hex(ord(c)) for c in kept if fold(f"1{c}2") != (f"1{c}2", None)] == []
    assert fold("well done \U0001f600\U0001f44d") == ("well done \U0001f600\U0001f44d", None)


def test_cjk_ideographs_past_the_bmp_take_the_fast_path() -> None:
    """Each assigned ideograph of planes 2 and 3 is kept, and so is text of them; the slow path
    visited each of them, and held 46 times the text's size while 1 MB was redacted."""
    ideographs = "".join(
        char
        for char in map(chr, range(0x20000, 0x40000))
        if unicodedata.category(char) == "Lo" and unicodedata.is_normalized("NFKC", char)
    )  # all but the compatibility ideographs, which fold to others
    assert fold(ideographs) == (ideographs, None)
    text = ideographs * (2**18 // len(ideographs.encode()) + 1)  # 256 KiB of UTF-8 or more
    redacted, peak = redacted_with_peak(text)
    assert redacted == text
    assert peak < len(text.encode()), f"peak {peak} bytes traced"


def _folded_alone(char: str) -> str:
    """What folding.py's docstring says becomes of one character (invisible ones aside)."""
    if _visible_unassigned(char):
        return char
    if unicodedata.category(char) in ("Cs", "Co", "Cn", "Mn", "Me"):
        return ""
    if char.isdecimal():
        return str(unicodedata.decimal(char))
    nfkc = unicodedata.normalize("NFKC", char)
    return "".join(c for c in nfkc if unicodedata.category(c) not in ("Mn", "Me"))


def test_every_character_of_a_text_is_folded_and_mapped_back() -> None:
    """Folding visits only the characters that change: it must miss none, anywhere in Unicode,
    and map each folded character back to the one it came from."""
    text = "".join(chr(c) for c in range(0x80, sys.maxunicode + 1))
    folded, origin = fold(text)
    assert origin is not None
    came_from: list[list[str]] = [[] for _ in text]
    for index, char in enumerate(folded):
        came_from[origin[index]].append(char)
    assert origin[len(folded)] == len(text)
    wrong = [
        hex(ord(char))
        for char, out in zip(text, map("".join, came_from), strict=True)
        if out != _folded_alone(char)
        and not (out == "" and unicodedata.category(char) in ("Cf", "Lo"))  # invisible
    ]
    assert wrong == []


# Characters kept, folded to one (full-width, digits of other scripts, the no-break space, a
# mathematical letter, "qa" less its nukta), to none (invisible, marks, a lone surrogate,
# private-use and unassigned code points) and to several ("½", "℅"); an emoji, one unassigned
# among emoji and a CJK ideograph past the BMP are kept.
_MIXED = (
    "a1@. \u0915\uff41\uff11\uff20\u0967\u00a0\u00aa\U0001d400\u0958"
    "\u200b\u0301\u093c\ud800\ue000\U000f0000\u0378\U0001f02c\U00050000\U00030000\u00bd\u2105"
    "\U0001f600\U00020bb7\U0002a6e0\U0001f100"
)


@given(st.text(alphabet=_MIXED, max_size=40))
def test_folding_a_mixed_text_maps_every_character_back(text: str) -> None:
    folded, origin = fold(text)
    expected = [
        (position, char)
        for position, c in enumerate(text)
        if unicodedata.category(c) != "Cf"  # invisible
        for char in _folded_alone(c)
    ]
    assert folded == "".join(char for _, char in expected)
    if origin is None:
        assert len(folded) == len(text)
        return
    assert [origin[index] for index in range(len(folded))] == [p for p, _ in expected]
    assert origin[len(folded)] == len(text)


def test_a_text_of_full_width_forms_is_redacted_in_little_memory() -> None:
    """Each character folding to another used to be a piece of its own, and its offsets ints
    in lists: 1 MiB of full-width card numbers held 86 MiB while it was being scanned (5 MiB
    now)."""
    card = fullwidth("4111 1111 1111 1111")
    text = f"{card} x " * (2**18 // len(f"{card} x ".encode()))  # 256 KiB of UTF-8
    redacted, peak = redacted_with_peak(text)
    assert redacted == "<CREDIT_CARD> x " * text.count(card)
    assert peak < 16 * len(text.encode()), f"peak {peak} bytes traced"


def test_a_character_folded_to_several_leaves_no_part_of_either_address() -> None:
    text = "x@ex.ab\u2105@example.com"  # "\u2105" (care of) folds to "c/o"
    spans = [(f.start, f.end) for f in detect(text)]
    assert spans == [(0, 8), (8, len(text))]
    assert redact_text(text) == "<EMAIL_ADDRESS><EMAIL_ADDRESS>"


def test_disguised_findings_point_into_the_original_text() -> None:
    address = fullwidth("john@example.com")
    text = f"n\u00e9e: {address}, \ufb01le 4111\u200b1111\u200b1111\u200b1111"
    spans = [(f.entity_type, text[f.start : f.end]) for f in detect(text)]
    assert ("EMAIL_ADDRESS", address) in spans
    assert ("CREDIT_CARD", "4111\u200b1111\u200b1111\u200b1111") in spans
    # Masking works on what was there: separators stay, the last four digits show.
    masked = redact_text(text, Mask(), entities=["CREDIT_CARD"])
    assert masked.endswith("****\u200b****\u200b****\u200b1111")


def test_a_local_part_longer_than_64_characters_is_hidden_whole() -> None:
    local = "firstname.middlename.lastname.department.division.company.branch.x"
    assert len(local) > 64
    assert redact_text(f"write to {local}@example.com") == "write to <EMAIL_ADDRESS>"


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "9.9.9.9", "4.2.2.1"])
def test_addresses_whose_parts_are_all_one_digit_are_found(address: str) -> None:
    assert redact_text(f"resolver {address} answered") == "resolver <IP_ADDRESS> answered"
    assert redact_json({"ip": address}) == {"ip": "<IP_ADDRESS>"}


@pytest.mark.parametrize(
    "text",
    [
        "version 10.2.30.4",
        "Version: 1.2.3.4",
        "release 2.1.0.5 is out",
        "requires numpy==1.26.4.0",
        "pin foo>=10.0.0.1",
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 HeadlessChrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
    ],
)
def test_version_strings_are_not_taken_for_addresses(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "ip=10.0.0.1",
        "from 1.2.3.4 at noon",
        "server: 10.2.30.4",
        "ssh root@10.0.0.7",
        "GET /api/clients/10.1.2.3 200",
        "ssh admin@host via gw/192.168.1.20",
        "peer host/10.0.0.1 down",
        "GET /KNOWLEDGE/10.0.0.1",  # ends in "EDGE", a browser's name, but is no user agent
        "ip v 10.0.0.1",
    ],
)
def test_addresses_after_other_words_are_still_found(text: str) -> None:
    assert "<IP_ADDRESS>" in redact_text(text)


@pytest.mark.parametrize(
    "payload", [{"path": "/users/10.1.2.3"}, {"server_v": "10.0.0.5"}, {"v": "10.0.0.5"}]
)
def test_addresses_in_paths_and_under_short_keys_are_found(payload: dict[str, str]) -> None:
    assert "<IP_ADDRESS>" in next(iter(redact_json(payload).values()))


def test_a_versions_key_keeps_its_value_an_addresss_key_does_not() -> None:
    payload = {"app_version": "1.2.3.4", "version": "10.0.0.1", "client_ip": "10.0.0.1"}
    assert redact_json(payload) == {
        "app_version": "1.2.3.4",
        "version": "10.0.0.1",
        "client_ip": "<IP_ADDRESS>",
    }


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (4111111111111111.0, "<CREDIT_CARD>"),  # a card number sent as a JSON float
        (5.555555555554444e15, "<CREDIT_CARD>"),  # 5555 5555 5555 4444
        (-4111111111111111, "<CREDIT_CARD>"),
        (-4111111111111111.0, "<CREDIT_CARD>"),
        (4155552671.0, "<PHONE_NUMBER>"),
    ],
)
def test_numbers_of_any_json_type_are_scanned(number: float, expected: str) -> None:
    assert redact_json({"n": number}) == {"n": expected}
    assert redact_json([[[[[[[[[[[[{"deep": [number]}]]]]]]]]]]]]) == [
        [[[[[[[[[[[{"deep": [expected]}]]]]]]]]]]]
    ]


def test_ordinary_numbers_keep_their_type_and_value() -> None:
    payload = {"score": 0.5, "income": 123456.78, "big": 1e300, "ratio": -2.5e-7, "n": 10**9}
    out = redact_json(payload)
    assert out == payload
    assert [type(v) for v in out.values()] == [float, float, float, float, int]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"dob": "1990-01-02"}, {"dob": "<DATE_OF_BIRTH>"}),
        ({"date_of_birth": "02/01/1990"}, {"date_of_birth": "<DATE_OF_BIRTH>"}),
        ({"patient": {"name": "Zed Quux"}}, {"patient": {"name": "<PERSON>"}}),
        ({"customer_name": "Zed Quux"}, {"customer_name": "<PERSON>"}),
        (
            {"firstName": "Zed", "lastName": "Quux"},
            {"firstName": "<PERSON>", "lastName": "<PERSON>"},
        ),
        ({"dateOfBirth": "1990-01-02"}, {"dateOfBirth": "<DATE_OF_BIRTH>"}),
        ({"D.O.B.": "1990-01-02"}, {"D.O.B.": "<DATE_OF_BIRTH>"}),
        ({"birthday": ["1990-01-02"]}, {"birthday": ["<DATE_OF_BIRTH>"]}),
        ({"city": "Tampere"}, {"city": "<LOCATION>"}),
        ({"city_name": "Tampere"}, {"city_name": "<LOCATION>"}),
        ({"contact_name": "Zed Quux"}, {"contact_name": "<PERSON>"}),
        ({"user_name": "Zed Quux"}, {"user_name": "<PERSON>"}),
        (
            {"created": "1990-01-02", "status": "Active"},
            {"created": "1990-01-02", "status": "Active"},
        ),
    ],
)
def test_a_key_names_what_its_value_is(payload: Any, expected: Any) -> None:
    """The key is context for its value, as 'DOB: ...' is in a sentence."""
    assert redact_json(payload) == expected


@pytest.mark.parametrize(
    "payload",
    [
        {"model_name": "Random Forest"},
        {"product_name": "Apple Watch"},
        {"feature_name": "Age"},
        {"file_name": "Q3 Report"},
        {"hostName": "Web Server"},
        {"contact": "Call me"},
        {"contact": "Back Office"},
    ],
)
def test_a_name_of_a_thing_is_not_a_person(payload: dict[str, str]) -> None:
    assert redact_json(payload) == payload


def test_a_key_is_context_for_the_file_scanner_too() -> None:
    from mlgate.privacy.filescan import scan_lines

    found = list(scan_lines(['{"person": {"dob": "1990-01-02"}}'], jsonl=True))
    assert [(f.path, f.entity_type, f.start, f.end) for f in found] == [
        ("$.person.dob", "DATE_OF_BIRTH", 0, 10)
    ]
