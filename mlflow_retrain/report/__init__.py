"""Drift report rendering: distribution figures and a self-contained HTML document."""

from __future__ import annotations

from mlflow_retrain.report.figures import plot_categorical_drift, plot_numeric_drift
from mlflow_retrain.report.html import render_drift_html

__all__ = ["plot_categorical_drift", "plot_numeric_drift", "render_drift_html"]
