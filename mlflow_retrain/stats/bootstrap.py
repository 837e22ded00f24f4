"""The paired bootstrap test of any metric (rows resampled jointly for both models).

Pure numpy/scipy; see :mod:`mlflow_retrain.stats` for the sign convention every paired test
follows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from mlflow_retrain import _errors as errors
from mlflow_retrain.metrics import row_losses
from mlflow_retrain.stats._common import (
    check_options,
    check_resamples,
    inconclusive,
    index_chunks,
    same_length,
    vector,
)
from mlflow_retrain.stats.result import Alternative, TestResult

__all__ = ["BootstrapMetric", "ResampledMetric", "paired_bootstrap_test", "paired_bootstrap_tests"]

BootstrapMetric = Literal["accuracy", "mae", "mse", "log_loss", "brier"]

# Per-row metric name -> the per-row loss of the metric registry (mlflow_retrain.metrics) whose
# mean it is (accuracy: one minus the mean zero-one loss).
_LOSS_OF = {
    "accuracy": "zero_one",
    "mae": "absolute_error",
    "mse": "squared_error",
    "log_loss": "log_loss",
    "brier": "brier",
}
# Per-row metric name -> the sign of ``estimate`` that favours ``a``.
_ROW_METRICS: dict[str, float] = {
    "accuracy": 1.0,
    "mae": -1.0,
    "mse": -1.0,
    "log_loss": -1.0,
    "brier": -1.0,
}
# The multinomial shortcut is used up to this many distinct per-row differences (and at most
# a quarter of the rows); beyond that, drawing the counts costs as much as gathering rows.
_MAX_DISTINCT_FOR_MULTINOMIAL = 1000


def _row_values(metric: str, truth: np.ndarray, out: np.ndarray, name: str) -> np.ndarray:
    """Per-row contributions whose mean is ``metric``: the registry's per-row losses."""
    if metric == "accuracy":
        return 1.0 - row_losses("zero_one", truth, out)
    if metric in ("log_loss", "brier"):
        p = out.astype(float)
        if np.any((p < 0) | (p > 1)):
            raise errors.InvalidInputError(
                f"{name} must hold probabilities of the positive class in [0, 1] for {metric}; "
                f"got values in [{p.min()!r}, {p.max()!r}]. Pass predict_proba(X)[:, 1]."
            )
    return row_losses(_LOSS_OF[metric], truth.astype(float), out.astype(float))


def _strata(stratify: Any, n: int) -> list[np.ndarray]:
    if stratify is None:
        return [np.arange(n)]
    labels = vector(stratify, "stratify", numeric=False)
    same_length(y_true=np.empty(n), stratify=labels)
    _, inverse = np.unique(labels, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return np.split(order, bounds)


def _bootstrap_mean_differences(
    d: np.ndarray, strata: list[np.ndarray], n_resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """Bootstrap distribution of ``mean(d)``; returns it and whether the shortcut was used."""
    n = len(d)
    groups = [np.unique(d[members], return_counts=True) for members in strata]
    distinct = sum(len(values) for values, _ in groups)
    if distinct <= _MAX_DISTINCT_FOR_MULTINOMIAL and 4 * distinct <= n:
        # The resampled mean only depends on how often each distinct value is drawn, and
        # those counts are Multinomial(n_s, freq / n_s) per stratum: the exact bootstrap
        # distribution in O(n_resamples * distinct) instead of O(n_resamples * n).
        sums = np.zeros(n_resamples)
        for (values, counts), members in zip(groups, strata, strict=True):
            draws = rng.multinomial(len(members), counts / len(members), size=n_resamples)
            sums += draws @ values
        return sums / n, True
    means = np.concatenate(
        [d[idx].mean(axis=1) for idx in index_chunks(rng, strata, n, n_resamples)]
    )
    return means, False


#: ``resampled(y_true, out, rows)``: the metric on every resample, one row of ``rows`` each.
ResampledMetric = Callable[[np.ndarray, np.ndarray, np.ndarray], "np.ndarray | None"]


def paired_bootstrap_test(
    y_true: Any,
    out_a: Any,
    out_b: Any,
    metric: BootstrapMetric | Callable[[Any, Any], float],
    *,
    n_resamples: int = 2000,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
    random_state: int | np.random.Generator | None = None,
    stratify: Any = None,
    resampled: ResampledMetric | None = None,
) -> TestResult:
    """Paired bootstrap test of ``metric(a) - metric(b)`` (rows resampled jointly).

    ``estimate = metric(y_true, out_a) - metric(y_true, out_b)``. For ``"accuracy"`` a
    positive estimate favours ``a``; for the losses ``"mae"``, ``"mse"``, ``"log_loss"``
    and ``"brier"`` a negative one does (``details["better_sign"]``); for a callable the
    caller knows.

    - H0: the difference of the population metrics is zero.
    - H1: ``"two-sided"`` it is not; ``"greater"``/``"less"`` it is positive/negative.

    The p-value inverts the percentile interval (Efron & Tibshirani 1993, An Introduction to
    the Bootstrap, ch. 13 and 16): with ``delta*`` the resampled differences, ``"greater"``
    uses ``(1 + #{delta* <= 0}) / (B + 1)``, ``"less"`` ``(1 + #{delta* >= 0}) / (B + 1)``,
    two-sided twice the smaller, capped at 1. So ``p <= 1 - confidence`` essentially iff the
    percentile interval excludes 0 (up to one resample and the quantile interpolation).
    The interval is the percentile interval of ``delta*`` (one-sided for one-sided
    ``alternative``); no BCa correction.

    Assumptions: rows are independent (or ``stratify`` names the strata that were sampled
    independently, e.g. ``y_true`` for AUC so every resample keeps both classes, as pROC's
    ``boot.stratified``); the metric is a smooth function of the empirical distribution.
    Minimum sample size: 2 rows; use at least 2,000 resamples for a decision at 5 % and
    rows in the hundreds for the percentile interval to be accurate.

    Cost. String metrics are means of per-row values, so only ``d = value_a - value_b`` is
    resampled. When ``d`` has at most 1,000 distinct values, and at most ``n / 4`` of them
    (accuracy: -1, 0, 1), the counts of each value are drawn from a multinomial, which *is*
    the bootstrap distribution of the mean, in O(n_resamples x distinct): 1,000,000 rows x
    2,000 resamples take well under a second. Otherwise row indices are gathered in chunks of
    at most 8 million (64 MB), O(n_resamples x n): about 1 s per 100,000 rows x 2,000
    resamples. A callable is evaluated ``2 x n_resamples`` times on gathered rows:
    fine for thousands of rows, slow for millions. Replicates where a callable returns a
    non-finite value are dropped (counted in ``details["n_invalid_resamples"]``, with a
    warning).

    Reproducibility: the same ``random_state`` gives the same result. Callable and
    non-shortcut string paths draw the same index stream, so they agree on the same seed.

    Checked against the analytic bootstrap standard error of a paired accuracy difference,
    ``sqrt(b + c - (c - b)**2 / n) / n`` (the plug-in variance of the mean of ``d``).

    Args:
        y_true: True labels or targets, one per row.
        out_a: Challenger outputs: labels (accuracy), predictions (mae, mse), probabilities
            of the positive class (log_loss, brier, binary only), or anything the callable
            accepts (its first axis must be the rows).
        out_b: Champion outputs, same form as ``out_a``.
        metric: A name among ``"accuracy"``, ``"mae"``, ``"mse"``, ``"log_loss"``,
            ``"brier"`` or a callable ``metric(y_true, out) -> float``. Names are means of the
            per-row losses of :mod:`mlflow_retrain.metrics` (``brier`` is ``(p - y)**2``, as
            scikit-learn's ``brier_score_loss``; ``accuracy`` one minus the zero-one loss).
        n_resamples: Bootstrap resamples ``B``.
        alternative: Sign of ``estimate`` under H1.
        confidence: Level of the percentile interval.
        random_state: Seed or ``numpy.random.Generator``; None draws fresh entropy.
        stratify: Optional stratum label per row; rows are resampled within strata.
        resampled: With a callable ``metric``, its vectorised form (see
            :func:`mlflow_retrain.metrics.resampled_scores`): given ``y_true``, one model's
            outputs and a ``(k, n)`` matrix of row indices, the metric on each resample, or
            ``None`` to fall back to calling ``metric`` per resample. Same draws, same
            result up to float rounding.

    Returns:
        A ``TestResult`` whose ``statistic`` is the estimate over the bootstrap standard
        error; ``details`` holds ``se``, ``metric_a``, ``metric_b``, ``n_resamples``,
        ``n_strata``, ``exact_multinomial`` (1 when the shortcut was used) and, for names,
        ``better_sign``. Inconclusive when ``n < 2`` or every resample gives the same
        difference.

    Raises:
        InvalidInputError: On arrays of different lengths or shapes, NaN, an unknown metric
            name, probabilities outside [0, 1], ``n_resamples < 1`` or a bad
            ``alternative``/``confidence``.
    """
    (result,) = paired_bootstrap_tests(
        y_true, out_a, out_b, metric, designs=[(alternative, confidence)],
        n_resamples=n_resamples, random_state=random_state, stratify=stratify,
        resampled=resampled,
    )  # fmt: skip
    return result


def paired_bootstrap_tests(
    y_true: Any,
    out_a: Any,
    out_b: Any,
    metric: BootstrapMetric | Callable[[Any, Any], float],
    *,
    designs: Sequence[tuple[Alternative, float]],
    n_resamples: int = 2000,
    random_state: int | np.random.Generator | None = None,
    stratify: Any = None,
    resampled: ResampledMetric | None = None,
) -> list[TestResult]:
    """:func:`paired_bootstrap_test` for several ``(alternative, confidence)`` designs at once.

    The resamples are drawn once and every design reads the same bootstrap distribution,
    so the promotion gate's one-sided p-value and its two-sided interval cost one
    bootstrap, not two. Each result equals :func:`paired_bootstrap_test` with the same
    arguments and that design.
    """
    for alternative, confidence in designs:
        check_options(alternative, confidence)
    check_resamples(n_resamples)
    n_resamples = int(n_resamples)
    method = "paired-bootstrap"
    details: dict[str, float] = {"n_resamples": float(n_resamples)}
    if isinstance(metric, str):
        if metric not in _ROW_METRICS:
            raise errors.InvalidInputError(
                f"Unknown bootstrap metric {metric!r}; use one of "
                f"{', '.join(sorted(_ROW_METRICS))} or pass a callable metric(y_true, out)."
            )
        numeric = metric != "accuracy"
        truth = vector(y_true, "y_true", numeric=numeric)
        a = vector(out_a, "out_a", numeric=numeric)
        b = vector(out_b, "out_b", numeric=numeric)
        n = same_length(y_true=truth, out_a=a, out_b=b)
        values_a = _row_values(metric, truth, a, "out_a")
        values_b = _row_values(metric, truth, b, "out_b")
        metric_a = float(values_a.mean()) if n else math.nan
        metric_b = float(values_b.mean()) if n else math.nan
        details["better_sign"] = _ROW_METRICS[metric]
    elif callable(metric):
        truth, a, b = (np.asarray(x) for x in (y_true, out_a, out_b))
        for name, arr in (("y_true", truth), ("out_a", a), ("out_b", b)):
            if arr.ndim not in (1, 2):
                raise errors.InvalidInputError(
                    f"{name} must be 1-D or 2-D with rows first; got shape {arr.shape}. "
                    "Reshape it to (n_rows,) or (n_rows, n_columns)."
                )
            if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
                raise errors.InvalidInputError(
                    f"{name} must be finite; found NaN/inf. Drop or impute those rows in "
                    "both models before comparing."
                )
        if a.shape != b.shape:
            raise errors.InvalidInputError(
                f"out_a and out_b must have the same shape; got {a.shape} and {b.shape}. "
                "Score both models the same way."
            )
        n = same_length(y_true=truth, out_a=a, out_b=b)
        metric_a = float(metric(truth, a)) if n else math.nan
        metric_b = float(metric(truth, b)) if n else math.nan
    else:
        raise errors.InvalidInputError(
            f"metric must be a metric name or a callable; got {type(metric).__name__}. "
            "Pass e.g. 'accuracy' or sklearn.metrics.roc_auc_score."
        )
    estimate = metric_a - metric_b
    details.update(metric_a=metric_a, metric_b=metric_b)
    strata = _strata(stratify, n)
    details["n_strata"] = float(len(strata))
    if n < 2:
        return [
            inconclusive(
                method,
                f"need at least 2 rows to resample, got {n}",
                n=n,
                alternative=alternative,
                confidence=confidence,
                estimate=estimate,
                details=details,
            )
            for alternative, confidence in designs
        ]
    rng = np.random.default_rng(random_state)
    if isinstance(metric, str):
        deltas, shortcut = _bootstrap_mean_differences(
            values_a - values_b, strata, n_resamples, rng
        )
    else:
        shortcut = False
        collected: list[float] = []
        for idx in index_chunks(rng, strata, n, n_resamples):
            fast_a = None if resampled is None else resampled(truth, a, idx)
            fast_b = None if fast_a is None or resampled is None else resampled(truth, b, idx)
            if fast_a is not None and fast_b is not None:
                collected.extend(np.asarray(fast_a, dtype=float) - fast_b)
                continue
            for rows in idx:
                collected.append(
                    float(metric(truth[rows], a[rows])) - float(metric(truth[rows], b[rows]))
                )
        deltas = np.asarray(collected, dtype=float)
        valid = np.isfinite(deltas)
        n_invalid = int(np.count_nonzero(~valid))
        details["n_invalid_resamples"] = float(n_invalid)
        if n_invalid:
            warnings.warn(
                f"{method}: the metric was not finite on {n_invalid} of {n_resamples} "
                "resamples (e.g. one class only); they were dropped. Pass stratify=y_true.",
                RuntimeWarning,
                stacklevel=2,
            )
            deltas = deltas[valid]
    details["exact_multinomial"] = 1.0 if shortcut else 0.0
    return [
        _result(method, deltas, estimate, n, alternative, confidence, dict(details))
        for alternative, confidence in designs
    ]


def _result(
    method: str,
    deltas: np.ndarray,
    estimate: float,
    n: int,
    alternative: Alternative,
    confidence: float,
    details: dict[str, float],
) -> TestResult:
    """The test of one design on the bootstrap distribution ``deltas``."""
    if deltas.size == 0 or np.ptp(deltas) == 0:
        return inconclusive(
            method,
            "every bootstrap resample gives the same difference, so the bootstrap "
            "distribution has no spread (are the per-row values of a and b identical?)",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=estimate,
            details=details,
        )
    b_eff = deltas.size
    p_greater = (1.0 + np.count_nonzero(deltas <= 0)) / (b_eff + 1.0)
    p_less = (1.0 + np.count_nonzero(deltas >= 0)) / (b_eff + 1.0)
    alpha = 1.0 - confidence
    if alternative == "two-sided":
        p_value = min(1.0, 2.0 * min(p_greater, p_less))
        low, high = np.quantile(deltas, [alpha / 2.0, 1.0 - alpha / 2.0])
    elif alternative == "greater":
        p_value = p_greater
        low, high = float(np.quantile(deltas, alpha)), math.inf
    else:
        p_value = p_less
        low, high = -math.inf, float(np.quantile(deltas, confidence))
    se = float(deltas.std(ddof=1))
    details["se"] = se
    return TestResult(
        method=method,
        statistic=estimate / se if se > 0 else math.nan,
        p_value=float(p_value),
        estimate=estimate,
        ci_low=float(low),
        ci_high=float(high),
        n=n,
        alternative=alternative,
        confidence=confidence,
        details=details,
    )
