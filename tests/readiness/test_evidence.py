"""Automatic checks and attestations: satisfied, unsatisfied or unknown, always with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from mlgate.errors import Invalid
from mlgate.readiness import (
    Attestation,
    CheckPolicy,
    Facts,
    PrivacyFacts,
    Status,
    run_check,
)
from tests.readiness.conftest import NOW, ready_facts, ready_route


def status(name: str, facts: Facts, policy: CheckPolicy | None = None) -> Status:
    return run_check(name, facts, now=NOW, policy=policy).status


def test_missing_facts_are_unknown_not_failed() -> None:
    bare = Facts(model="m", version=1)

    assert status("scan_clean", bare) is Status.UNKNOWN
    assert status("card_completeness", bare) is Status.UNKNOWN
    assert status("route_fallback", bare) is Status.UNKNOWN
    assert status("version_approved", bare) is Status.UNKNOWN


def test_every_route_must_carry_the_safeguard() -> None:
    facts = ready_facts(routes=(ready_route("a", deadline_ms=None), ready_route("b")))

    result = run_check("route_deadline", facts, now=NOW)

    assert result.status is Status.UNSATISFIED
    assert result.reason == "route(s) without a deadline: a"


def test_policy_thresholds_are_applied() -> None:
    facts = ready_facts(privacy=PrivacyFacts(retention_days=120))

    assert status("retention_days", facts) is Status.UNSATISFIED
    assert status("retention_days", facts, CheckPolicy(max_retention_days=365)) is Status.SATISFIED
    assert status("card_completeness", facts, CheckPolicy(min_card_completeness=1.0)) is (
        Status.UNSATISFIED
    )


def test_a_drill_older_than_the_policy_fails() -> None:
    facts = ready_facts(
        backups=ready_facts().backups.model_copy(update={"last_drill_at": NOW - timedelta(days=91)})
    )

    assert run_check("last_drill_age", facts, now=NOW).reason == (
        "the last restore drill is 91 days old; at most 90 allowed"
    )


def test_an_undeclared_sensitive_data_answer_fails_the_declaration_check() -> None:
    card = ready_facts().card.model_copy(update={"sensitive_data": None})

    assert status("sensitive_data_declared", ready_facts(card=card)) is Status.UNSATISFIED
    assert status("sensitive_data_declared", ready_facts()) is Status.SATISFIED


def test_unknown_check_name_is_invalid() -> None:
    with pytest.raises(Invalid, match="unknown check 'vibes'"):
        run_check("vibes", ready_facts(), now=NOW)


def test_attestation_must_expire_after_it_was_made() -> None:
    with pytest.raises(ValidationError, match="expires_at must be later than at"):
        Attestation(item_id="data-2", by="ana", at=NOW, expires_at=NOW)


def test_attestation_needs_timezone_aware_times() -> None:
    with pytest.raises(ValidationError):
        Attestation(
            item_id="data-2",
            by="ana",
            at=NOW.replace(tzinfo=None),
            expires_at=NOW + timedelta(days=1),
        )


def test_attestation_is_valid_from_its_date_until_expiry() -> None:
    claim = Attestation(item_id="x", by="ana", at=NOW, expires_at=NOW + timedelta(days=1))

    assert not claim.valid_at(NOW - timedelta(seconds=1))
    assert claim.valid_at(NOW)
    assert not claim.valid_at(NOW + timedelta(days=1))
