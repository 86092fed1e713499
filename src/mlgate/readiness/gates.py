"""Stage gates ``readiness:<group>``: every item of a checklist group must be satisfied.

An approval policy names them like any other gate (``gates: [readiness:security]``). They are
registered with the approvals gate registry when this module is imported, which the readiness
router and CLI do; when approvals is not installed, nothing is registered.
"""

from __future__ import annotations

from mlgate.readiness import service

__all__ = ["register_gate_checks"]


def register_gate_checks() -> list[str]:
    """Register one gate per checklist group; safe to call again. Returns the gate names."""
    try:
        from mlgate.approvals.gates import GateContext, GateOutcome, register_check
    except ModuleNotFoundError:
        return []
    names: list[str] = []
    for section in service.rubrics()[1].sections:
        group = section.id

        def check(context: GateContext, group: str = group) -> GateOutcome:
            status = service.checklist_group(
                context.session,
                model=context.model_name,
                version=context.version.version,
                group=group,
            )
            if status.passed:
                return GateOutcome(True, f"all {status.total} {group} items are satisfied")
            unmet = ", ".join(status.unmet)
            return GateOutcome(
                False,
                f"{len(status.unmet)} of {status.total} {group} items are not satisfied: "
                f"{unmet}; see `mlgate assess --model {context.model_name} --format md`",
            )

        name = f"readiness:{group}"
        register_check(name, f"Every item of the '{section.title}' checklist group is satisfied.")(
            check
        )
        names.append(name)
    return names


GATE_CHECKS = register_gate_checks()
