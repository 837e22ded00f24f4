"""Drift figures: PNG bytes comparing a column's reference and current distributions.

The figures are drawn on a bare :class:`matplotlib.figure.Figure` with its own Agg canvas, so
they never touch pyplot's global state or the process-wide backend: they are safe to draw from
several threads and next to code (or a notebook) that set another backend. Every figure has the
same size (8 x 4.5 inches at 100 dpi) and the output is deterministic for the same input.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from mlflow_retrain.comparison import Evidence, ModelOutput
from mlflow_retrain.drift.profile import OTHER_LEVEL, NumericSummary
from mlflow_retrain.drift.report import FeatureDrift
from mlflow_retrain.report.html import format_number, format_pvalue

__all__ = [
    "plot_categorical_drift",
    "plot_comparison_curves",
    "plot_differences",
    "plot_numeric_drift",
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
_SEPARATOR = "  \u00b7  "

REFERENCE_COLOR = "#4c72b0"
CURRENT_COLOR = "#dd8452"
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
    for ax in (hist_ax, cdf_ax):
        ax.tick_params(labelsize=8)
        ax.xaxis.get_offset_text().set_fontsize(8)
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
        f"D = {gap[i]:.3f}",
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
    """The challenger-minus-champion difference of each metric with its interval (PNG)."""
    rows = [
        m
        for m in evidence.metrics
        if m.ci_low is not None and m.ci_high is not None and m.role != "floor"
    ]
    if not rows:  # a first deployment has floors, not differences
        return None
    figure = _new_figure()
    figure.set_size_inches(7, 1.2 + 0.6 * len(rows))
    axes = figure.add_subplot()
    for i, m in enumerate(rows):
        assert m.ci_low is not None
        assert m.ci_high is not None
        assert m.difference is not None
        colour = "#2e7d32" if m.passed else "#c62828"
        axes.plot([m.ci_low, m.ci_high], [i, i], color=colour, linewidth=3)
        axes.plot([m.difference], [i], "o", color=colour)
    axes.axvline(0, color="grey", linewidth=1)
    axes.set_yticks(range(len(rows)), [f"{m.name} ({m.role})" for m in rows])
    axes.set_xlabel("challenger - champion (interval: one-sided bounds at alpha)")
    axes.set_title(f"Decision: {evidence.decision}")
    return _to_png(figure)


def plot_comparison_curves(
    y: np.ndarray, outputs: Mapping[str, ModelOutput], *, task: str
) -> bytes | None:
    """ROC curves (binary classification) or residual distributions (regression)."""
    from sklearn.metrics import roc_curve

    figure = _new_figure()
    axes = figure.add_subplot()
    drawn = False
    for label, output in outputs.items():
        if task == "classification":
            if output.scores is None or output.classes is None or output.scores.shape[1] != 2:
                continue
            fpr, tpr, _ = roc_curve(y == output.classes[1], output.scores[:, 1])
            axes.plot(fpr, tpr, label=label)
            drawn = True
        else:
            residuals = np.asarray(output.predictions, dtype=float) - y.astype(float)
            axes.hist(residuals, bins=50, histtype="step", density=True, label=label)
            drawn = True
    if not drawn:
        return None
    if task == "classification":
        axes.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
        axes.set_xlabel("false positive rate")
        axes.set_ylabel("true positive rate")
        axes.set_title("ROC on the comparison rows")
    else:
        axes.axvline(0, color="grey", linewidth=0.8)
        axes.set_xlabel("prediction - actual")
        axes.set_ylabel("density")
        axes.set_title("Residuals on the comparison rows")
    axes.legend()
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
