"""Audits requirements (requirements.txt, pyproject, pip freeze) against offline OSV advisories."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from mlgate.errors import Invalid
from mlgate.scanning.osv import advisory_index
from mlgate.scanning.schemas import DependencyFinding, DependencyReport, DependencyStatus

__all__ = ["ParsedRequirement", "audit_requirements", "parse_requirements"]

_OPTION = re.compile(r"\s+(--?[A-Za-z][\w-]*)(=\S+|\s+\S+)?")


@dataclass(frozen=True, slots=True)
class ParsedRequirement:
    """A dependency as written: its name, the spec text, and the exact version when pinned."""

    name: str
    spec: str
    version: str | None
    note: str | None = None


def _pinned(requirement: Requirement) -> str | None:
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


def _parse_line(line: str) -> ParsedRequirement | None:
    line = line.split(" #", 1)[0].strip()
    editable = re.match(r"^(-e|--editable)[\s=]+(\S+)", line)
    if editable:  # pip freeze writes local checkouts this way; there is no version to audit
        target = editable.group(2)
        name = target.split("#egg=", 1)[1] if "#egg=" in target else target.rstrip("/")
        return ParsedRequirement(
            name.rsplit("/", 1)[-1],
            f"-e {target}",
            None,
            "editable install from a checkout, not a released version",
        )
    if not line or line.startswith(("#", "-")):
        return None  # comments and pip options (-r, -e, --index-url, --hash ...)
    line = _OPTION.sub("", " " + line).strip()
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return ParsedRequirement(
            name=line.split()[0], spec=line, version=None, note="not a valid requirement"
        )
    if requirement.url:
        return ParsedRequirement(
            requirement.name,
            f"@ {requirement.url}",
            None,
            "installed from a URL, not a released version",
        )
    return ParsedRequirement(
        requirement.name, str(requirement.specifier) or "*", _pinned(requirement)
    )


def _pyproject_lines(text: str) -> list[str] | None:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    project = data.get("project")
    if not isinstance(project, dict):
        return None
    lines = [str(d) for d in project.get("dependencies") or []]
    for extra in (project.get("optional-dependencies") or {}).values():
        lines += [str(d) for d in extra]
    return lines


def parse_requirements(text: str) -> list[ParsedRequirement]:
    """Reads requirements.txt, ``pip freeze`` output, or a pyproject.toml's dependencies."""
    lines: list[str] | None = None
    if "[project]" in text:
        lines = _pyproject_lines(text)
        if lines is None:
            raise Invalid.field("requirements", "pyproject.toml cannot be parsed as TOML")
    if lines is None:
        lines = text.replace("\\\n", " ").splitlines()
    parsed = [p for p in (_parse_line(line) for line in lines) if p is not None]
    return parsed


def audit_requirements(text: str, advisories: str | os.PathLike[str]) -> DependencyReport:
    """Each requirement is vulnerable, clean, or unknown when the data cannot answer for it."""
    index = advisory_index(advisories)
    findings: list[DependencyFinding] = []
    for req in parse_requirements(text):
        base = {"name": req.name, "spec": req.spec, "version": req.version}
        if req.version is None:
            findings.append(
                DependencyFinding(
                    **base,
                    status=DependencyStatus.UNKNOWN,
                    reason=req.note or "not pinned to one version; pin it (==) to audit it",
                )
            )
            continue
        try:
            version = Version(req.version)
        except InvalidVersion:
            findings.append(
                DependencyFinding(
                    **base, status=DependencyStatus.UNKNOWN, reason="the version is not PEP 440"
                )
            )
            continue
        if not index.known(req.name):
            findings.append(
                DependencyFinding(
                    **base,
                    status=DependencyStatus.UNKNOWN,
                    reason="the advisory database does not know this package",
                )
            )
            continue
        advisories_found = index.advisories_for(req.name, version)
        findings.append(
            DependencyFinding(
                **base,
                status=DependencyStatus.VULNERABLE if advisories_found else DependencyStatus.CLEAN,
                advisories=advisories_found,
            )
        )
    return DependencyReport(dependencies=findings)
