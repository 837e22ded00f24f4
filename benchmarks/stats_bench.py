"""Benchmark: the paired statistical tests on gate-sized data.

Data: N paired rows (default 1,000,000), ``y ~ Bernoulli(0.3)``; two correlated binormal score
columns (challenger AUC about 0.84, champion about 0.76) and their thresholded predictions.

Timed (best of three for the fast tests, data generation excluded):

(a) ``delong_test(y, scores_a, scores_b)`` on all N rows; target <= 1.5 s.
(b) The usual alternative: a paired bootstrap of ``sklearn.metrics.roc_auc_score`` with 200
    resamples (rows drawn jointly for both models). It runs on all N rows when a one-resample
    pilot projects at most ``--budget`` seconds (default 150); otherwise on 100,000 rows, with
    the time scaled linearly to N. The output says which.
(c) ``bench_bootstrap_accuracy()``: ``mlflow_retrain.stats.paired_bootstrap_test`` on
    the accuracy of the two prediction columns, N rows x 2,000 resamples; target <= 10 s.

Usage: ``python benchmarks/stats_bench.py [--rows N] [--resamples B] [--budget S] [--seed S]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from mlflow_retrain.stats.delong import delong_test

TARGET_DELONG_S = 1.5
TARGET_BOOT_ACCURACY_S = 10.0
BOOT_ACCURACY_RESAMPLES = 2_000
FALLBACK_ROWS = 100_000


def make_data(rows: int, seed: int) -> dict[str, np.ndarray]:
    """Paired scores and predictions of a challenger (a) and a champion (b)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.3).astype(np.int64)
    shared = np.sqrt(0.5) * rng.normal(size=rows)
    scores_a = 1.4 * y + shared + np.sqrt(0.5) * rng.normal(size=rows)
    scores_b = 1.0 * y + shared + np.sqrt(0.5) * rng.normal(size=rows)
    return {
        "y": y,
        "scores_a": scores_a,
        "scores_b": scores_b,
        "pred_a": (scores_a > 0.7).astype(np.int64),
        "pred_b": (scores_b > 0.5).astype(np.int64),
    }


def best_of(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bootstrap_auc(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int, seed: int
) -> np.ndarray:
    """The common hand-rolled alternative: resample rows, recompute both AUCs each time."""
    rng = np.random.default_rng(seed)
    size = y.size
    diffs = np.empty(resamples)
    for i in range(resamples):
        idx = rng.integers(0, size, size)
        diffs[i] = roc_auc_score(y[idx], a[idx]) - roc_auc_score(y[idx], b[idx])
    return diffs


def bench_bootstrap_accuracy(data: dict[str, np.ndarray], seed: int) -> tuple[str, float | None]:
    """>>> PAIRED-BOOTSTRAP SPOT <<< accuracy, N rows x 2,000 resamples (target <= 10 s).

    Times ``mlflow_retrain.stats.paired_bootstrap_test(y, pred_a, pred_b, "accuracy",
    n_resamples=2000, random_state=seed)`` (the built-in metric name, which may take a
    vectorised path).
    """
    from mlflow_retrain.stats import paired_bootstrap_test

    def run() -> Any:
        return paired_bootstrap_test(
            data["y"],
            data["pred_a"],
            data["pred_b"],
            "accuracy",
            n_resamples=BOOT_ACCURACY_RESAMPLES,
            random_state=seed,
        )

    try:
        seconds, result = best_of(run, repeats=1)
    except TypeError as err:  # the other module's signature changed under us
        return f"SKIP (call signature mismatch: {err})", None
    return f"estimate {result.estimate:+.5f}, p {result.p_value:.3g}", seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--budget", type=float, default=150.0, help="bootstrap seconds allowed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    data = make_data(args.rows, args.seed)
    print(f"rows {args.rows:,}; data generated in {time.perf_counter() - start:.1f} s (not timed)")

    delong_s, result = best_of(lambda: delong_test(data["y"], data["scores_a"], data["scores_b"]))
    print(
        f"DeLong: AUC {result.details['auc_a']:.5f} vs {result.details['auc_b']:.5f}, "
        f"diff {result.estimate:+.5f}, 95% CI [{result.ci_low:+.5f}, {result.ci_high:+.5f}], "
        f"z {result.statistic:.2f}"
    )

    y, a, b = data["y"], data["scores_a"], data["scores_b"]
    pilot_s, _ = best_of(lambda: bootstrap_auc(y, a, b, 1, args.seed), repeats=1)
    projected = pilot_s * args.resamples
    if projected <= args.budget:
        boot_rows, scale = args.rows, 1.0
        boot_s, diffs = best_of(
            lambda: bootstrap_auc(y, a, b, args.resamples, args.seed), repeats=1
        )
        how = f"measured on all {args.rows:,} rows"
    else:
        boot_rows = min(FALLBACK_ROWS, args.rows)
        scale = args.rows / boot_rows
        sub = slice(0, boot_rows)
        measured, diffs = best_of(
            lambda: bootstrap_auc(y[sub], a[sub], b[sub], args.resamples, args.seed), repeats=1
        )
        boot_s = measured * scale
        how = (
            f"measured {measured:.1f} s on {boot_rows:,} rows, x{scale:g} linear extrapolation "
            f"(pilot projected {projected:.0f} s on all rows > budget {args.budget:.0f} s)"
        )
    low, high = np.percentile(diffs, [2.5, 97.5])
    print(
        f"Bootstrap ({args.resamples} resamples, {boot_rows:,} rows): diff "
        f"{np.mean(diffs):+.5f}, 95% percentile CI [{low:+.5f}, {high:+.5f}]; {how}"
    )

    acc_note, acc_s = bench_bootstrap_accuracy(data, args.seed)
    print(f"paired_bootstrap_test accuracy: {acc_note}")

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    print()
    print(f"| {'measure':<58} | {'seconds':>9} | {'target':>8} | verdict |")
    print(f"|{'-' * 60}|{'-' * 11}|{'-' * 10}|---------|")
    print(
        f"| {'delong_test, ' + f'{args.rows:,} rows':<58} | {delong_s:>9.3f} | "
        f"{'<= ' + str(TARGET_DELONG_S):>8} | {verdict(delong_s <= TARGET_DELONG_S):<7} |"
    )
    label = f"bootstrap roc_auc_score x{args.resamples}, {args.rows:,} rows"
    label += "" if scale == 1.0 else " (extrap.)"
    print(f"| {label:<58} | {boot_s:>9.1f} | {'-':>8} | {'-':<7} |")
    print(
        f"| {'ratio bootstrap / DeLong':<58} | {boot_s / delong_s:>8.0f}x | {'-':>8} | {'-':<7} |"
    )
    label = f"paired_bootstrap_test accuracy, {args.rows:,} x {BOOT_ACCURACY_RESAMPLES:,}"
    if acc_s is None:
        print(f"| {label:<58} | {'n/a':>9} | {'<= 10.0':>8} | {'SKIP':<7} |")
    else:
        ok = acc_s <= TARGET_BOOT_ACCURACY_S
        print(f"| {label:<58} | {acc_s:>9.2f} | {'<= 10.0':>8} | {verdict(ok):<7} |")
    failed = delong_s > TARGET_DELONG_S or (acc_s is not None and acc_s > TARGET_BOOT_ACCURACY_S)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
