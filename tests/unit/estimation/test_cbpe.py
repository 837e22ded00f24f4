"""CBPE: exact values on small cases, and by simulation the estimates' bias under covariate
shift (where CBPE holds), their intervals' coverage, and the failure under concept shift."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from mlflow_retrain.estimation import CBPE, Calibrator, expected_calibration_error
from mlflow_retrain.exceptions import InvalidInputError


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _world(rng: np.random.Generator, n: int, *, shift: float = 0.0, slope: float = 2.0):
    """x ~ N(shift, 1); the truth P(y=1 | x) = sigmoid(slope * x); the model says
    sigmoid(3 x): well ranked, overconfident (so calibration has work to do)."""
    x = rng.normal(shift, 1.0, n)
    y = (rng.random(n) < _sigmoid(slope * x)).astype(int)
    model = _sigmoid(3.0 * x)
    return y, np.column_stack([1 - model, model])


def test_expected_accuracy_is_exact_against_every_labelling() -> None:
    # With calibrated probabilities the expected accuracy is the mean probability of the
    # decided class: checked against the 2^5 labellings weighted by their probability.
    p1 = np.array([0.9, 0.2, 0.6, 0.45, 0.7])
    cbpe = CBPE(calibration="none").fit([0, 1], np.array([[0.5, 0.5]] * 2), [0, 1])
    estimate = cbpe.estimate(p1, ["accuracy"])["accuracy"]
    expected = 0.0
    for labels in itertools.product([0, 1], repeat=5):
        y = np.array(labels)
        weight = np.prod(np.where(y == 1, p1, 1 - p1))
        expected += weight * accuracy_score(y, (p1 >= 0.5).astype(int))
    assert estimate.value == pytest.approx(expected, abs=1e-12)


def test_expected_auc_is_nannymls_expected_roc_curve() -> None:
    # NannyML's estimate_roc_auc (nannyml/performance_estimation/confidence_based/metrics.py):
    # rows sorted by calibrated probability; expected TP = sum of p above the threshold,
    # FP = sum of 1 - p. For p = (0.1, 0.4, 0.35, 0.8) that curve is computed by hand below.
    p = np.array([0.1, 0.4, 0.35, 0.8])
    cbpe = CBPE(calibration="none").fit([0, 1], np.array([[0.5, 0.5]] * 2), [0, 1])
    order = np.sort(p)[::-1]  # 0.8, 0.4, 0.35, 0.1
    tp = np.r_[0, np.cumsum(order)] / order.sum()
    fp = np.r_[0, np.cumsum(1 - order)] / (1 - order).sum()
    by_hand = float(np.sum(np.diff(fp) * (tp[1:] + tp[:-1]) / 2))
    assert cbpe.estimate(p, ["roc_auc"])["roc_auc"].value == pytest.approx(by_hand)
    # The same area as pairs: sum over i ranked above j of p_i (1 - p_j), ties and a row with
    # itself counting half (0.5 p_i (1 - p_i)), over (sum p)(sum 1 - p): 3.01375 / 3.8775.
    assert by_hand == pytest.approx(3.01375 / 3.8775, abs=1e-9)


def test_under_covariate_shift_estimates_are_unbiased_and_intervals_cover() -> None:
    rng = np.random.default_rng(1)
    y_ref, p_ref = _world(rng, 20_000)
    cbpe = CBPE(n_draws=400).fit(y_ref, p_ref, [0, 1])
    assert cbpe.check is not None
    assert cbpe.check.ece_before > 0.05  # overconfident
    assert not cbpe.check.poor  # isotonic fixes it
    errors: dict[str, list[float]] = {"roc_auc": [], "accuracy": [], "f1": []}
    covered: dict[str, int] = dict.fromkeys(errors, 0)
    batches = 200
    for _ in range(batches):
        y, p = _world(rng, 1000, shift=0.7)  # the inputs moved; P(y | x) did not
        estimates = cbpe.estimate(p, list(errors))
        realised = {
            "roc_auc": roc_auc_score(y, p[:, 1]),
            "accuracy": accuracy_score(y, (p[:, 1] >= 0.5).astype(int)),
            "f1": f1_score(y, (p[:, 1] >= 0.5).astype(int)),
        }
        for metric, value in realised.items():
            e = estimates[metric]
            errors[metric].append(e.value - value)
            covered[metric] += e.ci_low <= value <= e.ci_high
    # Measured (seed 1): bias +0.008 ROC AUC, +0.006 accuracy, +0.004 F1; coverage 89.5 %,
    # 92.5 % and 92.5 % of a nominal 95 %. The interval carries the batch's sampling error and
    # the calibration's variance (50 bootstrap maps), not the isotonic map's bias where the
    # shifted batch is sparse in the reference (NannyML's estimates, equal to ours, share it).
    for metric in errors:
        assert abs(np.mean(errors[metric])) < 0.01, (metric, np.mean(errors[metric]))
        # 200 batches give a standard error of 1.5 points on the coverage.
        assert 0.88 <= covered[metric] / batches <= 0.99, (metric, covered[metric])


def test_under_concept_shift_the_estimate_misses_the_decay() -> None:
    # P(y | x) flattens (slope 2 -> 0.5): the model ranks far worse, and nothing in its
    # probabilities says so. This is where the loop waits for labels.
    rng = np.random.default_rng(2)
    y_ref, p_ref = _world(rng, 20_000)
    cbpe = CBPE(n_draws=200).fit(y_ref, p_ref, [0, 1])
    y, p = _world(rng, 5000, slope=0.5)
    estimate = cbpe.estimate(p, ["roc_auc"])["roc_auc"]
    realised = roc_auc_score(y, p[:, 1])
    assert realised < estimate.ci_low - 0.1


def test_multiclass_estimates_follow_the_realised_metrics() -> None:
    rng = np.random.default_rng(3)

    def world(n: int, shift: float):
        x = rng.normal(shift, 1.0, (n, 2))
        logits = np.column_stack([x[:, 0], x[:, 1], -x[:, 0] - x[:, 1]]) * 1.5
        truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        y = (rng.random(n)[:, None] > np.cumsum(truth, axis=1)).sum(axis=1)
        model = np.exp(2 * logits) / np.exp(2 * logits).sum(axis=1, keepdims=True)
        return y, model

    y_ref, p_ref = world(20_000, 0.0)
    cbpe = CBPE(n_draws=200).fit(y_ref, p_ref, [0, 1, 2])
    y, p = world(3000, 0.5)
    estimates = cbpe.estimate(p)
    assert set(estimates) == {"accuracy", "f1", "roc_auc"}
    realised = {
        "accuracy": accuracy_score(y, p.argmax(axis=1)),
        "f1": f1_score(y, p.argmax(axis=1), average="macro"),
        "roc_auc": roc_auc_score(y, p, multi_class="ovr", average="macro"),
    }
    for metric, value in realised.items():
        e = estimates[metric]
        assert abs(e.value - value) < 0.02, (metric, e.value, value)
        assert e.ci_low <= value <= e.ci_high, (metric, e, value)


def test_the_interval_narrows_with_the_batch_size() -> None:
    rng = np.random.default_rng(4)
    y_ref, p_ref = _world(rng, 10_000)
    cbpe = CBPE(n_draws=300).fit(y_ref, p_ref, [0, 1])
    width = {}
    for n in (250, 4000):
        e = cbpe.estimate(_world(rng, n)[1], ["accuracy"])["accuracy"]
        width[n] = e.ci_high - e.ci_low
    assert width[4000] < width[250] / 3  # about 1/sqrt(16)


def test_a_single_class_reference_cannot_be_calibrated() -> None:
    with pytest.raises(InvalidInputError, match=r"single class \(\[0\]\)"):
        CBPE().fit([0, 0, 0], np.array([[0.9, 0.1]] * 3), [0, 1])


def test_labels_that_are_not_classes_are_named() -> None:
    with pytest.raises(InvalidInputError, match=r"Reference labels \['7'\] are not classes"):
        Calibrator().fit([0, 1, 7], np.array([[0.9, 0.1]] * 3), [0, 1])


def test_the_check_flags_a_reference_calibration_cannot_fix() -> None:
    # Probabilities that carry no information about these labels: any map is noise.
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 60)
    p = rng.random(60)
    check = Calibrator().fit(y, np.column_stack([1 - p, p]), [0, 1]).check
    assert check is not None
    assert check.poor
    assert check.ece_after > 0.05


def test_expected_calibration_error_of_perfect_and_biased_probabilities() -> None:
    rng = np.random.default_rng(6)
    p = rng.random(200_000)
    y = (rng.random(200_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.005
    assert expected_calibration_error(y, np.clip(p + 0.1, 0, 1)) == pytest.approx(0.09, abs=0.01)


def test_the_models_own_decisions_can_replace_the_threshold() -> None:
    p1 = np.array([0.9, 0.2, 0.6, 0.45])
    cbpe = CBPE(calibration="none").fit([0, 1], np.array([[0.5, 0.5]] * 2), [0, 1])
    # Predicting 1 for the 0.45 row too: expected accuracy (0.9 + 0.8 + 0.6 + 0.45) / 4.
    estimate = cbpe.estimate(p1, ["accuracy"], predictions=[1, 0, 1, 1])["accuracy"]
    assert estimate.value == pytest.approx((0.9 + 0.8 + 0.6 + 0.45) / 4)
    with pytest.raises(InvalidInputError, match=r"Predictions \['2'\] are not classes"):
        cbpe.estimate(p1, ["accuracy"], predictions=[1, 0, 2, 1])
