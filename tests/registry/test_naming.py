"""Artifact names are relative paths that cannot escape the version's directory."""

from __future__ import annotations

import ast
import re
import sys
import unicodedata

import pytest

from mlgate.errors import Invalid
from mlgate.registry.naming import (
    check_artifact_name,
    check_new_artifact_name,
    hidden_character,
    misleading_character,
)


@pytest.mark.parametrize("name", ["model.onnx", "dir/vocab.txt", "a-b_c.1/x.bin", "a%00b"])
def test_safe_names_pass(name: str) -> None:
    assert check_artifact_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "..",
        "../x",
        "a/../../b",
        "./a",
        "/abs",
        "C:x",
        "a\\b",
        "a\x00b",
        "a\nb",
        "a//b",
        "d/",
        "x" * 256,
    ],
)
def test_unsafe_names_are_refused_with_the_field(name: str) -> None:
    with pytest.raises(Invalid) as caught:
        check_artifact_name(name, field="artifacts[3]")
    assert caught.value.errors[0].field == "artifacts[3]"


@pytest.mark.parametrize(
    "name",
    [
        "evil\u202egnp.exe",  # shown as "evilexe.png"
        "model\u200b.onnx",  # zero-width space: looks like model.onnx
        "del\x7f.bin",
        "c1\x85.bin",
        "cafe\u0301.bin",  # café decomposed: two names that look the same
        "d/" + "é" * 128,  # 256 bytes in one path segment: no file system stores it
    ],
)
def test_new_names_that_hide_characters_or_cannot_be_stored_are_refused(name: str) -> None:
    with pytest.raises(Invalid) as caught:
        check_new_artifact_name(name, field="artifacts[0]")
    assert caught.value.errors[0].field == "artifacts[0]"


@pytest.mark.parametrize(
    ("name", "described"),
    [
        ("model\u3164.onnx", "invisible or reordering character U+3164 HANGUL FILLER"),
        ("\uffa0.bin", "U+FFA0 HALFWIDTH HANGUL FILLER"),
        ("\u115f\u1160.bin", "U+115F HANGUL CHOSEONG FILLER"),
        ("mode\u034fl.onnx", "U+034F COMBINING GRAPHEME JOINER"),  # a mark, not a format char
        ("model\ufe0f.onnx", "U+FE0F VARIATION SELECTOR-16"),
        ("\u6a21\U000e0100\u578b.onnx", "U+E0100 VARIATION SELECTOR-17"),
        ("\u17b4x.bin", "U+17B4 KHMER VOWEL INHERENT AQ"),
        ("\u0378.bin", "U+0378, which this server's Unicode"),  # unassigned, in no script
        ("\ue000.bin", "the private-use character U+E000"),
    ],
)
def test_new_names_with_a_character_drawn_as_nothing_or_not_assigned_are_refused(
    name: str, described: str
) -> None:
    # Each passed: letters and marks that renderers hide, and unassigned code points, are not
    # format characters (Cf). "model\u3164.onnx" read as "model.onnx" or "model .onnx".
    with pytest.raises(Invalid) as caught:
        check_new_artifact_name(name, field="artifacts[0]")
    error = caught.value.errors[0]
    assert error.field == "artifacts[0]"
    assert described in error.message
    assert error.message.endswith("; rename the file")


def test_every_default_ignorable_code_point_is_refused() -> None:
    """The whole Default_Ignorable_Code_Point set, from another copy of Unicode's data than the
    one naming.py lists (the regex package's, which may be newer than this Python's)."""
    regex = pytest.importorskip("regex")
    ignorable = regex.compile(r"\p{Default_Ignorable_Code_Point}")
    points = [p for p in range(sys.maxunicode + 1) if ignorable.match(chr(p))]
    assert len(points) > 4000  # the property was read: E0000..E0FFF alone is 4096
    passed = []
    for point in points:
        try:
            check_new_artifact_name(f"model{chr(point)}.onnx")
        except Invalid:
            continue
        passed.append(f"U+{point:04X}")
    assert passed == []


@pytest.mark.parametrize(
    ("name", "char", "folded"),
    [
        ("\u217fodel.onnx", "\u217f", "m"),  # SMALL ROMAN NUMERAL ONE THOUSAND, Latin script
        ("\uff4dodel.onnx", "\uff4d", "m"),  # FULLWIDTH LATIN SMALL LETTER M
        ("resnet\uff15\uff10.onnx", "\uff15", "5"),  # FULLWIDTH DIGIT FIVE: "resnet50"
        ("\u210cead.bin", "\u210c", "H"),  # BLACK-LETTER CAPITAL H, Common script
        ("mod\u212fl.onnx", "\u212f", "e"),  # SCRIPT SMALL E
        ("\ufb01le.bin", "\ufb01", "fi"),  # LATIN SMALL LIGATURE FI: "file.bin"
        ("\u0133s.onnx", "\u0133", "ij"),  # LATIN SMALL LIGATURE IJ: "ijs.onnx"
        ("\u2f4a\u6a21.bin", "\u2f4a", "\u6728"),  # KANGXI RADICAL TREE, drawn as 木
        ("model\u2474.bin", "\u2474", "(1)"),  # PARENTHESIZED DIGIT ONE
        ("wow\u203c.bin", "\u203c", "!!"),  # DOUBLE EXCLAMATION MARK
        ("resnet50\ufe63v2.onnx", "\ufe63", "-"),  # SMALL HYPHEN-MINUS
        ("\u0644\ufeeb.bin", "\ufeeb", "\u0647"),  # ARABIC LETTER HEH INITIAL FORM
        ("\u5e74\ufe13\u6708.bin", "\ufe13", ":"),  # VERTICAL COLON, drawn as two dots
    ],
)
def test_new_names_with_a_compatibility_character_are_refused_saying_what_it_folds_to(
    name: str, char: str, folded: str
) -> None:
    # One script per word and no separator in the fold, so each passed: "ⅿodel.onnx" is Latin.
    # Fullwidth digits stay refused though CJK names hold them: they make "resnet50" of "resnet".
    assert unicodedata.normalize("NFKC", char) == folded
    with pytest.raises(Invalid) as caught:
        check_new_artifact_name(name, field="artifacts[4]")
    error = caught.value.errors[0]
    assert error.field == "artifacts[4]"
    assert f"contains {char!r} (U+{ord(char):04X} {unicodedata.name(char)})" in error.message
    assert f"a compatibility form of {folded!r} (its NFKC form)" in error.message
    assert error.message.endswith(f"write {folded!r}")


@pytest.mark.parametrize(
    "name",
    [
        "café.bin",
        "模型/权重.onnx",
        "x" * 255,
        "é" * 127,
        "resnet50-v2.onnx",
        "mod\u00e8le_fran\u00e7ais.onnx",
        "\u6a21\u578b.onnx",
        "\u043c\u043e\u0434\u0435\u043b\u044c.onnx",
        "lora_r16.safetensors",
        "bert_base-uncased_2024-01-31.pt",
        # Not in NFKC form, and the everyday spelling: SARA AM (Thai "model"), Lao AM, ECH YIWN
        "\u0e41\u0e1a\u0e1a\u0e08\u0e33\u0e25\u0e2d\u0e07_v2.bin",
        "\u0ec1\u0e9a\u0e9a\u0e88\u0eb3\u0ea5\u0ead\u0e87.bin",
        "\u057f\u057e\u0575\u0561\u056c\u0576\u0565\u0580_\u0587_\u0574\u0578\u0564\u0565\u056c.bin",
    ],
)
def test_new_names_in_any_script_pass(name: str) -> None:
    assert check_new_artifact_name(name) == name


@pytest.mark.parametrize(
    ("name", "word"),
    [
        ("mod\u0435l.onnx", "mod\u0435l"),  # Cyrillic e beside the Latin model.onnx
        ("weights/m\u03bfdel.bin", "m\u03bfdel"),  # Greek omicron
        ("\u0391laska.bin", "\u0391laska"),  # Greek capital alpha
        ("model.\u043ennx", "\u043ennx"),  # the extension too
        ("\u0440\u0430y\u0440al.bin", "\u0440\u0430y\u0440al"),  # mostly Cyrillic, Latin y, l
        ("tokenizer_\u0440y.json", "\u0440y"),  # a word of its own after '_'
        ("model\u0662.onnx", "model\u0662"),  # an Arabic-Indic digit in a Latin word
    ],
)
def test_new_names_that_mix_scripts_within_a_word_are_refused(name: str, word: str) -> None:
    with pytest.raises(Invalid) as caught:
        check_new_artifact_name(name, field="artifacts[2]")
    error = caught.value.errors[0]
    assert error.field == "artifacts[2]"
    assert f"mixes scripts in the word {word!r}" in error.message


@pytest.mark.parametrize(
    ("name", "word", "reads_as"),
    [
        ("train.\u0440\u0443", "\u0440\u0443", "py"),  # Cyrillic ER, U
        ("model.\u0435\u0445\u0435", "\u0435\u0445\u0435", "exe"),  # Cyrillic IE, HA, IE
        ("\u0441\u043e\u0441\u043e.bin", "\u0441\u043e\u0441\u043e", "coco"),  # Cyrillic ES, O
        ("model-\u0430.onnx", "\u0430", "a"),  # a lone Cyrillic a after a hyphen
        ("weights.\u04bb5", "\u04bb5", "h5"),  # Cyrillic SHHA, then a digit
        ("\u0391\u0392\u0395 model.bin", "\u0391\u0392\u0395", "ABE"),  # Greek capitals
        ("\u03bd\u03b9\u03b1.bin", "\u03bd\u03b9\u03b1", "via"),  # Greek small nu, iota, alpha
        # A Greek letter and digits is a word of its own too: with Greek nu, "model_v2" is
        # spoofed, so with Greek alpha "lora_a16" is; write "lora_alpha16".
        ("model_\u03bd2.pt", "\u03bd2", "v2"),
        ("lora_\u03b116.pt", "\u03b116", "a16"),
    ],
)
def test_new_names_with_a_word_made_of_latin_look_alikes_are_refused(
    name: str, word: str, reads_as: str
) -> None:
    # One script throughout, so the script rule passed them: train.py spelled in Cyrillic.
    with pytest.raises(Invalid) as caught:
        check_new_artifact_name(name, field="artifacts[1]")
    error = caught.value.errors[0]
    assert error.field == "artifacts[1]"
    assert f"has the word {word!r}, which reads as the Latin {reads_as!r}" in error.message
    assert f"U+{ord(word[0]):04X}" in error.message


@pytest.mark.parametrize(
    ("name", "char"),
    [
        ("model\u2024onnx", "\u2024"),  # ONE DOT LEADER: reads as model.onnx
        ("model\uff0eonnx", "\uff0e"),  # FULLWIDTH FULL STOP
        ("dir\uff0fmodel.onnx", "\uff0f"),  # FULLWIDTH SOLIDUS: reads as a directory
        ("dir\u2215model.onnx", "\u2215"),  # DIVISION SLASH, which NFKC does not fold
        ("dir\u2044model.onnx", "\u2044"),  # FRACTION SLASH
        ("dir\uff3cmodel.onnx", "\uff3c"),  # FULLWIDTH REVERSE SOLIDUS
        ("model\u00a0v2.bin", "\u00a0"),  # NO-BREAK SPACE
        ("model\u3000v2.bin", "\u3000"),  # IDEOGRAPHIC SPACE
        ("\U0001d5c6odel.onnx", "\U0001d5c6"),  # MATHEMATICAL SANS-SERIF SMALL M
        ("model\U0001d7d0.onnx", "\U0001d7d0"),  # MATHEMATICAL BOLD DIGIT TWO
    ],
)
def test_new_names_with_a_stand_in_for_a_separator_or_a_plain_letter_are_refused(
    name: str, char: str
) -> None:
    with pytest.raises(Invalid) as caught:
        check_new_artifact_name(name, field="artifacts[0]")
    error = caught.value.errors[0]
    assert error.field == "artifacts[0]"
    assert f"U+{ord(char):04X}" in error.message


@pytest.mark.parametrize(
    "name",
    [
        "\u043c\u043e\u0434\u0435\u043b\u044c.onnx",  # Russian "model", Latin extension
        "\u043c\u043e\u0434\u0435\u043b\u044c_v2.onnx",  # ... and a Latin word beside it
        "\u03bc\u03bf\u03bd\u03c4\u03ad\u03bb\u03bf_int8.onnx",  # Greek "model"
        "vocab_\u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac.txt",  # Greek "Greek"
        "tokenizer_ru_\u0440\u0443\u0441\u0441\u043a\u0438\u0439.json",  # Russian "Russian"
        "latency_\u03bcs.json",  # Greek mu, the micro sign's letter
        "latency_\u00b5s.json",  # MICRO SIGN
        "\u0646\u0645\u0648\u0630\u062c_v2.onnx",  # Arabic
        "\u092e\u0949\u0921\u0932_fp16.bin",  # Hindi
        "\u0e42\u0e21\u0e40\u0e14\u0e25_v2.bin",  # Thai
        "\u05de\u05d5\u05d3\u05dc_v2.bin",  # Hebrew
        "\u6a21\u578bv2.onnx",  # Han beside Latin
        "\u30e2\u30c7\u30eb\u91cd\u307f.bin",  # Katakana, Han and Hiragana: Japanese
        "\u6743\u91cd.onnx",
        "\u30c7\u30fc\u30bf.bin",  # the prolonged sound mark belongs to Kana
        # Fullwidth punctuation, as CJK input methods type it (fullwidth digits are refused)
        "\uff08\u30b3\u30d4\u30fc\uff09\u30e2\u30c7\u30eb\uff1a12\u3002bin",
        "\ud55c\uad6d\uc5b4\ubaa8\ub378v2.bin",  # Hangul beside Latin
        "\u0645\u062f\u0644-2.onnx",  # Arabic with digits and a hyphen
        "n\u0308.bin",  # a combining mark goes with its letter's script
        "Stra\u00dfe_v1.2 (copy).bin",
        "GPT-4o-mini.gguf",
    ],
)
def test_new_names_with_one_script_per_word_pass(name: str) -> None:
    assert check_new_artifact_name(name) == name


def test_names_stored_before_the_script_rule_still_resolve() -> None:
    assert check_artifact_name("mod\u0435l.onnx") == "mod\u0435l.onnx"


@pytest.mark.parametrize(
    "name",
    [
        "modelo_2\u00ba_intento.onnx",  # MASCULINE ORDINAL INDICATOR (<super>)
        "1\u00aa_versi\u00f3n.onnx",
        "r\u00e9sultats_r\u00b2.json",  # SUPERSCRIPT TWO
        "volumen_m\u00b3.csv",
        "model_x\u2082.bin",  # SUBSCRIPT TWO
        "\u043c\u043e\u0434\u0435\u043b\u044c_\u21165.onnx",  # NUMERO SIGN (<compat>, a symbol)
        "model_\u00bd.bin",  # VULGAR FRACTION ONE HALF
        "\u30c7\u30fc\u30bf\u2460.csv",  # CIRCLED DIGIT ONE
        "\u91cd\u91cf_\u338f.csv",  # SQUARE KG
        "\u6e29\u5ea6_\u2103.csv",  # DEGREE CELSIUS
        "acme\u2122_model.onnx",  # TRADE MARK SIGN (<super>)
        "\ubaa8\ub378_\u314b\u314b.bin",  # Korean compatibility jamo, as keyboards type them
        "\u0642\u06cc\u0645\u062a_\ufdfc.csv",  # RIAL SIGN (<isolated>, a currency sign)
        "\uff93\uff83\uff9e\uff99.onnx",  # halfwidth katakana: they fold to katakana, not Latin
        "\u4fa1\u683c\uffe5.csv",  # FULLWIDTH YEN SIGN
        "price_\u20a8.csv",  # RUPEE SIGN
    ],
)
def test_new_names_with_a_compatibility_symbol_people_type_pass(name: str) -> None:
    # Each was refused as "not in NFKC form" though it reads as what it is.
    assert check_new_artifact_name(name) == name


@pytest.mark.parametrize(
    ("char", "write"),
    [
        ("\uffbb", "\u314b"),  # HALFWIDTH HANGUL LETTER KHIEUKH: the jamo keyboards type
        ("\uff61", "\u3002"),  # HALFWIDTH IDEOGRAPHIC FULL STOP
        ("\u2011", "\u2010"),  # NON-BREAKING HYPHEN
    ],
)
def test_a_refused_compatibility_form_advises_the_character_it_stands_for(
    char: str, write: str
) -> None:
    with pytest.raises(Invalid) as caught:
        check_new_artifact_name(f"\ubaa8\ub378{char}.bin")
    assert caught.value.errors[0].message.endswith(f"write {write!r}")
    assert check_new_artifact_name(f"\ubaa8\ub378{write}.bin")


def test_no_refusal_advises_a_replacement_that_is_refused_in_turn() -> None:
    """Every code point: what a refusal says to write passes the same check. VULGAR FRACTION
    ONE HALF advised '1\u20442', whose FRACTION SLASH is refused as a '/' that is not one; a
    Korean letter advised a conjoining jamo."""
    advised = re.compile(r"(?:compatibility|mathematical) form .*; write ('.*'|\".*\")$")
    checked, wrong = 0, []
    for point in range(0x80, sys.maxunicode + 1):
        found = misleading_character(chr(point))
        if found is None or (match := advised.search(found[1])) is None:
            continue
        checked += 1
        write = ast.literal_eval(match.group(1))
        if misleading_character(write) is not None or hidden_character(write) is not None:
            wrong.append(f"U+{point:04X} -> {write!r}")
        elif unicodedata.normalize("NFC", write) != write:
            wrong.append(f"U+{point:04X} -> {write!r} (not NFC)")
    assert checked > 3000  # the refusals were read: the mathematical letters alone are 996
    assert wrong == []


@pytest.mark.parametrize(
    "name",
    [
        "model_\u2764\ufe0f.onnx",  # HEAVY BLACK HEART, VS16: the red heart emoji
        "done_\u2714\ufe0e.bin",  # HEAVY CHECK MARK, VS15: its text drawing
        "\U0001f44d\ufe0f.bin",
        "swap_\u2194\ufe0f.bin",  # LEFT RIGHT ARROW, an emoji though a math symbol
        "model_\U0001fa77.onnx",  # PINK HEART, Unicode 15: newer than this Python's data
        "\u0cae\u0cbe\u0ca6\u0cb0\u0cbf\u0cf3.onnx",  # KANNADA SIGN COMBINING ANUSVARA ABOVE RIGHT
    ],
)
def test_new_names_with_an_emoji_selector_or_a_newer_character_pass(name: str) -> None:
    # Variation selectors and code points Unicode 14 does not assign were refused wholesale.
    assert check_new_artifact_name(name) == name


@pytest.mark.parametrize(
    ("name", "described"),
    [
        (
            "model1\ufe0f.onnx",
            "U+FE0F VARIATION SELECTOR-16, which shows nothing unless it follows",
        ),
        ("\ufe0fmodel.onnx", "U+FE0F VARIATION SELECTOR-16"),
        ("\u2764\ufe0f\ufe0f.onnx", "U+FE0F VARIATION SELECTOR-16"),  # one selector only
        ("\u00e9\ufe0e.bin", "U+FE0E VARIATION SELECTOR-15"),
        ("\U0001ccd6.bin", "U+1CCD6, which this server's Unicode"),  # OUTLINED LATIN CAPITAL A
        ("\ua7cb.bin", "U+A7CB, which this server's Unicode"),  # a Latin letter of Unicode 16
        ("\u0378.bin", "U+0378, which this server's Unicode"),  # unassigned in any Unicode
    ],
)
def test_new_names_with_a_stray_selector_or_an_unjudged_newer_character_are_refused(
    name: str, described: str
) -> None:
    with pytest.raises(Invalid) as caught:
        check_new_artifact_name(name)
    assert described in caught.value.errors[0].message


@pytest.mark.parametrize(
    ("name", "word", "reads_as"),
    [
        ("mode\u01c0.onnx", "mode\u01c0", "model"),  # LATIN LETTER DENTAL CLICK
        ("adm\u0269n.onnx", "adm\u0269n", "admin"),  # LATIN SMALL LETTER IOTA
        ("\u0251lexnet.onnx", "\u0251lexnet", "alexnet"),  # LATIN SMALL LETTER ALPHA
        ("\u1d00dmin.onnx", "\u1d00dmin", "admin"),  # LATIN LETTER SMALL CAPITAL A
        ("weights/\u0261pt2.bin", "\u0261pt2", "gpt2"),  # LATIN SMALL LETTER SCRIPT G
        ("\ua4d1\ua4e3\ua4f3\ua4d3/model.onnx", "\ua4d1\ua4e3\ua4f3\ua4d3", "PROD"),  # Lisu
        ("\u13da\u13ac\u13aa\u13a2.bin", "\u13da\u13ac\u13aa\u13a2", "SEAT"),  # Cherokee
    ],
)
def test_new_names_with_a_word_of_ascii_letters_and_look_alikes_are_refused(
    name: str, word: str, reads_as: str
) -> None:
    # Latin letters of phonetic alphabets pass the script rule beside ASCII ones, and a Lisu
    # or Cherokee word is in one script: each passed.
    with pytest.raises(Invalid) as caught:
        check_new_artifact_name(name, field="artifacts[1]")
    error = caught.value.errors[0]
    assert f"has the word {word!r}, which reads as the Latin {reads_as!r}" in error.message


@pytest.mark.parametrize(
    "name",
    [
        "e\u028be_model.bin",  # Ewe: V WITH HOOK, an everyday letter
        "\u0256evi.bin",  # Ewe: D WITH TAIL
        "\u025bn\u0254.bin",  # OPEN E, OPEN O
        "\u13e3\u13b3\u13a9.bin",  # Cherokee "Tsalagi": TSA is drawn like no Latin letter
        "\ua4d5\ua4ef.bin",  # Lisu THA and AE: turned letters, not Latin ones
    ],
)
def test_new_names_in_orthographies_with_phonetic_letters_pass(name: str) -> None:
    assert check_new_artifact_name(name) == name


def test_lisu_tone_letters_drawn_as_a_full_stop_are_refused() -> None:
    with pytest.raises(Invalid) as caught:
        check_new_artifact_name("\ua4d5\ua4f8\ua4f3\ua4e0\ua4e0\ua4eb")  # reads as "⊥.ONNX"
    assert "U+A4F8" in caught.value.errors[0].message
    assert "looks like '.' and is not one" in caught.value.errors[0].message
