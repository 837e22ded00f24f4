"""Drift figures: PNG output for numeric and categorical columns, edge cases included."""

from __future__ import annotations

import math
import struct
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from helpers.drift import feature_drift

from mlflow_retrain.drift.profile import (
    OTHER_LEVEL,
    NumericSummary,
    summarise_categorical,
    summarise_numeric,
)
from mlflow_retrain.report import plot_categorical_drift, plot_numeric_drift

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG header (IHDR is always the first chunk)."""
    assert png.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _sketch(values: list[float] | np.ndarray, *, max_points: int = 2048) -> NumericSummary:
    return summarise_numeric(pd.Series(values, dtype=float), max_points=max_points)


def test_numeric_plot_is_an_800_by_450_png() -> None:
    rng = np.random.default_rng(1)
    png = plot_numeric_drift(
        "amount",
        _sketch(rng.normal(0, 1, 2000)),
        rng.normal(0.5, 1, 500),
        feature=feature_drift(),
    )

    assert _size(png) == (800, 450)


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        pytest.param([5.0] * 100, [5.0] * 50, id="constant-column"),
        pytest.param([2.5], [2.5, 3.0, 4.0], id="single-point-sketch"),
        pytest.param([0.37] * 10, [0.37] * 10, id="constant-non-integer"),
        pytest.param(list(range(1000)), [], id="empty-current"),
        pytest.param([math.nan] * 5, [1.0, 2.0], id="empty-reference"),
        pytest.param([math.nan], [], id="no-data-at-all"),
        pytest.param([1.0, 2.0, 3.0], [np.nan, np.inf, -np.inf, 2.0], id="non-finite-current"),
        pytest.param([*range(100), 1e12], [*range(100), -1e12], id="extreme-outliers"),
        pytest.param(list(range(50)), list(range(1000, 1050)), id="disjoint-supports"),
        pytest.param([0, 1, 1, 2, 3], [1, 2, 2, 8], id="small-integer-counts"),
    ],
)
def test_numeric_plot_handles_edge_case(reference: list[float], current: list[float]) -> None:
    png = plot_numeric_drift("x", _sketch(reference), np.asarray(current, dtype=float))

    assert _size(png) == (800, 450)


def test_numeric_plot_uses_a_compressed_sketch() -> None:
    rng = np.random.default_rng(2)
    sketch = _sketch(rng.lognormal(0, 1, 20_000), max_points=64)
    assert not sketch.exact

    png = plot_numeric_drift("x", sketch, rng.lognormal(0.3, 1, 3000))

    assert png.startswith(PNG_SIGNATURE)


def test_numeric_plot_accepts_an_inconclusive_feature() -> None:
    feature = feature_drift(
        statistic=math.nan,
        p_value=math.nan,
        p_value_adjusted=math.nan,
        effect_size=math.nan,
        drifted=False,
        distribution_drifted=False,
        inconclusive_reason="fewer than 5 non-missing values",
    )

    png = plot_numeric_drift("x", _sketch([1.0, 2.0]), np.array([3.0]), feature=feature)

    assert png.startswith(PNG_SIGNATURE)


@pytest.mark.parametrize(
    "name",
    [
        "price $\\frac{",  # broken mathtext: must be drawn verbatim, not parsed
        "<script>alert(1)</script>",
        "x" * 500,
        "",
        "multi\nline\tname",
    ],
)
def test_plots_draw_any_column_name(name: str) -> None:
    numeric = plot_numeric_drift(name, _sketch([1.0, 2.0, 3.0]), np.array([2.0, 3.0]))
    categorical = plot_categorical_drift(name, {"a": 3}, {"a": 1, "$\\bad{": 2})

    assert numeric.startswith(PNG_SIGNATURE)
    assert categorical.startswith(PNG_SIGNATURE)


def test_numeric_plot_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    sketch, current = _sketch(rng.normal(size=1000)), rng.normal(size=300)

    first = plot_numeric_drift("x", sketch, current, feature=feature_drift())
    second = plot_numeric_drift("x", sketch, current, feature=feature_drift())

    assert first == second


def test_plots_leave_pyplot_state_alone() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()

    plot_numeric_drift("x", _sketch([1.0, 2.0, 3.0]), np.array([2.0]))
    plot_categorical_drift("x", {"a": 1}, {"b": 1})

    assert plt.get_fignums() == before


def test_plots_are_thread_safe() -> None:
    rng = np.random.default_rng(4)
    cases = [(_sketch(rng.normal(i, 1, 500)), rng.normal(0, 1, 200)) for i in range(6)]
    expected = [plot_numeric_drift(f"c{i}", s, c) for i, (s, c) in enumerate(cases)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(
            pool.map(lambda item: plot_numeric_drift(f"c{item[0]}", *item[1]), enumerate(cases))
        )

    assert got == expected


def test_categorical_plot_is_an_800_by_450_png() -> None:
    reference = summarise_categorical(pd.Series(list("aaabbc")), max_levels=1000)

    png = plot_categorical_drift(
        "country",
        reference.counts,
        {"a": 2, "b": 5, "z": 3},
        feature=feature_drift(kind="categorical", n_unseen_categories=1, unseen_categories=("z",)),
    )

    assert _size(png) == (800, 450)


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        pytest.param({"a": 5, "b": 3}, {"a": 1, "new": 4, "newer": 2}, id="unseen-levels"),
        pytest.param({"a": 5, "b": 3}, {"a": 5, "b": 3}, id="identical"),
        pytest.param(
            {f"level {i}": 100 - i for i in range(100)},
            {f"level {i}": i + 1 for i in range(100)},
            id="100-levels",
        ),
        pytest.param({"a": 5, OTHER_LEVEL: 7}, {"a": 2, "rare": 3}, id="pooled-reference"),
        pytest.param({"only": 10}, {"only": 4}, id="single-level"),
        pytest.param({}, {"a": 1}, id="empty-reference"),
        pytest.param({"a": 1}, {}, id="empty-current"),
        pytest.param({}, {}, id="no-data-at-all"),
        pytest.param({"a": 0, "b": 2}, {"a": 0, "b": 0, "c": 3}, id="zero-counts"),
    ],
)
def test_categorical_plot_handles_edge_case(
    reference: dict[str, int], current: dict[str, int]
) -> None:
    png = plot_categorical_drift("x", reference, current)

    assert _size(png) == (800, 450)


@pytest.mark.parametrize("top", [1, 5, 15, 200])
def test_categorical_plot_accepts_any_top(top: int) -> None:
    levels = {f"l{i}": i + 1 for i in range(40)}

    png = plot_categorical_drift("x", levels, {**levels, "u": 9}, top=top)

    assert png.startswith(PNG_SIGNATURE)


def test_categorical_plot_is_deterministic() -> None:
    reference = {f"l{i}": 50 - i for i in range(30)}
    current = {f"l{i}": i + 1 for i in range(30)} | {"new": 7}

    first = plot_categorical_drift("x", reference, current)
    second = plot_categorical_drift("x", dict(reversed(reference.items())), current)

    assert first == second
