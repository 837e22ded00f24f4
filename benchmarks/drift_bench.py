"""Benchmark: drift detection against a plain scipy baseline on a 25-column table.

Data as in the drift notes' benchmark (``shared/notes/drift-anchors.md`` section 3): reference
and current with N rows each, 20 float columns and 5 string columns (10/20/30/40/50 Zipf-like
levels), 1 % NaN in f18 and f19, and nine changed columns (f0 +0.5 sd, f1 +0.25 sd, f2 +0.10
sd, f3 scale x1.5, f4 lognormal log-mean +0.2, f5 uniform range +10 %, f6 +0.02 sd, c0
popularity reversed, c1 mild re-weighting).

Timed (best of two, data generation excluded):

(a) baseline: ``scipy.stats.ks_2samp`` per numeric column (NaN dropped) and
    ``chi2_contingency`` on the 2 x K table of ``value_counts`` per categorical column;
(b) ours: ``detect_drift(reference_df, current_df)`` (KS, Wasserstein, PSI, chi-square, JS,
    missing-rate tests, FDR control, decisions);
(c) ``build_profile(reference_df)`` once, then ``detect_drift(profile, current_df)``.

Usage: ``python benchmarks/drift_bench.py [--rows N] [--seed S]`` (default 1,000,000 rows).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mlflow_retrain.drift import build_profile, detect_drift

N_NUMERIC = 20
LEVELS = (10, 20, 30, 40, 50)
TARGET_RATIO = 1.0
TARGET_PROFILE_S_PER_1M = 1.0
TARGET_MEMORY_RATIO = 2.0


def _zipf(k: int) -> np.ndarray:
    p = 1.0 / np.arange(1, k + 1)
    return p / p.sum()


def make_frames(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (reference, current) frames with the documented shifts."""
    rng = np.random.default_rng(seed)
    # c1's mild re-weighting factors are fixed across sizes.
    reweight = np.random.default_rng(12345).uniform(0.8, 1.2, LEVELS[1])

    def side(current: bool) -> pd.DataFrame:
        cols: dict[str, Any] = {}
        for i in range(N_NUMERIC):
            loc, scale = float(i), 1.0 + i / 10
            if i == 3:
                x = rng.normal(loc, scale * (1.5 if current else 1.0), rows)
            elif i == 4:
                x = rng.lognormal(0.2 if current else 0.0, 0.5, rows)
            elif i == 5:
                x = rng.uniform(0.0, 1.1 if current else 1.0, rows)
            else:
                shift = {0: 0.5, 1: 0.25, 2: 0.10, 6: 0.02}.get(i, 0.0) if current else 0.0
                x = rng.normal(loc + shift * scale, scale, rows)
            if i in (18, 19):
                x[rng.random(rows) < 0.01] = np.nan
            cols[f"f{i}"] = x
        for j, k in enumerate(LEVELS):
            p = _zipf(k)
            if current and j == 0:
                p = p[::-1]
            elif current and j == 1:
                p = p * reweight / (p * reweight).sum()
            names = np.array([f"c{j}_L{level:02d}" for level in range(k)], dtype=object)
            cols[f"c{j}"] = names[rng.choice(k, size=rows, p=p)]
        return pd.DataFrame(cols)

    return side(False), side(True)


def baseline(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, float]:
    """Per-column p-values: KS for floats, chi-square on value counts for strings."""
    pvalues: dict[str, float] = {}
    for name in reference.columns:
        if pd.api.types.is_float_dtype(reference[name].dtype):
            ref = reference[name].dropna().to_numpy()
            cur = current[name].dropna().to_numpy()
            pvalues[name] = float(stats.ks_2samp(ref, cur).pvalue)
        else:
            counts = pd.concat(
                [reference[name].value_counts(), current[name].value_counts()], axis=1
            ).fillna(0)
            table = counts.to_numpy(dtype=float).T
            pvalues[name] = float(stats.chi2_contingency(table, correction=False).pvalue)
    return pvalues


def best_of(fn: Callable[[], Any], repeats: int = 2) -> tuple[float, Any]:
    """Return the best wall time of ``repeats`` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_traced(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated (numpy included) while ``fn`` runs, via tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def peak_rss_increase(fn: Callable[[], Any]) -> int | None:
    """Peak resident-set growth (bytes) while ``fn`` runs; Linux only, else ``None``.

    Resets the kernel's high-water mark (``/proc/self/clear_refs``) first, so the peak is
    this call's and not an earlier one's.
    """
    gc.collect()
    try:
        before = _proc_status_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return None
    fn()
    return (_proc_status_kib("VmHWM") - before) * 1024


def _proc_status_kib(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise OSError(f"{key} not in /proc/self/status")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rows = args.rows

    t0 = time.perf_counter()
    reference, current = make_frames(rows, args.seed)
    gen_s = time.perf_counter() - t0
    frames_bytes = int(
        reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum()
    )
    print(f"rows/side {rows:,}; 25 columns; data generated in {gen_s:.1f} s (not timed)")
    print(f"in-memory size of the two frames: {frames_bytes / 2**20:,.0f} MiB")

    t_base, base_p = best_of(lambda: baseline(reference, current))
    t_ours, report = best_of(lambda: detect_drift(reference, current))
    t_build, profile = best_of(lambda: build_profile(reference))
    t_score, prof_report = best_of(lambda: detect_drift(profile, current))
    json_bytes = len(profile.to_json().encode())

    peak = peak_traced(lambda: detect_drift(reference, current))
    rss = peak_rss_increase(lambda: detect_drift(reference, current))

    ratio = t_ours / t_base
    score_per_1m = t_score * (1_000_000 / rows) * (25 / len(reference.columns))
    mem_ratio = peak / frames_bytes

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    print()
    print(f"| {'measure':<52} | {'value':>12} | {'target':>9} | verdict |")
    print(f"|{'-' * 54}|{'-' * 14}|{'-' * 11}|---------|")
    lines: list[tuple[str, str, str, str]] = [
        ("(a) baseline ks_2samp + chi2_contingency, s", f"{t_base:.3f}", "", ""),
        ("(b) ours detect_drift(ref_df, cur_df), s", f"{t_ours:.3f}", "", ""),
        (
            "    ratio ours / baseline",
            f"{ratio:.2f}",
            f"<= {TARGET_RATIO:.1f}",
            verdict(ratio <= TARGET_RATIO),
        ),
        ("(c) build_profile(ref_df), s", f"{t_build:.3f}", "", ""),
        ("    detect_drift(profile, cur_df), s", f"{t_score:.3f}", "", ""),
        (
            "    profile scoring per 1M rows x 25 cols, s",
            f"{score_per_1m:.3f}",
            f"<= {TARGET_PROFILE_S_PER_1M:.1f}",
            verdict(score_per_1m <= TARGET_PROFILE_S_PER_1M),
        ),
        ("    profile JSON size, KiB", f"{json_bytes / 1024:,.1f}", "", ""),
        ("(b) peak traced allocation (tracemalloc), MiB", f"{peak / 2**20:,.1f}", "", ""),
        (
            "    peak / in-memory size of both frames",
            f"{mem_ratio:.2f}",
            f"<= {TARGET_MEMORY_RATIO:.1f}",
            verdict(mem_ratio <= TARGET_MEMORY_RATIO),
        ),
        (
            "(b) peak RSS increase (/proc VmHWM), MiB",
            "n/a" if rss is None else f"{rss / 2**20:,.1f}",
            "",
            "",
        ),
    ]
    for name, value, target, ok in lines:
        print(f"| {name:<52} | {value:>12} | {target:>9} | {ok:<7} |")

    adjusted = stats.false_discovery_control(list(base_p.values()))
    base_flags = [n for n, p in zip(base_p, adjusted, strict=True) if p < 0.05]
    print()
    print(f"baseline, BH-adjusted p < 0.05 (no effect gate): {', '.join(base_flags)}")
    print(f"ours, table reference:   {', '.join(report.drifted_columns)}")
    print(f"    -> drift_detected={report.drift_detected}: {report.reason}")
    print(f"ours, profile reference: {', '.join(prof_report.drifted_columns)}")
    print(f"    -> drift_detected={prof_report.drift_detected}")
    print()
    print(
        f"| {'column':<6} | {'base p':>9} | {'ours p_adj':>10} | {'effect':>8} | {'prof eff':>8} |"
    )
    for feature in report.features:
        other = prof_report.feature(feature.name)
        print(
            f"| {feature.name:<6} | {base_p[feature.name]:9.2e} | "
            f"{feature.p_value_adjusted:10.2e} | {feature.effect_size:8.4f} | "
            f"{other.effect_size:8.4f} |"
        )
    ok = (
        ratio <= TARGET_RATIO
        and score_per_1m <= TARGET_PROFILE_S_PER_1M
        and mem_ratio <= TARGET_MEMORY_RATIO
    )
    print()
    print("ALL TARGETS PASS" if ok else "SOME TARGETS FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
