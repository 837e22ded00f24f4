"""When the retraining loop retrains: the trigger rule, which tells persistent change from noise.

Pure: the loop gathers the facts (this check's drift and decay, the drift found by earlier
checks, the champion's age, the last retrain) and :func:`decide_trigger` applies the rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlflow_retrain.config import SafetyConfig, TriggerConfig

__all__ = ["CheckFacts", "TriggerDecision", "decide_trigger"]


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
