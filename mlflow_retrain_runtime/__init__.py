"""What a model logged by mlflow-retrain needs at serving time, and nothing more.

The built-in pipelines (and the declarative ``tuning.estimators`` classes) convert their
columns with the two functions here. A fitted pipeline refers to them by this module's name,
and every logged model ships this module in its ``code_paths``. A model therefore loads
wherever MLflow, scikit-learn and pandas are installed: serving needs neither mlflow-retrain
nor Optuna, boto3 or click. Only numpy and pandas are imported here; keep it that way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["categories_as_text", "numbers_as_float"]


def numbers_as_float(X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Coerce columns to float64; values that are not numbers (``pd.NA``, ``"n/a"``) → NaN.

    Module-level so fitted pipelines pickle.
    """
    frame = pd.DataFrame(X)
    columns = [pd.to_numeric(frame[c], errors="coerce") for c in frame.columns]
    if not columns:
        return np.empty((len(frame), 0), dtype=float)
    return np.column_stack([c.to_numpy(dtype=float, na_value=np.nan) for c in columns])


def categories_as_text(X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Turn categorical columns into text labels with ``NaN`` for every missing marker.

    Whole-number floats lose their ``.0`` (``3.0`` → ``"3"``) so a column read as integers
    in training and as floats (because of a missing value) at predict time maps to the same
    levels. Module-level so fitted pipelines pickle.
    """
    frame = pd.DataFrame(X)
    out = np.empty(frame.shape, dtype=object)
    for j, column in enumerate(frame.columns):
        # Label each distinct value once: fast on large columns of few levels.
        codes, uniques = pd.factorize(frame[column], use_na_sentinel=True)
        labels = np.array([_label(v) for v in uniques] + [np.nan], dtype=object)
        out[:, j] = labels[codes]  # code -1 (missing) picks the trailing NaN
    return out


def _label(value: Any) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)
