"""The result type every paired test returns."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Alternative", "TestResult"]

Alternative = Literal["two-sided", "greater", "less"]


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class TestResult:
    """Outcome of a paired comparison of model ``a`` (challenger) with model ``b`` (champion).

    Attributes:
        method: The test, e.g. ``mcnemar-mid-p``, ``delong``, ``paired-bootstrap``.
        statistic: The test statistic (NaN when inconclusive).
        p_value: The p-value for ``alternative`` (NaN when inconclusive).
        estimate: metric(a) - metric(b), or the mean paired difference the test is about.
        ci_low: Lower end of the confidence interval of ``estimate``.
        ci_high: Upper end of the confidence interval of ``estimate``.
        n: Paired observations used.
        alternative: ``two-sided``; ``greater`` (H1: a is better, estimate > 0); ``less``.
        confidence: Confidence level of the interval.
        inconclusive_reason: Why no test could be run (one class, all ties, n too small).
        details: Extra numbers (discordant counts, degrees of freedom, AUCs, ...).
    """

    __test__ = False  # not a pytest test class, despite the name

    method: str
    statistic: float
    p_value: float
    estimate: float
    ci_low: float
    ci_high: float
    n: int
    alternative: Alternative = "two-sided"
    confidence: float = 0.95
    inconclusive_reason: str | None = None
    details: Mapping[str, float] = field(default_factory=dict)

    @property
    def inconclusive(self) -> bool:
        """No valid test result (see ``inconclusive_reason``)."""
        return self.inconclusive_reason is not None

    @classmethod
    def inconclusive_result(
        cls,
        method: str,
        reason: str,
        *,
        n: int,
        estimate: float = math.nan,
        alternative: Alternative = "two-sided",
        confidence: float = 0.95,
    ) -> TestResult:
        """Build the explicit "could not decide" result for degenerate input."""
        return cls(
            method=method,
            statistic=math.nan,
            p_value=math.nan,
            estimate=estimate,
            ci_low=math.nan,
            ci_high=math.nan,
            n=n,
            alternative=alternative,
            confidence=confidence,
            inconclusive_reason=reason,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (NaN becomes ``null``)."""
        return {
            "method": self.method,
            "statistic": _num(self.statistic),
            "p_value": _num(self.p_value),
            "estimate": _num(self.estimate),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "n": self.n,
            "alternative": self.alternative,
            "confidence": self.confidence,
            "inconclusive_reason": self.inconclusive_reason,
            "details": {k: _num(float(v)) for k, v in self.details.items()},
        }
