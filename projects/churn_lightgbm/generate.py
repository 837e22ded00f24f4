"""Generate the churn example: eight monthly batches of subscribers, with a price rise.

Deterministic (seeded per month). What changes, so results can be checked against the truth:

- Months 1-4: the stable reference period.
- From month 5, a price rise and a competitor's offer: monthly charges rise by 12 (a
  covariate shift, the loop sees it as drift), and month-to-month subscribers on high
  charges now leave far more often (a concept shift, an interaction of contract and price
  that a model trained before month 5 has never seen).

Each row has a ``snapshot_date`` in its month (January to August 2025), the loop's time axis,
never a feature, and a ``customer_id``, which the example's ``drift.ignore`` leaves out of
both drift and training. The label is ``churned`` (1: cancelled within the month).

Writes ``month_01.csv`` ... ``month_08.csv``.
"""

from __future__ import annotations

import argparse
import calendar
from pathlib import Path

import numpy as np
import pandas as pd

ROWS_PER_MONTH = 2_500
MONTHS = 8
#: Month 1 is January of this year.
YEAR = 2025
CONTRACTS = ["month-to-month", "one-year", "two-year"]
PAYMENT = ["card", "bank-transfer", "invoice"]
PLANS = ["basic", "standard", "premium"]


def generate_month(month: int, *, rows: int = ROWS_PER_MONTH, seed: int = 11) -> pd.DataFrame:
    """Return one month's subscribers with the ``churned`` label."""
    rng = np.random.default_rng([seed, month])
    shifted = month >= 5
    contract = rng.choice(CONTRACTS, size=rows, p=[0.55, 0.25, 0.20])
    plan = rng.choice(PLANS, size=rows, p=[0.4, 0.4, 0.2])
    payment = rng.choice(PAYMENT, size=rows, p=[0.5, 0.3, 0.2])
    tenure = rng.gamma(2.0, 14.0, rows).clip(1, 96).round()
    base = np.select([plan == "basic", plan == "standard"], [30.0, 55.0], 85.0)
    monthly = (base + rng.normal(0, 8, rows) + (12.0 if shifted else 0.0)).clip(15).round(2)
    # What they paid so far, at the old prices: the rise shows as a gap to the monthly charge.
    total = (tenure * (monthly - (12.0 if shifted else 0.0)) * rng.normal(1, 0.05, rows)).round(2)
    support_calls = rng.poisson(0.8, rows)
    month_to_month = contract == "month-to-month"
    logit = (
        -2.2
        + 1.1 * month_to_month
        - 0.025 * tenure
        + 0.35 * support_calls
        + 0.4 * (payment == "invoice")
        + 0.01 * (monthly - 55)
    )
    if shifted:  # the competitor's offer: price-sensitive month-to-month subscribers leave
        logit += 2.0 * month_to_month * (monthly > 70)
    churned = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{month:02d}-{i:05d}" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": support_calls,
            "contract": contract,
            "plan": plan,
            "payment_method": payment,
            "churned": churned.astype(int),
        }
    )
    frame.loc[rng.random(rows) < 0.01, "total_charges"] = np.nan  # not yet billed
    days = rng.integers(1, calendar.monthrange(YEAR, month)[1] + 1, rows)
    frame.insert(0, "snapshot_date", [f"{YEAR:04d}-{month:02d}-{d:02d}" for d in days])
    return frame.sort_values("snapshot_date", kind="stable").reset_index(drop=True)


def main() -> None:
    """Write the monthly files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data", help="Output folder.")
    parser.add_argument("--rows", type=int, default=ROWS_PER_MONTH, help="Rows per month.")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for month in range(1, MONTHS + 1):
        generate_month(month, rows=args.rows, seed=args.seed).to_csv(
            out / f"month_{month:02d}.csv", index=False
        )
    print(f"Wrote {MONTHS} monthly batches of subscribers: {out}")


if __name__ == "__main__":
    main()
