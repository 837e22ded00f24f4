"""The decay trigger's false-trigger rate over a horizon of checks (simulated; issue 17).

An unchanged champion with accuracy 0.80 is checked on 24 monthly batches of 2,000
labelled rows. Before, decay was called when the batch's 95% interval lay wholly below the
reference's, and the reference was the champion's accuracy on its 10,000-row gate split:
24 such checks triggered in 10-13% of champions, and about twice as often when the gate
split was the one on which the champion had won its comparison (it flatters the champion).
Now the reference is the first labelled batch the champion serves, and each later check
tests at ``(1 - 0.95) / 24`` one-sided (:func:`decay_test`): at most 5% over the 24 checks.
Rates carry 95% Clopper-Pearson intervals.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from mlflow_retrain.config import TriggerConfig
from mlflow_retrain.pipeline.triggers import decay_test

pytestmark = pytest.mark.slow

CHAMPIONS = 2000
CHECKS = 24
ACCURACY = 0.80
BATCH_ROWS = 2000
GATE_ROWS = 10_000
Z = float(stats.norm.ppf(0.975))


def _estimate(correct: np.ndarray, rows: int) -> np.ndarray:
    """Accuracy estimates with their 95% Wald intervals: shape ``(..., 3)``."""
    value = correct / rows
    half = Z * np.sqrt(value * (1 - value) / rows)
    return np.stack([value, value - half, value + half], axis=-1)


def _interval(k: int, n: int = CHAMPIONS) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return float(ci.low), float(ci.high)


def _old_rule(batches: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per champion: any batch whose interval lies wholly below the reference's."""
    return np.any(batches[..., 2] < reference[:, None, 1], axis=1)


def _new_rule(batches: np.ndarray) -> np.ndarray:
    """Per champion: the first batch is the reference; any later check triggers."""
    rule = TriggerConfig()
    fired = np.zeros(len(batches), dtype=bool)
    for i, stream in enumerate(batches):
        reference = tuple(stream[0])
        fired[i] = any(
            decay_test(tuple(b), reference, greater_is_better=True,  # type: ignore[arg-type]
                       confidence=rule.decay_confidence, horizon=rule.decay_horizon).decayed
            for b in stream[1:]
        )  # fmt: skip
    return fired


def test_an_unchanged_champion_triggers_in_at_most_five_percent_of_24_checks(
    record_property: Callable[[str, object], None],
) -> None:
    rng = np.random.default_rng(1717)
    batches = _estimate(rng.binomial(BATCH_ROWS, ACCURACY, (CHAMPIONS, CHECKS + 1)), BATCH_ROWS)
    gate = _estimate(rng.binomial(GATE_ROWS, ACCURACY, CHAMPIONS), GATE_ROWS)
    # The champion won its comparison on its gate split: of two equal models, the one that
    # scored higher there (the challenger's gate value, correlated 0.5 with the champion's).
    rival = _estimate(rng.binomial(GATE_ROWS, ACCURACY, CHAMPIONS), GATE_ROWS)
    shared = 0.5 * gate[:, 0] + 0.5 * rival[:, 0]
    winner = np.maximum(gate[:, 0], shared)
    half = Z * np.sqrt(winner * (1 - winner) / GATE_ROWS)
    selected = np.stack([winner, winner - half, winner + half], axis=-1)

    before = int(_old_rule(batches[:, 1:], gate).sum())
    before_selected = int(_old_rule(batches[:, 1:], selected).sum())
    now = int(_new_rule(batches).sum())

    low, high = _interval(now)
    record_property("false_triggers", now / CHAMPIONS)
    record_property("false_triggers_before", before / CHAMPIONS)
    record_property("false_triggers_before_selected", before_selected / CHAMPIONS)
    print(f"24 checks of an unchanged champion: triggered in {now / CHAMPIONS:.1%} "
          f"[{low:.1%}, {high:.1%}]; before {before / CHAMPIONS:.1%} (gate reference), "
          f"{before_selected / CHAMPIONS:.1%} (the gate it won on)")  # fmt: skip
    assert high <= 0.055
    assert _interval(before)[0] > 0.05  # the finding is real: the old rule broke
    assert before_selected > before


# Measured: a 5-point drop is caught within three checks in 96% of champions, a 3-point drop
# in 52% (the old rule, with its lenient level and 10,000-row reference: 100% and 93%). The
# minima leave about six standard errors of slack.
@pytest.mark.parametrize(("drop", "minimum"), [(0.05, 0.93), (0.03, 0.45)])
def test_a_real_drop_of_accuracy_is_caught(
    drop: float, minimum: float, record_property: Callable[[str, object], None]
) -> None:
    # The champion loses `drop` of accuracy after its first batch, for good.
    rng = np.random.default_rng(1718 + int(drop * 100))
    first = _estimate(rng.binomial(BATCH_ROWS, ACCURACY, (CHAMPIONS, 1)), BATCH_ROWS)
    later = _estimate(rng.binomial(BATCH_ROWS, ACCURACY - drop, (CHAMPIONS, 3)), BATCH_ROWS)

    caught = _new_rule(np.concatenate([first, later], axis=1))

    rate = float(caught.mean())
    record_property("caught_within_3_checks", rate)
    print(f"accuracy {ACCURACY} -> {ACCURACY - drop}: caught within 3 checks in {rate:.1%}")
    assert rate >= minimum
