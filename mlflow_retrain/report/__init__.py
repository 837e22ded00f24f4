"""Drift report rendering: distribution figures and a self-contained HTML document.

Names are imported on first use, so code that only formats numbers does not load matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow_retrain._lazy import lazy_namespace

if TYPE_CHECKING:
    from mlflow_retrain.report.figures import plot_categorical_drift, plot_numeric_drift
    from mlflow_retrain.report.html import render_drift_html

_MODULES = {
    "plot_categorical_drift": "mlflow_retrain.report.figures",
    "plot_numeric_drift": "mlflow_retrain.report.figures",
    "render_drift_html": "mlflow_retrain.report.html",
}

__all__ = ["plot_categorical_drift", "plot_numeric_drift", "render_drift_html"]


__getattr__, __dir__ = lazy_namespace(__name__, _MODULES, globals())
