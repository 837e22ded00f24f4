"""Figures as PNG bytes: drift distributions, the comparison's evidence, and Optuna tuning.

The figures are drawn on a bare :class:`matplotlib.figure.Figure` with its own Agg canvas, so
they never touch pyplot's global state or the process-wide backend: they are safe to draw from
several threads and next to code (or a notebook) that set another backend. Drift figures are
8 x 4.5 inches at 100 dpi; the others grow with what they show (rows of metrics, panels of
hyperparameters). The output is deterministic for the same input.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import (
    Formatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    PercentFormatter,
)

from mlflow_retrain.comparison import Evidence, MetricComparison, ModelOutput
from mlflow_retrain.drift.profile import OTHER_LEVEL, NumericSummary
from mlflow_retrain.drift.report import FeatureDrift
from mlflow_retrain.policy import GREATER_IS_BETTER
from mlflow_retrain.report.html import (
    difference_text,
    format_number,
    format_pvalue,
    interval_text,
)

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

__all__ = [
    "plot_categorical_drift",
    "plot_comparison_curves",
    "plot_confidence_sequence",
    "plot_differences",
    "plot_numeric_drift",
    "plot_optimization_history",
    "plot_param_importances",
    "plot_slice",
]

logger = logging.getLogger(__name__)

FIGSIZE = (8.0, 4.5)
DPI = 100
#: Histogram bins for continuous columns.
N_BINS = 40
#: Each distribution's central range kept on the x axis (percent), so outliers don't squash it.
CLIP_PERCENTILES = (0.5, 99.5)
#: Longest column or level name drawn in full; longer ones are shortened with an ellipsis.
MAX_LABEL = 40

_SUBTITLE_WIDTH = 90
#: Tick steps a reader can add up (0.25, 0.5, 1, 2, 5, ...).
_NICE_STEPS = (1, 2, 2.5, 5, 10)
_SEPARATOR = "  \u00b7  "

REFERENCE_COLOR = "#4c72b0"
CURRENT_COLOR = "#dd8452"
PASS_COLOR = "#2e7d32"
FAIL_COLOR = "#c62828"
PRUNED_COLOR = "#8c8c8c"
# PNG metadata is fixed so the bytes depend on the data only.
_PNG_METADATA = {"Software": "mlflow-retrain"}


def plot_numeric_drift(
    name: str,
    reference: NumericSummary,
    current: np.ndarray,
    *,
    feature: FeatureDrift | None = None,
) -> bytes:
    """Plot a numeric column's reference and current distributions.

    The left panel overlays the two density histograms on common bins; the right panel shows
    the two empirical CDFs, with the largest vertical gap (the KS statistic) marked. The x axis
    spans the union of each distribution's 0.5-99.5 percentile range, so a few outliers do not
    squash the plot; densities stay relative to all values, so mass outside the range simply
    falls out of view. Integer-valued columns with a small range get one bin per integer.

    Args:
        name: Column name (drawn verbatim; mathtext is not interpreted).
        reference: The reference summary; its weighted sketch (``values``, ``weights``)
            stands in for the reference values.
        current: Current values; missing and non-finite values are ignored.
        feature: The column's drift result, to print the test statistic, the adjusted
            p-value and the effect size.

    Returns:
        The figure as PNG bytes.
    """
    ref_values = np.asarray(reference.values, dtype=float)
    ref_weights = np.asarray(reference.weights, dtype=float)
    keep = np.isfinite(ref_values) & np.isfinite(ref_weights) & (ref_weights > 0)
    ref_values, ref_weights = ref_values[keep], ref_weights[keep]
    cur = np.asarray(current, dtype=float).ravel()
    cur = np.sort(cur[np.isfinite(cur)])

    fig = _new_figure()
    grid = fig.add_gridspec(1, 2, width_ratios=(3, 2))
    hist_ax = fig.add_subplot(grid[0, 0])
    cdf_ax = fig.add_subplot(grid[0, 1])
    _title(fig, name, _numeric_subtitle(feature))

    if ref_values.size == 0 and cur.size == 0:
        for ax in (hist_ax, cdf_ax):
            _no_data(ax)
        return _to_png(fig)

    edges = _bin_edges(ref_values, ref_weights, cur)
    low, high = float(edges[0]), float(edges[-1])
    widths = np.diff(edges)
    if ref_values.size:
        ref_hist, _ = np.histogram(ref_values, edges, weights=ref_weights)
        ref_density = ref_hist / (ref_weights.sum() * widths)
        _stairs(
            hist_ax,
            ref_density,
            edges,
            REFERENCE_COLOR,
            f"reference (n={_count(ref_weights.sum())})",
        )
    if cur.size:
        cur_hist, _ = np.histogram(cur, edges)
        cur_density = cur_hist / (cur.size * widths)
        _stairs(hist_ax, cur_density, edges, CURRENT_COLOR, f"current (n={_count(cur.size)})")
    hist_ax.set_xlim(low, high)
    # Headroom above the tallest bar keeps the legend off the data.
    hist_ax.set_ylim(0, max(hist_ax.get_ylim()[1], 1e-12) * 1.2)
    hist_ax.set_ylabel("density")
    hist_ax.set_xlabel("value")
    hist_ax.legend(loc="upper right", fontsize=8, frameon=False)

    ref_cdf = np.cumsum(ref_weights) / ref_weights.sum() if ref_values.size else ref_weights
    cur_cdf = np.arange(1, cur.size + 1) / cur.size if cur.size else cur
    if ref_values.size:
        _ecdf(cdf_ax, ref_values, ref_cdf, low, high, REFERENCE_COLOR, "reference")
    if cur.size:
        _ecdf(cdf_ax, cur, cur_cdf, low, high, CURRENT_COLOR, "current")
    if ref_values.size and cur.size:
        _mark_ks_gap(cdf_ax, ref_values, ref_cdf, cur, cur_cdf)
    cdf_ax.set_xlim(low, high)
    cdf_ax.set_ylim(-0.02, 1.02)
    cdf_ax.set_xlabel("value")
    cdf_ax.set_ylabel("cumulative share")
    cdf_ax.grid(True, alpha=0.3)
    # The CDF panel is narrow: few ticks, in a compact format (45k, 1.2M), so labels of
    # large values never run into each other.
    hist_ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=_NICE_STEPS))
    cdf_ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=_NICE_STEPS))
    for ax in (hist_ax, cdf_ax):
        ax.xaxis.set_major_formatter(_CompactFormatter())
        ax.tick_params(labelsize=8)
    return _to_png(fig)


def plot_categorical_drift(
    name: str,
    reference_counts: Mapping[str, int],
    current_counts: Mapping[str, int],
    *,
    feature: FeatureDrift | None = None,
    top: int = 15,
) -> bytes:
    """Plot a categorical column's level shares in the reference and the current batch.

    A grouped horizontal bar chart of the ``top`` levels by mean share (the average of the
    two datasets' shares, so the larger dataset does not dominate), the remaining levels
    pooled into one ``(other: N levels)`` bar, which also holds the ``__other__`` bin of a
    profile that capped its levels. Levels absent from the reference are labelled
    ``(unseen)`` and their bar is hatched. When the reference pooled rare levels under
    ``__other__``, current levels it does not list are counted in that bin, as the drift test
    does, since they may be among the pooled ones.

    Args:
        name: Column name (drawn verbatim; mathtext is not interpreted).
        reference_counts: Count per level in the reference (may include ``__other__``).
        current_counts: Count per level in the current batch.
        feature: The column's drift result, to print the test statistic, the adjusted
            p-value and the effect size.
        top: Levels shown individually (at least 1).

    Returns:
        The figure as PNG bytes.
    """
    top = max(1, int(top))
    ref = {str(k): float(v) for k, v in reference_counts.items() if v > 0}
    cur = {str(k): float(v) for k, v in current_counts.items() if v > 0}
    pooled_reference = OTHER_LEVEL in ref
    if pooled_reference:
        folded = sum(v for k, v in cur.items() if k not in ref)
        cur = {k: v for k, v in cur.items() if k in ref}
        if folded:
            cur[OTHER_LEVEL] = cur.get(OTHER_LEVEL, 0.0) + folded
    ref_total, cur_total = sum(ref.values()), sum(cur.values())

    fig = _new_figure()
    ax = fig.add_subplot()
    unseen = [k for k in cur if k not in ref]
    _title(fig, name, _categorical_subtitle(feature, unseen, cur, cur_total))
    if ref_total == 0 and cur_total == 0:
        _no_data(ax)
        return _to_png(fig)

    def share(counts: Mapping[str, float], total: float, level: str) -> float:
        return counts.get(level, 0.0) / total if total else 0.0

    levels = sorted(
        (k for k in {**ref, **cur} if k != OTHER_LEVEL),
        key=lambda k: (-(share(ref, ref_total, k) + share(cur, cur_total, k)), k),
    )
    shown, rest = levels[:top], levels[top:]
    labels = [_shorten(k) + (" (unseen)" if k in unseen else "") for k in shown]
    ref_shares = [share(ref, ref_total, k) for k in shown]
    cur_shares = [share(cur, cur_total, k) for k in shown]
    hatched = [k in unseen for k in shown]
    if rest or OTHER_LEVEL in ref or OTHER_LEVEL in cur:
        pooled = [*rest, OTHER_LEVEL]
        pooled_text = " + pooled" if OTHER_LEVEL in ref or OTHER_LEVEL in cur else ""
        named = f"{len(rest)} level{'s' if len(rest) != 1 else ''}" if rest else ""
        labels.append(f"(other: {named}{pooled_text})".replace(": + ", ": "))
        ref_shares.append(sum(share(ref, ref_total, k) for k in pooled))
        cur_shares.append(sum(share(cur, cur_total, k) for k in pooled))
        hatched.append(False)

    positions = np.arange(len(labels), dtype=float)
    height = 0.4
    ax.barh(
        positions - height / 2,
        ref_shares,
        height,
        color=REFERENCE_COLOR,
        label=f"reference (n={_count(ref_total)})",
    )
    bars = ax.barh(
        positions + height / 2,
        cur_shares,
        height,
        color=CURRENT_COLOR,
        label=f"current (n={_count(cur_total)})",
    )
    for bar, hatch in zip(bars, hatched, strict=True):
        if hatch:
            bar.set_hatch("///")
            bar.set_edgecolor("#7a3b12")
    fontsize = 8 if len(labels) <= 12 else 7
    ax.set_yticks(positions, labels=labels, fontsize=fontsize, parse_math=False)
    for tick, hatch in zip(ax.get_yticklabels(), hatched, strict=True):
        if hatch:
            tick.set_color("#b22222")
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_xlim(0, max(max(ref_shares, default=0.0), max(cur_shares, default=0.0), 0.01) * 1.08)
    ax.set_xlabel("share of non-missing values")
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    # Above the axes, where no bar can be hidden by it.
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=8, frameon=False)
    return _to_png(fig)


def _new_figure() -> Figure:
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _to_png(fig: Figure) -> bytes:
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata=_PNG_METADATA)
    # A bare Figure holds no pyplot reference; clearing it frees the artists at once.
    fig.clear()
    return buffer.getvalue()


def _title(fig: Figure, name: str, parts: list[str]) -> None:
    lines = [_shorten(name, MAX_LABEL + 20)]
    for part in parts:
        # Wrap the statistics so the subtitle never runs past the figure's edges.
        if len(lines) > 1 and len(lines[-1]) + len(part) + 5 <= _SUBTITLE_WIDTH:
            lines[-1] += _SEPARATOR + part
        else:
            lines.append(part)
    fig.suptitle("\n".join(lines), fontsize=10, parse_math=False)


def _shorten(text: str, limit: int = MAX_LABEL) -> str:
    text = " ".join(str(text).split()) or repr(str(text))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _count(n: float) -> str:
    return f"{round(n):,}"


def _compact(value: float, digits: int = 3) -> str:
    """``value`` in at most ``digits`` significant digits: ``0.25``, ``45k``, ``1.2M``."""
    magnitude = abs(value)
    if magnitude < 1e-12:
        return "0"
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    if magnitude < 1e-3:
        mantissa, _, exponent = f"{value:.{digits - 1}e}".partition("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.{digits}g}"


class _CompactFormatter(Formatter):
    """Tick labels in a compact format (``45k``, ``1.2M``, ``1e-4``), with as few significant
    digits (three or more) as keep every tick's label distinct."""

    def __init__(self) -> None:
        self._digits = 3

    def set_locs(self, locs: Any) -> None:
        super().set_locs(locs)
        values = [float(v) for v in locs]
        for digits in range(3, 9):
            labels = [_compact(v, digits) for v in values]
            if len(set(labels)) == len(labels):
                break
        self._digits = digits

    def __call__(self, x: float, pos: int | None = None) -> str:
        return _compact(x, self._digits)


def _verdict(feature: FeatureDrift) -> str:
    if feature.drifted:
        notes = [
            note
            for note, flag in (
                ("missing rate", feature.missing_drifted and not feature.distribution_drifted),
                ("critical", feature.critical),
            )
            if flag
        ]
        return "DRIFTED" + (f" ({', '.join(notes)})" if notes else "")
    if feature.inconclusive_reason is not None:
        return "inconclusive"
    return "no drift"


def _numeric_subtitle(feature: FeatureDrift | None) -> list[str]:
    if feature is None:
        return []
    return [
        f"KS D = {format_number(feature.statistic)}",
        f"adj. p = {format_pvalue(feature.p_value_adjusted)}",
        f"{feature.effect_metric} = {format_number(feature.effect_size)}",
        _verdict(feature),
    ]


def _categorical_subtitle(
    feature: FeatureDrift | None,
    unseen: list[str],
    current: Mapping[str, float],
    current_total: float,
) -> list[str]:
    parts: list[str] = []
    if feature is not None:
        parts += [
            f"\u03c7\u00b2 = {format_number(feature.statistic)}",
            f"adj. p = {format_pvalue(feature.p_value_adjusted)}",
            f"{feature.effect_metric} = {format_number(feature.effect_size)}",
        ]
    if unseen and current_total:
        unseen_share = sum(current[k] for k in unseen) / current_total
        plural = "s" if len(unseen) != 1 else ""
        parts.append(f"{len(unseen)} unseen level{plural} ({unseen_share:.1%} of current)")
    if feature is not None:
        parts.append(_verdict(feature))
    return parts


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Inverse of the weighted empirical CDF (``values`` sorted) at probabilities ``q``."""
    cdf = np.cumsum(weights) / weights.sum()
    index = np.searchsorted(cdf, q, side="left")
    return values[np.minimum(index, values.size - 1)]


def _bin_edges(ref_values: np.ndarray, ref_weights: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Common bin edges over the union of both distributions' central ranges."""
    q = np.asarray(CLIP_PERCENTILES) / 100.0
    ranges = []
    if ref_values.size:
        ranges.append(_weighted_quantiles(ref_values, ref_weights, q))
    if cur.size:
        ranges.append(_weighted_quantiles(cur, np.ones_like(cur), q))
    low = float(min(r[0] for r in ranges))
    high = float(max(r[1] for r in ranges))
    everything = np.concatenate([ref_values, cur])
    integral = bool(np.all(everything == np.round(everything)))
    if integral and high - low <= N_BINS:
        # One bin per integer, centred on it: a count column would otherwise get empty bins.
        first, last = math.floor(low), math.ceil(high)
        # At least five bins, so a (nearly) constant column reads as a spike, not a block.
        spare = max(0, 4 - (last - first))
        first, last = first - spare // 2, last + spare - spare // 2
        return np.arange(first - 0.5, last + 1.0, 1.0)
    if high <= low:
        # A constant column: give the single bar some width around the value.
        pad = max(abs(low) * 0.05, 0.5)
        low, high = low - pad, high + pad
    return np.linspace(low, high, N_BINS + 1)


def _stairs(ax: Axes, density: np.ndarray, edges: np.ndarray, color: str, label: str) -> None:
    ax.stairs(density, edges, fill=True, color=color, alpha=0.3)
    ax.stairs(density, edges, color=color, linewidth=1.4, label=label)


def _ecdf(
    ax: Axes,
    points: np.ndarray,
    cdf: np.ndarray,
    low: float,
    high: float,
    color: str,
    label: str,
) -> None:
    # Extend the steps to the panel edges so both curves start at 0 and end at 1 on screen.
    x = np.r_[min(low, points[0]), points, max(high, points[-1])]
    y = np.r_[0.0, cdf, 1.0]
    ax.step(x, y, where="post", color=color, linewidth=1.4, label=label)


def _mark_ks_gap(
    ax: Axes,
    ref_values: np.ndarray,
    ref_cdf: np.ndarray,
    cur: np.ndarray,
    cur_cdf: np.ndarray,
) -> None:
    """Draw the largest vertical distance between the two CDFs (the KS statistic)."""
    grid = np.union1d(ref_values, cur)
    at_ref = np.r_[0.0, ref_cdf][np.searchsorted(ref_values, grid, side="right")]
    at_cur = np.r_[0.0, cur_cdf][np.searchsorted(cur, grid, side="right")]
    gap = np.abs(at_ref - at_cur)
    i = int(np.argmax(gap))
    if gap[i] <= 0:
        return
    ax.vlines(grid[i], min(at_ref[i], at_cur[i]), max(at_ref[i], at_cur[i]), color="black")
    ax.annotate(
        f"D = {format_number(float(gap[i]))}",
        (grid[i], (at_ref[i] + at_cur[i]) / 2),
        xytext=(5, 0),
        textcoords="offset points",
        fontsize=8,
        va="center",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
    )


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no non-missing values", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


# Comparison figures (the compare step).


def plot_differences(evidence: Evidence) -> bytes | None:
    """Each metric's challenger-minus-champion difference with its interval (PNG).

    One row per metric with an interval: the difference (a dot), its two-sided ``1 - 2 alpha``
    interval (a bar; each end is a one-sided ``1 - alpha`` bound, as the text says), and the
    line the rule is judged by: a primary metric's ``min_improvement`` (the improvement's
    bound must pass it) or a guardrail's ``-margin`` (the loss may not pass it), dashed and
    labelled. Green rows passed, red ones did not.

    Args:
        evidence: The comparison's outcome.

    Returns:
        The figure as PNG bytes, or ``None`` when no metric has a difference from a champion
        (a first deployment, whose rows are floors).
    """
    rows = [
        m
        for m in evidence.metrics
        if m.ci_low is not None and m.ci_high is not None and m.role != "floor"
    ]
    if not rows:
        return None
    figure = _new_figure()
    figure.set_size_inches(8, 1.9 + 0.75 * len(rows))
    axes = figure.add_subplot()
    spans: list[float] = [0.0]
    for i, m in enumerate(rows):
        assert m.ci_low is not None
        assert m.ci_high is not None
        assert m.difference is not None
        colour = PASS_COLOR if m.passed else FAIL_COLOR
        axes.plot([m.ci_low, m.ci_high], [i, i], color=colour, linewidth=3, solid_capstyle="butt")
        axes.plot([m.difference], [i], "o", color=colour, markersize=7)
        axes.annotate(
            difference_text(m),
            (m.difference, i),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            color=colour,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1},
            zorder=5,
        )
        spans += [m.ci_low, m.ci_high]
        line = _rule_line(m)
        if line is not None:
            position, label = line
            axes.plot([position, position], [i - 0.28, i + 0.28], color="#333333",
                      linestyle="--", linewidth=1.2, zorder=1)  # fmt: skip
            # Below the row (the y axis runs downwards), clear of the difference's label.
            axes.annotate(
                label,
                (position, i + 0.28),
                xytext=(3, 0),
                textcoords="offset points",
                ha="left",
                va="center",
                fontsize=7.5,
                color="#333333",
            )
            spans.append(position)
    axes.axvline(0, color="grey", linewidth=1)
    low, high = min(spans), max(spans)
    pad = (high - low) * 0.12 or 0.01
    axes.set_xlim(low - pad, high + pad)
    axes.set_ylim(len(rows) - 0.5, -0.5)
    axes.set_yticks(range(len(rows)), [_metric_label(m) for m in rows], parse_math=False)
    for tick, m in zip(axes.get_yticklabels(), rows, strict=True):
        tick.set_color(PASS_COLOR if m.passed else FAIL_COLOR)
    axes.xaxis.set_major_formatter(_CompactFormatter())
    axes.tick_params(labelsize=8)
    axes.grid(True, axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    axes.set_xlabel(f"challenger \u2212 champion, with its {interval_text(evidence.alpha)}",
                    fontsize=9)  # fmt: skip
    axes.set_title(
        f"Decision: {evidence.decision.upper()} \u00b7 {evidence.n:,} gate rows \u00b7 "
        f"alpha {evidence.alpha:g} (Holm across primary metrics)",
        fontsize=10,
    )
    return _to_png(figure)


def _metric_label(metric: MetricComparison) -> str:
    better = "higher" if GREATER_IS_BETTER.get(metric.name, True) else "lower"
    verdict = "pass" if metric.passed else "fail"
    return f"{_shorten(metric.name)}: {verdict}\n{metric.role}, {better} is better"


def _rule_line(metric: MetricComparison) -> tuple[float, str] | None:
    """Where a metric's rule sits on the difference axis, and its label.

    A primary metric passes when its improvement's lower bound exceeds ``min_improvement``:
    on the challenger-minus-champion axis that is ``+min_improvement`` for a metric where
    higher is better and ``-min_improvement`` where lower is. A guardrail holds when the loss
    stays within its margin: ``-margin`` (higher is better) or ``+margin``.
    """
    threshold = metric.threshold
    if threshold is None or not math.isfinite(threshold):
        return None
    sign = 1.0 if GREATER_IS_BETTER.get(metric.name, True) else -1.0
    if metric.role == "primary":
        return sign * threshold, f"min. improvement {threshold:g}"
    return -sign * threshold, f"guardrail margin {threshold:g}"


def plot_comparison_curves(
    y: np.ndarray, outputs: Mapping[str, ModelOutput], *, task: str
) -> bytes | None:
    """ROC curves (binary classification) or residual distributions (regression), PNG.

    Each model's legend entry carries its ROC AUC (classification) or RMSE (regression) on
    these rows.

    Args:
        y: Labels or target values of the comparison rows.
        outputs: Each model's output, by its legend label.
        task: ``classification`` or ``regression``.

    Returns:
        The figure as PNG bytes, or ``None`` when no model gives what the figure needs
        (class probabilities for a binary target).
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    figure = _new_figure()
    axes = figure.add_subplot()
    drawn = False
    for label, output in outputs.items():
        if task == "classification":
            if output.scores is None or output.classes is None or output.scores.shape[1] != 2:
                continue
            positive = y == output.classes[1]
            if positive.all() or not positive.any():
                continue  # one class only: no ROC curve
            fpr, tpr, _ = roc_curve(positive, output.scores[:, 1])
            auc = float(roc_auc_score(positive, output.scores[:, 1]))
            axes.plot(fpr, tpr, linewidth=1.6, label=f"{label} (AUC {format_number(auc)})")
            drawn = True
        else:
            residuals = np.asarray(output.predictions, dtype=float) - y.astype(float)
            rmse = float(np.sqrt(np.mean(residuals**2)))
            axes.hist(residuals, bins=50, histtype="step", density=True, linewidth=1.4,
                      label=f"{label} (RMSE {format_number(rmse)})")  # fmt: skip
            drawn = True
    if not drawn:
        return None
    if task == "classification":
        axes.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label="chance")
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.01)
        axes.set_xlabel("false positive rate")
        axes.set_ylabel("true positive rate")
        axes.set_title(f"ROC on the {len(y):,} comparison rows")
        axes.legend(loc="lower right", fontsize=9)
    else:
        axes.axvline(0, color="grey", linewidth=0.8)
        axes.set_xlabel("prediction - actual")
        axes.set_ylabel("density")
        axes.set_title(f"Residuals on the {len(y):,} comparison rows")
        axes.xaxis.set_major_formatter(_CompactFormatter())
        axes.legend(fontsize=9)
    axes.grid(True, alpha=0.3)
    return _to_png(figure)


def plot_confidence_sequence(
    history: Sequence[Mapping[str, Any]], *, margin: float, loss: str
) -> bytes | None:
    """Shadow mode over the batches: the estimate, its confidence sequence and the margin (PNG).

    Args:
        history: One row per batch with ``rows``, ``estimate``, ``cs_low``, ``cs_high``
            (``None`` before the first look).
        margin: The policy's minimum improvement.
        loss: The per-row loss, for the axis label.
    """
    if not history:
        return None
    rows = np.array([h["rows"] for h in history], dtype=float)
    estimate = np.array([h["estimate"] for h in history], dtype=float)
    low = np.array([np.nan if h["cs_low"] is None else h["cs_low"] for h in history], dtype=float)
    high = np.array(
        [np.nan if h["cs_high"] is None else h["cs_high"] for h in history], dtype=float
    )
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.fill_between(rows, low, high, color=REFERENCE_COLOR, alpha=0.25, step="post",
                      label="confidence sequence")  # fmt: skip
    axes.plot(rows, estimate, "o-", color=REFERENCE_COLOR, label="mean improvement")
    axes.axhline(margin, color=CURRENT_COLOR, linewidth=1.5, label=f"margin {margin:g}")
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.set_xlabel("rows seen (one point per batch)")
    axes.set_ylabel(f"champion - challenger {loss}")
    axes.set_title("Shadow test: promote once the band clears the margin, reject once below it")
    axes.legend(loc="best", fontsize=8, frameon=False)
    return _to_png(figure)


# Tuning figures (the retrain step's Optuna study).

#: Hyperparameter panels per row of the slice figure, and each panel's size (inches): two
#: wide panels a row keep the figure about as wide as the MLflow UI's artifact pane, so it is
#: barely scaled down there.
SLICE_COLUMNS = 2
SLICE_PANEL = (4.2, 2.9)
_TRIAL_CMAP = "Blues"
_BEST_COLOR = "#c62828"


def _trial_points(
    trials: Sequence[FrozenTrial],
) -> tuple[list[tuple[FrozenTrial, float]], list[tuple[FrozenTrial, float]], list[int]]:
    """Completed trials with their value, pruned ones with their last reported value, and
    the numbers of failed trials."""
    from optuna.trial import TrialState

    complete, pruned, failed = [], [], []
    for trial in sorted(trials, key=lambda t: t.number):
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            if math.isfinite(trial.value):
                complete.append((trial, float(trial.value)))
        elif trial.state == TrialState.PRUNED and trial.intermediate_values:
            last = trial.intermediate_values[max(trial.intermediate_values)]
            if math.isfinite(last):
                pruned.append((trial, float(last)))
        elif trial.state == TrialState.FAIL:
            failed.append(trial.number)
    return complete, pruned, failed


def _best(complete: Sequence[tuple[FrozenTrial, float]], maximize: bool) -> tuple[int, float]:
    pick = max if maximize else min
    trial, value = pick(complete, key=lambda point: point[1])
    return trial.number, value


def _better(maximize: bool) -> str:
    return "higher is better" if maximize else "lower is better"


def plot_optimization_history(
    trials: Sequence[FrozenTrial], *, metric: str, direction: str
) -> bytes | None:
    """The study's trials in order: each one's CV score and the best so far (PNG).

    Completed trials show their mean cross-validated score. Pruned trials show the last
    score they reported (one fold's), hollow and grey, so a reviewer sees where the pruner
    stopped them; failed trials are marked on the x axis. The line is the best completed
    score so far; the best trial is starred and labelled.

    Args:
        trials: The study's trials (``study.get_trials()``).
        metric: The tuning metric (``roc_auc``, ``rmse``, ...): the y axis reads ``CV <metric>``.
        direction: ``maximize`` or ``minimize``.

    Returns:
        The figure as PNG bytes, or ``None`` when no trial reported a score.
    """
    complete, pruned, failed = _trial_points(trials)
    if not complete and not pruned:
        return None
    maximize = direction == "maximize"
    figure = _new_figure()
    axes = figure.add_subplot()
    if complete:
        axes.scatter([t.number for t, _ in complete], [v for _, v in complete], s=30,
                     color=REFERENCE_COLOR, zorder=3,
                     label=f"complete: mean CV {metric} ({len(complete)})")  # fmt: skip
    if pruned:
        axes.scatter([t.number for t, _ in pruned], [v for _, v in pruned], s=30,
                     facecolors="none", edgecolors=PRUNED_COLOR, linewidths=1.2, zorder=3,
                     label=f"pruned: last fold's {metric} ({len(pruned)})")  # fmt: skip
    numbers = [t.number for t in trials]
    last = max(numbers) if numbers else 0
    if complete:
        pick = max if maximize else min
        best_so_far, running = [], complete[0][1]
        for _, value in complete:
            running = pick(running, value)
            best_so_far.append(running)
        xs = [t.number for t, _ in complete] + [last]
        axes.step(xs, [*best_so_far, best_so_far[-1]], where="post", color=CURRENT_COLOR,
                  linewidth=1.6, zorder=2, label="best so far")  # fmt: skip
        number, value = _best(complete, maximize)
        axes.scatter([number], [value], marker="*", s=160, color=_BEST_COLOR, zorder=4)
        right_half = number > last / 2
        axes.annotate(
            f"best: trial {number}, {format_number(value)}",
            (number, value),
            xytext=(-8 if right_half else 8, 7 if maximize else -7),
            textcoords="offset points",
            ha="right" if right_half else "left",
            va="bottom" if maximize else "top",
            fontsize=8,
            color=_BEST_COLOR,
        )
    if failed:
        axes.scatter(failed, [0.02] * len(failed), marker="x", color=FAIL_COLOR, s=30,
                     transform=axes.get_xaxis_transform(), clip_on=False,
                     label=f"failed ({len(failed)})")  # fmt: skip
    axes.set_xlim(-0.5, last + 0.5)
    axes.margins(y=0.12)  # room for the best trial's label
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=10))
    axes.set_xlabel("trial")
    axes.set_ylabel(f"CV {metric}")
    axes.grid(True, alpha=0.3)
    axes.tick_params(labelsize=9)
    axes.set_title(
        f"Optimisation history: CV {metric} ({_better(maximize)}) \u00b7 {len(complete)} "
        f"complete, {len(pruned)} pruned, {len(failed)} failed",
        fontsize=10,
        loc="left",
    )
    axes.legend(loc="best", fontsize=8, framealpha=0.9)
    return _to_png(figure)


def plot_slice(trials: Sequence[FrozenTrial], *, metric: str, direction: str) -> bytes | None:
    """The CV score against each hyperparameter, one panel per parameter (PNG).

    Each panel spans the parameter's search range, on a log axis when it was sampled on a
    log scale, with a few thinned, rotated tick labels; categorical parameters get one slot
    per choice. Completed trials are shaded by trial number (dark: late), pruned ones hollow
    and grey at their last reported score, the best trial ringed in red.

    Args:
        trials: The study's trials.
        metric: The tuning metric (the y axis reads ``CV <metric>``).
        direction: ``maximize`` or ``minimize``.

    Returns:
        The figure as PNG bytes, or ``None`` when no trial with parameters reported a score.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    complete, pruned, _ = _trial_points(trials)
    points = [(t, v, False) for t, v in complete] + [(t, v, True) for t, v in pruned]
    names = sorted({name for t, _, _ in points for name in t.params}, key=_param_order)
    if not names:
        return None
    maximize = direction == "maximize"
    best = _best(complete, maximize)[0] if complete else None
    columns = min(SLICE_COLUMNS, len(names))
    rows = math.ceil(len(names) / columns)
    width, height = SLICE_PANEL
    figure = Figure(figsize=(width * columns + 0.9, height * rows + 0.9), dpi=DPI,
                    layout="constrained")  # fmt: skip
    FigureCanvasAgg(figure)
    grid = figure.subplots(rows, columns, sharey=True, squeeze=False)
    numbers = [t.number for t in trials] or [0]
    norm = Normalize(vmin=min(numbers), vmax=max(max(numbers), min(numbers) + 1))
    cmap = colormaps[_TRIAL_CMAP]

    def shade(number: int) -> Any:
        return cmap(0.3 + 0.7 * norm(number))  # never white on the white panel

    for index, axes in enumerate(grid.ravel()):
        if index >= len(names):
            axes.set_visible(False)
            continue
        name = names[index]
        mine = [(t, v, p) for t, v, p in points if name in t.params]
        distribution = mine[0][0].distributions[name]
        place = _slice_axis(axes, distribution)
        for trial, value, is_pruned in mine:
            x = place(trial.params[name], trial.number)
            if is_pruned:
                axes.scatter(x, value, s=26, facecolors="none", edgecolors=PRUNED_COLOR,
                             linewidths=1.1, zorder=2)  # fmt: skip
            else:
                axes.scatter(x, value, s=30, color=shade(trial.number), edgecolors="#1f3a5f",
                             linewidths=0.4, zorder=3)  # fmt: skip
            if trial.number == best:
                axes.scatter(x, value, s=110, facecolors="none", edgecolors=_BEST_COLOR,
                             linewidths=1.6, zorder=4)  # fmt: skip
        estimator, _, short = name.rpartition("__")
        axes.set_title(short if not estimator else f"{short} ({estimator})", fontsize=10,
                       parse_math=False)  # fmt: skip
        axes.tick_params(labelsize=9)
        # Rotated, aligned at their tick ("xtick" mode), so long labels never overlap.
        axes.tick_params(axis="x", labelrotation=30, labelrotation_mode="xtick")
        axes.grid(True, alpha=0.3)
        if index % columns == 0:
            axes.set_ylabel(f"CV {metric}", fontsize=10)
    colorbar = figure.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=grid.ravel().tolist(),
                               shrink=0.8, pad=0.01)  # fmt: skip
    colorbar.set_label("trial number", fontsize=9)
    colorbar.ax.tick_params(labelsize=8)
    colorbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    extra = (
        f" \u00b7 hollow grey: {len(pruned)} pruned, at their last fold's score" if pruned else ""
    )
    figure.suptitle(
        f"CV {metric} ({_better(maximize)}) against each hyperparameter\n"
        f"{len(complete)} complete trials, shaded by trial number{extra} \u00b7 red ring: best",
        fontsize=11,
    )
    return _to_png(figure)


def _param_order(name: str) -> tuple[int, str]:
    # The estimator choice first, then each estimator's parameters together.
    return (0 if "__" not in name else 1, name)


def _slice_axis(axes: Axes, distribution: Any) -> Any:
    """Set up a slice panel's x axis for ``distribution``; return ``place(value, number)``,
    the x position of a trial's value."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        choices = list(distribution.choices)
        labels = [_shorten("none" if c is None else str(c), 24) for c in choices]
        axes.set_xticks(range(len(choices)), labels)
        axes.set_xlim(-0.6, len(choices) - 0.4)

        def categorical(value: Any, number: int) -> float:
            # A small, fixed offset per trial keeps trials of one choice from hiding each
            # other.
            offset = ((number * 0.618034) % 1.0 - 0.5) * 0.3
            return choices.index(value) + offset if value in choices else math.nan

        return categorical
    low, high = float(distribution.low), float(distribution.high)
    if distribution.log:
        axes.set_xscale("log")
        ratio = (high / low) ** 0.06 if high > low else 2.0
        axes.set_xlim(low / ratio, high * ratio)
        decades = math.log10(high / low) if high > low else 0.0
        # Many decades: one tick per decade or fewer; a narrow range: 1-2-5 ticks.
        subs = (1.0,) if decades > 2 else (1.0, 2.0, 5.0)
        axes.xaxis.set_major_locator(LogLocator(base=10, subs=subs, numticks=6))
        axes.xaxis.set_minor_formatter(NullFormatter())
    else:
        pad = (high - low) * 0.06 or 0.5
        axes.set_xlim(low - pad, high + pad)
        axes.xaxis.set_major_locator(
            MaxNLocator(nbins=4, integer=isinstance(distribution, IntDistribution))
        )
    axes.xaxis.set_major_formatter(_CompactFormatter())

    def numeric(value: Any, number: int) -> float:
        return float(value)

    return numeric


def plot_param_importances(
    importances: Mapping[str, float], *, metric: str, method: str, n_trials: int
) -> bytes | None:
    """How much each hyperparameter mattered to the CV score: one bar each, names in full.

    Args:
        importances: Parameter to its importance (Optuna's, normalised to sum to 1).
        metric: The tuning metric.
        method: The importance evaluator's name, for the title (``PED-ANOVA``, ...).
        n_trials: Completed trials the importances were computed from.

    Returns:
        The figure as PNG bytes, or ``None`` without importances.
    """
    items = sorted(importances.items(), key=lambda item: (-item[1], item[0]))
    if not items:
        return None
    figure = Figure(figsize=(8.0, max(2.6, 1.3 + 0.38 * len(items))), dpi=DPI,
                    layout="constrained")  # fmt: skip
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = np.arange(len(items))
    values = [float(v) for _, v in items]
    axes.barh(positions, values, color=REFERENCE_COLOR, height=0.6)
    axes.set_yticks(positions, [_shorten(name, 60) for name, _ in items], fontsize=9,
                    parse_math=False)  # fmt: skip
    axes.set_ylim(len(items) - 0.5, -0.5)
    for y, value in zip(positions, values, strict=True):
        text = "<0.01" if value < 0.005 else f"{value:.2f}"
        axes.annotate(text, (value, y), xytext=(3, 0), textcoords="offset points",
                      va="center", fontsize=8)  # fmt: skip
    axes.set_xlim(0, max(max(values), 0.01) * 1.15)
    axes.set_xlabel(f"importance for CV {metric} (shares sum to 1)", fontsize=9)
    axes.tick_params(axis="x", labelsize=8)
    axes.grid(True, axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    axes.set_title(
        f"Hyperparameter importance ({method}, {n_trials} complete trials)",
        fontsize=10,
        loc="left",
    )
    return _to_png(figure)
