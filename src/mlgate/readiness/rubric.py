"""Rubrics as data: load the shipped YAML rubrics, validate them, extend them with user files."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mlgate.errors import FieldError, Invalid, NotFound, message_of
from mlgate.readiness.checks import CHECKS
from mlgate.readiness.debt import DebtCategory, DebtLevel

__all__ = [
    "BUILTIN_RUBRICS",
    "Band",
    "Exposure",
    "Rubric",
    "RubricExtension",
    "RubricItem",
    "RubricSection",
    "Severity",
    "extend_rubric",
    "load_maturity_model",
    "load_ml_test_score",
    "load_production_checklist",
    "load_rubric",
    "parse_rubric",
]

BUILTIN_RUBRICS = {
    "ml_test_score": "ml_test_score.yaml",
    "production_checklist": "production_checklist.yaml",
    "maturity": "maturity.yaml",
}
_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Exposure(StrEnum):
    """Where a gap would hurt; top risks weigh it against the facts (is traffic served?)."""

    TRAFFIC = "traffic"
    SENSITIVE_DATA = "sensitive_data"
    OPERATIONS = "operations"
    DOCUMENTATION = "documentation"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RubricSection(_Frozen):
    id: str = Field(pattern=_ID_PATTERN)
    title: str = Field(min_length=1)
    description: str = ""
    level: int | None = Field(default=None, ge=1, description="maturity rubrics: the level")
    debt: DebtCategory | None = Field(default=None, description="debt category of its gaps")


class RubricItem(_Frozen):
    id: str = Field(pattern=_ID_PATTERN)
    title: str = Field(min_length=1)
    section: str
    description: str = ""
    severity: Severity = Severity.MEDIUM
    exposure: Exposure = Exposure.OPERATIONS
    check: str | None = None
    recommendation: str = ""
    effort: DebtLevel = DebtLevel.MEDIUM
    debt: DebtCategory | None = None

    @field_validator("check")
    @classmethod
    def _known_check(cls, value: str | None) -> str | None:
        if value is not None and value not in CHECKS:
            raise ValueError(f"unknown check '{value}'; known checks: {', '.join(sorted(CHECKS))}")
        return value


class Band(_Frozen):
    """A reading of a final score: it applies to scores up to ``max`` (None: no upper bound)."""

    max: float | None
    label: str = Field(min_length=1)


class Rubric(_Frozen):
    id: str = Field(pattern=_ID_PATTERN)
    kind: Literal["ml_test_score", "checklist", "maturity"]
    title: str = Field(min_length=1)
    description: str = ""
    source: str = ""
    threshold: float = Field(default=0.8, gt=0.0, le=1.0, description="maturity: share to reach")
    sections: tuple[RubricSection, ...] = Field(min_length=1)
    items: tuple[RubricItem, ...] = ()
    bands: tuple[Band, ...] = ()

    def section(self, section_id: str) -> RubricSection:
        for section in self.sections:
            if section.id == section_id:
                return section
        raise NotFound(f"rubric '{self.id}' has no section '{section_id}'")

    def items_in(self, section_id: str) -> tuple[RubricItem, ...]:
        return tuple(item for item in self.items if item.section == section_id)

    def band_for(self, score: float) -> Band:
        return next(band for band in self.bands if band.max is None or score <= band.max)


class RubricExtension(_Frozen):
    """A user file that adds sections and items to a rubric named by ``extends``."""

    extends: str
    sections: tuple[RubricSection, ...] = ()
    items: tuple[RubricItem, ...] = ()


def _invalid(source: str, errors: list[FieldError]) -> Invalid:
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    detail = f"rubric {source}: {first.field}: {first.message}{more}"
    return Invalid(detail, errors=errors)


def _validate(model: type[Rubric] | type[RubricExtension], data: Any, source: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            FieldError(".".join(str(part) for part in error["loc"]) or "(root)", message_of(error))
            for error in exc.errors()
        ]
        raise _invalid(source, errors) from None


def _consistency_errors(rubric: Rubric) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    levels: set[int | None] = set()
    for index, section in enumerate(rubric.sections):
        if section.id in seen:
            errors.append(FieldError(f"sections.{index}.id", f"duplicate section '{section.id}'"))
        seen.add(section.id)
        if rubric.kind == "maturity" and section.level is None:
            errors.append(FieldError(f"sections.{index}.level", "maturity sections need a level"))
        elif section.level is not None and section.level in levels:
            errors.append(FieldError(f"sections.{index}.level", f"duplicate level {section.level}"))
        levels.add(section.level)
    items: set[str] = set()
    for index, item in enumerate(rubric.items):
        if item.id in items:
            errors.append(FieldError(f"items.{index}.id", f"duplicate item '{item.id}'"))
        items.add(item.id)
        if item.section not in seen:
            message = f"unknown section '{item.section}'; sections: {', '.join(sorted(seen))}"
            errors.append(FieldError(f"items.{index}.section", message))
    if rubric.kind == "ml_test_score":
        maxes = [band.max for band in rubric.bands]
        if not maxes or maxes[-1] is not None:
            errors.append(FieldError("bands", "the last band must have max: null"))
        bounded = [value for value in maxes if value is not None]
        if bounded != sorted(bounded) or None in maxes[:-1]:
            errors.append(FieldError("bands", "bands must be in ascending order of max"))
    return errors


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _invalid(source, [FieldError("(yaml)", str(exc).replace("\n", " "))]) from None
    if not isinstance(data, dict):
        raise _invalid(source, [FieldError("(root)", "the file must hold a YAML mapping")])
    return data


def parse_rubric(text: str, *, source: str = "<string>") -> Rubric:
    """Parse and validate one whole rubric; errors name the file and the bad field."""
    rubric: Rubric = _validate(Rubric, _read_yaml(text, source), source)
    errors = _consistency_errors(rubric)
    if errors:
        raise _invalid(source, errors)
    return rubric


def extend_rubric(rubric: Rubric, extension_text: str, *, source: str = "<string>") -> Rubric:
    """Return ``rubric`` with the sections and items of one extension file added."""
    extension: RubricExtension = _validate(
        RubricExtension, _read_yaml(extension_text, source), source
    )
    if extension.extends != rubric.id:
        message = f"this file extends '{extension.extends}', not '{rubric.id}'"
        raise _invalid(source, [FieldError("extends", message)])
    merged = rubric.model_copy(
        update={
            "sections": rubric.sections + extension.sections,
            "items": rubric.items + extension.items,
        }
    )
    errors = _consistency_errors(merged)
    if errors:
        # Report positions inside the extension file, not inside the merged rubric.
        shift = {"sections": len(rubric.sections), "items": len(rubric.items)}
        raise _invalid(source, [_shift(error, shift) for error in errors])
    return merged


def _shift(error: FieldError, shift: dict[str, int]) -> FieldError:
    head, _, rest = error.field.partition(".")
    index, _, tail = rest.partition(".")
    if head in shift and index.isdigit():
        return FieldError(f"{head}.{int(index) - shift[head]}.{tail}", error.message)
    return error


def _builtin_text(name: str) -> str:
    return (resources.files("mlgate.readiness") / "rubrics" / BUILTIN_RUBRICS[name]).read_text(
        encoding="utf-8"
    )


def load_rubric(name_or_path: str | Path, *, extra: Iterable[str | Path] = ()) -> Rubric:
    """Load a shipped rubric by name (``ml_test_score``) or a rubric file, then its extensions."""
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_RUBRICS:
        rubric = parse_rubric(_builtin_text(name_or_path), source=f"'{name_or_path}'")
    else:
        rubric = parse_rubric(_read_file(Path(name_or_path)), source=f"'{name_or_path}'")
    for path in extra:
        rubric = extend_rubric(rubric, _read_file(Path(path)), source=f"'{path}'")
    return rubric


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Invalid.field("path", f"cannot read rubric file '{path}': {exc.strerror}") from None


def load_ml_test_score(extra: Sequence[str | Path] = ()) -> Rubric:
    return load_rubric("ml_test_score", extra=extra)


def load_production_checklist(extra: Sequence[str | Path] = ()) -> Rubric:
    return load_rubric("production_checklist", extra=extra)


def load_maturity_model(extra: Sequence[str | Path] = ()) -> Rubric:
    return load_rubric("maturity", extra=extra)
