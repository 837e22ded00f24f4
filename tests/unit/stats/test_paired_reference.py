"""Paired tests checked against published reference values and independent re-derivations.

Sources (each test names the one it uses):

- R ``?mcnemar.test`` example, Agresti (1990), Categorical Data Analysis, p. 350
  (Presidential Approval Ratings, ``matrix(c(794, 86, 150, 570), nrow = 2)``). R prints
  "McNemar's chi-squared = 16.818, df = 1, p-value = 4.115e-05" (continuity correction, R's
  default) and, with ``correct = FALSE``, "17.356, df = 1, p-value = 3.099e-05" (also in Penn
  State STAT 504 notes, "McNemar Test in R - Example Presidential Approval": 17.3559,
  p = 3.099e-05). NB: "34.712, p = 3.822e-09" is *not* R's output for this table.
- R ``t.test(extra ~ group, data = sleep, paired = TRUE)`` (Cushny & Peebles sleep data):
  "t = -4.0621, df = 9, p-value = 0.002833", 95 % CI "-2.4598858 -0.7001142", mean -1.58.
- R ``?wilcox.test`` paired example, Hollander & Wolfe (1973, p. 29f) depression scores:
  ``wilcox.test(x, y, paired = TRUE, alternative = "greater")`` -> "V = 40, p-value =
  0.01953"; R's sleep data ``wilcox.test(extra ~ group, sleep, paired = TRUE)`` -> "V = 0,
  p-value = 0.009091", "(pseudo)median -1.400031", CI "-2.949921 -1.050018" (normal
  approximation with continuity correction because of ties and a zero).
- PyPI ``dieboldmariano`` 1.1 README (``dm_test(T, F, G, one_sided=True)`` ->
  ``(-2.2229922805746782, 0.04515565862099125)``) and its test suite; the package states that
  it matches R's ``forecast::dm.test``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mlflow_retrain.stats import (
    diebold_mariano_test,
    mcnemar_test,
    paired_bootstrap_test,
    paired_t_test,
    wilcoxon_test,
)

# --------------------------------------------------------------------------------------------
# McNemar: Agresti (1990) p. 350, R ?mcnemar.test
# --------------------------------------------------------------------------------------------

# R fills by column, so the table is
#                 2nd approve  2nd disapprove
#   1st approve        794          150
#   1st disapprove      86          570
# "a" = first survey, "b" = second survey, "correct" = approve: a alone approves 150 times,
# b alone 86 times. McNemar only uses these two discordant counts.
N_A_ONLY, N_B_ONLY, N_BOTH, N_NEITHER = 150, 86, 794, 570


def agresti_predictions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cells = [(1, 1, N_BOTH), (1, 0, N_A_ONLY), (0, 1, N_B_ONLY), (0, 0, N_NEITHER)]
    pred_a = np.concatenate([np.full(count, a) for a, _, count in cells])
    pred_b = np.concatenate([np.full(count, b) for _, b, count in cells])
    return np.ones(pred_a.size, dtype=int), pred_a, pred_b


def test_mcnemar_corrected_matches_r_mcnemar_test_default() -> None:
    y, a, b = agresti_predictions()

    result = mcnemar_test(y, a, b, method="corrected")

    # Printed precision of R's output.
    assert result.statistic == pytest.approx(16.818, abs=5e-4)
    assert result.p_value == pytest.approx(4.115e-05, abs=5e-9)
    # Full precision: (|150 - 86| - 1)^2 / 236 and its chi-squared(1) tail.
    assert result.statistic == pytest.approx(63**2 / 236, rel=1e-12)
    assert result.p_value == pytest.approx(stats.chi2.sf(63**2 / 236, 1), rel=1e-10)


def test_mcnemar_asymptotic_matches_r_mcnemar_test_without_correction() -> None:
    y, a, b = agresti_predictions()

    result = mcnemar_test(y, a, b, method="asymptotic")

    assert result.statistic == pytest.approx(17.356, abs=5e-4)
    assert result.p_value == pytest.approx(3.099e-05, abs=5e-9)
    assert result.statistic == pytest.approx(64**2 / 236, rel=1e-12)
    assert result.details["z"] == pytest.approx(64 / math.sqrt(236), rel=1e-12)


def test_mcnemar_exact_matches_scipy_binomtest_on_agresti_counts() -> None:
    y, a, b = agresti_predictions()

    result = mcnemar_test(y, a, b, method="exact")

    # Independent route: the conditional binomial test of 86 successes out of 236 at 1/2.
    assert result.p_value == pytest.approx(stats.binomtest(86, 236, 0.5).pvalue, rel=1e-10)
    assert result.p_value == pytest.approx(3.7159361395713866e-05, rel=1e-6)
    assert result.statistic == N_A_ONLY


@pytest.mark.parametrize(
    ("alternative", "binomtest_alternative"), [("greater", "greater"), ("less", "less")]
)
def test_mcnemar_exact_one_sided_matches_binomtest_on_a_only_count(
    alternative: str, binomtest_alternative: str
) -> None:
    y, a, b = agresti_predictions()

    result = mcnemar_test(y, a, b, method="exact", alternative=alternative)

    expected = stats.binomtest(N_A_ONLY, 236, 0.5, alternative=binomtest_alternative).pvalue
    assert result.p_value == pytest.approx(expected, rel=1e-10)


def test_mcnemar_mid_p_is_exact_minus_point_probability() -> None:
    # Fagerland, Lydersen & Laake (2013), BMC Med. Res. Methodol. 13:91, eq. for mid-p.
    y, a, b = agresti_predictions()

    result = mcnemar_test(y, a, b, method="mid-p")

    exact = 2 * stats.binom.cdf(86, 236, 0.5)
    assert result.p_value == pytest.approx(exact - stats.binom.pmf(86, 236, 0.5), rel=1e-10)
    assert result.p_value == pytest.approx(2.8933895176155e-05, rel=1e-6)


def test_mcnemar_mid_p_one_sided_halves_the_point_probability() -> None:
    y, a, b = agresti_predictions()

    result = mcnemar_test(y, a, b, method="mid-p", alternative="greater")

    expected = stats.binom.sf(150, 236, 0.5) + 0.5 * stats.binom.pmf(150, 236, 0.5)
    assert result.p_value == pytest.approx(expected, rel=1e-10)


def test_mcnemar_estimate_accuracies_and_wald_interval_on_agresti_counts() -> None:
    y, a, b = agresti_predictions()
    n = y.size

    result = mcnemar_test(y, a, b)

    assert result.estimate == pytest.approx((150 - 86) / 1600, rel=1e-12)
    assert result.details["accuracy_a"] == pytest.approx(944 / 1600, rel=1e-12)
    assert result.details["accuracy_b"] == pytest.approx(880 / 1600, rel=1e-12)
    assert result.details["n_a_only_correct"] == N_A_ONLY
    assert result.details["n_b_only_correct"] == N_B_ONLY
    se = math.sqrt(236 - 64**2 / n) / n  # Agresti (2013) sec. 11.1, Wald for matched pairs
    z = stats.norm.ppf(0.975)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.04 - z * se, 0.04 + z * se))


@pytest.mark.parametrize("method", ["mid-p", "exact", "asymptotic", "corrected"])
def test_mcnemar_swapping_models_flips_estimate_and_one_sided_direction(method: str) -> None:
    y, a, b = agresti_predictions()

    forward = mcnemar_test(y, a, b, method=method, alternative="greater")
    backward = mcnemar_test(y, b, a, method=method, alternative="less")

    assert backward.estimate == pytest.approx(-forward.estimate)
    assert backward.p_value == pytest.approx(forward.p_value, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Paired t: R t.test(extra ~ group, data = sleep, paired = TRUE)
# --------------------------------------------------------------------------------------------

SLEEP_GROUP1 = np.array([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0])
SLEEP_GROUP2 = np.array([1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])


def test_paired_t_matches_r_t_test_on_sleep_data_to_printed_precision() -> None:
    result = paired_t_test(SLEEP_GROUP1, SLEEP_GROUP2)

    assert result.statistic == pytest.approx(-4.0621, abs=5e-5)
    assert result.details["df"] == 9
    assert result.p_value == pytest.approx(0.002833, abs=5e-7)
    assert result.ci_low == pytest.approx(-2.4598858, abs=5e-8)
    assert result.ci_high == pytest.approx(-0.7001142, abs=5e-8)
    assert result.estimate == pytest.approx(-1.58, abs=1e-12)


def test_paired_t_matches_textbook_formula_on_sleep_data_to_full_precision() -> None:
    d = SLEEP_GROUP1 - SLEEP_GROUP2
    se = d.std(ddof=1) / math.sqrt(d.size)
    t = d.mean() / se
    q = stats.t.ppf(0.975, d.size - 1)

    result = paired_t_test(SLEEP_GROUP1, SLEEP_GROUP2)

    assert result.statistic == pytest.approx(t, rel=1e-12)
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(t), 9), rel=1e-10)
    assert (result.ci_low, result.ci_high) == pytest.approx(
        (d.mean() - q * se, d.mean() + q * se), rel=1e-12
    )


def test_paired_t_one_sided_less_halves_p_and_opens_the_upper_end() -> None:
    result = paired_t_test(SLEEP_GROUP1, SLEEP_GROUP2, alternative="less")

    assert result.p_value == pytest.approx(0.002832890197384273 / 2, rel=1e-9)
    assert result.ci_low == -math.inf
    assert result.ci_high == pytest.approx(
        -1.58 + stats.t.ppf(0.95, 9) * result.details["se"], rel=1e-12
    )


# --------------------------------------------------------------------------------------------
# Wilcoxon signed rank: R ?wilcox.test (Hollander & Wolfe 1973) and the sleep data
# --------------------------------------------------------------------------------------------

HW_X = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
HW_Y = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])


def test_wilcoxon_matches_r_hollander_wolfe_paired_greater() -> None:
    result = wilcoxon_test(HW_X, HW_Y, alternative="greater")

    # R: V = 40, p-value = 0.01953. By hand: 2^9 = 512 sign patterns, 10 have V >= 40.
    assert result.statistic == 40
    assert result.p_value == pytest.approx(0.01953, abs=5e-6)
    assert result.p_value == pytest.approx(10 / 512, rel=1e-12)


def test_wilcoxon_two_sided_and_less_on_hollander_wolfe_match_exact_enumeration() -> None:
    assert wilcoxon_test(HW_X, HW_Y).p_value == pytest.approx(20 / 512, rel=1e-12)
    assert wilcoxon_test(HW_X, HW_Y, alternative="less").p_value == pytest.approx(
        505 / 512, rel=1e-12
    )


def test_wilcoxon_hodges_lehmann_interval_matches_walsh_average_order_statistics() -> None:
    # Independent route: all 45 Walsh averages sorted; R's exact interval takes the
    # qsignrank(0.025, 9) = 6th smallest and the 45 + 1 - 6 = 40th, and the estimate is the
    # median (23rd). These equal R's wilcox.test(x, y, paired = TRUE, conf.int = TRUE) output
    # (0.46, CI 0.01 to 0.786).
    d = HW_X - HW_Y
    walsh = np.sort([(d[i] + d[j]) / 2 for i in range(9) for j in range(i, 9)])
    assert int(np.searchsorted(np.cumsum(_signrank_counts(9)) / 512, 0.025)) == 6

    result = wilcoxon_test(HW_X, HW_Y)

    assert result.estimate == pytest.approx(walsh[22], abs=1e-12)
    assert (result.ci_low, result.ci_high) == pytest.approx((walsh[5], walsh[39]), abs=1e-12)
    assert (result.estimate, result.ci_low, result.ci_high) == pytest.approx(
        (0.46, 0.01, 0.786), abs=1e-12
    )
    assert result.details["ci_achieved_confidence"] == pytest.approx(1 - 2 * 10 / 512)


def _signrank_counts(n: int) -> np.ndarray:
    """Number of sign patterns of ranks 1..n with each positive-rank sum, by enumeration."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    for pattern in range(2**n):
        counts[sum(r + 1 for r in range(n) if pattern >> r & 1)] += 1
    return counts


def test_wilcoxon_sleep_data_uses_exact_permutation_not_r_normal_approximation() -> None:
    # SciPy 1.17 method="auto" with a zero and ties and n <= 13 enumerates the 2^10 sign
    # patterns; all nine non-zero differences are negative, so V = 0 and only the all-negative
    # and all-positive patterns (times 2 for the zero) are as extreme: p = 4 / 1024. R instead
    # reports the continuity-corrected normal approximation, p = 0.009091.
    result = wilcoxon_test(SLEEP_GROUP1, SLEEP_GROUP2)

    assert result.statistic == 0
    assert result.p_value == pytest.approx(4 / 1024, rel=1e-12)
    assert result.details["n_zero"] == 1
    # R's interval comes from its normal-approximation root finding; ours are exact Walsh
    # order statistics, so they agree to R's 4th significant digit only.
    assert result.estimate == pytest.approx(-1.400031, abs=1e-4)
    assert result.ci_low == pytest.approx(-2.949921, abs=1e-4)
    assert result.ci_high == pytest.approx(-1.050018, abs=1e-4)


def test_r_sleep_wilcoxon_value_is_the_corrected_normal_approximation() -> None:
    # Documents the R/SciPy difference above: n = 9 non-zero differences, one tie pair
    # (|d| = 1.3), V = 0 -> z = (0 - 22.5 + 0.5) / sqrt(9*10*19/24 - (2^3 - 2)/48).
    z = (0 - 22.5 + 0.5) / math.sqrt(9 * 10 * 19 / 24 - 6 / 48)

    assert 2 * stats.norm.cdf(z) == pytest.approx(0.009091, abs=5e-7)


def test_wilcoxon_large_sample_matches_independent_normal_approximation() -> None:
    # More than 50 rows: SciPy's "auto" uses the normal approximation with tie correction and
    # no continuity correction (R's wilcox.test(exact = FALSE, correct = FALSE)). Rebuilt here
    # from the textbook formulas on data with ties and zeros.
    d = ((np.arange(1, 61) * 37) % 41) / 40 - 0.4
    nz = d[d != 0]
    n = nz.size
    ranks = stats.rankdata(np.abs(nz))
    v = ranks[nz > 0].sum()
    _, tie_sizes = np.unique(np.abs(nz), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - np.sum(tie_sizes**3 - tie_sizes) / 48
    z = (v - n * (n + 1) / 4) / math.sqrt(var)

    result = wilcoxon_test(d, np.zeros_like(d), alternative="greater")

    assert result.statistic == v
    assert result.p_value == pytest.approx(stats.norm.sf(z), rel=1e-9)


# --------------------------------------------------------------------------------------------
# Diebold-Mariano: dieboldmariano 1.1 (matches R forecast::dm.test) and the HLN formulas
# --------------------------------------------------------------------------------------------


def squared_errors(actual: list[float], forecast: list[float]) -> np.ndarray:
    return (np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float)) ** 2


def test_dm_matches_dieboldmariano_readme_example() -> None:
    # dm_test(T, F, G, one_sided=True) -> (-2.2229922805746782, 0.04515565862099125); the
    # package's one_sided is R's / our "less" (first forecast more accurate).
    actual = [10, 20, 30, 40, 50]
    loss_a = squared_errors(actual, [11, 21, 29, 42, 53])
    loss_b = squared_errors(actual, [13, 26, 24, 40, 59])

    result = diebold_mariano_test(loss_a, loss_b, alternative="less")

    assert result.statistic == pytest.approx(-2.2229922805746782, rel=1e-9)
    assert result.p_value == pytest.approx(0.04515565862099125, rel=1e-9)
    assert result.estimate == pytest.approx(-29.2, rel=1e-12)


def test_dm_matches_dieboldmariano_test_suite_two_sided_case() -> None:
    # dieboldmariano tests/dieboldmarianotest.py::test_diebold_mariano_1 (4 decimals there).
    actual = [0.0] * 6
    loss_a = squared_errors(actual, [0, 1, 2, 3, 4, 5])
    loss_b = squared_errors(actual, [0, 2, 3, 3, 5, 6])

    result = diebold_mariano_test(loss_a, loss_b)

    assert result.statistic == pytest.approx(-2.4905, abs=5e-5)
    assert result.p_value == pytest.approx(0.05513, abs=5e-6)


def test_dm_matches_dieboldmariano_test_suite_horizon_three_absolute_loss() -> None:
    # dieboldmariano tests/dieboldmarianotest.py::test_diebold_mariano_2 (h = 3, |error|,
    # one_sided=True = "less"): statistic 1.2109, p 0.877.
    p1 = [0.3675225224615024, 0.5450608127223211, 0.22044990720021074, 0.8688743471040006,
          0.6072512228948467, 0.8582283746501538, 0.41662295816718187, 0.3812100211114714,
          0.7185133356116706, 0.30827323290318875, 0.4297093624074402, 0.8615974488577858,
          0.7240514514808826, 0.3450839595261038, 0.19675301374013598]  # fmt: skip
    p2 = [0.12794132529988733, 0.3679643204341153, 0.768715420996091, 0.09972248964114683,
          0.27197653636654284, 0.28797629010039505, 0.9160213458582482, 0.6112628048698798,
          0.5452873235576241, 0.06785907231746158, 0.6072666485541124, 0.6241575753989782,
          0.39998026828867217, 0.19895665605941748, 0.8094941215215619]  # fmt: skip

    result = diebold_mariano_test(np.abs(p1), np.abs(p2), h=3, alternative="less")

    assert result.statistic == pytest.approx(1.2109, abs=5e-5)
    assert result.p_value == pytest.approx(0.877, abs=5e-4)
    assert result.details["h_used"] == 3


def reference_dm(d: np.ndarray, h: int) -> tuple[float, float]:
    """Harvey, Leybourne & Newbold (1997), eqs. (3)-(9), written out with explicit loops."""
    n = len(d)
    mean = sum(d) / n
    gamma = [sum((d[t] - mean) * (d[t - k] - mean) for t in range(k, n)) / n for k in range(h)]
    v = (gamma[0] + 2 * sum(gamma[1:])) / n
    dm = mean / math.sqrt(v)
    dm_star = dm * math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
    return dm_star, 2 * stats.t.sf(abs(dm_star), n - 1)


@pytest.mark.parametrize("h", [1, 2, 3, 4])
def test_dm_matches_loop_implementation_of_hln_formulas(h: int) -> None:
    rng = np.random.default_rng(20240611 + h)
    noise = rng.normal(size=83)
    loss_a = np.abs(noise[:80] + 0.5 * noise[1:81] + 0.3 * noise[2:82]) + 0.1
    loss_b = np.abs(rng.normal(size=80))
    statistic, p_value = reference_dm(loss_a - loss_b, h)

    result = diebold_mariano_test(loss_a, loss_b, h=h)

    assert result.details["h_used"] == h
    assert result.statistic == pytest.approx(statistic, rel=1e-10)
    assert result.p_value == pytest.approx(p_value, rel=1e-9)


def test_dm_interval_ends_are_where_the_test_rejects_at_the_boundary() -> None:
    rng = np.random.default_rng(7)
    loss_a, loss_b = rng.exponential(size=60), rng.exponential(size=60)

    result = diebold_mariano_test(loss_a, loss_b, h=2, confidence=0.9)

    # Shifting loss_a so that the estimate sits on a CI end gives a two-sided p of 0.10.
    for end in (result.ci_low, result.ci_high):
        shifted = diebold_mariano_test(loss_a - end, loss_b, h=2)
        assert shifted.p_value == pytest.approx(0.10, rel=1e-8)


# --------------------------------------------------------------------------------------------
# Paired bootstrap: analytic variance of a paired accuracy difference, reproducibility
# --------------------------------------------------------------------------------------------


def accuracy_rows(n: int, n_a_only: int, n_b_only: int) -> tuple[np.ndarray, ...]:
    y = np.ones(n, dtype=int)
    a = np.ones(n, dtype=int)
    b = np.ones(n, dtype=int)
    b[:n_a_only] = 0
    a[n_a_only : n_a_only + n_b_only] = 0
    a[-100:] = b[-100:] = 0  # some rows both models get wrong
    return y, a, b


def analytic_bootstrap_se(n: int, n_a_only: int, n_b_only: int) -> float:
    # d_i = 1{a right} - 1{b right} takes +1 (c rows), -1 (b rows), 0 otherwise. The bootstrap
    # variance of mean(d) is the plug-in variance of d over n: ((b + c)/n - ((c - b)/n)^2)/n,
    # i.e. se = sqrt(b + c - (c - b)^2 / n) / n, the same as the McNemar Wald interval's.
    return math.sqrt(n_a_only + n_b_only - (n_a_only - n_b_only) ** 2 / n) / n


def test_bootstrap_se_of_accuracy_difference_matches_analytic_paired_variance() -> None:
    n, c, b_count, resamples = 2000, 160, 120, 20000
    y, a, b = accuracy_rows(n, c, b_count)
    se = analytic_bootstrap_se(n, c, b_count)

    result = paired_bootstrap_test(y, a, b, "accuracy", n_resamples=resamples, random_state=1)

    # The SD of B draws has relative standard error ~ 1/sqrt(2B) = 0.5 %; allow 6 of them.
    assert result.details["se"] == pytest.approx(se, rel=6 / math.sqrt(2 * resamples))
    assert result.estimate == pytest.approx((c - b_count) / n, rel=1e-12)
    z = stats.norm.ppf(0.975)
    # Percentile ends vs the normal interval: quantile noise ~ 2.3 se / sqrt(B) each.
    assert result.ci_low == pytest.approx(result.estimate - z * se, abs=0.15 * se)
    assert result.ci_high == pytest.approx(result.estimate + z * se, abs=0.15 * se)


def test_bootstrap_stratified_se_matches_within_stratum_plug_in_variance() -> None:
    rng = np.random.default_rng(3)
    n, resamples = 3000, 20000
    y = (rng.random(n) < 0.2).astype(int)
    a = np.where(rng.random(n) < 0.85, y, 1 - y)
    b = np.where(rng.random(n) < 0.8, y, 1 - y)
    d = (a == y).astype(float) - (b == y).astype(float)
    variance = sum(d[y == k].var() * np.sum(y == k) for k in (0, 1)) / n**2

    result = paired_bootstrap_test(
        y, a, b, "accuracy", n_resamples=resamples, random_state=4, stratify=y
    )

    assert result.details["n_strata"] == 2
    assert result.details["se"] == pytest.approx(
        math.sqrt(variance), rel=6 / math.sqrt(2 * resamples)
    )


def test_bootstrap_is_reproducible_with_the_same_random_state() -> None:
    y, a, b = accuracy_rows(500, 40, 25)

    first = paired_bootstrap_test(y, a, b, "accuracy", random_state=123)
    second = paired_bootstrap_test(y, a, b, "accuracy", random_state=123)

    assert first == second


def test_bootstrap_callable_and_string_metric_agree_on_the_same_seed() -> None:
    # Continuous per-row errors take the index-gathering path, which draws the same index
    # stream as the callable path, so both give the same resamples.
    rng = np.random.default_rng(11)
    y = rng.normal(size=400)
    a = y + rng.normal(scale=0.9, size=400)
    b = y + rng.normal(scale=1.0, size=400)

    def mae(truth: np.ndarray, pred: np.ndarray) -> float:
        return float(np.mean(np.abs(truth - pred)))

    fast = paired_bootstrap_test(y, a, b, "mae", n_resamples=500, random_state=5)
    slow = paired_bootstrap_test(y, a, b, mae, n_resamples=500, random_state=5)

    assert fast.details["exact_multinomial"] == 0
    assert slow.estimate == pytest.approx(fast.estimate, rel=1e-12)
    assert slow.p_value == fast.p_value
    assert (slow.ci_low, slow.ci_high) == pytest.approx((fast.ci_low, fast.ci_high), rel=1e-9)
    assert slow.details["se"] == pytest.approx(fast.details["se"], rel=1e-9)


def test_bootstrap_callable_accuracy_agrees_statistically_with_multinomial_shortcut() -> None:
    n, c, b_count, resamples = 600, 60, 40, 4000
    y, a, b = accuracy_rows(n, c, b_count)

    def accuracy(truth: np.ndarray, pred: np.ndarray) -> float:
        return float(np.mean(truth == pred))

    fast = paired_bootstrap_test(y, a, b, "accuracy", n_resamples=resamples, random_state=8)
    slow = paired_bootstrap_test(y, a, b, accuracy, n_resamples=resamples, random_state=9)

    assert fast.details["exact_multinomial"] == 1
    assert slow.estimate == pytest.approx(fast.estimate, rel=1e-12)
    # Two independent SD estimates: difference has relative SE ~ sqrt(2 / (2B)).
    assert slow.details["se"] == pytest.approx(fast.details["se"], rel=6 / math.sqrt(resamples))


@pytest.mark.parametrize("effect", [0, 10, 20, 30, 45])
def test_bootstrap_two_sided_p_agrees_with_percentile_interval_excluding_zero(
    effect: int,
) -> None:
    resamples = 2000
    y, a, b = accuracy_rows(1000, 50 + effect, 50)

    result = paired_bootstrap_test(y, a, b, "accuracy", n_resamples=resamples, random_state=2)

    excludes_zero = result.ci_low > 0 or result.ci_high < 0
    slack = 3 / (resamples + 1)  # one resample either side plus quantile interpolation
    if result.p_value <= 0.05 - slack:
        assert excludes_zero
    elif result.p_value >= 0.05 + slack:
        assert not excludes_zero


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("mae", lambda y, p: np.mean(np.abs(y - p))),
        ("mse", lambda y, p: np.mean((y - p) ** 2)),
        ("brier", lambda y, p: np.mean((p - y) ** 2)),
        ("log_loss", lambda y, p: -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
    ],
)
def test_bootstrap_named_losses_estimate_metric_a_minus_metric_b(metric, expected) -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.4).astype(float)
    a = np.clip(0.7 * y + 0.3 * rng.random(300), 0.01, 0.99)
    b = np.clip(0.5 * y + 0.5 * rng.random(300), 0.01, 0.99)

    result = paired_bootstrap_test(y, a, b, metric, n_resamples=200, random_state=0)

    assert result.estimate == pytest.approx(expected(y, a) - expected(y, b), rel=1e-12)
    assert result.details["better_sign"] == -1


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_wilcoxon_bisected_walsh_order_statistics_match_enumeration(
    alternative: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large samples find Walsh-average order statistics by bisection instead of enumerating
    # them; force that path on a small sample (ties included) and compare with brute force.
    import mlflow_retrain.stats.wilcoxon as wilcoxon_module

    rng = np.random.default_rng(42)
    d = np.round(rng.normal(0.2, 1.0, size=120), 1)
    enumerated = wilcoxon_test(d, np.zeros_like(d), alternative=alternative)
    monkeypatch.setattr(wilcoxon_module, "_MAX_WALSH_ENUMERATED", 0)

    bisected = wilcoxon_test(d, np.zeros_like(d), alternative=alternative)

    nz = np.sort(d[d != 0])
    walsh = np.sort([(nz[i] + nz[j]) / 2 for i in range(nz.size) for j in range(i, nz.size)])
    assert enumerated.estimate == pytest.approx(np.median(walsh), abs=1e-12)
    assert bisected.estimate == pytest.approx(enumerated.estimate, abs=1e-12)
    assert bisected.ci_low == pytest.approx(enumerated.ci_low, abs=1e-12)
    assert bisected.ci_high == pytest.approx(enumerated.ci_high, abs=1e-12)
