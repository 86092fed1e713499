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
