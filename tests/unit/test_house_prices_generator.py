"""The house-prices example generator: deterministic, seasonal, and drifting as documented."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from helpers.examples import example_generator

SEED = 7
COLUMNS = [
    "timestamp",
    "area_m2",
    "rooms",
    "age_years",
    "distance_center_km",
    "neighbourhood",
    "has_garden",
    "energy_label",
    "price",
]


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """The generator script, loaded by path (``projects/`` is not a package)."""
    return example_generator("house_prices")


@pytest.fixture(scope="module")
def months(generator: ModuleType) -> dict[int, pd.DataFrame]:
    """All 24 batches at the default size."""
    return {m: generator.generate_month(m, seed=SEED) for m in range(1, 25)}


def _price_per_m2(frame: pd.DataFrame) -> float:
    return float((frame["price"] / frame["area_m2"]).mean())


def _detrended_price_per_m2(generator: ModuleType, months: dict[int, pd.DataFrame]) -> np.ndarray:
    """Mean price per m2 by month with the documented level growth divided out."""
    growth = 1 + generator.PRICE_GROWTH
    return np.array([_price_per_m2(months[m]) / growth ** (m - 1) for m in range(1, 25)])


@pytest.mark.parametrize("month", [1, 13, 24])
def test_same_seed_gives_identical_frames(generator: ModuleType, month: int) -> None:
    first = generator.generate_month(month, rows=500, seed=3)
    second = generator.generate_month(month, rows=500, seed=3)

    pd.testing.assert_frame_equal(first, second)


def test_different_seeds_give_different_frames(generator: ModuleType) -> None:
    first = generator.generate_month(5, rows=500, seed=1)
    second = generator.generate_month(5, rows=500, seed=2)

    assert not first.equals(second)


def test_frame_has_the_documented_schema(months: dict[int, pd.DataFrame]) -> None:
    frame = months[7]

    assert list(frame.columns) == COLUMNS
    assert len(frame) == 3_000
    for name in ["area_m2", "distance_center_km", "price"]:
        assert pd.api.types.is_float_dtype(frame[name]), name
    for name in ["rooms", "age_years"]:
        assert pd.api.types.is_integer_dtype(frame[name]), name
    assert pd.api.types.is_bool_dtype(frame["has_garden"])
    for name in ["timestamp", "neighbourhood", "energy_label"]:
        assert pd.api.types.is_string_dtype(frame[name]), name
    assert 5 <= frame["neighbourhood"].nunique() <= 8
    assert set(frame["energy_label"]) <= set("ABCDEFG")


def test_rows_sets_the_batch_size(generator: ModuleType) -> None:
    assert len(generator.generate_month(3, rows=123, seed=SEED)) == 123


def test_nothing_is_missing_and_prices_are_positive(months: dict[int, pd.DataFrame]) -> None:
    for month, frame in months.items():
        assert not frame.isna().to_numpy().any(), month
        assert (frame["price"] > 0).all(), month


@pytest.mark.parametrize(
    ("month", "first_day", "last_day"),
    [
        (1, "2023-01-01", "2023-01-31"),
        (2, "2023-02-01", "2023-02-28"),
        (14, "2024-02-01", "2024-02-29"),
        (24, "2024-12-01", "2024-12-31"),
    ],
)
def test_timestamps_are_sorted_iso_dates_within_the_month(
    months: dict[int, pd.DataFrame], month: int, first_day: str, last_day: str
) -> None:
    timestamp = months[month]["timestamp"]
    dates = pd.to_datetime(timestamp, format="%Y-%m-%d")

    assert timestamp.is_monotonic_increasing
    assert dates.min() >= pd.Timestamp(first_day)
    assert dates.max() <= pd.Timestamp(last_day)


def test_price_per_m2_repeats_yearly_up_to_the_trend(
    generator: ModuleType, months: dict[int, pd.DataFrame]
) -> None:
    level = _detrended_price_per_m2(generator, months)

    # Same calendar month, a year apart: only sampling noise and the small area effect
    # (smaller homes cost ~0.7 % more per m2 a year later) remain.
    np.testing.assert_allclose(level[12:], level[:12], rtol=0.035)


def test_price_per_m2_differs_between_summer_and_winter(
    generator: ModuleType, months: dict[int, pd.DataFrame]
) -> None:
    level = _detrended_price_per_m2(generator, months)
    winter = level[[0, 11, 12, 23]].mean()  # January and December of both years
    summer = level[[5, 6, 17, 18]].mean()  # June and July of both years

    # Summer brings large suburban houses, which cost less per m2 (documented: about -7 %).
    assert winter / summer > 1.05


def test_listing_mix_is_seasonal(months: dict[int, pd.DataFrame]) -> None:
    def garden(month: int) -> float:
        return float(months[month]["has_garden"].mean())

    def area(month: int) -> float:
        return float(months[month]["area_m2"].mean())

    for june, december in [(6, 12), (18, 24)]:
        assert garden(june) > 2 * garden(december)
        assert area(june) > 1.2 * area(december)
        assert months[june]["price"].mean() > 1.1 * months[december]["price"].mean()


def test_price_per_m2_rises_steadily(months: dict[int, pd.DataFrame]) -> None:
    ratio = _price_per_m2(months[24]) / _price_per_m2(months[1])

    # Documented: about +22 % (level 1.008 ** 23 = 1.20, plus the shrinking areas).
    assert 1.15 < ratio < 1.30
    for month in range(1, 13):
        assert _price_per_m2(months[month + 12]) > 1.05 * _price_per_m2(months[month])


def test_areas_shrink_slowly(months: dict[int, pd.DataFrame]) -> None:
    def log_area(month: int) -> float:
        return float(np.log(months[month]["area_m2"]).mean())

    shifts = [log_area(m + 12) - log_area(m) for m in range(1, 13)]

    # Documented: the log-area mean moves by -0.005 a month, so -0.06 a year.
    assert -0.09 < np.mean(shifts) < -0.03


def test_cli_writes_the_monthly_files_only(
    generator: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    monkeypatch.setattr(
        sys, "argv", ["generate.py", "--out", str(out), "--rows", "40", "--seed", str(SEED)]
    )

    generator.main()

    assert sorted(p.name for p in out.iterdir()) == [f"month_{m:02d}.csv" for m in range(1, 25)]
    written = pd.read_csv(out / "month_05.csv")
    expected = generator.generate_month(5, rows=40, seed=SEED)
    pd.testing.assert_frame_equal(written, expected, check_dtype=False)
