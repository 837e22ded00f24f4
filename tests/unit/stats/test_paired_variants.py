"""The R/SciPy variants of the Wilcoxon and Diebold-Mariano tests, against published output.

Sources (each test names the one it uses):

- R's saved example output ``tests/Examples/stats-Ex.Rout.save`` (r-source), ``?wilcox.test``
  on Hollander & Wolfe (1973, p. 29f) depression data: ``wilcox.test(y - x, alternative =
  "less", exact = FALSE, correct = FALSE)`` -> "V = 5, p-value = 0.01908" (the H&W large-sample
  approximation); the exact ``wilcox.test(x, y, paired = TRUE, alternative = "greater")`` ->
  "V = 40, p-value = 0.01953".
- R's default on the sleep data, ``wilcox.test(extra ~ group, data = sleep, paired = TRUE)`` ->
  "Wilcoxon signed rank test with continuity correction ... V = 0, p-value = 0.009091" (ties
  and a zero force the corrected normal approximation), as printed e.g. in r-statistics.co,
  "Nonparametric Tests Exercises in R", exercise 4.
- PSI CAMIS, ``R/wilcoxonsr_hodges_lehman.qmd`` and its rendered output: R's
  ``stats::wilcox.test`` on 240 blood-pressure pairs (vendored in
  ``data/camis_blood_pressure.csv``), exact, corrected and uncorrected normal approximation,
  and the exact 90 % Hodges-Lehmann interval.
- R package coin 1.4-3, ``tests/regtest_2sample.Rout.save`` ("ties handling"):
  ``wilcoxsign_test(y1 ~ x1, alternative = "greater", distribution = "exact")`` -> 0.4609375
  (Pratt, coin's default) and with ``zero.method = "Wilcoxon"`` -> 0.4741211.
- No published R output was found for ``zero_method="zsplit"`` (no R function implements it),
  the Pratt normal approximation with zeros, or ``forecast::dm.test(varestimator =
  "bartlett")``: those are checked against SciPy and the textbook formulas written out.
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.stats import diebold_mariano_test, wilcoxon_test

HW_X = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
HW_Y = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
SLEEP_GROUP1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
SLEEP_GROUP2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])
# coin's "ties handling" regression test: d = y1 - x1 has one zero and tied |d| (3, 3, 3; 5, 5).
COIN_Y1 = np.array([14, 18, 2, 4, -5, 14, -3, -1, 1, 6, 3, 3], dtype=float)
COIN_X1 = np.array([8, 26, -7, -1, 2, 9, 0, -4, 13, 3, 3, 4], dtype=float)


def _load_camis() -> tuple[np.ndarray, np.ndarray]:
    path = Path(__file__).parent / "data" / "camis_blood_pressure.csv"
    with path.open() as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    before = np.array([float(row["bp_before"]) for row in rows])
    after = np.array([float(row["bp_after"]) for row in rows])
    return after, before


BP_AFTER, BP_BEFORE = _load_camis()


# --------------------------------------------------------------------------------------------
# Wilcoxon: method and correction
# --------------------------------------------------------------------------------------------


def test_wilcoxon_approx_matches_r_hollander_wolfe_large_sample_approximation() -> None:
    result = wilcoxon_test(HW_Y, HW_X, method="approx", alternative="less")

    # R: V = 5, p-value = 0.01908. By hand: z = (5 - 22.5) / sqrt(9 * 10 * 19 / 24).
    assert result.statistic == 5
    assert result.p_value == pytest.approx(0.01908, abs=5e-6)
    assert result.p_value == pytest.approx(stats.norm.cdf(-17.5 / math.sqrt(71.25)), rel=1e-12)


def test_wilcoxon_asymptotic_is_scipys_name_for_approx() -> None:
    approx = wilcoxon_test(HW_Y, HW_X, method="approx", alternative="less")

    assert wilcoxon_test(HW_Y, HW_X, method="asymptotic", alternative="less") == approx


def test_wilcoxon_exact_matches_r_hollander_wolfe_exact() -> None:
    result = wilcoxon_test(HW_X, HW_Y, method="exact", alternative="greater")

    assert result.statistic == 40
    assert result.p_value == pytest.approx(10 / 512, rel=1e-12)


def test_wilcoxon_corrected_approx_matches_r_default_on_the_sleep_data() -> None:
    result = wilcoxon_test(SLEEP_GROUP1, SLEEP_GROUP2, method="approx", correction=True)

    # R: "with continuity correction", V = 0, p-value = 0.009091.
    assert result.statistic == 0
    assert result.p_value == pytest.approx(0.009091, abs=5e-7)
    assert result.details["n_zero"] == 1


def test_wilcoxon_correction_moves_z_half_a_rank_towards_zero() -> None:
    # Textbook form (Hollander & Wolfe 1999, eq. 3.13 with the tie variance): one tie pair.
    z = (0 - 22.5 + 0.5) / math.sqrt(9 * 10 * 19 / 24 - (2**3 - 2) / 48)

    result = wilcoxon_test(SLEEP_GROUP1, SLEEP_GROUP2, method="approx", correction=True)

    assert result.p_value == pytest.approx(2 * stats.norm.cdf(z), rel=1e-12)


@pytest.mark.parametrize(
    ("method", "correction", "r_p_value"),
    [("exact", False, 0.009379), ("approx", True, 0.009548), ("approx", False, 0.009535)],
)
def test_wilcoxon_matches_r_on_camis_blood_pressure_pairs(
    method: str, correction: bool, r_p_value: float
) -> None:
    result = wilcoxon_test(BP_AFTER, BP_BEFORE, method=method, correction=correction)

    assert result.statistic == 17251
    assert result.p_value == pytest.approx(r_p_value, abs=5e-7)
    expected = stats.wilcoxon(
        BP_AFTER, BP_BEFORE, method="asymptotic" if method == "approx" else method,
        correction=correction,
    ).pvalue  # fmt: skip
    assert result.p_value == pytest.approx(expected, rel=1e-12)


def test_wilcoxon_exact_interval_matches_r_on_240_camis_pairs() -> None:
    # More than 50 pairs: "auto" would use the normal-approximation rank; "exact" computes the
    # exact null distribution for n = 240, as R's exact conf.int does.
    result = wilcoxon_test(BP_AFTER, BP_BEFORE, method="exact", confidence=0.9)

    assert (result.ci_low, result.ci_high) == pytest.approx((1.5045, 5.9945), abs=1e-9)
    assert result.estimate == pytest.approx(3.68875, abs=1e-9)
    assert 0.9 <= result.details["ci_achieved_confidence"] < 0.901


def test_wilcoxon_default_on_camis_pairs_is_the_uncorrected_approximation() -> None:
    result = wilcoxon_test(BP_AFTER, BP_BEFORE, confidence=0.9)

    assert result.p_value == pytest.approx(0.009535, abs=5e-7)
    # R's approximate interval comes from root-finding (1.504991, 5.993011); ours are Walsh
    # order statistics at the normal-approximation rank.
    assert (result.ci_low, result.ci_high) == pytest.approx((1.504991, 5.993011), abs=2e-3)
    assert math.isnan(result.details["ci_achieved_confidence"])


def test_wilcoxon_exact_with_ties_warns_that_it_is_not_exact() -> None:
    with pytest.warns(RuntimeWarning, match=r"method='exact' with ties or zero differences"):
        wilcoxon_test(SLEEP_GROUP1, SLEEP_GROUP2, method="exact")


def test_wilcoxon_auto_and_approx_do_not_warn_on_ties() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wilcoxon_test(SLEEP_GROUP1, SLEEP_GROUP2)
        wilcoxon_test(SLEEP_GROUP1, SLEEP_GROUP2, method="approx", correction=True)


# --------------------------------------------------------------------------------------------
# Wilcoxon: zero handling
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("zero_method", "coin_p"), [("wilcox", 0.4741211), ("pratt", 0.4609375)])
def test_wilcoxon_zero_handling_matches_coin_exact_conditional_p(
    zero_method: str, coin_p: float
) -> None:
    # n = 12 with a zero and ties: "auto" enumerates the 2^12 sign patterns, which is coin's
    # exact conditional distribution.
    result = wilcoxon_test(COIN_Y1, COIN_X1, zero_method=zero_method, alternative="greater")

    assert result.p_value == pytest.approx(coin_p, abs=5e-8)


def _cureton_z(d: np.ndarray, zero_method: str) -> tuple[float, float]:
    """Signed-rank V and z by hand: Pratt (1959) with Cureton's (1967) moments, or zero-split."""
    n = d.size
    ranks = stats.rankdata(np.abs(d))
    zeros = d == 0
    n0 = int(zeros.sum())
    v = ranks[d > 0].sum()
    if zero_method == "pratt":
        mean = (n * (n + 1) - n0 * (n0 + 1)) / 4
        var = (n * (n + 1) * (2 * n + 1) - n0 * (n0 + 1) * (2 * n0 + 1)) / 24
        _, ties = np.unique(np.abs(d[~zeros]), return_counts=True)
    else:  # zsplit: the zeros' ranks count half on each side; they tie with each other
        v += ranks[zeros].sum() / 2
        mean = n * (n + 1) / 4
        var = n * (n + 1) * (2 * n + 1) / 24
        _, ties = np.unique(np.abs(d), return_counts=True)
    var -= np.sum(ties**3 - ties) / 48
    return float(v), (v - mean) / math.sqrt(var)


@pytest.mark.parametrize("zero_method", ["pratt", "zsplit"])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_wilcoxon_zero_methods_normal_approximation_matches_textbook_and_scipy(
    zero_method: str, alternative: str
) -> None:
    d = np.r_[np.zeros(5), np.round(np.random.default_rng(3).normal(0.3, 1.0, 70), 1)]
    v, z = _cureton_z(d, zero_method)
    expected = {
        "two-sided": 2 * stats.norm.sf(abs(z)),
        "greater": stats.norm.sf(z),
        "less": stats.norm.cdf(z),
    }[alternative]

    result = wilcoxon_test(
        d, np.zeros_like(d), method="approx", zero_method=zero_method, alternative=alternative
    )

    assert result.statistic == pytest.approx(v, rel=1e-12)
    assert result.p_value == pytest.approx(expected, rel=1e-9)
    scipy_p = stats.wilcoxon(
        d, zero_method=zero_method, alternative=alternative, method="asymptotic",
        correction=False,
    ).pvalue  # fmt: skip
    assert result.p_value == pytest.approx(scipy_p, rel=1e-12)


def test_wilcoxon_pratt_and_zsplit_rank_zeros_below_every_non_zero_difference() -> None:
    d = COIN_Y1 - COIN_X1  # one zero: it takes rank 1, so the others move up one rank

    wilcox = wilcoxon_test(COIN_Y1, COIN_X1)
    pratt = wilcoxon_test(COIN_Y1, COIN_X1, zero_method="pratt")
    zsplit = wilcoxon_test(COIN_Y1, COIN_X1, zero_method="zsplit")

    n_positive = int((d > 0).sum())
    assert pratt.statistic == wilcox.statistic + n_positive
    assert zsplit.statistic == pratt.statistic + 0.5
    assert zsplit.details["r_plus"] + zsplit.details["r_minus"] == 12 * 13 / 2


def test_wilcoxon_hodges_lehmann_keeps_zeros_for_pratt_and_zsplit() -> None:
    d = SLEEP_GROUP1 - SLEEP_GROUP2

    def median_walsh(values: np.ndarray) -> float:
        n = values.size
        return float(
            np.median([(values[i] + values[j]) / 2 for i in range(n) for j in range(i, n)])
        )

    wilcox = wilcoxon_test(SLEEP_GROUP1, SLEEP_GROUP2)
    pratt = wilcoxon_test(SLEEP_GROUP1, SLEEP_GROUP2, zero_method="pratt")

    assert wilcox.estimate == pytest.approx(median_walsh(d[d != 0]), abs=1e-12)
    assert pratt.estimate == pytest.approx(median_walsh(d), abs=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "approximate"}, r"method must be one of 'auto', 'exact', 'approx'"),
        ({"zero_method": "drop"}, r"zero_method must be one of 'wilcox', 'pratt', 'zsplit'"),
        ({"correction": "yes"}, r"correction must be True or False"),
    ],
)
def test_wilcoxon_rejects_unknown_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        wilcoxon_test(HW_X, HW_Y, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Diebold-Mariano: variance_estimator
# --------------------------------------------------------------------------------------------


def _losses(seed: int, n: int = 80) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=n + 3)
    loss_a = np.abs(noise[:n] + 0.5 * noise[1 : n + 1] + 0.3 * noise[2 : n + 2]) + 0.1
    return loss_a, np.abs(rng.normal(size=n))


def newey_west_dm(d: np.ndarray, h: int) -> tuple[float, float]:
    """DM with the Bartlett-kernel (Newey & West 1987) variance and the HLN correction, by loops.

    Weights ``1 - k / h`` for lags ``k = 1 .. h - 1``, as R forecast's ``dm.test(varestimator =
    "bartlett")`` (source R/DM2.R: ``2 * (1 - seq_len(h - 1) / h) * d.cov[-1]``).
    """
    n = len(d)
    mean = sum(d) / n
    gamma = [sum((d[t] - mean) * (d[t - k] - mean) for t in range(k, n)) / n for k in range(h)]
    v = (gamma[0] + 2 * sum((1 - k / h) * gamma[k] for k in range(1, h))) / n
    dm_star = mean / math.sqrt(v) * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return dm_star, 2 * stats.t.sf(abs(dm_star), n - 1)


@pytest.mark.parametrize("h", [2, 3, 4])
def test_dm_bartlett_matches_loop_implementation_of_newey_west_weights(h: int) -> None:
    loss_a, loss_b = _losses(20240611 + h)
    statistic, p_value = newey_west_dm(loss_a - loss_b, h)

    result = diebold_mariano_test(loss_a, loss_b, h=h, variance_estimator="bartlett")

    assert result.method == "diebold-mariano-bartlett"
    assert result.details["h_used"] == h
    assert result.statistic == pytest.approx(statistic, rel=1e-10)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)


def test_dm_bartlett_equals_acf_for_one_step_forecasts() -> None:
    loss_a, loss_b = _losses(5)

    acf = diebold_mariano_test(loss_a, loss_b)
    bartlett = diebold_mariano_test(loss_a, loss_b, variance_estimator="bartlett")

    assert bartlett.statistic == pytest.approx(acf.statistic, rel=1e-14)
    assert bartlett.p_value == pytest.approx(acf.p_value, rel=1e-14)


def test_dm_acf_is_the_default() -> None:
    loss_a, loss_b = _losses(6)

    default = diebold_mariano_test(loss_a, loss_b, h=3)

    assert default == diebold_mariano_test(loss_a, loss_b, h=3, variance_estimator="acf")
    assert default.method == "diebold-mariano"


def test_dm_bartlett_keeps_the_horizon_where_acf_variance_is_negative() -> None:
    # A loss differential that alternates in sign: gamma_1 ~ -gamma_0, so the truncated sum
    # gamma_0 + 2 gamma_1 is negative, while the Bartlett sum gamma_0 + gamma_1 is not.
    d = np.tile([1.0, -0.8], 20) + np.linspace(0, 0.01, 40)

    with pytest.warns(RuntimeWarning, match=r"falling back to h=1"):
        acf = diebold_mariano_test(d, np.zeros_like(d), h=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bartlett = diebold_mariano_test(d, np.zeros_like(d), h=2, variance_estimator="bartlett")

    assert acf.details["h_used"] == 1
    assert bartlett.details["h_used"] == 2
    assert bartlett.details["long_run_variance"] > 0


def test_dm_rejects_an_unknown_variance_estimator() -> None:
    loss_a, loss_b = _losses(7)

    with pytest.raises(InvalidInputError, match=r"variance_estimator must be one of 'acf'"):
        diebold_mariano_test(loss_a, loss_b, variance_estimator="newey-west")  # type: ignore[arg-type]
