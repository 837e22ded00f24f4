"""Drift report rendering: distribution figures and a self-contained HTML document.

Names are imported on first use, so code that only formats numbers does not load matplotlib.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow_retrain.report.figures import plot_categorical_drift, plot_numeric_drift
    from mlflow_retrain.report.html import render_drift_html

_MODULES = {
    "plot_categorical_drift": "mlflow_retrain.report.figures",
    "plot_numeric_drift": "mlflow_retrain.report.figures",
    "render_drift_html": "mlflow_retrain.report.html",
}

__all__ = ["plot_categorical_drift", "plot_numeric_drift", "render_drift_html"]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
