"""When the retraining loop retrains: the trigger rule, which tells persistent change from noise.

Pure: the loop gathers the facts (this check's drift and decay, the drift found by earlier
checks, the champion's age, the last retrain) and :func:`decide_trigger` applies the rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from mlflow_retrain.config import SafetyConfig, TriggerConfig

__all__ = ["CheckFacts", "DecayTest", "TriggerDecision", "decay_test", "decide_trigger"]


@dataclass(frozen=True)
class DecayTest:
    """One decay check's test (:func:`decay_test`).

    Attributes:
        z: How many standard errors the batch's value lies worse than the reference, less the
            tolerance (positive: worse).
        level: The one-sided level of this check: ``(1 - confidence) / horizon``.
        decayed: ``z`` exceeds the standard normal's ``1 - level`` quantile.
    """

    z: float
    level: float
    decayed: bool


def decay_test(
    batch: tuple[float, float, float],
    reference: tuple[float, float, float],
    *,
    greater_is_better: bool,
    confidence: float,
    horizon: int,
    tolerance: float = 0.0,
) -> DecayTest:
    """Whether the champion's metric on a batch is significantly worse than its reference.

    Both are estimates with an interval at ``confidence``; their standard errors are the
    intervals' half-widths over the normal quantile, and the difference (the batch worse
    than the reference by more than ``tolerance``) is tested one-sided at ``(1 -
    confidence) / horizon``. By the union bound (Bonferroni's alpha spending), an unchanged
    champion then triggers in at most ``1 - confidence`` of every ``horizon`` checks, however
    the checks depend on each other through their shared reference: the default, 0.95 over
    24, is at most 5% false triggers in two years of monthly checks.

    Args:
        batch: The batch's ``(value, low, high)``.
        reference: The reference's ``(value, low, high)``.
        greater_is_better: The metric's direction.
        confidence: The intervals' confidence, and one minus the false-trigger rate per
            horizon.
        horizon: Checks over which the false-trigger rate is held.
        tolerance: How much worse than the reference is not yet decay (metric units).

    Returns:
        The test.
    """
    quantile = float(stats.norm.ppf((1 + confidence) / 2))
    se = math.hypot((batch[2] - batch[1]) / (2 * quantile),
                    (reference[2] - reference[1]) / (2 * quantile))  # fmt: skip
    worse = (reference[0] - batch[0]) if greater_is_better else (batch[0] - reference[0])
    level = (1 - confidence) / horizon
    if not se > 0:
        return DecayTest(z=math.inf if worse > tolerance else 0.0, level=level,
                         decayed=worse > tolerance)  # fmt: skip
    z = (worse - tolerance) / se
    return DecayTest(z=z, level=level, decayed=bool(z > stats.norm.isf(level)))


@dataclass(frozen=True)
class CheckFacts:
    """What one check of the loop found.

    Attributes:
        has_champion: A champion exists (without one, the loop trains a first model).
        drift_now: This batch drifted from the champion's reference.
        drift_before: Drift found by the earlier checks against the same champion, most
            recent last.
        decayed: The champion's metric on this batch is significantly below its reference
            by more than the tolerance (``None``: the batch has no labels, or no reference).
        model_age_days: The champion's age.
        checks_since_retrain: Checks since the last retrain (``None``: never retrained).
        hours_since_retrain: Hours since the last retrain (``None``: never retrained).
    """

    has_champion: bool
    drift_now: bool
    drift_before: Sequence[bool] = ()
    decayed: bool | None = None
    model_age_days: float | None = None
    checks_since_retrain: int | None = None
    hours_since_retrain: float | None = None


@dataclass(frozen=True)
class TriggerDecision:
    """The trigger rule's answer.

    Attributes:
        retrain: Whether to retrain now.
        trigger: ``first_deployment``, ``decay``, ``drift``, ``model_age``, or ``none``.
        reason: One sentence, recorded on the pipeline run.
        held_by_cooldown: A trigger fired but the cooldown held it.
    """

    retrain: bool
    trigger: str
    reason: str
    held_by_cooldown: bool = False


def decide_trigger(
    facts: CheckFacts, triggers: TriggerConfig, safety: SafetyConfig
) -> TriggerDecision:
    """Apply the trigger rule to one check.

    Retrain when there is no champion; when performance decay is significant; when drift
    persists in ``drift_k`` of the last ``drift_n`` checks; or when the champion is older than
    ``max_model_age_days``. A cooldown after a retrain holds every trigger but the first.
    """
    if not facts.has_champion:
        return TriggerDecision(True, "first_deployment", "No champion yet: train a first model.")
    before = list(facts.drift_before)
    window = [*before[-(triggers.drift_n - 1) :], facts.drift_now] if (
        triggers.drift_n > 1
    ) else [facts.drift_now]  # fmt: skip
    drifted = sum(window)
    fired: tuple[str, str] | None = None
    if facts.decayed:
        fired = ("decay", "The champion's metric on this batch decayed significantly.")
    elif facts.drift_now and drifted >= triggers.drift_k:
        fired = (
            "drift",
            f"Data drift persists: found in {drifted} of the last {len(window)} checks "
            f"(needs {triggers.drift_k} of {triggers.drift_n}).",
        )
    elif (
        triggers.max_model_age_days is not None
        and facts.model_age_days is not None
        and facts.model_age_days > triggers.max_model_age_days
    ):
        fired = (
            "model_age",
            f"The champion is {facts.model_age_days:.1f} days old, older than "
            f"{triggers.max_model_age_days:g}.",
        )
    if fired is None:
        if facts.drift_now:
            return TriggerDecision(
                False,
                "none",
                f"Drift not yet persistent ({drifted} of the last {len(window)} checks, needs "
                f"{triggers.drift_k}): treated as noise until it persists.",
            )
        return TriggerDecision(False, "none", "No significant drift or decay.")
    cooling = (
        facts.checks_since_retrain is not None
        and facts.checks_since_retrain < safety.cooldown_checks
    ) or (
        facts.hours_since_retrain is not None and facts.hours_since_retrain < safety.cooldown_hours
    )
    if cooling:
        return TriggerDecision(
            False,
            fired[0],
            f"{fired[1]} Held by the cooldown after the last retrain.",
            held_by_cooldown=True,
        )
    return TriggerDecision(True, fired[0], fired[1])
