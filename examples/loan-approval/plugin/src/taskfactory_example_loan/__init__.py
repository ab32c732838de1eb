"""Task types of the loan-approval example, each a function with a pydantic input and output.

They stand in for a credit bureau and a risk model: deterministic functions of the
application, so the example (and its tests) can steer every branch from the event alone.
``credit_check`` is sync (the executor runs it in its thread pool, as it would a blocking
bureau client); the other two are async.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CreditCheckInput",
    "CreditReport",
    "DecideInput",
    "Decision",
    "RiskAssessment",
    "RiskInput",
    "credit_check",
    "decide",
    "risk_assessment",
]

_IN = ConfigDict(frozen=True, extra="forbid")
Risk = Literal["low", "medium", "high"]

#: Scores below this are declined automatically, whatever the amount.
MIN_SCORE = 600


class CreditCheckInput(BaseModel):
    """Who applies; ``declared_score`` stands in for what the bureau would report."""

    model_config = _IN

    applicant: str = Field(min_length=1)
    declared_score: int | None = Field(default=None, ge=300, le=850)


class CreditReport(BaseModel):
    """The bureau's answer."""

    applicant: str
    score: int = Field(ge=300, le=850)
    bureau: str = "example-bureau"


def credit_check(params: CreditCheckInput) -> CreditReport:
    """The applicant's credit score (a blocking call in real life, hence sync)."""
    if params.declared_score is not None:
        score = params.declared_score
    else:
        # A stable pseudo-score, so an application without one always gets the same answer.
        digest = hashlib.sha256(params.applicant.encode()).digest()
        score = 550 + int.from_bytes(digest[:2], "big") % 300
    return CreditReport(applicant=params.applicant, score=score)


class RiskInput(BaseModel):
    """What the risk model looks at."""

    model_config = _IN

    amount: float = Field(gt=0)
    annual_income: float = Field(gt=0)
    existing_debt: float = Field(default=0, ge=0)


class RiskAssessment(BaseModel):
    """The model's verdict and the ratio it is based on."""

    risk: Risk
    debt_to_income: float


async def risk_assessment(params: RiskInput) -> RiskAssessment:
    """Debt-to-income after the loan: below 0.35 low, below 0.5 medium, else high."""
    ratio = round((params.existing_debt + params.amount) / params.annual_income, 4)
    risk: Risk = "low" if ratio < 0.35 else "medium" if ratio < 0.5 else "high"
    return RiskAssessment(risk=risk, debt_to_income=ratio)


class DecideInput(BaseModel):
    """The two assessments, the amount and the limit of automatic decisions."""

    model_config = _IN

    amount: float = Field(gt=0)
    auto_limit: float = Field(gt=0)
    score: int
    risk: Risk


class Decision(BaseModel):
    """``approve`` and ``decline`` are final; ``refer`` waits for a person."""

    decision: Literal["approve", "decline", "refer"]
    reason: str
    automatic: bool


async def decide(params: DecideInput) -> Decision:
    """Decide alone below ``auto_limit``; at or above it, refer to the credit team."""
    if params.amount >= params.auto_limit:
        return Decision(
            decision="refer",
            reason=f"amount {params.amount:g} is at or above the automatic limit "
            f"{params.auto_limit:g} (score {params.score}, risk {params.risk})",
            automatic=False,
        )
    if params.score < MIN_SCORE:
        return Decision(
            decision="decline",
            reason=f"credit score {params.score} is below {MIN_SCORE}",
            automatic=True,
        )
    if params.risk == "high":
        return Decision(decision="decline", reason="debt-to-income too high", automatic=True)
    return Decision(
        decision="approve",
        reason=f"score {params.score}, risk {params.risk}, below the automatic limit",
        automatic=True,
    )
