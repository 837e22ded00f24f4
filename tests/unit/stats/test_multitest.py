"""Multiple-comparison adjustment, checked against the textbook definitions and R.

Reference data: the 15 p-values of Benjamini & Hochberg (1995), "Controlling the false
discovery rate: a practical and powerful approach to multiple testing", J. R. Statist. Soc. B
57(1), 289-300, section 4.1 (the myocardial-infarction example). At q = 0.05 the paper's
procedure rejects the four smallest, while Bonferroni and Hochberg reject three. The expected
adjusted values are computed below by straightforward loops written from each method's
definition, independent of the vectorised implementation, and a few are hard-coded (worked by
hand; they equal R's ``p.adjust(p, method)`` output for these p-values).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlflow_retrain.stats import adjust_pvalues

BH_1995 = [
    0.0001,
    0.0004,
    0.0019,
    0.0095,
    0.0201,
    0.0278,
    0.0298,
    0.0344,
    0.0459,
    0.3240,
    0.4262,
    0.5719,
    0.6528,
    0.7590,
    1.000,
]
METHODS = ["bh", "by", "holm", "hochberg", "bonferroni", "none"]


def textbook_adjust(pvalues: list[float], method: str) -> list[float]:
    """Adjusted p-values by the definitions (sorted p_(1) <= ... <= p_(m), ranks 1-based).

    - BH: min over j >= i of m p_(j) / j.
    - BY: BH times c(m) = sum_{k=1}^m 1/k.
    - Holm: max over j <= i of (m - j + 1) p_(j).
    - Hochberg: min over j >= i of (m - j + 1) p_(j).
    - Bonferroni: m p_(i).
    Each capped at 1.
    """
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    ranked = [pvalues[i] for i in order]
    harmonic = sum(1.0 / k for k in range(1, m + 1))
    adjusted_sorted = []
    for i in range(1, m + 1):
        if method == "bh":
            value = min(m * ranked[j - 1] / j for j in range(i, m + 1))
        elif method == "by":
            value = harmonic * min(m * ranked[j - 1] / j for j in range(i, m + 1))
        elif method == "holm":
            value = max((m - j + 1) * ranked[j - 1] for j in range(1, i + 1))
        elif method == "hochberg":
            value = min((m - j + 1) * ranked[j - 1] for j in range(i, m + 1))
        elif method == "bonferroni":
            value = m * ranked[i - 1]
        else:
            value = ranked[i - 1]
        adjusted_sorted.append(min(value, 1.0))
    result = [0.0] * m
    for rank, index in enumerate(order):
        result[index] = adjusted_sorted[rank]
    return result


@pytest.mark.parametrize("method", METHODS)
def test_adjust_pvalues_matches_textbook_definition_on_bh_1995_example(method: str) -> None:
    expected = textbook_adjust(BH_1995, method)

    np.testing.assert_allclose(adjust_pvalues(BH_1995, method=method), expected, rtol=1e-12)


def test_bh_adjusted_values_match_hand_computation_on_bh_1995_example() -> None:
    # m p_(i) / i, then the running minimum from the largest p-value down.
    expected = [
        0.0015,
        0.003,
        0.0095,
        0.035625,
        0.0603,
        15 * 0.0298 / 7,
        15 * 0.0298 / 7,
        0.0645,
        0.0765,
        0.486,
        15 * 0.4262 / 11,
        15 * 0.5719 / 12,
        15 * 0.6528 / 13,
        15 * 0.7590 / 14,
        1.0,
    ]

    np.testing.assert_allclose(adjust_pvalues(BH_1995, method="bh"), expected, rtol=1e-12)


def test_holm_and_hochberg_match_hand_computation_on_smallest_bh_1995_values() -> None:
    holm = adjust_pvalues(BH_1995, method="holm")
    hochberg = adjust_pvalues(BH_1995, method="hochberg")

    np.testing.assert_allclose(
        holm[:9], [0.0015, 0.0056, 0.0247, 0.114, 0.2211, 0.278, 0.278, 0.278, 0.3213], rtol=1e-12
    )
    np.testing.assert_allclose(
        hochberg[:9],
        [0.0015, 0.0056, 0.0247, 0.114, 0.2211, 0.2682, 0.2682, 0.2752, 0.3213],
        rtol=1e-12,
    )
    assert holm[9:].tolist() == [1.0] * 6
    assert hochberg[9:].tolist() == [1.0] * 6


@pytest.mark.parametrize(
    ("method", "n_rejected"),
    [("bh", 4), ("by", 3), ("holm", 3), ("hochberg", 3), ("bonferroni", 3), ("none", 9)],
)
def test_rejections_at_005_match_bh_1995_paper(method: str, n_rejected: int) -> None:
    # The paper: BH rejects the four smallest, Hochberg and Bonferroni three.
    adjusted = adjust_pvalues(BH_1995, method=method)

    assert int(np.sum(adjusted <= 0.05)) == n_rejected


def test_by_is_bh_times_harmonic_number() -> None:
    harmonic = sum(1.0 / k for k in range(1, 16))

    by = adjust_pvalues(BH_1995, method="by")

    np.testing.assert_allclose(by[:3], np.array([0.0015, 0.003, 0.0095]) * harmonic, rtol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_adjust_pvalues_keeps_input_order(method: str) -> None:
    rng = np.random.default_rng(7)
    pvalues = list(rng.permutation(BH_1995))

    adjusted = adjust_pvalues(pvalues, method=method)

    np.testing.assert_allclose(adjusted, textbook_adjust(pvalues, method), rtol=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("method", METHODS)
def test_adjusted_pvalues_are_at_least_raw_monotone_and_at_most_one(
    method: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    pvalues = rng.uniform(size=40) ** 3

    adjusted = adjust_pvalues(pvalues, method=method)

    order = np.argsort(pvalues)
    assert np.all(adjusted >= pvalues - 1e-15)
    assert np.all(np.diff(adjusted[order]) >= -1e-15)
    assert np.all(adjusted <= 1.0)
    np.testing.assert_allclose(adjusted, textbook_adjust(list(pvalues), method), rtol=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_nan_stays_nan_and_is_left_out_of_the_family(method: str) -> None:
    pvalues = [0.01, math.nan, 0.04, math.nan]

    adjusted = adjust_pvalues(pvalues, method=method)

    assert np.isnan(adjusted[[1, 3]]).all()
    np.testing.assert_allclose(adjusted[[0, 2]], textbook_adjust([0.01, 0.04], method), rtol=1e-12)


def test_bonferroni_family_size_excludes_nan() -> None:
    adjusted = adjust_pvalues([0.01, math.nan, 0.02], method="bonferroni")

    np.testing.assert_allclose(adjusted, [0.02, math.nan, 0.04])


@pytest.mark.parametrize("pvalues", [[], [math.nan, math.nan]])
def test_no_valid_pvalues_returns_all_nan_of_same_shape(pvalues: list[float]) -> None:
    adjusted = adjust_pvalues(pvalues)

    assert adjusted.shape == (len(pvalues),)
    assert np.isnan(adjusted).all()


@pytest.mark.parametrize("method", METHODS)
def test_single_pvalue_is_unchanged(method: str) -> None:
    np.testing.assert_allclose(adjust_pvalues([0.03], method=method), [0.03])


@pytest.mark.parametrize("bad", [-0.01, 1.5, math.inf])
def test_pvalue_outside_unit_interval_raises(bad: float) -> None:
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]"):
        adjust_pvalues([0.2, bad])


def test_unknown_method_raises() -> None:
    with pytest.raises(ValueError, match="Unknown adjustment method 'sidak'"):
        adjust_pvalues([0.2, 0.3], method="sidak")  # type: ignore[arg-type]
