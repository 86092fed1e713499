"""Artifact names are relative paths that cannot escape the version's directory."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from mlgate.errors import Invalid
from mlgate.registry.naming import check_artifact_name, check_new_artifact_name


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
        ("\ufb01le.bin", "\ufb01", "fi"),  # LATIN SMALL LIGATURE FI
        ("model\u00b2.bin", "\u00b2", "2"),  # SUPERSCRIPT TWO
        ("\u2f4a\u6a21.bin", "\u2f4a", "\u6728"),  # KANGXI RADICAL TREE, drawn as 木
        ("\uff93\uff83\uff9e\uff99.bin", "\uff93", "\u30e2"),  # HALFWIDTH KATAKANA MO
    ],
)
def test_new_names_with_a_compatibility_character_are_refused_saying_what_it_folds_to(
    name: str, char: str, folded: str
) -> None:
    # One script per word and no separator in the fold, so each passed: "ⅿodel.onnx" is Latin.
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
