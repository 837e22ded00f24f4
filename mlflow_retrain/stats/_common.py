"""Validation and small helpers shared by the paired tests (private to ``mlflow_retrain.stats``).

Nothing here is public API: callers outside ``stats/`` use the test functions re-exported by
:mod:`mlflow_retrain.stats`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from scipy import stats

from mlflow_retrain import _errors as errors
from mlflow_retrain.stats.result import Alternative, TestResult

ALTERNATIVES = ("two-sided", "greater", "less")

#: Bound on the row indices a bootstrap draws at once (64 MB of int64).
MAX_INDICES_PER_CHUNK = 8_000_000


def check_options(alternative: str, confidence: float) -> None:
    """Reject an unknown ``alternative`` or a ``confidence`` outside (0, 1)."""
    if alternative not in ALTERNATIVES:
        raise errors.InvalidInputError(
            f"alternative must be one of 'two-sided', 'greater', 'less'; got {alternative!r}. "
            "Pick the sign of the estimate you want to detect."
        )
    if isinstance(confidence, bool) or not 0.0 < float(confidence) < 1.0:
        raise errors.InvalidInputError(
            f"confidence must lie strictly between 0 and 1; got {confidence!r}. "
            "Pass e.g. confidence=0.95."
        )


def check_resamples(n_resamples: Any) -> None:
    """Reject a bootstrap resample count that is not a positive integer."""
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        raise errors.InvalidInputError(
            f"n_resamples must be a positive integer; got {n_resamples!r}. Use 2000 or more "
            "for a decision at alpha = 0.05."
        )


def check_choice(value: Any, name: str, choices: tuple[str, ...], hint: str) -> None:
    """Reject a string option that is not one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise errors.InvalidInputError(f"{name} must be one of {shown}; got {value!r}. {hint}")


def vector(values: Any, name: str, *, numeric: bool = True) -> np.ndarray:
    """Return ``values`` as a 1-D array, float when ``numeric``, rejecting NaN and inf."""
    try:
        arr = np.asarray(values, dtype=float) if numeric else np.asarray(values)
    except (TypeError, ValueError) as err:
        raise errors.InvalidInputError(
            f"{name} must be numeric; could not convert it to float ({err}). "
            "Pass one number per evaluation row."
        ) from err
    if arr.ndim != 1:
        raise errors.InvalidInputError(
            f"{name} must be 1-D with one value per evaluation row; got shape {arr.shape}. "
            "Flatten it or pass a single column."
        )
    if arr.dtype.kind in "fc":
        bad = ~np.isfinite(arr)
        if bad.any():
            raise errors.InvalidInputError(
                f"{name} must be finite; found {int(bad.sum())} NaN/inf value(s) "
                f"(first at index {int(np.argmax(bad))}). Drop or impute those rows in both "
                "models before comparing."
            )
    return arr


def same_length(**arrays: np.ndarray) -> int:
    """The common length of the paired inputs; raises when they differ."""
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise errors.InvalidInputError(
            f"Paired inputs must have the same length; got {shown}. "
            "Evaluate both models on the same rows, in the same order."
        )
    return next(iter(lengths.values()))


def paired_losses(loss_a: Any, loss_b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate two per-row loss vectors of the same length."""
    a = vector(loss_a, "loss_a")
    b = vector(loss_b, "loss_b")
    same_length(loss_a=a, loss_b=b)
    return a, b


def inconclusive(
    method: str,
    reason: str,
    *,
    n: int,
    alternative: Alternative,
    confidence: float,
    estimate: float = math.nan,
    details: Mapping[str, float] | None = None,
) -> TestResult:
    """Warn and return the explicit "could not decide" result."""
    # stacklevel=3: point at the caller of the public test function.
    warnings.warn(f"{method}: {reason}", RuntimeWarning, stacklevel=3)
    result = TestResult.inconclusive_result(
        method,
        reason,
        n=n,
        estimate=estimate,
        alternative=alternative,
        confidence=confidence,
    )
    if details:
        result = dataclasses.replace(result, details=dict(details))
    return result


def normal_interval(
    estimate: float, se: float, alternative: str, confidence: float
) -> tuple[float, float]:
    """Normal-theory interval of ``estimate``, one-sided for a one-sided ``alternative``."""
    if alternative == "two-sided":
        q = float(stats.norm.ppf(0.5 + confidence / 2))
        return estimate - q * se, estimate + q * se
    q = float(stats.norm.ppf(confidence))
    if alternative == "greater":
        return estimate - q * se, math.inf
    return -math.inf, estimate + q * se


def index_chunks(
    rng: np.random.Generator, strata: list[np.ndarray], n: int, n_resamples: int
) -> Iterator[np.ndarray]:
    """Yield (k, n) row-index matrices, k resamples at a time, resampling within strata."""
    per_chunk = max(1, MAX_INDICES_PER_CHUNK // max(n, 1))
    done = 0
    while done < n_resamples:
        k = min(per_chunk, n_resamples - done)
        if len(strata) == 1 and len(strata[0]) == n:
            idx = rng.integers(0, n, size=(k, n))
        else:
            idx = np.concatenate(
                [
                    members[rng.integers(0, len(members), size=(k, len(members)))]
                    for members in strata
                ],
                axis=1,
            )
        done += k
        yield idx
