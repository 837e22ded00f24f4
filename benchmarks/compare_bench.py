"""Benchmark: the promotion gate's comparison of two regressors (R² by paired bootstrap).

A regression policy whose primary metric is R² judges it with a paired bootstrap (2,000
resamples, both sides), and a first deployment bounds R² with a percentile bootstrap (1,000
resamples). Timed, best of
``--repeat``, on a gate split of ``--rows`` rows (default 2,000):

(a) ``compare_models(y, challenger, champion)`` and (b) ``compare_models(y, challenger,
    None)`` as shipped: one set of resamples for the one-sided p-value and the two-sided
    interval, and R² computed on all resamples at once from per-row sums
    (``mlflow_retrain.metrics.resampled_scores``);
against the baseline: the same calls scoring each resample with scikit-learn's ``r2_score``
(what the gate did before; ``resampled_scores`` switched off) and, for (a), drawing the
resamples twice, once per side. Both give the same decision, which the script checks.

Usage: ``python benchmarks/compare_bench.py [--rows N] [--repeat K]``. Ratios are ours /
baseline.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import mlflow_retrain.comparison as comparison
from mlflow_retrain.comparison import ModelOutput, compare_models
from mlflow_retrain.policy import DEFAULT_FLOORS, MetricRule, PromotionPolicy
from mlflow_retrain.stats import paired_bootstrap_test


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _baseline(fn: Callable[[], Any]) -> Any:
    """``fn()`` with the gate as it was: no vectorised metric, one bootstrap per side."""
    saved = comparison.resampled_scores, comparison.paired_bootstrap_tests

    def separately(y: Any, a: Any, b: Any, metric: Any, *, designs: Any, **kwargs: Any) -> Any:
        kwargs.pop("resampled", None)
        return [
            paired_bootstrap_test(y, a, b, metric, alternative=alt, confidence=conf, **kwargs)
            for alt, conf in designs
        ]

    comparison.resampled_scores = lambda *args, **kwargs: None  # type: ignore[assignment]
    comparison.paired_bootstrap_tests = separately  # type: ignore[assignment]
    try:
        return fn()
    finally:
        comparison.resampled_scores, comparison.paired_bootstrap_tests = saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    y = rng.normal(size=args.rows)
    challenger = ModelOutput(predictions=y + rng.normal(scale=0.50, size=args.rows))
    champion = ModelOutput(predictions=y + rng.normal(scale=0.52, size=args.rows))
    policy = PromotionPolicy(task="regression", primary=(MetricRule("r2"),),
                             floor=DEFAULT_FLOORS["regression"])  # fmt: skip
    print(f"compare_models on {args.rows:,} rows, best of {args.repeat}")
    for label, champ in (("(a) challenger vs champion", champion), ("(b) first deployment", None)):

        def call(champ: ModelOutput | None = champ) -> Any:
            return compare_models(y, challenger, champ, policy=policy)

        ours, mine = _best(call, args.repeat)
        base, theirs = _best(lambda: _baseline(call), args.repeat)
        same = mine.decision == theirs.decision
        print(f"{label:<28} ours {ours:7.2f} s   baseline {base:7.2f} s   "
              f"ratio {ours / base:5.3f}   same decision: {same}")  # fmt: skip
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
