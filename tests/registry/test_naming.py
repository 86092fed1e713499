"""Artifact names are relative paths that cannot escape the version's directory."""

from __future__ import annotations

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


@pytest.mark.parametrize("name", ["café.bin", "模型/权重.onnx", "x" * 255, "é" * 127])
def test_new_names_in_any_script_pass(name: str) -> None:
    assert check_new_artifact_name(name) == name


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("mod\u0435l.onnx", "mod\u0435l"),  # Cyrillic e beside the Latin model.onnx
        ("model-\u0430.onnx", "model-\u0430"),  # a lone Cyrillic a after a hyphen
        ("weights/m\u03bfdel.bin", "m\u03bfdel"),  # Greek omicron
        ("\u0391laska.bin", "\u0391laska"),  # Greek capital alpha
        ("model.\u043ennx", "\u043ennx"),  # the extension too
        ("\u0440\u0430y\u0440al.bin", "\u0440\u0430y\u0440al"),  # mostly Cyrillic, Latin y and l
    ],
)
def test_new_names_that_mix_look_alike_scripts_are_refused(name: str, label: str) -> None:
    with pytest.raises(Invalid) as caught:
        check_new_artifact_name(name, field="artifacts[2]")
    error = caught.value.errors[0]
    assert error.field == "artifacts[2]"
    assert f"mixes scripts in {label!r}" in error.message


@pytest.mark.parametrize(
    "name",
    [
        "\u043c\u043e\u0434\u0435\u043b\u044c.onnx",  # Russian name, Latin extension
        "\u6a21\u578bv2.onnx",  # Han beside Latin
        "\u30e2\u30c7\u30eb\u91cd\u307f.bin",  # Katakana, Han and Hiragana: Japanese
        "\u30c7\u30fc\u30bf.bin",  # the prolonged sound mark belongs to Kana
        "\ud55c\uad6d\uc5b4\ubaa8\ub378v2.bin",  # Hangul beside Latin
        "\u0645\u062f\u0644-2.onnx",  # Arabic with digits and a hyphen
        "n\u0308.bin",  # a combining mark goes with its letter's script
        "Stra\u00dfe_v1.2 (copy).bin",
    ],
)
def test_new_names_in_one_script_per_part_pass(name: str) -> None:
    assert check_new_artifact_name(name) == name


def test_names_stored_before_the_script_rule_still_resolve() -> None:
    assert check_artifact_name("mod\u0435l.onnx") == "mod\u0435l.onnx"
