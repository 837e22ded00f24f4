"""The retraining loop's trigger rule: retrain on persistent change, never on one noisy window."""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Mapping
from typing import Any

import pytest

from mlflow_retrain.config import RetrainConfig, SafetyConfig, TriggerConfig
from mlflow_retrain.exceptions import InvalidConfigError
from mlflow_retrain.pipeline.triggers import (
    CheckFacts,
    TriggerDecision,
    decay_test,
    decide_trigger,
)

# The documented default: drift must be found in 2 of the last 3 checks.
K2_OF_3 = TriggerConfig(drift_k=2, drift_n=3)
NO_COOLDOWN = SafetyConfig()


def _decide(
    facts: CheckFacts,
    triggers: TriggerConfig = K2_OF_3,
    safety: SafetyConfig = NO_COOLDOWN,
) -> TriggerDecision:
    return decide_trigger(facts, triggers, safety)


def _assert_no_retrain(decision: TriggerDecision) -> None:
    assert decision.retrain is False
    assert decision.trigger == "none"
    assert decision.held_by_cooldown is False


# --- What fires -------------------------------------------------------------------------------


def test_no_champion_trains_a_first_model() -> None:
    decision = _decide(CheckFacts(has_champion=False, drift_now=False))

    assert decision.retrain is True
    assert decision.trigger == "first_deployment"
    assert decision.held_by_cooldown is False


def test_significant_decay_retrains() -> None:
    decision = _decide(CheckFacts(has_champion=True, drift_now=False, decayed=True))

    assert decision.retrain is True
    assert decision.trigger == "decay"


@pytest.mark.parametrize("drift_before", [(), (False,), (False, False), (True, False, False)])
def test_drift_in_this_batch_only_is_treated_as_noise(drift_before: tuple[bool, ...]) -> None:
    decision = _decide(CheckFacts(has_champion=True, drift_now=True, drift_before=drift_before))

    _assert_no_retrain(decision)
    assert "treated as noise" in decision.reason


@pytest.mark.parametrize(
    ("drift_before", "drifted"),
    [((True,), 2), ((False, True), 2), ((True, False), 2), ((True, True), 3)],
)
def test_drift_persisting_in_k_of_the_last_n_checks_retrains(
    drift_before: tuple[bool, ...], drifted: int
) -> None:
    decision = _decide(CheckFacts(has_champion=True, drift_now=True, drift_before=drift_before))

    assert decision.retrain is True
    assert decision.trigger == "drift"
    assert f"found in {drifted} of the last" in decision.reason


@pytest.mark.parametrize(
    ("triggers", "drift_before"),
    [
        (K2_OF_3, (True, True)),
        (TriggerConfig(drift_k=1, drift_n=3), (False, True)),
        (TriggerConfig(drift_k=1, drift_n=1), (True,)),
    ],
)
def test_drift_in_earlier_checks_but_not_now_does_not_retrain(
    triggers: TriggerConfig, drift_before: tuple[bool, ...]
) -> None:
    decision = _decide(
        CheckFacts(has_champion=True, drift_now=False, drift_before=drift_before), triggers
    )

    _assert_no_retrain(decision)


@pytest.mark.parametrize("drift_before", [(), (False, False, False), (True, True, True)])
def test_one_of_one_retrains_on_a_single_drifted_window(drift_before: tuple[bool, ...]) -> None:
    decision = _decide(
        CheckFacts(has_champion=True, drift_now=True, drift_before=drift_before),
        TriggerConfig(drift_k=1, drift_n=1),
    )

    assert decision.retrain is True
    assert decision.trigger == "drift"
    # With n=1 the earlier checks are outside the window, drifted or not.
    assert "found in 1 of the last 1 checks" in decision.reason


def test_only_the_last_n_minus_one_earlier_checks_count() -> None:
    # Two old drifts, then two clean checks: the old drifts fall outside the 3-check window.
    facts = CheckFacts(has_champion=True, drift_now=True, drift_before=(True, True, False, False))

    decision = _decide(facts)

    _assert_no_retrain(decision)
    assert "1 of the last 3 checks" in decision.reason


def test_a_drift_just_inside_the_window_counts() -> None:
    facts = CheckFacts(has_champion=True, drift_now=True, drift_before=(False, False, True, False))

    decision = _decide(facts)

    assert decision.retrain is True
    assert decision.trigger == "drift"
    assert "found in 2 of the last 3 checks" in decision.reason


def test_model_older_than_the_maximum_retrains() -> None:
    decision = _decide(
        CheckFacts(has_champion=True, drift_now=False, model_age_days=30.5),
        TriggerConfig(max_model_age_days=30),
    )

    assert decision.retrain is True
    assert decision.trigger == "model_age"


@pytest.mark.parametrize(
    ("max_model_age_days", "model_age_days"),
    [(30.0, 30.0), (30.0, 29.9), (30.0, None), (None, 10_000.0)],
)
def test_model_at_or_below_the_maximum_age_does_not_retrain(
    max_model_age_days: float | None, model_age_days: float | None
) -> None:
    decision = _decide(
        CheckFacts(has_champion=True, drift_now=False, model_age_days=model_age_days),
        TriggerConfig(max_model_age_days=max_model_age_days),
    )

    _assert_no_retrain(decision)


@pytest.mark.parametrize("decayed", [None, False])
def test_no_significant_decay_does_not_retrain(decayed: bool | None) -> None:
    # None: the batch is unlabelled (or there is no reference), so decay cannot be judged.
    decision = _decide(CheckFacts(has_champion=True, drift_now=False, decayed=decayed))

    _assert_no_retrain(decision)


# --- Precedence -------------------------------------------------------------------------------


def test_decay_takes_precedence_over_drift() -> None:
    facts = CheckFacts(has_champion=True, drift_now=True, drift_before=(True, True), decayed=True)

    decision = _decide(facts)

    assert decision.retrain is True
    assert decision.trigger == "decay"


def test_drift_takes_precedence_over_model_age() -> None:
    facts = CheckFacts(
        has_champion=True, drift_now=True, drift_before=(True, True), model_age_days=100.0
    )

    decision = _decide(facts, TriggerConfig(max_model_age_days=30))

    assert decision.trigger == "drift"


def test_missing_champion_takes_precedence_over_every_other_trigger() -> None:
    facts = CheckFacts(
        has_champion=False,
        drift_now=True,
        drift_before=(True, True),
        decayed=True,
        model_age_days=100.0,
    )

    decision = _decide(facts, TriggerConfig(max_model_age_days=30))

    assert decision.trigger == "first_deployment"


# --- Cooldown ---------------------------------------------------------------------------------

FIRING_FACTS: dict[str, dict[str, Any]] = {
    "decay": {"decayed": True},
    "drift": {"drift_now": True, "drift_before": (True, True)},
    "model_age": {"model_age_days": 100.0},
}
AGE_LIMIT = TriggerConfig(max_model_age_days=30)


def _firing(trigger: str, **extra: Any) -> CheckFacts:
    fields: dict[str, Any] = {"has_champion": True, "drift_now": False}
    fields.update(FIRING_FACTS[trigger])
    fields.update(extra)
    return CheckFacts(**fields)


@pytest.mark.parametrize("trigger", sorted(FIRING_FACTS))
@pytest.mark.parametrize("checks_since_retrain", [0, 1])
def test_cooldown_by_checks_holds_a_fired_trigger(trigger: str, checks_since_retrain: int) -> None:
    decision = _decide(
        _firing(trigger, checks_since_retrain=checks_since_retrain),
        AGE_LIMIT,
        SafetyConfig(cooldown_checks=2),
    )

    assert decision.retrain is False
    assert decision.trigger == trigger
    assert decision.held_by_cooldown is True
    assert "cooldown" in decision.reason


@pytest.mark.parametrize("checks_since_retrain", [2, 3])
def test_cooldown_by_checks_releases_once_enough_checks_passed(checks_since_retrain: int) -> None:
    decision = _decide(
        _firing("decay", checks_since_retrain=checks_since_retrain),
        safety=SafetyConfig(cooldown_checks=2),
    )

    assert decision.retrain is True
    assert decision.trigger == "decay"
    assert decision.held_by_cooldown is False


@pytest.mark.parametrize("trigger", sorted(FIRING_FACTS))
def test_cooldown_by_hours_holds_a_fired_trigger(trigger: str) -> None:
    decision = _decide(
        _firing(trigger, hours_since_retrain=5.0), AGE_LIMIT, SafetyConfig(cooldown_hours=24)
    )

    assert decision.retrain is False
    assert decision.trigger == trigger
    assert decision.held_by_cooldown is True


@pytest.mark.parametrize("hours_since_retrain", [24.0, 48.0, None])
def test_cooldown_by_hours_releases_after_the_period(hours_since_retrain: float | None) -> None:
    decision = _decide(
        _firing("drift", hours_since_retrain=hours_since_retrain),
        safety=SafetyConfig(cooldown_hours=24),
    )

    assert decision.retrain is True
    assert decision.held_by_cooldown is False


def test_never_retrained_is_not_cooling_down() -> None:
    decision = _decide(
        _firing("decay", checks_since_retrain=None, hours_since_retrain=None),
        safety=SafetyConfig(cooldown_checks=5, cooldown_hours=24),
    )

    assert decision.retrain is True
    assert decision.held_by_cooldown is False


def test_cooldown_never_holds_the_first_deployment() -> None:
    facts = CheckFacts(
        has_champion=False, drift_now=False, checks_since_retrain=0, hours_since_retrain=0.0
    )

    decision = _decide(facts, safety=SafetyConfig(cooldown_checks=5, cooldown_hours=24))

    assert decision.retrain is True
    assert decision.trigger == "first_deployment"
    assert decision.held_by_cooldown is False


def test_cooldown_does_not_mark_a_check_where_nothing_fired() -> None:
    facts = CheckFacts(has_champion=True, drift_now=True, checks_since_retrain=0)

    decision = _decide(facts, safety=SafetyConfig(cooldown_checks=5))

    _assert_no_retrain(decision)


def test_drift_history_may_be_a_bounded_deque() -> None:
    # A loop naturally keeps the last n-1 drift flags in deque(maxlen=n-1).
    facts = CheckFacts(has_champion=True, drift_now=True, drift_before=deque([True], maxlen=2))

    decision = _decide(facts)

    assert decision.trigger == "drift"


# --- Validation of the triggers, safety and history sections ----------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"triggers": {"drift_k": 4, "drift_n": 3}},
            "'triggers.drift_k' must be in [1, 3], got 4",
        ),
        (
            {"triggers": {"decay_tolerance": -0.01}},
            "'triggers.decay_tolerance' must be in [0, inf], got -0.01",
        ),
        (
            {"triggers": {"decay_confidence": 1.0}},
            "'triggers.decay_confidence' must be in [0.5, 0.999], got 1.0",
        ),
        (
            {"triggers": {"decay_confidence": 0.4}},
            "'triggers.decay_confidence' must be in [0.5, 0.999], got 0.4",
        ),
        (
            {"safety": {"max_consecutive_rejections": 0}},
            "'safety.max_consecutive_rejections' must be in [1, inf], got 0",
        ),
        (
            {"history": {"source": "batches/", "uris": ["batches/2025-01.csv"]}},
            "Set either 'history.source' or 'history.uris' in retrain.yaml, not both.",
        ),
    ],
)
def test_invalid_trigger_safety_or_history_config_is_rejected(
    data: Mapping[str, Any], message: str
) -> None:
    with pytest.raises(InvalidConfigError, match=re.escape(message)):
        RetrainConfig.from_dict(data)


def test_boundary_trigger_and_safety_values_are_accepted() -> None:
    config = RetrainConfig.from_dict(
        {
            "triggers": {
                "drift_k": 3,
                "drift_n": 3,
                "decay_tolerance": 0.0,
                "decay_confidence": 0.999,
            },
            "safety": {"max_consecutive_rejections": 1, "cooldown_checks": 0},
            "history": {"uris": ["batches/2025-01.csv"]},
        }
    )

    assert config.triggers == TriggerConfig(
        drift_k=3, drift_n=3, decay_tolerance=0.0, decay_confidence=0.999
    )
    assert config.safety == SafetyConfig(max_consecutive_rejections=1)
    assert config.history.uris == ("batches/2025-01.csv",)


def test_the_decay_test_is_a_z_test_at_alpha_over_the_horizon() -> None:
    # Batch 0.78 [0.76, 0.80], reference 0.81 [0.80, 0.82] at 95%: standard errors 0.0102
    # and 0.0051, so z = 0.03 / 0.0114 = 2.63, below the 0.05 / 24 quantile 2.86.
    batch, reference = (0.78, 0.76, 0.80), (0.81, 0.80, 0.82)
    se = math.hypot(0.02 / 1.959964, 0.01 / 1.959964)

    test = decay_test(batch, reference, greater_is_better=True, confidence=0.95, horizon=24)

    assert test.z == pytest.approx(0.03 / se)
    assert test.level == pytest.approx(0.05 / 24)
    assert test.decayed is False
    # One check a year instead: the same difference is decay at 0.05 / 1.
    assert decay_test(batch, reference, greater_is_better=True, confidence=0.95,
                      horizon=1).decayed is True  # fmt: skip


def test_the_decay_test_follows_the_metrics_direction_and_tolerance() -> None:
    reference = (1.00, 0.98, 1.02)  # an RMSE: lower is better
    worse = (1.10, 1.08, 1.12)

    assert decay_test(worse, reference, greater_is_better=False, confidence=0.95,
                      horizon=24).decayed is True  # fmt: skip
    assert decay_test(reference, worse, greater_is_better=False, confidence=0.95,
                      horizon=24).decayed is False  # fmt: skip
    tolerant = decay_test(worse, reference, greater_is_better=False, confidence=0.95,
                          horizon=24, tolerance=0.08)  # fmt: skip
    assert tolerant.decayed is False
    assert tolerant.z == pytest.approx(0.02 / math.hypot(0.02, 0.02) * 1.959964)
