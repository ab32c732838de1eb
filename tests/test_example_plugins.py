"""The task types of the worked examples (examples/*/plugin) as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

# The plugins are separate packages (never workspace members): pytest imports them from
# source (``pythonpath`` in pyproject.toml names examples/*/plugin/src).
from taskfactory_example_loan import (
    CreditCheckInput,
    DecideInput,
    RiskInput,
    credit_check,
    decide,
    risk_assessment,
)
from taskfactory_example_monitoring import StateRecord, compare


def test_credit_check_uses_the_declared_score_else_a_stable_one() -> None:
    assert credit_check(CreditCheckInput(applicant="ada", declared_score=720)).score == 720
    first = credit_check(CreditCheckInput(applicant="alan")).score
    assert first == credit_check(CreditCheckInput(applicant="alan")).score
    assert 550 <= first < 850


@pytest.mark.parametrize(
    ("amount", "income", "debt", "risk"),
    [(2500, 52000, 3000, "low"), (10000, 30000, 4000, "medium"), (4000, 10000, 2000, "high")],
)
async def test_risk_follows_debt_to_income(
    amount: float, income: float, debt: float, risk: str
) -> None:
    out = await risk_assessment(RiskInput(amount=amount, annual_income=income, existing_debt=debt))
    assert out.risk == risk
    assert out.debt_to_income == round((amount + debt) / income, 4)


@pytest.mark.parametrize(
    ("amount", "score", "risk", "decision"),
    [
        (2500, 720, "low", "approve"),
        (9999, 600, "medium", "approve"),
        (2500, 599, "low", "decline"),
        (2500, 800, "high", "decline"),
        (10000, 800, "low", "refer"),  # the limit itself needs a person
        (50000, 400, "high", "refer"),  # above it a person decides even a bad case
    ],
)
async def test_decide_alone_only_below_the_limit(
    amount: float, score: int, risk: str, decision: str
) -> None:
    out = await decide(DecideInput(amount=amount, auto_limit=10000, score=score, risk=risk))
    assert out.decision == decision
    assert out.automatic is (decision != "refer")


def _record(value: str, firing: str) -> StateRecord:
    return StateRecord(
        value=value, firing=firing, changed=False, first=False, observed_at=datetime.now(UTC)
    )


def test_compare_baseline_unchanged_changed() -> None:
    baseline = compare("m", "ok", "f1", None)
    assert (baseline.first, baseline.changed, baseline.previous) == (True, False, None)
    same = compare("m", "ok", "f2", baseline)
    assert (same.first, same.changed, same.previous) == (False, False, "ok")
    moved = compare("m", "degraded", "f3", same)
    assert (moved.changed, moved.previous, moved.value) == (True, "ok", "degraded")


def test_a_retried_firing_gets_its_first_answer_not_a_comparison_with_itself() -> None:
    stored = compare("m", "degraded", "f3", _record("ok", "f2"))
    assert stored.changed
    # The attempt wrote its record and crashed before replying; the retry reads it back.
    again = compare("m", "degraded", "f3", stored)
    assert again is stored
    assert again.changed
