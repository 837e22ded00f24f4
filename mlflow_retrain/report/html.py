"""A self-contained HTML drift report.

One HTML5 document with inline CSS and the figures embedded as ``data:`` URIs: no JavaScript,
no external resources. It therefore renders the same in a browser, offline, in print, and in
the MLflow UI's artifact viewer (which shows ``.html`` artifacts in a sandboxed iframe).

Every piece of text that comes from data or configuration (column and level names, URIs,
reasons) is escaped: column names are untrusted input.
"""

from __future__ import annotations

import base64
import html
import logging
import math
import re
from collections.abc import Iterable, Mapping

from mlflow_retrain import lineage
from mlflow_retrain._version import __version__
from mlflow_retrain.comparison import Evidence, MetricComparison
from mlflow_retrain.drift.report import DriftReport, FeatureDrift, share_label
from mlflow_retrain.exceptions import InvalidInputError

__all__ = [
    "difference_text",
    "format_number",
    "format_pvalue",
    "interval_short",
    "interval_text",
    "render_drift_html",
    "render_evidence_html",
    "rule_text",
]

logger = logging.getLogger(__name__)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Unseen levels listed in the table cell (the report keeps up to 20).
_UNSEEN_SHOWN = 3
_DASH = "\u2014"
# user:password@ in a URI; the password is replaced before the URI is shown.
_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^/@:\s]*):[^/@\s]*@")

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 24px; background: #fff; color: #1f2328;
  font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 24px 0 8px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.badge { display: inline-block; padding: 3px 10px; border-radius: 4px; color: #fff;
  font-weight: 700; font-size: 13px; letter-spacing: .03em; vertical-align: middle; }
.badge.drift { background: #c62828; }
.badge.ok { background: #2e7d32; }
.reason { font-size: 15px; margin: 8px 0 12px; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.summary dt { color: #57606a; }
dl.summary dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid #e1e4e8; padding: 4px 8px; text-align: left;
  vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.name { max-width: 28em; }
/* Names break only where they must (not "utiliz-ation"); a table wider than the viewer
   (the MLflow UI's artifact pane is narrow) scrolls instead of being cut off. */
td.name, td.name code { overflow-wrap: break-word; }
.scroll { overflow-x: auto; }
tr.drifted td { background: #fdecea; }
.yes { color: #c62828; font-weight: 700; }
.no { color: #57606a; }
.pass { color: #2e7d32; font-weight: 700; }
.tag { display: inline-block; padding: 0 5px; border-radius: 3px; font-size: 11px;
  font-weight: 600; border: 1px solid currentColor; margin-left: 4px; }
.critical { color: #8e24aa; }
.muted { color: #57606a; }
.flag { color: #c62828; font-weight: 600; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
  background: #f6f8fa; padding: 0 3px; border-radius: 3px; overflow-wrap: anywhere; }
figure { margin: 8px 0 16px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e1e4e8; }
a { color: #0969da; }
footer { margin-top: 24px; font-size: 12px; color: #57606a; }
@media print {
  body { padding: 0; font-size: 11px; }
  .badge, tr.drifted td { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.figure, figure, tr { break-inside: avoid; page-break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def format_number(value: float | None) -> str:
    """Format a metric, statistic or effect size for display: four significant digits.

    Magnitudes from 0.001 to 10,000 read as plain decimals (``0.7043``, ``12.35``); from
    10,000 to a million as a whole number rounded to four significant digits (``183500``);
    anything smaller or larger in compact scientific notation (``1.234e-5``, ``2.5e7``).

    Args:
        value: The number; ``None`` and NaN are shown as an em dash.

    Returns:
        The text.
    """
    if value is None or math.isnan(value):
        return _DASH
    if math.isinf(value):
        return "\u221e" if value > 0 else "-\u221e"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude < 1e-3 or magnitude >= 1e6:
        return _scientific(value, digits=4)
    if magnitude >= 1e4:
        return f"{float(f'{value:.4g}'):.0f}"
    return f"{value:.4g}"


def format_pvalue(value: float | None) -> str:
    """Format a p-value: three significant digits, compact scientific notation below 0.001.

    Args:
        value: The p-value; ``None`` and NaN are shown as an em dash.

    Returns:
        The text (``0.0457``, ``3.08e-6``); a p-value that underflowed to 0 reads
        ``< 1e-300``.
    """
    if value is None or math.isnan(value):
        return _DASH
    if value <= 0:
        return "< 1e-300"
    if value < 1e-3:
        return _scientific(value, digits=3)
    return f"{value:.3g}"


def _scientific(value: float, *, digits: int) -> str:
    """``value`` with ``digits`` significant digits as ``1.23e-5``: no ``+``, no padding zeros.

    Trailing zeros of the mantissa are dropped (``2e-4``, not ``2.000e-04``).
    """
    mantissa, _, exponent = f"{value:.{digits - 1}e}".partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def interval_text(alpha: float) -> str:
    """How the comparison's intervals read everywhere: ``90% two-sided interval (each end a
    one-sided 95% bound)`` for ``alpha = 0.05``.

    The comparison reports the two-sided ``1 - 2 alpha`` interval of each difference, so each
    end is a one-sided ``1 - alpha`` bound (what the one-sided tests at ``alpha`` need).

    Args:
        alpha: The policy's significance level.

    Returns:
        The phrase.
    """
    two_sided = f"{(1 - 2 * alpha) * 100:.4g}%"
    one_sided = f"{(1 - alpha) * 100:.4g}%"
    return f"{two_sided} two-sided interval (each end a one-sided {one_sided} bound)"


def interval_short(alpha: float) -> str:
    """The interval's short name in table headers: ``90% interval`` for ``alpha = 0.05``."""
    return f"{(1 - 2 * alpha) * 100:.4g}% interval"


def difference_text(metric: MetricComparison) -> str:
    """A metric's difference with its interval: ``0.09153 [0.05823, 0.1251]`` (or a dash)."""
    if metric.difference is None:
        return _DASH
    if metric.ci_low is None or metric.ci_high is None:
        return format_number(metric.difference)
    return (
        f"{format_number(metric.difference)} "
        f"[{format_number(metric.ci_low)}, {format_number(metric.ci_high)}]"
    )


def rule_text(metric: MetricComparison) -> str:
    """The rule a metric is judged by: ``needs > 0.005`` (primary), ``margin 0.01``
    (guardrail), ``floor 0.6`` (first deployment); empty when there is none."""
    if metric.threshold is None or not math.isfinite(metric.threshold):
        return ""
    if metric.test == "floor":
        return f"floor {metric.threshold:g}"
    if metric.role == "primary":
        return f"needs > {metric.threshold:g}"
    return f"margin {metric.threshold:g}"


def render_drift_html(
    report: DriftReport,
    *,
    figures: Mapping[str, bytes] | None = None,
    title: str = "Drift report",
    reference_uri: str | None = None,
    current_uri: str | None = None,
) -> str:
    """Render a drift report as one self-contained HTML5 document.

    The document holds a header with the decision and its reason, the dataset counts and
    settings, a table of every tested column (drifted columns first, then by effect size),
    the target (label shift) when one was tested, the skipped columns, and one section per
    figure, linked from the table. CSS is inline and figures are embedded as base64 PNG
    ``data:`` URIs, so the file needs no network access and no JavaScript.

    Args:
        report: The drift report.
        figures: PNG bytes by column name (see :mod:`mlflow_retrain.report.figures`).
        title: Document title and heading.
        reference_uri: Where the reference came from, shown as text (a password in the URI
            is masked).
        current_uri: Where the current batch came from, shown as text.

    Returns:
        The HTML document.

    Raises:
        InvalidInputError: If a figure is not PNG data.
    """
    figures = dict(figures or {})
    for name, data in figures.items():
        if not bytes(data).startswith(_PNG_SIGNATURE):
            raise InvalidInputError(
                f"The figure for column {name!r} is not a PNG image (it starts with "
                f"{bytes(data[:8])!r}). Pass the bytes returned by plot_numeric_drift or "
                "plot_categorical_drift."
            )
    features = sorted(report.features, key=_sort_key)
    ordered_names = [f.name for f in features]
    if report.target is not None:
        ordered_names.append(report.target.name)
    figure_order = [n for n in dict.fromkeys(ordered_names) if n in figures]
    figure_order += [n for n in figures if n not in figure_order]
    anchors = {name: f"figure-{i}" for i, name in enumerate(figure_order, start=1)}

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="mlflow-retrain {_e(__version__)}">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        _header(report, title, reference_uri, current_uri),
        '<section id="features">',
        "<h2>Columns</h2>",
    ]
    if features:
        parts.append(_table(features, anchors))
    else:
        parts.append('<p class="muted">No column was tested.</p>')
    parts.append("</section>")
    if report.target is not None:
        parts += [
            '<section id="target">',
            "<h2>Target (label shift)</h2>",
            '<p class="muted">The target is tested like a feature but does not count towards '
            "the drifted share.</p>",
            _table([report.target], anchors),
            "</section>",
        ]
    if report.skipped:
        items = "".join(
            f"<li><code>{_e(s.name)}</code> {_DASH} {_e(s.reason)}</li>" for s in report.skipped
        )
        parts += [
            '<section id="skipped">',
            f"<h2>Skipped columns ({len(report.skipped)})</h2>",
            f"<ul>{items}</ul>",
            "</section>",
        ]
    if figure_order:
        parts += ['<section id="figures">', "<h2>Distributions</h2>"]
        parts += [_figure(name, figures[name], anchors[name]) for name in figure_order]
        parts.append("</section>")
    parts += [
        f"<footer>Generated by mlflow-retrain {_e(__version__)}.</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _sort_key(feature: FeatureDrift) -> tuple[bool, float, str]:
    effect = feature.effect_size
    # Drifted first, then the largest effect; NaN effects (inconclusive columns) go last.
    return (not feature.drifted, -effect if math.isfinite(effect) else math.inf, feature.name)


def _mask_password(uri: str) -> str:
    return _PASSWORD.sub(r"\g<head>:***@", uri)


def _percent(value: float | None) -> str:
    if value is None or math.isnan(value):
        return _DASH
    return f"{value:.1%}"


def _header(
    report: DriftReport, title: str, reference_uri: str | None, current_uri: str | None
) -> str:
    if report.drift_detected:
        badge = '<span class="badge drift">DRIFT DETECTED</span>'
    else:
        badge = '<span class="badge ok">NO DRIFT</span>'
    n_features = len(report.features)
    relation = "\u2265" if report.share_drifted >= report.drift_share else "<"
    rows: list[tuple[str, str]] = [
        ("Rows", f"reference {report.n_reference:,} \u00b7 current {report.n_current:,}"),
        (
            "Drifted columns",
            f"{report.n_drifted} of {n_features} ({share_label(report.weighting)} "
            f"{report.share_drifted:.2f} {relation} threshold {report.drift_share:.2f})",
        ),
    ]
    if report.critical_drifted:
        rows.append(("Critical drifted", _code_list(report.critical_drifted)))
    rows += [
        ("Significance level", f"\u03b1 = {_e(format_number(report.alpha))}"),
        ("Multiple comparisons", _e(report.fdr_method)),
        ("Reference source", _e(report.reference_source)),
    ]
    if reference_uri:
        rows.append(("Reference", f"<code>{_e(_mask_password(reference_uri))}</code>"))
    if current_uri:
        rows.append(("Current batch", f"<code>{_e(_mask_password(current_uri))}</code>"))
    if report.run_id:
        rows.append(("MLflow run", f"<code>{_e(report.run_id)}</code>"))
    summary = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    return (
        '<header id="summary">'
        f"<h1>{_e(title)} {badge}</h1>"
        f'<p class="reason">{_e(report.reason)}</p>'
        f'<dl class="summary">{summary}</dl>'
        "</header>"
    )


def _code_list(names: Iterable[str]) -> str:
    return ", ".join(f"<code>{_e(n)}</code>" for n in names)


_COLUMNS = (
    "Column",
    "Kind",
    "Test",
    "Statistic",
    "p",
    "Adj. p",
    "Effect",
    "Missing ref \u2192 cur",
    "Unseen levels",
    "Weight",
    "Drifted",
)


def _table(features: Iterable[FeatureDrift], anchors: Mapping[str, str]) -> str:
    head = "".join(f'<th scope="col">{c}</th>' for c in _COLUMNS)
    body = "".join(_row(f, anchors.get(f.name)) for f in features)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def _row(feature: FeatureDrift, anchor: str | None) -> str:
    name = f"<code>{_e(feature.name)}</code>"
    if anchor is not None:
        name = f'<a href="#{anchor}">{name}</a>'
    if feature.critical:
        name += '<span class="tag critical">critical</span>'
    # The effect metric on a second line keeps the table narrow enough for the MLflow UI's
    # artifact pane.
    effect = (
        f"{_e(format_number(feature.effect_size))}<br>"
        f'<span class="muted">{_e(feature.effect_metric)} '
        f"(min {_e(format_number(feature.min_effect))})</span>"
    )
    cells = [
        f'<td class="name">{name}</td>',
        f"<td>{_e(feature.kind)}</td>",
        f"<td>{_e(feature.test)}</td>",
        f'<td class="num">{_e(format_number(feature.statistic))}</td>',
        f'<td class="num">{_e(format_pvalue(feature.p_value))}</td>',
        f'<td class="num">{_e(format_pvalue(feature.p_value_adjusted))}</td>',
        f'<td class="num">{effect}</td>',
        f'<td class="num">{_missing(feature)}</td>',
        f"<td>{_unseen(feature)}</td>",
        f'<td class="num">{_e(format_number(feature.weight))}</td>',
        f"<td>{_verdict(feature)}</td>",
    ]
    css = ' class="drifted"' if feature.drifted else ""
    return f"<tr{css}>{''.join(cells)}</tr>"


def _missing(feature: FeatureDrift) -> str:
    text = (
        f"{_percent(feature.missing_rate_reference)} \u2192 "
        f"{_percent(feature.missing_rate_current)}"
    )
    if feature.missing_drifted:
        adjusted = format_pvalue(feature.missing_p_value_adjusted)
        return f'<span class="flag" title="adj. p = {_e(adjusted)}">{text}</span>'
    return text


def _unseen(feature: FeatureDrift) -> str:
    if feature.kind != "categorical":
        return _DASH
    if feature.n_unseen_categories == 0:
        return "0"
    shown = feature.unseen_categories[:_UNSEEN_SHOWN]
    more = ", \u2026" if feature.n_unseen_categories > len(shown) else ""
    return (
        f"{feature.n_unseen_categories} "
        f'<span class="muted">({_percent(feature.unseen_share)} of current)</span><br>'
        f"{_code_list(shown)}{more}"
    )


def _verdict(feature: FeatureDrift) -> str:
    if feature.inconclusive_reason is not None and not feature.drifted:
        reason = _e(feature.inconclusive_reason)
        return f'<span class="no">inconclusive</span><br><span class="muted">{reason}</span>'
    if not feature.drifted:
        return '<span class="no">no</span>'
    why = []
    if feature.distribution_drifted:
        why.append("distribution")
    if feature.missing_drifted:
        why.append("missing rate")
    if feature.critical:
        why.append("critical")
    detail = f'<br><span class="muted">{", ".join(why)}</span>' if why else ""
    return f'<span class="yes">yes</span>{detail}'


def _figure(name: str, data: bytes, anchor: str) -> str:
    encoded = base64.b64encode(bytes(data)).decode("ascii")
    return (
        f'<section class="figure" id="{anchor}">'
        f"<h3><code>{_e(name)}</code></h3>"
        f'<figure><img src="data:image/png;base64,{encoded}" width="800" '
        f'alt="Reference and current distribution of {_e(name)}"></figure>'
        '<p><a href="#features">\u2191 back to the table</a></p>'
        "</section>"
    )


def render_evidence_html(
    evidence: Evidence,
    *,
    model_name: str,
    challenger_version: str,
    champion_version: str | None,
    figures: Mapping[str, bytes] | None = None,
) -> str:
    """Render a comparison's evidence as one self-contained HTML5 document.

    The decision and its reason, the evidence table (metric, role, both models' values, the
    difference with its interval, the adjusted p-value, the test, pass or fail) and the
    figures (intervals, ROC curves or residuals), embedded as base64 PNG, with inline CSS and
    no JavaScript: it opens in the MLflow UI's artifact viewer like the drift report.

    Args:
        evidence: The comparison's outcome.
        model_name: Registered model.
        challenger_version: The version judged.
        champion_version: The champion it was compared against (``None``: first deployment).
        figures: PNG bytes by caption.

    Returns:
        The HTML document.

    Raises:
        InvalidInputError: If a figure is not PNG data.
    """
    figures = dict(figures or {})
    for caption, data in figures.items():
        if not bytes(data).startswith(_PNG_SIGNATURE):
            raise InvalidInputError(
                f"The figure {caption!r} is not a PNG image (it starts with "
                f"{bytes(data[:8])!r}). Pass the bytes the report.figures functions return."
            )
    badge_class = "ok" if evidence.decision == lineage.DECISION_PROMOTE else "drift"
    against = (
        f"champion version {_e(champion_version)}"
        if champion_version
        else "no champion (first deployment: policy floor)"
    )
    rows = []
    for m in evidence.metrics:
        verdict = '<span class="pass">pass</span>' if m.passed else '<span class="yes">fail</span>'
        rule = rule_text(m)
        if rule:
            verdict += f' <span class="muted">({_e(rule)})</span>'
        rows.append(
            "<tr>"
            f'<td class="name"><code>{_e(m.name)}</code></td><td>{_e(m.role)}</td>'
            f'<td class="num">{format_number(m.champion)}</td>'
            f'<td class="num">{format_number(m.challenger)}</td>'
            f'<td class="num">{_e(difference_text(m))}</td>'
            f'<td class="num">{format_pvalue(m.p_value_adjusted)}</td>'
            f"<td>{_e(m.test)}</td><td>{verdict}</td>"
            "</tr>"
        )
    images = []
    for i, (caption, data) in enumerate(figures.items(), start=1):
        encoded = base64.b64encode(bytes(data)).decode("ascii")
        images.append(
            f'<section class="figure" id="figure-{i}"><h3>{_e(caption)}</h3>'
            f'<figure><img src="data:image/png;base64,{encoded}" width="800" '
            f'alt="{_e(caption)}"></figure></section>'
        )
    title = f"Evidence: {model_name} version {challenger_version}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="mlflow-retrain {_e(__version__)}">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f'<h1>{_e(title)} <span class="badge {badge_class}">'
        f"{_e(evidence.decision.upper())}</span></h1>",
        f'<p class="reason">{_e(evidence.reason)}</p>',
        f"<p>Against {against}, on {evidence.n:,} gate rows never used in tuning; alpha "
        f"{evidence.alpha:g}, Holm across the primary metrics. Differences are challenger "
        f"minus champion, each with its {_e(interval_text(evidence.alpha))}.</p>",
        '<div class="scroll"><table><thead><tr><th>Metric</th><th>Role</th><th>Champion</th>'
        f"<th>Challenger</th><th>Difference [{_e(interval_short(evidence.alpha))}]</th>"
        "<th>p (adj.)</th><th>Test</th><th>Result</th></tr></thead><tbody>",
        *rows,
        "</tbody></table></div>",
        *images,
        f"<footer>Generated by mlflow-retrain {_e(__version__)}.</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)
