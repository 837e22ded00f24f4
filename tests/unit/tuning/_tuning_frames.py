"""Small mixed-type tables for the tuning tests (not a test module)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def mixed_frame(n: int = 240, *, seed: int = 0, task: str = "classification") -> pd.DataFrame:
    """Numeric, pandas-3 text, category and boolean features with NaNs, an hourly timestamp
    (as text) and a target that depends on ``num_a`` and ``text``."""
    rng = np.random.default_rng(seed)
    num_a = rng.normal(size=n)
    num_b = rng.integers(0, 10, n).astype(float)
    text = rng.choice(np.array(["red", "green", "blue"], dtype=object), n)
    signal = num_a + 0.8 * (text == "red") + rng.normal(scale=0.5, size=n)
    frame = pd.DataFrame(
        {
            "num_a": num_a,
            "num_b": num_b,
            "text": pd.Series(text, dtype="str"),
            "cat": pd.Series(rng.choice(["x", "y"], n), dtype="category"),
            "flag": pd.Series(rng.choice([True, False], n), dtype=object),
            "ts": pd.date_range("2024-01-01", periods=n, freq="h").astype(str),
        }
    )
    for column in ("num_a", "num_b", "text", "cat", "flag"):
        frame.loc[frame.index[seed + 3 :: 11], column] = None
    if task == "classification":
        frame["y"] = np.where(signal > 0.4, "yes", "no")
    else:
        frame["y"] = 3.0 * signal + 10.0
    return frame


NUMERIC = ["num_a", "num_b"]
CATEGORICAL = ["text", "cat", "flag"]


def unseen_batch() -> pd.DataFrame:
    """Rows with unseen levels and a missing value in every column (plus an extra column)."""
    return pd.DataFrame(
        {
            "num_a": [np.nan, 0.5, 1e6],
            "num_b": [3.0, np.nan, -4.0],
            "text": pd.Series([None, "purple", "red"], dtype="str"),
            "cat": pd.Series(["z", None, "x"], dtype=object),
            "flag": pd.Series([None, "maybe", True], dtype=object),
            "unused": [1, 2, 3],
        }
    )
