"""What a reviewer reads: figures (drift, comparison, tuning), HTML reports, descriptions.

Names are imported on first use, so code that only formats numbers does not load matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow_retrain._lazy import lazy_namespace

if TYPE_CHECKING:
    from mlflow_retrain.report.figures import (
        plot_categorical_drift,
        plot_comparison_curves,
        plot_confidence_sequence,
        plot_differences,
        plot_numeric_drift,
        plot_optimization_history,
        plot_param_importances,
        plot_slice,
    )
    from mlflow_retrain.report.html import render_drift_html, render_evidence_html

_MODULES = {
    "plot_categorical_drift": "mlflow_retrain.report.figures",
    "plot_comparison_curves": "mlflow_retrain.report.figures",
    "plot_confidence_sequence": "mlflow_retrain.report.figures",
    "plot_differences": "mlflow_retrain.report.figures",
    "plot_numeric_drift": "mlflow_retrain.report.figures",
    "plot_optimization_history": "mlflow_retrain.report.figures",
    "plot_param_importances": "mlflow_retrain.report.figures",
    "plot_slice": "mlflow_retrain.report.figures",
    "render_drift_html": "mlflow_retrain.report.html",
    "render_evidence_html": "mlflow_retrain.report.html",
}

__all__ = [
    "plot_categorical_drift",
    "plot_comparison_curves",
    "plot_confidence_sequence",
    "plot_differences",
    "plot_numeric_drift",
    "plot_optimization_history",
    "plot_param_importances",
    "plot_slice",
    "render_drift_html",
    "render_evidence_html",
]


__getattr__, __dir__ = lazy_namespace(__name__, _MODULES, globals())
