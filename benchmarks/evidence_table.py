"""The audit table of issue 17, re-run: each case before and now, with Clopper-Pearson intervals.

Every row simulates one case of the statistician's audit, where 5% is the promise, with the
rule the package used before (side by side) and the rule it uses now, for several seeds.
A rate's 95% Clopper-Pearson interval follows it; ``ok`` marks a rate whose whole interval
is at or below 5.5%, ``OPEN`` one that is not (a case not yet solved, printed as measured).
Power rows show what the new rules still detect.

The same cases run, with fewer replications and one seed, in the ``slow`` tests:
``tests/unit/pipeline/test_shadow_batches.py``, ``tests/unit/drift/test_drift_small_batches.py``,
``tests/unit/stats/test_delong_simulation.py``, ``tests/unit/pipeline/test_decay_horizon.py``.

Usage: ``python benchmarks/evidence_table.py [--seeds 3] [--scale 1.0]`` (``--scale`` multiplies
every replication count; 1.0 takes about ten minutes on two cores).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlflow_retrain.comparison import Evidence, ModelOutput, compare_models
from mlflow_retrain.config import CategoricalDriftConfig, DriftConfig, TriggerConfig
from mlflow_retrain.drift import build_profile, categorical_test, detect_drift
from mlflow_retrain.pipeline.shadow import decide
from mlflow_retrain.pipeline.triggers import decay_test
from mlflow_retrain.policy import PromotionPolicy, ShadowRule
from mlflow_retrain.stats import SequentialState, delong_test, optimal_rho, paired_t_test

# The replaced categorical rule is the small-batch tests' baseline too, and a shadow batch's
# step: one copy, in their helpers.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers.drift import pooled_by_combined_count
from helpers.streams import add_batch

ALPHA = 0.05
BOUND = 0.055


def interval(k: int, n: int) -> tuple[float, float]:
    """The 95% Clopper-Pearson interval of ``k`` in ``n``."""
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return float(ci.low), float(ci.high)


def rate_text(k: int, n: int, *, level: bool = True) -> str:
    low, high = interval(k, n)
    mark = ("ok" if high <= BOUND else "OPEN") if level else ""
    return f"{k / n:6.1%} [{low:5.1%}, {high:5.1%}] {mark}".rstrip()


# ---- shadow mode ----------------------------------------------------------------------------


def _shadow(draw: Callable[[np.random.Generator], Any], unit: str, streams: int,
            seed: int) -> int:  # fmt: skip
    """Streams (of ``streams``) in which shadow mode promotes, at the default policy."""
    rule = replace(ShadowRule(), unit=unit)
    rng = np.random.default_rng(seed)
    promoted = 0
    for _ in range(streams):
        state = SequentialState.start(alpha=ALPHA, rho=optimal_rho(rule.horizon_rows, ALPHA),
                                      null_value=rule.min_improvement, min_rows=rule.min_rows,
                                      unit=unit)  # fmt: skip
        for _ in range(rule.max_batches):
            state = add_batch(state, draw(rng))
            decision, _ = decide(state, rule)
            promoted += decision == "promote"
            if decision != "continue":
                break
    return promoted


def _blind(draw: Callable[[np.random.Generator], Any]) -> Callable[[np.random.Generator], Any]:
    """The same batches as loss differences only: the rule before the tail check."""

    def differences(rng: np.random.Generator) -> np.ndarray:
        challenger, champion = draw(rng)
        return np.asarray(champion - challenger)

    return differences


def _day_effect(icc: float, rows: int = 2000) -> Callable[[np.random.Generator], np.ndarray]:
    def draw(rng: np.random.Generator) -> np.ndarray:
        return rng.normal(0, math.sqrt(icc)) + rng.normal(0, math.sqrt(1 - icc), rows)

    return draw


def _t3_mse(rows: int = 2000) -> Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]:
    # Champion: normal errors of variance 3; challenger: t3 errors (variance 3). Equal MSE.
    def draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        champion = rng.normal(0, math.sqrt(3), rows) ** 2
        return rng.standard_t(3, rows) ** 2, champion

    return draw


# ---- compare --------------------------------------------------------------------------------


def _compare(errors: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]],
             policy: PromotionPolicy, n: int, reps: int, seed: int,
             judge: Callable[[Evidence], bool] | None = None) -> int:  # fmt: skip
    """Replications (of ``reps``) that ``judge`` counts (default: a promotion)."""
    rng = np.random.default_rng(seed)
    counted = 0
    for _ in range(reps):
        e_a, e_b = errors(rng, n)
        y = np.zeros(n)
        evidence = compare_models(y, ModelOutput(predictions=e_a), ModelOutput(predictions=e_b),
                                  policy=policy)  # fmt: skip
        counted += judge(evidence) if judge else evidence.decision == "promote"
    return counted


def _guardrail_passed(evidence: Evidence) -> bool:
    return any(m.name == "rmse" and m.role == "guardrail" and m.passed for m in evidence.metrics)


def _t3_errors(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_t(3, n), rng.normal(0, math.sqrt(3), n)  # challenger, champion


def _guardrail_errors(margin: float) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    # Laplace errors; the challenger's RMSE exactly `margin` above the champion's (1.0).
    def errors(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        shared = rng.laplace(size=n) / math.sqrt(2)
        own = rng.laplace(size=n) / math.sqrt(2)
        return (1 + margin) * (0.8 * shared + 0.6 * own), shared

    return errors


def _paired_t_rejects(n: int, reps: int, seed: int) -> int:
    """The rule before the tail check: the one-sided paired t on squared errors."""
    rng = np.random.default_rng(seed)
    rejected = 0
    for _ in range(reps):
        e_a, e_b = _t3_errors(rng, n)
        rejected += paired_t_test(e_a**2, e_b**2, alternative="less").p_value < ALPHA
    return rejected


def _mapped_guardrail(n: int, reps: int, seed: int, margin: float = 0.1) -> int:
    """The guardrail rule before: the MSE difference's 90% t interval over ``r_a + r_b``."""
    rng = np.random.default_rng(seed)
    errors = _guardrail_errors(margin)
    passed = 0
    for _ in range(reps):
        e_a, e_b = errors(rng, n)
        high = paired_t_test(e_a**2, e_b**2, confidence=1 - 2 * ALPHA).ci_high
        passed += high / (math.sqrt(np.mean(e_a**2)) + math.sqrt(np.mean(e_b**2))) < margin
    return passed


def _guardrail_policy(margin: float) -> PromotionPolicy:
    # The guardrail's own verdict is counted (its row's `passed`), whatever the primary says.
    return PromotionPolicy.from_dict({
        "task": "regression", "primary": ["mae"],
        "guardrails": [{"metric": "rmse", "margin": margin}], "n_resamples": 499,
    })  # fmt: skip


# ---- DeLong ---------------------------------------------------------------------------------


def _delong(positives: int, reference: str, reps: int, seed: int, n: int = 400) -> int:
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int)
    y[:positives] = 1
    rejected = 0
    for _ in range(reps):
        shared = math.sqrt(0.5) * rng.normal(size=n)
        a = y + shared + math.sqrt(0.5) * rng.normal(size=n)
        b = y + shared + math.sqrt(0.5) * rng.normal(size=n)
        result = delong_test(y, a, b, alternative="greater", reference=reference)  # type: ignore[arg-type]
        rejected += (not result.inconclusive) and result.p_value < ALPHA
    return rejected


# ---- drift ----------------------------------------------------------------------------------

LEVELS = 500
SHARES = 1 / np.arange(1, LEVELS + 1) ** 0.8
SHARES /= SHARES.sum()
NAMES = np.array([f"L{i}" for i in range(LEVELS)], dtype=object)


def _counts(rng: np.random.Generator, n: int) -> dict[str, int]:
    return {str(k): int(c) for k, c in zip(NAMES, rng.multinomial(n, SHARES), strict=True) if c}


def _sparse_column(reps: int, seed: int) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    before = now = 0
    floor = CategoricalDriftConfig().min_effect
    for _ in range(reps):
        ref, cur = _counts(rng, 10_000), _counts(rng, 50)
        before += (
            pooled_by_combined_count(ref, cur) < ALPHA
        )  # the plug-in effect (~0.6) always passed
        result = categorical_test(ref, cur)
        now += result.p_value < ALPHA and result.jensen_shannon >= floor
    return before, now


# ---- decay ----------------------------------------------------------------------------------


def _decay(reps: int, seed: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(seed)
    z = float(stats.norm.ppf(0.975))

    def estimate(correct: np.ndarray, rows: int) -> np.ndarray:
        value = correct / rows
        half = z * np.sqrt(value * (1 - value) / rows)
        return np.stack([value, value - half, value + half], axis=-1)

    batches = estimate(rng.binomial(2000, 0.8, (reps, 25)), 2000)
    gate = estimate(rng.binomial(10_000, 0.8, reps), 10_000)
    rival = estimate(rng.binomial(10_000, 0.8, reps), 10_000)
    won = np.maximum(gate[:, 0], 0.5 * gate[:, 0] + 0.5 * rival[:, 0])
    half = z * np.sqrt(won * (1 - won) / 10_000)
    selected = np.stack([won, won - half, won + half], axis=-1)
    before = int(np.any(batches[:, 1:, 2] < gate[:, None, 1], axis=1).sum())
    before_selected = int(np.any(batches[:, 1:, 2] < selected[:, None, 1], axis=1).sum())
    rule = TriggerConfig()
    now = sum(
        any(decay_test(tuple(b), tuple(s[0]), greater_is_better=True,  # type: ignore[arg-type]
                       confidence=rule.decay_confidence, horizon=rule.decay_horizon).decayed
            for b in s[1:])
        for s in batches
    )  # fmt: skip
    return before, before_selected, int(now)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()

    def reps(n: int) -> int:
        return max(20, int(n * args.scale))

    started = time.perf_counter()
    print("case | seed | before | now")
    for seed in range(args.seeds):
        s = 1000 + seed
        n = reps(300)
        for icc in (0.001, 0.01):
            print(f"shadow, day effect icc {icc}, batches of 2,000 | {seed} | "
                  f"{rate_text(_shadow(_day_effect(icc), 'row', n, s), n)} (row unit) | "
                  f"{rate_text(_shadow(_day_effect(icc), 'batch', n, s), n)} (batch unit)",
                  flush=True)  # fmt: skip
        print(f"shadow, equal MSE, challenger t3 errors | {seed} | "
              f"{rate_text(_shadow(_blind(_t3_mse()), 'row', n, s), n)} (row unit, no tail "
              f"check) | {rate_text(_shadow(_t3_mse(), 'row', n, s), n)} (row unit), "
              f"{rate_text(_shadow(_t3_mse(), 'batch', n, s), n)} (batch unit)",
              flush=True)  # fmt: skip
        for rows in (100, 300, 1000):
            # At 100 rows the rate sits near 4.5%: 4,000 replications resolve it against 5.5%.
            n = reps(4000 if rows == 100 else 1000)
            auto = PromotionPolicy.from_dict(
                {"task": "regression", "primary": ["rmse"], "n_resamples": 499}
            )
            print(f"compare, equal RMSE, challenger t3, n={rows} | {seed} | "
                  f"{rate_text(_paired_t_rejects(rows, n, s), n)} (paired t, no tail check) | "
                  f"{rate_text(_compare(_t3_errors, auto, rows, n, s), n)} (auto)",
                  flush=True)  # fmt: skip

        def guardrail(rows: int, n: int, s: int, margin: float = 0.1) -> int:
            return _compare(_guardrail_errors(margin), _guardrail_policy(margin), rows, n, s,
                            judge=_guardrail_passed)  # fmt: skip

        n = reps(1000)
        for rows in (100, 300, 1000):
            print(f"compare, RMSE guardrail at its margin, Laplace errors, n={rows} | {seed} | "
                  f"{rate_text(_mapped_guardrail(rows, n, s), n)} (MSE interval mapped) | "
                  f"{rate_text(guardrail(rows, n, s), n)} (passed)",
                  flush=True)  # fmt: skip
        n = reps(10_000)
        for positives in (6, 20):
            print(f"DeLong with {positives} positives (one-sided) | {seed} | "
                  f"{rate_text(_delong(positives, 'normal', n, s), n)} (normal) | "
                  + ("inconclusive (fewer than 10 of a class)" if positives < 10 else
                     f"{rate_text(_delong(positives, 't', n, s), n)} (t, the gate's)"),
                  flush=True)  # fmt: skip
        n = reps(1000)
        before, now = _sparse_column(n, s)
        print(f"drift, 500-level column, batches of 50 (column flagged) | {seed} | "
              f"{rate_text(before, n)} | {rate_text(now, n)}", flush=True)  # fmt: skip
        n = reps(2000)
        before, selected, now = _decay(n, s)
        print(f"decay, 24 monthly checks, unchanged champion | {seed} | "
              f"{rate_text(before, n)} (gate), {rate_text(selected, n)} (gate it won on) | "
              f"{rate_text(now, n)}", flush=True)  # fmt: skip
    # Power, one seed.
    rng = np.random.default_rng(7)
    pd_frame = pd.DataFrame({"plan": rng.choice(["basic", "plus"], 20_000, p=[0.1, 0.9])})
    reference = build_profile(pd_frame)
    old_floor = DriftConfig(categorical=CategoricalDriftConfig(min_effect=0.1))
    n = reps(200)
    now = before = 0
    for _ in range(n):
        batch = pd.DataFrame({"plan": rng.choice(["basic", "plus"], 5000, p=[0.15, 0.85])})
        now += detect_drift(reference, batch).drift_detected
        before += detect_drift(reference, batch, config=old_floor).drift_detected
    print(f"power: drift, a level 10% -> 15%, 5,000 rows | - | {rate_text(before, n, level=False)}"
          f" | {rate_text(now, n, level=False)}")  # fmt: skip
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
