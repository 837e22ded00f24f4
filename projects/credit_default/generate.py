"""Generate the credit-default example: twelve monthly batches with known shifts.

Deterministic (seeded per month). What changes, so results can be checked against the truth:

- Months 1-4: the stable reference period.
- From month 5, a covariate shift (a downturn): incomes fall (log-mean -0.35), card
  utilisation rises (+0.15), more applicants are self-employed or unemployed, and a new
  employment type, ``gig``, appears. ``age``, ``credit_lines`` and ``region`` stay put.
- From month 8, a concept shift: late payments predict default much more strongly and card
  utilisation much less (lenders' new collection practice), so a model trained before month
  8 ranks applicants worse even where the inputs look familiar.

Each row has an ``application_date`` in its month (January to December 2025), and each file is
sorted by it: the loop's time axis (``timestamp`` in ``retrain.yaml``), never a feature.

Writes ``month_01.csv`` ... ``month_12.csv``, plus ``reference.csv`` (months 1-4) and
``current.csv`` (month 6) for the drift quick start.
"""

from __future__ import annotations

import argparse
import calendar
from pathlib import Path

import numpy as np
import pandas as pd

ROWS_PER_MONTH = 5_000
#: Month 1 is January of this year.
YEAR = 2025
EMPLOYMENT = ["salaried", "self-employed", "retired", "student", "unemployed", "gig"]
REGIONS = ["north", "south", "east", "west", "central"]


def generate_month(month: int, *, rows: int = ROWS_PER_MONTH, seed: int = 7) -> pd.DataFrame:
    """Return one month of applications with the ``default`` label."""
    rng = np.random.default_rng([seed, month])
    downturn = month >= 5
    concept = month >= 8
    age = rng.normal(42, 12, rows).clip(18, 90).round()
    income = np.exp(rng.normal(10.6 - (0.35 if downturn else 0.0), 0.45, rows)).round(-1)
    utilization = np.clip(rng.beta(2, 5, rows) + (0.15 if downturn else 0.0), 0, 1).round(4)
    credit_lines = rng.poisson(4, rows)
    late_payments = rng.poisson(0.6 + (0.2 if downturn else 0.0), rows)
    shares = (
        [0.48, 0.22, 0.10, 0.05, 0.07, 0.08] if downturn else [0.62, 0.15, 0.12, 0.07, 0.04, 0.0]
    )
    employment = rng.choice(EMPLOYMENT, size=rows, p=shares)
    region = rng.choice(REGIONS, size=rows, p=[0.25, 0.2, 0.2, 0.2, 0.15])
    debt_ratio = np.clip(rng.gamma(2.0, 0.12, rows), 0, 3).round(4)
    late_weight = 1.25 if concept else 0.35
    utilization_weight = 0.3 if concept else 2.2
    logit = (
        -2.4
        + utilization_weight * utilization
        + 1.4 * debt_ratio
        + late_weight * late_payments
        - 0.35 * (np.log(income) - 10.6)
        - 0.012 * (age - 42)
        + np.where(employment == "unemployed", 0.9, 0.0)
    )
    default = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "utilization": utilization,
            "debt_ratio": debt_ratio,
            "credit_lines": credit_lines,
            "late_payments": late_payments,
            "employment": employment,
            "region": region,
            "default": default.astype(int),
        }
    )
    # A few applicants leave income blank, as real forms do.
    frame.loc[rng.random(rows) < 0.01, "income"] = np.nan
    # Drawn last, so the columns above do not depend on it.
    days = rng.integers(1, calendar.monthrange(YEAR, month)[1] + 1, rows)
    frame.insert(0, "application_date", [f"{YEAR:04d}-{month:02d}-{d:02d}" for d in days])
    return frame.sort_values("application_date", kind="stable").reset_index(drop=True)


def main() -> None:
    """Write the monthly files and the quick-start reference/current pair."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data", help="Output folder.")
    parser.add_argument("--rows", type=int, default=ROWS_PER_MONTH, help="Rows per month.")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    months = {m: generate_month(m, rows=args.rows, seed=args.seed) for m in range(1, 13)}
    for month, frame in months.items():
        frame.to_csv(out / f"month_{month:02d}.csv", index=False)
    pd.concat([months[m] for m in range(1, 5)]).to_csv(out / "reference.csv", index=False)
    months[6].to_csv(out / "current.csv", index=False)
    print(f"Wrote 12 monthly batches, reference.csv (months 1-4), current.csv (month 6): {out}")


if __name__ == "__main__":
    main()
