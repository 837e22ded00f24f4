"""Malformed input raises InvalidInputError; degenerate input warns and is inconclusive."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.stats import (
    TestResult,
    diebold_mariano_test,
    mcnemar_test,
    paired_bootstrap_test,
    paired_t_test,
    wilcoxon_test,
)

LOSS_TESTS: list[Callable[..., TestResult]] = [paired_t_test, wilcoxon_test, diebold_mariano_test]


def run_mcnemar(x: Any, y: Any) -> TestResult:
    return mcnemar_test(np.ones(len(x), dtype=int), x, y)


def run_bootstrap(x: Any, y: Any) -> TestResult:
    return paired_bootstrap_test(np.zeros(len(x)), x, y, "mae", n_resamples=50, random_state=0)


ALL_TESTS: list[Callable[..., TestResult]] = [*LOSS_TESTS, run_mcnemar, run_bootstrap]
IDS = ["paired_t", "wilcoxon", "diebold_mariano", "mcnemar", "bootstrap"]


# ---------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize("test", LOSS_TESTS, ids=IDS[:3])
def test_loss_tests_reject_length_mismatch(test: Callable[..., TestResult]) -> None:
    with pytest.raises(InvalidInputError, match=r"same length; got loss_a=5, loss_b=4"):
        test(np.arange(5.0), np.arange(4.0))


def test_mcnemar_rejects_length_mismatch() -> None:
    with pytest.raises(InvalidInputError, match=r"same length; got y_true=3, pred_a=3, pred_b=2"):
        mcnemar_test([1, 0, 1], [1, 0, 0], [1, 1])


def test_bootstrap_rejects_length_mismatch() -> None:
    with pytest.raises(InvalidInputError, match=r"same length; got y_true=4, out_a=3"):
        paired_bootstrap_test([1, 0, 1, 1], [1, 0, 1], [1, 0, 1], "accuracy")


@pytest.mark.parametrize("test", LOSS_TESTS, ids=IDS[:3])
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_loss_tests_reject_non_finite_losses(test: Callable[..., TestResult], bad: float) -> None:
    loss_a = np.array([0.1, 0.2, bad, 0.4])

    with pytest.raises(InvalidInputError, match=r"loss_a must be finite; found 1 .*index 2"):
        test(loss_a, np.ones(4))


def test_mcnemar_rejects_nan_predictions() -> None:
    with pytest.raises(InvalidInputError, match=r"pred_b must be finite"):
        mcnemar_test([1.0, 0.0], [1.0, 0.0], [math.nan, 0.0])


def test_bootstrap_rejects_nan_targets() -> None:
    with pytest.raises(InvalidInputError, match=r"y_true must be finite"):
        paired_bootstrap_test([math.nan, 1.0, 2.0], [1.0, 1.0, 2.0], [0.0, 1.0, 2.0], "mse")


def test_bootstrap_callable_rejects_nan_outputs() -> None:
    with pytest.raises(InvalidInputError, match=r"out_a must be finite"):
        paired_bootstrap_test([0, 1], [math.nan, 1.0], [0.0, 1.0], lambda y, p: 0.0)


@pytest.mark.parametrize("test", LOSS_TESTS, ids=IDS[:3])
def test_loss_tests_reject_two_dimensional_input(test: Callable[..., TestResult]) -> None:
    with pytest.raises(InvalidInputError, match=r"loss_a must be 1-D .* got shape \(2, 2\)"):
        test(np.ones((2, 2)), np.ones(4))


@pytest.mark.parametrize("test", LOSS_TESTS, ids=IDS[:3])
def test_loss_tests_reject_non_numeric_losses(test: Callable[..., TestResult]) -> None:
    with pytest.raises(InvalidInputError, match=r"loss_b must be numeric"):
        test([0.1, 0.2], ["a", "b"])


@pytest.mark.parametrize("test", LOSS_TESTS, ids=IDS[:3])
def test_loss_tests_reject_unknown_alternative(test: Callable[..., TestResult]) -> None:
    with pytest.raises(InvalidInputError, match=r"alternative must be one of .*'better'"):
        test([0.1, 0.2, 0.3], [0.2, 0.1, 0.5], alternative="better")


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95, True])
def test_paired_t_rejects_confidence_outside_unit_interval(confidence: float) -> None:
    with pytest.raises(InvalidInputError, match=r"confidence must lie strictly between 0 and 1"):
        paired_t_test([0.1, 0.2, 0.3], [0.2, 0.1, 0.5], confidence=confidence)


def test_mcnemar_rejects_unknown_method() -> None:
    with pytest.raises(InvalidInputError, match=r"method must be one of .*got 'chi2'"):
        mcnemar_test([1, 0], [1, 0], [0, 0], method="chi2")  # type: ignore[arg-type]


@pytest.mark.parametrize("h", [0, -1, 1.5, True])
def test_dm_rejects_invalid_horizon(h: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"h must be a positive integer"):
        diebold_mariano_test([0.1, 0.2, 0.3], [0.2, 0.1, 0.5], h=h)


@pytest.mark.parametrize("n_resamples", [0, -5, 2.5, True])
def test_bootstrap_rejects_invalid_n_resamples(n_resamples: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"n_resamples must be a positive integer"):
        paired_bootstrap_test([1, 0], [1, 0], [0, 0], "accuracy", n_resamples=n_resamples)


def test_bootstrap_rejects_unknown_metric_name() -> None:
    with pytest.raises(InvalidInputError, match=r"Unknown bootstrap metric 'f1'"):
        paired_bootstrap_test([1, 0], [1, 0], [0, 0], "f1")  # type: ignore[arg-type]


def test_bootstrap_rejects_non_callable_metric() -> None:
    with pytest.raises(InvalidInputError, match=r"metric must be a metric name or a callable"):
        paired_bootstrap_test([1, 0], [1, 0], [0, 0], 3)  # type: ignore[arg-type]


@pytest.mark.parametrize("metric", ["log_loss", "brier"])
def test_bootstrap_rejects_probabilities_outside_unit_interval(metric: str) -> None:
    with pytest.raises(InvalidInputError, match=r"out_b must hold probabilities .* \[0, 1\]"):
        paired_bootstrap_test([1, 0], [0.9, 0.2], [1.2, 0.1], metric)  # type: ignore[arg-type]


def test_bootstrap_rejects_stratify_of_wrong_length() -> None:
    with pytest.raises(InvalidInputError, match=r"same length; got y_true=3, stratify=2"):
        paired_bootstrap_test([1, 0, 1], [1, 0, 0], [0, 0, 1], "accuracy", stratify=[1, 0])


def test_bootstrap_callable_rejects_output_shape_mismatch() -> None:
    with pytest.raises(InvalidInputError, match=r"same shape; got \(3, 2\) and \(3,\)"):
        paired_bootstrap_test([1, 0, 1], np.ones((3, 2)), np.ones(3), lambda y, p: 0.0)


def test_invalid_input_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"same length"):
        paired_t_test([1.0, 2.0], [1.0])


# --------------------------------------------------------------------------- degenerate input


def test_mcnemar_without_discordant_pairs_is_inconclusive() -> None:
    y = np.array([1, 0, 1, 1, 0])
    pred = np.array([1, 0, 0, 1, 1])

    with pytest.warns(RuntimeWarning, match=r"models agree on every row"):
        result = mcnemar_test(y, pred, pred.copy())

    assert result.inconclusive
    assert "no discordant pairs" in str(result.inconclusive_reason)
    assert math.isnan(result.p_value)
    assert result.estimate == 0
    assert result.details["accuracy_a"] == result.details["accuracy_b"] == 0.6


@pytest.mark.parametrize("test", ALL_TESTS, ids=IDS)
def test_single_row_is_inconclusive_or_valid(test: Callable[..., TestResult]) -> None:
    if test is run_mcnemar:
        # One discordant row is a valid (uninformative) McNemar test: p = 1.
        result = mcnemar_test([1], [1], [0], method="exact")
        assert not result.inconclusive
        assert result.p_value == 1
        return
    with pytest.warns(RuntimeWarning, match=r"at least 2 "):
        result = test([0.3], [0.5])

    assert result.inconclusive
    assert result.n == 1


@pytest.mark.parametrize("test", ALL_TESTS, ids=IDS)
def test_empty_input_is_inconclusive(test: Callable[..., TestResult]) -> None:
    with pytest.warns(RuntimeWarning, match=r"no rows|at least 2"):
        result = test(np.array([]), np.array([]))

    assert result.inconclusive
    assert result.n == 0


@pytest.mark.parametrize("test", [*LOSS_TESTS, run_bootstrap], ids=[*IDS[:3], "bootstrap"])
def test_all_zero_differences_are_inconclusive(test: Callable[..., TestResult]) -> None:
    losses = np.array([0.2, 0.5, 0.1, 0.9, 0.3])

    with pytest.warns(RuntimeWarning, match=r"zero|constant|same difference"):
        result = test(losses, losses.copy())

    assert result.inconclusive
    assert result.estimate == 0


@pytest.mark.parametrize("test", [paired_t_test, diebold_mariano_test], ids=IDS[0:3:2])
def test_constant_losses_are_inconclusive(test: Callable[..., TestResult]) -> None:
    # Every row: a's loss is 1, b's is 2. A constant difference has no variance.
    with pytest.warns(RuntimeWarning, match=r"constant"):
        result = test(np.ones(8), np.full(8, 2.0))

    assert result.inconclusive
    assert result.estimate == -1


def test_wilcoxon_constant_nonzero_differences_are_a_valid_test() -> None:
    result = wilcoxon_test(np.ones(8), np.full(8, 2.0), alternative="less")

    assert not result.inconclusive
    assert result.p_value == pytest.approx(1 / 256)  # exhaustive permutation, all negative
    assert result.estimate == -1


def test_bootstrap_constant_nonzero_difference_is_inconclusive() -> None:
    y = np.zeros(6)

    with pytest.warns(RuntimeWarning, match=r"same difference"):
        result = paired_bootstrap_test(y, np.ones(6), np.full(6, 2.0), "mae", random_state=0)

    assert result.inconclusive
    assert result.estimate == -1


def test_dm_horizon_not_below_sample_size_is_inconclusive() -> None:
    with pytest.warns(RuntimeWarning, match=r"more periods than the horizon; got n=3, h=3"):
        result = diebold_mariano_test([0.1, 0.5, 0.2], [0.3, 0.1, 0.4], h=3)

    assert result.inconclusive


def test_dm_falls_back_to_horizon_one_when_long_run_variance_is_not_positive() -> None:
    # d alternates +1/-1 around a small mean: the lag-1 autocovariance is almost -gamma_0, so
    # gamma_0 + 2 gamma_1 < 0, as R's forecast::dm.test would also find.
    d = np.array([1.0, -1.0] * 5) + np.linspace(0, 0.1, 10)

    with pytest.warns(RuntimeWarning, match=r"falling back to h=1"):
        result = diebold_mariano_test(d, np.zeros(10), h=2)

    assert result.details["h_used"] == 1
    assert result.details["h"] == 2
    assert result.statistic == pytest.approx(
        diebold_mariano_test(d, np.zeros(10), h=1).statistic, rel=1e-12
    )


def test_bootstrap_drops_resamples_where_callable_metric_is_undefined() -> None:
    # Two positives in 12 rows: plenty of resamples contain no positive at all.
    y = np.array([1, 1] + [0] * 10)
    a = np.linspace(0.9, 0.1, 12)
    b = np.array([0.6, 0.3] + [0.2] * 10)

    def recall_at_half(truth: np.ndarray, score: np.ndarray) -> float:
        positives = truth == 1
        return float(np.mean(score[positives] > 0.5)) if positives.any() else math.nan

    with pytest.warns(RuntimeWarning, match=r"not finite on \d+ of 300 resamples"):
        result = paired_bootstrap_test(y, a, b, recall_at_half, n_resamples=300, random_state=1)

    assert 0 < result.details["n_invalid_resamples"] < 300


def test_inconclusive_result_serialises_to_json_with_nulls() -> None:
    with pytest.warns(RuntimeWarning, match=r"at least 2"):
        result = paired_t_test([1.0], [2.0])

    payload = json.loads(json.dumps(result.to_dict()))

    assert payload["p_value"] is None
    assert payload["inconclusive_reason"] == "need at least 2 paired rows, got 1"


def test_one_sided_interval_has_an_infinite_end_serialised_as_null() -> None:
    result = paired_t_test([0.1, 0.2, 0.3, 0.2], [0.3, 0.3, 0.5, 0.4], alternative="less")

    assert result.ci_low == -math.inf
    assert result.to_dict()["ci_low"] is None
