"""Generate the house-prices example: 24 monthly batches of sales, seasonal and slowly drifting.

Deterministic (seeded per month with ``numpy.random.default_rng([seed, month])``). Month 1 is
January 2023, month 24 December 2024; ``timestamp`` is the sale date (ISO ``YYYY-MM-DD``),
uniform within the month, and rows are sorted by it. Columns: ``timestamp``, ``area_m2``,
``rooms``, ``age_years``, ``distance_center_km``, ``neighbourhood`` (7 levels),
``has_garden`` (boolean), ``energy_label`` (``A`` to ``G``) and the target ``price`` (EUR,
rounded to 100). Nothing is missing. What changes, so results can be checked against the
truth (``t = month - 1``):

- **Seasonal, repeating every 12 months: no reason to retrain.** Only the *mix of listings*
  follows the calendar; the price of a given house does not (the price law below has no
  seasonal term). With ``s = cos(2 pi (c - 6) / 12)`` for calendar month ``c`` (+1 in June,
  -1 in December) the share of family houses is ``0.35 + 0.20 s``: 15 % in December, 55 % in
  June. Family houses are large (median 140 m2 against 72 m2 for apartments), mostly have a
  garden (92 % against 6 %) and sit in the outer, newer neighbourhoods (``parkside``,
  ``riverside``, ``north_end``). So June against December, at the same trend level: mean
  ``area_m2`` and ``rooms`` +32 %, ``has_garden`` 19 % -> 53 %, mean ``distance_center_km``
  +36 %, mean ``age_years`` -6 %, a different ``neighbourhood`` mix, mean ``price`` +22 % and
  mean price per m2 -7 % (big suburban houses cost less per m2). Month ``m`` and ``m + 12``
  draw from the same seasonal law, so they differ only by the gradual drift. Drift tests fire
  on the season alone: with ``retrain.yaml``'s settings, one mid-winter or mid-summer month
  against the whole previous year drifts (area, rooms, distance, neighbourhood, garden),
  a spring or autumn month does not. A model trained on a full year has seen every season's
  mix, though, and gains nothing from retraining on it. (Errors in money still swing with
  the season, larger in summer, when the houses are larger.)
- **Gradual, steady from month 1: an old model gets measurably worse.** The price level per
  m2 of every house grows 0.8 % a month (the ``t log 1.008`` term: +10.0 % after 12 months,
  +20.1 % by month 24), a concept shift no feature explains. Areas shrink 0.5 % a month (the
  log-area mean moves by ``-0.005 t``: -10.9 % by month 24, for houses and apartments
  alike), a slow covariate shift that ``rooms`` follows. Mean price per m2 of the same
  calendar month rises about 10.8 % a year (10.0 % level, 0.7 % because smaller homes cost
  more per m2) and is about 22 % higher in month 24 than in month 1. With scikit-learn's
  default histogram gradient boosting, a model trained on months 1-12 scores an RMSE about
  45-50 % above that of a model trained on months 13-23 when both predict month 24.

The price law, fixed apart from the trend::

    log(price / area_m2) = log 4200 + premium[neighbourhood] - 0.02 distance_center_km
                           + 0.07 has_garden - 0.12 log(area_m2 / 90) - 0.0015 age_years
                           + 0.06 - 0.027 label_index + t log 1.008 + N(0, 0.10^2)

with ``label_index`` 0 (``A``) to 6 (``G``) and ``premium`` in :data:`NEIGHBOURHOODS`. Writes
``month_01.csv`` ... ``month_24.csv`` and nothing else.
"""

from __future__ import annotations

import argparse
import calendar
from pathlib import Path

import numpy as np
import pandas as pd

ROWS_PER_MONTH = 3_000
MONTHS = 24
START_YEAR = 2023
#: Monthly growth of the price level per m2 (the gradual concept shift).
PRICE_GROWTH = 0.008
#: Monthly change of the log-area mean (the gradual covariate shift).
AREA_DRIFT = -0.005
ENERGY_LABELS = ["A", "B", "C", "D", "E", "F", "G"]
#: Neighbourhood: (log price premium per m2, typical distance to the centre in km,
#: extra age in years, share among apartments, share among family houses).
NEIGHBOURHOODS = {
    "centrum": (0.35, 1.2, 35, 0.24, 0.02),
    "old_town": (0.25, 2.5, 45, 0.20, 0.06),
    "harbour": (0.10, 3.8, 5, 0.18, 0.04),
    "university": (0.00, 3.2, 15, 0.20, 0.06),
    "parkside": (0.15, 6.0, 20, 0.08, 0.32),
    "riverside": (0.05, 8.5, 10, 0.06, 0.28),
    "north_end": (-0.15, 11.0, 0, 0.04, 0.22),
}


def season(month: int) -> float:
    """Return the seasonal index of a batch: +1 in June, -1 in December, period 12 months."""
    calendar_month = (month - 1) % 12 + 1
    return float(np.cos(2 * np.pi * (calendar_month - 6) / 12))


def generate_month(
    month: int, *, rows: int = ROWS_PER_MONTH, seed: int = 7, trend: bool = True
) -> pd.DataFrame:
    """Return one month of house sales with the ``price`` target, sorted by ``timestamp``.

    Args:
        month: Batch number, 1 (January 2023) to 24; later months continue both effects.
        rows: Number of sales.
        seed: Base seed; the month's generator is ``default_rng([seed, month])``.
        trend: Include the gradual drift; without it only the season changes (the control
            scenario: nothing should be retrained).

    Returns:
        The sales, one row each, with the columns the module docstring lists.
    """
    rng = np.random.default_rng([seed, month])
    t = month - 1
    year, calendar_month = START_YEAR + t // 12, t % 12 + 1
    drift_t = t if trend else 0
    names = list(NEIGHBOURHOODS)
    premium, distance_typical, age_extra, share_flat, share_house = (
        np.array(column) for column in zip(*NEIGHBOURHOODS.values(), strict=True)
    )

    house = rng.random(rows) < 0.35 + 0.20 * season(month)
    flat_pick = rng.choice(len(names), size=rows, p=share_flat / share_flat.sum())
    house_pick = rng.choice(len(names), size=rows, p=share_house / share_house.sum())
    where = np.where(house, house_pick, flat_pick)
    log_area = np.where(
        house, rng.normal(np.log(140), 0.22, rows), rng.normal(np.log(72), 0.28, rows)
    )
    area = np.exp(log_area + AREA_DRIFT * drift_t).clip(18, 450).round(1)
    rooms = np.clip(np.round(area / 28 + rng.normal(0, 0.6, rows)), 1, 10).astype(np.int64)
    garden = rng.random(rows) < np.where(house, 0.92, 0.06)
    distance = (distance_typical[where] * rng.lognormal(0, 0.25, rows)).clip(0.1, 25).round(2)
    age = np.round(rng.gamma(2.0, 12.0, rows) + age_extra[where] * rng.random(rows))
    age = age.clip(0, 150).astype(np.int64)
    label_index = np.clip(np.round(age / 20 + rng.normal(0, 1.0, rows)), 0, 6).astype(np.int64)

    log_ppm2 = (
        np.log(4200)
        + premium[where]
        - 0.02 * distance
        + 0.07 * garden
        - 0.12 * np.log(area / 90)
        - 0.0015 * age
        + 0.06
        - 0.027 * label_index
        + drift_t * np.log1p(PRICE_GROWTH)
        + rng.normal(0, 0.10, rows)
    )
    price = (np.exp(log_ppm2) * area).round(-2)

    days = rng.integers(1, calendar.monthrange(year, calendar_month)[1] + 1, rows)
    timestamp = [f"{year:04d}-{calendar_month:02d}-{day:02d}" for day in days]
    frame = pd.DataFrame(
        {
            "timestamp": timestamp,
            "area_m2": area,
            "rooms": rooms,
            "age_years": age,
            "distance_center_km": distance,
            "neighbourhood": np.array(names)[where],
            "has_garden": garden,
            "energy_label": np.array(ENERGY_LABELS)[label_index],
            "price": price,
        }
    )
    return frame.sort_values("timestamp", kind="stable", ignore_index=True)


def main() -> None:
    """Write the monthly files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data", help="Output folder.")
    parser.add_argument("--rows", type=int, default=ROWS_PER_MONTH, help="Rows per month.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--trend",
        choices=["true", "false"],
        default="true",
        help="Include the gradual drift ('false': the season alone, a control scenario).",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for month in range(1, MONTHS + 1):
        frame = generate_month(month, rows=args.rows, seed=args.seed, trend=args.trend == "true")
        frame.to_csv(out / f"month_{month:02d}.csv", index=False)
    print(f"Wrote {MONTHS} monthly batches (month_01.csv ... month_{MONTHS}.csv): {out}")


if __name__ == "__main__":
    main()
