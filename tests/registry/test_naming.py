"""Artifact names are relative paths that cannot escape the version's directory."""

from __future__ import annotations

import pytest

from mlgate.errors import Invalid
from mlgate.registry.naming import check_artifact_name


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
