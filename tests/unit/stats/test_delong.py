"""DeLong's paired AUC test, checked against R pROC, the 1988 paper and scikit-learn.

References:

- R pROC (Robin et al. 2011, "pROC: an open-source package for R and S+ to analyze and compare
  ROC curves", BMC Bioinformatics 12:77), test suite on GitHub ``xrobin/pROC``:
  ``tests/testthat/test-roc.test.R`` (paired DeLong ``roc.test`` Z, p-value and 95 % CI of
  AUC1 - AUC2 for wfns/s100b, wfns/ndka and ndka/s100b; one-sided p-values),
  ``test-var.R`` (DeLong variances), ``test-cov.R`` (DeLong covariances) and ``test-auc.R``
  (AUCs). pROC's curves are ``roc(aSAH$outcome, aSAH$<marker>)``: controls "Good", cases
  "Poor", direction "<" (cases score higher), which is our ``y_true = (outcome == "Poor")``.
- The data: pROC's ``aSAH`` (Turck et al. 2010, Intensive Care Medicine 36(1):107-115),
  vendored in ``data/asah.csv`` (113 patients, 41 "Poor"). Reproducing every pROC value
  below to 1e-10 is also the check that the transcription is exact.
- DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44(3):837-845: ``_delong_from_paper``
  below builds the ``m x n`` kernel matrix psi(X_i, Y_j) and the structural components
  V10/V01 of section 3 directly, with no sorting or ranking, independent of the fast
  implementation.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.stats.delong import auc_variance, delong_test

ASAH_CSV = Path(__file__).parent / "data" / "asah.csv"


def _load_asah() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    with ASAH_CSV.open() as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    y = np.array([row["outcome"] == "Poor" for row in rows], dtype=int)
    markers = {k: np.array([float(row[k]) for row in rows]) for k in ("wfns", "s100b", "ndka")}
    return y, markers


Y_ASAH, ASAH = _load_asah()


def _delong_from_paper(
    y: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[float, float, float, float, float]:
    """Slow O(m n) DeLong et al. (1988): returns (auc_a, auc_b, var_a, var_b, cov)."""
    pos = y == y.max()
    m, n = int(pos.sum()), int((~pos).sum())
    aucs, v10s, v01s = [], [], []
    for s in (a, b):
        x, yy = s[pos][:, None], s[~pos][None, :]
        psi = (x > yy).astype(float) + 0.5 * (x == yy)  # the Mann-Whitney kernel
        aucs.append(psi.sum() / (m * n))
        v10s.append(psi.sum(axis=1) / n)  # V10(X_i), one per positive
        v01s.append(psi.sum(axis=0) / m)  # V01(Y_j), one per negative
    s10 = np.cov(np.vstack(v10s))  # (m - 1) denominators, as in the paper
    s01 = np.cov(np.vstack(v01s))
    cov = s10 / m + s01 / n
    return aucs[0], aucs[1], cov[0, 0], cov[1, 1], cov[0, 1]


def _z_from_paper(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    auc_a, auc_b, var_a, var_b, cov = _delong_from_paper(y, a, b)
    return (auc_a - auc_b) / math.sqrt(var_a + var_b - 2 * cov)


def _random_case(seed: int, size: int, levels: int | None) -> tuple[np.ndarray, ...]:
    """Correlated scores; rounding to ``levels`` grid points per unit creates ties."""
    rng = np.random.default_rng(seed)
    y = (rng.random(size) < rng.uniform(0.15, 0.85)).astype(int)
    y[:2], y[2:4] = 0, 1  # at least two of each class
    common = rng.normal(size=size)
    a = 0.8 * y + common + rng.normal(scale=0.7, size=size)
    b = 0.5 * y + common + rng.normal(scale=0.9, size=size)
    if levels is not None:
        a, b = np.round(a * levels), np.round(b * levels)
    return y, a, b


# --- R pROC on the aSAH data ---------------------------------------------------------------

# pROC tests/testthat/test-roc.test.R, "roc.test statistic and p are as expected with defaults"
PROC_PAIRED = [
    ("wfns", "s100b", 2.20898359144091, 0.0271757822291882, 0.0104061769564846, 0.174214419249478),
    (
        "wfns",
        "ndka",
        2.79777591868904,
        0.00514557970691098,
        0.0634011709339876,
        0.3600405634833566,
    ),
    (
        "ndka",
        "s100b",
        -1.39077002573558,
        0.164295175223054,
        -0.2876917446341914,
        0.0488706064228094,
    ),
]


@pytest.mark.parametrize(("a", "b", "z", "p", "lo", "hi"), PROC_PAIRED)
def test_matches_proc_roc_test_on_asah(
    a: str, b: str, z: float, p: float, lo: float, hi: float
) -> None:
    result = delong_test(Y_ASAH, ASAH[a], ASAH[b])
    assert result.statistic == pytest.approx(z, rel=1e-10)
    assert result.p_value == pytest.approx(p, rel=1e-10)
    assert result.ci_low == pytest.approx(lo, rel=1e-10)
    assert result.ci_high == pytest.approx(hi, rel=1e-10)
    assert not result.inconclusive


@pytest.mark.parametrize(("a", "b", "z", "p", "lo", "hi"), PROC_PAIRED)
def test_swapping_models_negates_z_and_keeps_two_sided_p(
    a: str, b: str, z: float, p: float, lo: float, hi: float
) -> None:
    # pROC test-roc.test.R: "two.sided roc.test produces identical p values when reversed"
    result = delong_test(Y_ASAH, ASAH[b], ASAH[a])
    assert result.statistic == pytest.approx(-z, rel=1e-10)
    assert result.p_value == pytest.approx(p, rel=1e-10)
    assert (result.ci_low, result.ci_high) == pytest.approx((-hi, -lo), rel=1e-10)


@pytest.mark.parametrize(
    ("alternative", "p"),
    # pROC test-roc.test.R, "one-sided roc.test work and produce expected results":
    # roc.test(r.wfns, r.s100b, alternative=...) where "greater" means AUC1 > AUC2.
    [("greater", 0.0135878911145941), ("less", 0.986412108885406)],
)
def test_one_sided_p_matches_proc(alternative: str, p: float) -> None:
    result = delong_test(Y_ASAH, ASAH["wfns"], ASAH["s100b"], alternative=alternative)  # type: ignore[arg-type]
    assert result.p_value == pytest.approx(p, rel=1e-10)
    assert result.statistic == pytest.approx(2.20898359144091, rel=1e-10)


@pytest.mark.parametrize(
    ("marker", "auc", "variance"),
    # AUC: pROC test-auc.R ("full auc works"); variance: pROC test-var.R. The s100b AUC is not
    # in pROC's tests; 0.731368563685637 = 2157 / 2952 is checked against scikit-learn below.
    [
        ("wfns", 0.823678861788618, 0.00146991470882363),
        ("ndka", 0.611957994579946, 0.0031908105493913),
        ("s100b", None, 0.00266868245717244),
    ],
)
def test_auc_and_variance_match_proc(marker: str, auc: float | None, variance: float) -> None:
    got_auc, got_var = auc_variance(Y_ASAH, ASAH[marker])
    if auc is not None:
        assert got_auc == pytest.approx(auc, rel=1e-12)
    assert got_auc == pytest.approx(roc_auc_score(Y_ASAH, ASAH[marker]), abs=1e-12)
    assert got_var == pytest.approx(variance, rel=1e-10)


@pytest.mark.parametrize(
    ("a", "b", "cov"),
    # pROC test-cov.R, "cov with delong works"
    [
        ("wfns", "ndka", -0.000532967856762438),
        ("ndka", "s100b", -0.000756164938056579),
        ("s100b", "wfns", 0.00119615567376754),
    ],
)
def test_implied_covariance_matches_proc(a: str, b: str, cov: float) -> None:
    result = delong_test(Y_ASAH, ASAH[a], ASAH[b])
    _, var_a = auc_variance(Y_ASAH, ASAH[a])
    _, var_b = auc_variance(Y_ASAH, ASAH[b])
    implied = (var_a + var_b - result.details["se"] ** 2) / 2
    assert implied == pytest.approx(cov, rel=1e-9)


@pytest.mark.parametrize(("a", "b"), [("wfns", "s100b"), ("wfns", "ndka"), ("ndka", "s100b")])
def test_asah_matches_paper_implementation_to_full_precision(a: str, b: str) -> None:
    auc_a, auc_b, _, _, _ = _delong_from_paper(Y_ASAH, ASAH[a], ASAH[b])
    result = delong_test(Y_ASAH, ASAH[a], ASAH[b])
    assert result.details["auc_a"] == pytest.approx(auc_a, abs=1e-14)
    assert result.details["auc_b"] == pytest.approx(auc_b, abs=1e-14)
    assert result.statistic == pytest.approx(_z_from_paper(Y_ASAH, ASAH[a], ASAH[b]), rel=1e-12)


# --- the fast algorithm against the paper's definition --------------------------------------


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize(("size", "levels"), [(7, 1), (30, None), (30, 2), (250, 3), (600, None)])
def test_fast_algorithm_equals_paper_definition(seed: int, size: int, levels: int | None) -> None:
    y, a, b = _random_case(seed, size, levels)
    auc_a, auc_b, var_a, var_b, cov = _delong_from_paper(y, a, b)
    result = delong_test(y, a, b)
    assert result.details["auc_a"] == pytest.approx(auc_a, abs=1e-12)
    assert result.details["auc_b"] == pytest.approx(auc_b, abs=1e-12)
    assert auc_variance(y, a)[1] == pytest.approx(var_a, abs=1e-12)
    assert auc_variance(y, b)[1] == pytest.approx(var_b, abs=1e-12)
    assert result.details["se"] ** 2 == pytest.approx(var_a + var_b - 2 * cov, abs=1e-12)
    if not result.inconclusive:
        z = (auc_a - auc_b) / math.sqrt(var_a + var_b - 2 * cov)
        assert result.statistic == pytest.approx(z, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("levels", [None, 1, 4])
def test_aucs_equal_sklearn_roc_auc_score(seed: int, levels: int | None) -> None:
    y, a, b = _random_case(seed, 2_000, levels)
    result = delong_test(y, a, b)
    assert result.details["auc_a"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert result.details["auc_b"] == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert result.estimate == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)


# --- properties -------------------------------------------------------------------------------


def test_result_reports_counts_and_method() -> None:
    result = delong_test(Y_ASAH, ASAH["wfns"], ASAH["s100b"])
    assert result.method == "delong"
    assert result.n == 113
    assert result.details["n_positive"] == 41
    assert result.details["n_negative"] == 72
    assert result.estimate == pytest.approx(
        result.details["auc_a"] - result.details["auc_b"], abs=1e-15
    )


@pytest.mark.parametrize(
    ("labels", "positive"),
    [("01", 1), ("bool", True), ("pm1", 1), ("12", 2), ("str", "Poor")],
)
def test_any_two_labels_work_and_the_greater_is_positive(labels: str, positive: object) -> None:
    poor = Y_ASAH == 1
    encoded = {
        "01": Y_ASAH,
        "bool": poor,
        "pm1": np.where(poor, 1, -1),
        "12": np.where(poor, 2, 1),
        "str": np.where(poor, "Poor", "Good"),
    }[labels]
    result = delong_test(list(encoded), list(ASAH["wfns"]), list(ASAH["s100b"]))
    assert result.statistic == pytest.approx(2.20898359144091, rel=1e-10)


def test_monotone_transform_of_scores_changes_nothing() -> None:
    y, a, b = _random_case(3, 400, None)
    plain = delong_test(y, a, b)
    transformed = delong_test(y, np.exp(a), stats.norm.cdf(b / 3))
    assert transformed.statistic == pytest.approx(plain.statistic, rel=1e-12)
    assert transformed.p_value == pytest.approx(plain.p_value, rel=1e-12)


def test_greater_and_less_p_values_sum_to_one() -> None:
    y, a, b = _random_case(5, 300, 2)
    greater = delong_test(y, a, b, alternative="greater")
    less = delong_test(y, a, b, alternative="less")
    two = delong_test(y, a, b)
    assert greater.p_value + less.p_value == pytest.approx(1.0, abs=1e-12)
    assert two.p_value == pytest.approx(2 * min(greater.p_value, less.p_value), rel=1e-12)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_interval_excludes_zero_exactly_when_the_test_rejects(
    alternative: str, confidence: float
) -> None:
    for seed in range(30):
        y, a, b = _random_case(seed, 120, None)
        result = delong_test(y, a, b, alternative=alternative, confidence=confidence)  # type: ignore[arg-type]
        excludes_zero = not (result.ci_low <= 0.0 <= result.ci_high)
        assert excludes_zero == (result.p_value < 1 - confidence)


def test_one_sided_intervals_are_open_on_the_far_side() -> None:
    greater = delong_test(Y_ASAH, ASAH["wfns"], ASAH["s100b"], alternative="greater")
    less = delong_test(Y_ASAH, ASAH["wfns"], ASAH["s100b"], alternative="less")
    se = greater.details["se"]
    z95 = stats.norm.ppf(0.95)
    assert greater.ci_high == math.inf
    assert greater.ci_low == pytest.approx(greater.estimate - z95 * se, rel=1e-12)
    assert less.ci_low == -math.inf
    assert less.ci_high == pytest.approx(less.estimate + z95 * se, rel=1e-12)


def test_to_dict_is_json_serialisable() -> None:
    payload = delong_test(Y_ASAH, ASAH["wfns"], ASAH["ndka"], alternative="greater").to_dict()
    decoded = json.loads(json.dumps(payload, allow_nan=False))
    assert decoded["method"] == "delong"
    assert decoded["ci_high"] is None  # +inf for the one-sided bound
    assert set(decoded["details"]) == {"auc_a", "auc_b", "se", "n_positive", "n_negative"}


# --- degenerate input: inconclusive, with a warning -------------------------------------------


@pytest.mark.parametrize(
    ("y", "match"),
    [
        ([1, 1, 1, 1, 1], "only one class"),
        ([0, 0, 0, 0, 0], "only one class"),
        ([0, 0, 0, 0, 1], "at least 2 positives and 2 negatives"),
        ([1, 0, 1, 1, 1], "at least 2 positives and 2 negatives"),
        ([], "no rows"),
    ],
)
def test_too_few_rows_of_a_class_is_inconclusive(y: list[int], match: str) -> None:
    scores = np.linspace(0.0, 1.0, len(y))
    with pytest.warns(RuntimeWarning, match=match):
        result = delong_test(y, scores, scores[::-1])
    assert result.inconclusive
    assert result.inconclusive_reason is not None
    assert match in result.inconclusive_reason
    assert math.isnan(result.p_value)
    assert result.n == len(y)


def test_identical_scores_are_inconclusive() -> None:
    # pROC returns Z = 0, p = 1 here (test-roc.test.R, "curves are identical"); a promotion
    # gate should not read that as evidence, so we report the degenerate case instead.
    with pytest.warns(RuntimeWarning, match="rank every pair identically"):
        result = delong_test(Y_ASAH, ASAH["wfns"], ASAH["wfns"])
    assert result.inconclusive
    assert result.estimate == 0.0


def test_same_ranking_on_a_different_scale_is_inconclusive() -> None:
    with pytest.warns(RuntimeWarning, match="rank every pair identically"):
        result = delong_test(Y_ASAH, ASAH["ndka"], np.log(ASAH["ndka"]) * 10 + 3)
    assert result.inconclusive


def test_perfect_separation_by_both_models_is_inconclusive() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.warns(RuntimeWarning, match="zero variance"):
        result = delong_test(y, [0.1, 0.2, 0.3, 0.7, 0.8, 0.9], [1, 2, 3, 6, 5, 4])
    assert result.inconclusive


def test_auc_variance_with_one_positive_is_nan_and_warns() -> None:
    with pytest.warns(RuntimeWarning, match="at least 2 positives"):
        auc, variance = auc_variance([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4])
    assert math.isnan(auc)
    assert math.isnan(variance)


# --- malformed input: InvalidInputError --------------------------------------------------------


@pytest.mark.parametrize(
    ("y", "a", "b", "match"),
    [
        ([0, 1, 0, 1], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4], "scores_a has 3 rows"),
        ([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2], "scores_b has 2 rows"),
        ([[0, 1], [0, 1]], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "y_true must be 1-D"),
        ([0, 1, 0, 1], [[0.1, 0.9]] * 4, [0.1, 0.2, 0.3, 0.4], "scores_a must be 1-D"),
        ([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "1 non-finite"),
        ([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], [0.1, np.inf, 0.3, 0.4], "scores_b has 1 non-finite"),
        ([0, 1, 2, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "exactly two classes; got 3"),
        ([0.0, np.nan, 1.0, 1.0], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4], "non-finite labels"),
        ([0, 1, 0, 1], ["a", "b", "c", "d"], [0.1, 0.2, 0.3, 0.4], "scores_a must be numeric"),
    ],
)
def test_malformed_input_raises(y: object, a: object, b: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        delong_test(y, a, b)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alternative": "two.sided"}, "alternative must be one of"),
        ({"confidence": 1.0}, "confidence must lie strictly between 0 and 1"),
        ({"confidence": 0.0}, "confidence must lie strictly between 0 and 1"),
        ({"confidence": 95}, "confidence must lie strictly between 0 and 1"),
    ],
)
def test_bad_options_raise(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        delong_test(Y_ASAH, ASAH["wfns"], ASAH["s100b"], **kwargs)  # type: ignore[arg-type]


def test_invalid_input_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="exactly two classes"):
        delong_test([0, 1, 2], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


def test_no_warning_on_regular_input() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        delong_test(Y_ASAH, ASAH["wfns"], ASAH["s100b"])
