"""The figures a reviewer opens in the MLflow UI read well: labels, legends, no collisions.

Each test calls a public ``plot_*`` function and looks at the figure it drew just before it
became PNG bytes (the ``drawn`` fixture wraps the module's PNG encoder): its axis labels,
legend entries, annotations, and the screen extents of its tick labels, which must never
overlap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from helpers.evidence import comparison_evidence, metric_comparison

from mlflow_retrain.comparison import ModelOutput
from mlflow_retrain.drift.profile import summarise_numeric
from mlflow_retrain.report import (
    figures,
    plot_comparison_curves,
    plot_differences,
    plot_numeric_drift,
    plot_optimization_history,
    plot_param_importances,
    plot_slice,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Panel:
    """What one axes of a drawn figure shows."""

    title: str
    xlabel: str
    ylabel: str
    xscale: str
    xticks: list[tuple[str, Any]]  # (text, screen extent) of each visible tick label
    yticks: list[tuple[str, Any]]
    legend: list[str]
    texts: list[tuple[str, tuple[float, float]]]  # annotations: text and data position
    lines: list[tuple[np.ndarray, np.ndarray, str]]  # x data, y data, line style
    points: int  # markers drawn by scatter


@dataclass
class Drawn:
    """A figure as it was about to be saved."""

    size: tuple[float, float]
    suptitle: str
    panels: list[Panel] = field(default_factory=list)


def _ticks(axis: Any, renderer: Any) -> list[tuple[str, Any]]:
    """The tick labels drawn on ``axis`` (the locator's ticks outside the view are not)."""
    low, high = sorted(axis.get_view_interval())
    index = 0 if axis.axis_name == "x" else 1
    return [
        (label.get_text(), label.get_window_extent(renderer))
        for label in axis.get_ticklabels()
        if label.get_visible()
        and label.get_text()
        and low - 1e-9 * abs(high - low) <= label.get_position()[index] <= high + 1e-9 * abs(high)
    ]


def _snapshot(fig: Any) -> Drawn:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    drawn = Drawn(
        size=tuple(fig.get_size_inches()),
        suptitle=fig._suptitle.get_text() if fig._suptitle else "",
    )
    for axes in fig.axes:
        if not axes.get_visible() or axes.get_label() == "<colorbar>":
            continue
        legend = axes.get_legend()
        drawn.panels.append(
            Panel(
                title=axes.get_title() or axes.get_title(loc="left"),
                xlabel=axes.get_xlabel(),
                ylabel=axes.get_ylabel(),
                xscale=axes.get_xscale(),
                xticks=_ticks(axes.xaxis, renderer),
                yticks=_ticks(axes.yaxis, renderer),
                legend=[t.get_text() for t in legend.get_texts()] if legend else [],
                texts=[
                    (t.get_text(), tuple(getattr(t, "xy", t.get_position()))) for t in axes.texts
                ],
                lines=[
                    (
                        np.asarray(line.get_xdata(), dtype=float),
                        np.asarray(line.get_ydata(), dtype=float),
                        line.get_linestyle(),
                    )
                    for line in axes.get_lines()
                ],
                points=sum(len(c.get_offsets()) for c in axes.collections),
            )
        )
    return drawn


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Drawn]:
    """The figures drawn during the test, in order."""
    seen: list[Drawn] = []
    encode = figures._to_png

    def capture(fig: Any) -> bytes:
        seen.append(_snapshot(fig))
        return encode(fig)

    monkeypatch.setattr(figures, "_to_png", capture)
    return seen


def _overlapping(ticks: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    return [
        (a, b)
        for i, (a, box_a) in enumerate(ticks)
        for b, box_b in ticks[i + 1 :]
        if box_a.overlaps(box_b)
    ]


# --- tuning ------------------------------------------------------------------------------------


def _study(direction: str = "maximize", *, n_trials: int = 30) -> optuna.Study:
    """A study shaped like ``retrain``'s: two estimators, log and categorical parameters,
    pruned trials (one fold reported) and a failed one."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(
        direction=direction,
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4),
    )
    sign = 1.0 if direction == "maximize" else -1.0

    def objective(trial: optuna.Trial) -> float:
        estimator = trial.suggest_categorical("estimator", ["hist_gradient_boosting", "linear"])
        if estimator == "linear":
            c = trial.suggest_float("linear__C", 1e-4, 1e3, log=True)
            base = 0.65 - 0.01 * abs(math.log10(c))
        else:
            rate = trial.suggest_float("hist_gradient_boosting__learning_rate", 0.01, 0.3,
                                       log=True)  # fmt: skip
            trial.suggest_int("hist_gradient_boosting__max_leaf_nodes", 8, 128, log=True)
            trial.suggest_int("hist_gradient_boosting__max_iter", 50, 400)
            trial.suggest_float("hist_gradient_boosting__l2_regularization", 1e-6, 10.0,
                                log=True)  # fmt: skip
            trial.suggest_categorical("hist_gradient_boosting__max_depth", [None, 3, 5, 8, 12])
            base = 0.7 - 0.05 * abs(math.log10(rate) + 1)
        if trial.number == 3:
            raise ValueError("the fit did not converge")
        score = 0.0
        for fold in range(3):
            score = sign * (base + 0.002 * ((trial.number * 7 + fold) % 5))
            trial.report(score, fold)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return score

    study.optimize(objective, n_trials=n_trials, catch=(ValueError,))
    return study


def _states(study: optuna.Study) -> dict[str, int]:
    trials = study.get_trials()
    return {state.name: sum(t.state == state for t in trials) for state in
            (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
             optuna.trial.TrialState.FAIL)}  # fmt: skip


def test_the_history_names_the_cv_metric_and_shows_pruned_and_failed_trials(
    drawn: list[Drawn],
) -> None:
    study = _study()
    counts = _states(study)
    assert counts["PRUNED"] > 0
    assert counts["FAIL"] == 1

    png = plot_optimization_history(study.get_trials(), metric="roc_auc", direction="maximize")

    assert png is not None
    assert png.startswith(PNG_SIGNATURE)
    (panel,) = drawn[0].panels
    assert panel.ylabel == "CV roc_auc"
    assert panel.legend == [
        f"complete: mean CV roc_auc ({counts['COMPLETE']})",
        f"pruned: last fold's roc_auc ({counts['PRUNED']})",
        "best so far",
        "failed (1)",
    ]
    # Every completed and pruned trial is drawn, plus the best trial's star and the failure.
    assert panel.points == counts["COMPLETE"] + counts["PRUNED"] + 2
    best = study.best_trial
    assert (f"best: trial {best.number}, {best.value:.4g}", (best.number, best.value)) in (
        panel.texts
    )
    (_, y, _), *_ = panel.lines
    assert y.max() == pytest.approx(best.value)  # the best-so-far line ends at the best
    assert np.all(np.diff(y) >= 0)  # and never goes down when higher is better


def test_the_history_best_so_far_goes_down_when_lower_is_better(drawn: list[Drawn]) -> None:
    study = _study("minimize")

    plot_optimization_history(study.get_trials(), metric="rmse", direction="minimize")

    (panel,) = drawn[0].panels
    assert panel.ylabel == "CV rmse"
    (_, y, _), *_ = panel.lines
    assert np.all(np.diff(y) <= 0)
    assert y.min() == pytest.approx(study.best_value)


def test_the_history_without_any_score_is_not_drawn() -> None:
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))

    assert plot_optimization_history(study.get_trials(), metric="rmse",
                                     direction="minimize") is None  # fmt: skip


def test_the_slice_has_one_readable_panel_per_parameter(drawn: list[Drawn]) -> None:
    study = _study()
    names = {name for t in study.get_trials() for name in t.params}

    png = plot_slice(study.get_trials(), metric="roc_auc", direction="maximize")

    assert png is not None
    figure = drawn[0]
    assert len(figure.panels) == len(names) == 7
    assert figure.size[0] >= 2 * 4.0  # two panels of at least four inches a row
    for panel in figure.panels:
        assert not _overlapping(panel.xticks), panel.title
        assert len(panel.xticks) <= 6, panel.title
    by_title = {p.title.split(" (")[0]: p for p in figure.panels}
    for logged in ("C", "learning_rate", "l2_regularization", "max_leaf_nodes"):
        assert by_title[logged].xscale == "log", logged
    assert by_title["max_iter"].xscale == "linear"
    assert [t for t, _ in by_title["max_depth"].xticks] == ["none", "3", "5", "8", "12"]
    assert [t for t, _ in by_title["estimator"].xticks] == ["hist_gradient_boosting", "linear"]
    assert by_title["learning_rate"].title == "learning_rate (hist_gradient_boosting)"
    assert figure.panels[0].ylabel == "CV roc_auc"


def test_the_importances_show_every_name_in_full(drawn: list[Drawn]) -> None:
    longest = "hist_gradient_boosting__min_samples_leaf_and_then_some"
    importances = {longest: 0.6, "linear__C": 0.3, "estimator": 0.1}

    png = plot_param_importances(importances, metric="roc_auc", method="PED-ANOVA", n_trials=9)

    assert png is not None
    (panel,) = drawn[0].panels
    assert [t for t, _ in panel.yticks] == [longest, "linear__C", "estimator"]
    width = drawn[0].size[0] * figures.DPI
    for _, box in panel.yticks:
        assert box.x0 >= 0  # inside the figure: not clipped
        assert box.x1 <= width
    assert panel.xlabel == "importance for CV roc_auc (shares sum to 1)"
    assert "PED-ANOVA, 9 complete trials" in panel.title


def test_no_importances_draw_nothing() -> None:
    assert plot_param_importances({}, metric="rmse", method="PED-ANOVA", n_trials=0) is None


# --- comparison --------------------------------------------------------------------------------


def test_the_interval_figure_says_what_the_text_says(drawn: list[Drawn]) -> None:
    row = metric_comparison(
        "roc_auc",
        test="bootstrap",
        difference=0.02,
        ci_low=0.01,
        ci_high=0.03,
        p_value=0.01,
        p_value_adjusted=0.02,
    )
    evidence = comparison_evidence(row, decision="inconclusive", reason="r", n=1234, alpha=0.05)

    plot_differences(evidence)

    (panel,) = drawn[0].panels
    assert panel.xlabel == (
        "challenger \u2212 champion, with its 90% two-sided interval (each end a one-sided 95% "
        "bound)"
    )
    assert "alpha" not in panel.xlabel
    assert "0.02 [0.01, 0.03]" in [text for text, _ in panel.texts]


@pytest.mark.parametrize(
    ("name", "role", "threshold", "line_at", "label"),
    [
        ("roc_auc", "primary", 0.005, 0.005, "min. improvement 0.005"),
        ("log_loss", "primary", 0.005, -0.005, "min. improvement 0.005"),  # lower is better
        ("accuracy", "guardrail", 0.01, -0.01, "guardrail margin 0.01"),
        ("brier", "guardrail", 0.01, 0.01, "guardrail margin 0.01"),  # lower is better
    ],
)
def test_the_interval_figure_draws_each_rule_where_it_is_judged(
    drawn: list[Drawn], name: str, role: str, threshold: float, line_at: float, label: str
) -> None:
    row = metric_comparison(
        name,
        role=role,
        test="bootstrap",
        difference=0.002,
        ci_low=-0.004,
        ci_high=0.008,
        p_value=0.01,
        p_value_adjusted=0.02,
        threshold=threshold,
        passed=False,
    )
    evidence = comparison_evidence(row, decision="inconclusive", reason="r", n=1234)

    plot_differences(evidence)

    (panel,) = drawn[0].panels
    dashed = [x for x, _, style in panel.lines if style == "--"]
    assert len(dashed) == 1
    assert dashed[0] == pytest.approx([line_at, line_at])
    assert (label, (pytest.approx(line_at), pytest.approx(0.28))) in panel.texts


def test_the_roc_legend_gives_each_models_auc(drawn: list[Drawn]) -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = np.clip(y * 0.4 + rng.uniform(0, 0.6, 400), 0, 1)
    weak = rng.uniform(0, 1, 400)
    outputs = {
        name: ModelOutput(predictions=(p > 0.5).astype(int), scores=np.c_[1 - p, p],
                          classes=np.array([0, 1]))
        for name, p in (("challenger v2", good), ("champion v1", weak))
    }  # fmt: skip

    plot_comparison_curves(y, outputs, task="classification")

    (panel,) = drawn[0].panels
    assert panel.legend == [
        f"challenger v2 (AUC {roc_auc_score(y, good):.4g})",
        f"champion v1 (AUC {roc_auc_score(y, weak):.4g})",
        "chance",
    ]


def test_a_one_class_comparison_draws_no_roc() -> None:
    p = np.linspace(0, 1, 10)
    output = ModelOutput(predictions=np.ones(10), scores=np.c_[1 - p, p], classes=np.array([0, 1]))

    assert plot_comparison_curves(np.ones(10), {"m": output}, task="classification") is None


# --- drift ---------------------------------------------------------------------------------------


def _incomes(rng: np.random.Generator, shift: float) -> np.ndarray:
    # As in the credit example: log-normal, 10k to 150k, six-digit tick values.
    return np.exp(rng.normal(10.6 - shift, 0.45, 2000)).round(-1)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(_incomes, id="incomes"),
        pytest.param(lambda rng, shift: rng.normal(2.5e6 * (1 - shift), 1e6, 2000), id="millions"),
        pytest.param(
            lambda rng, shift: rng.normal(0.3015 + shift / 1e3, 2e-4, 2000), id="narrow-decimals"
        ),
        pytest.param(
            lambda rng, shift: rng.normal(-3e-5 * (1 + shift), 1e-5, 2000), id="tiny-negative"
        ),
    ],
)
def test_drift_figure_ticks_never_collide(
    drawn: list[Drawn], values: Callable[[np.random.Generator, float], np.ndarray]
) -> None:
    rng = np.random.default_rng(5)
    reference = summarise_numeric(pd.Series(values(rng, 0.0)), max_points=2048)

    plot_numeric_drift("income", reference, values(rng, 0.35))

    histogram, cdf = drawn[0].panels
    for panel in (histogram, cdf):
        labels = [text for text, _ in panel.xticks]
        assert not _overlapping(panel.xticks), labels
        assert len(set(labels)) == len(labels), labels  # compact, yet distinct
        assert all(len(text) <= 8 for text in labels), labels
    assert len(cdf.xticks) <= 5


def test_large_tick_values_read_compactly(drawn: list[Drawn]) -> None:
    rng = np.random.default_rng(6)
    reference = summarise_numeric(pd.Series(_incomes(rng, 0.0)), max_points=2048)

    plot_numeric_drift("income", reference, _incomes(rng, 0.35))

    labels = [text for panel in drawn[0].panels for text, _ in panel.xticks]
    assert labels
    assert all(text.endswith("k") for text in labels), labels
