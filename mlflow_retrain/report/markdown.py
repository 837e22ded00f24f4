"""Markdown the MLflow UI renders: the evidence table in a model version's description."""

from __future__ import annotations

import math

from mlflow_retrain.comparison import Evidence
from mlflow_retrain.report.html import format_number, format_pvalue

__all__ = ["evidence_markdown"]

_BADGE = {"promote": "PROMOTE", "reject": "REJECT", "inconclusive": "INCONCLUSIVE"}


def _cell(text: str) -> str:
    # Metric names are ours, but keep table cells safe from stray pipes all the same.
    return text.replace("|", "\\|")


def evidence_markdown(
    evidence: Evidence,
    *,
    challenger_version: str,
    champion_version: str | None,
    run_id: str,
) -> str:
    """Render the decision and the evidence table for a version description.

    Args:
        evidence: The comparison's outcome.
        challenger_version: The version the description belongs to.
        champion_version: The champion it was compared against, if any.
        run_id: The comparison run (linked relatively, so it works on any server).

    Returns:
        Markdown text.
    """
    against = (
        f"champion version {champion_version}"
        if champion_version
        else "no champion (first deployment: policy floor)"
    )
    lines = [
        f"**Decision: {_BADGE[evidence.decision]}** for version {challenger_version}, against "
        f"{against}, on {evidence.n} gate rows (alpha {evidence.alpha:g}, Holm across primary "
        "metrics).",
        "",
        evidence.reason,
        "",
        "| metric | role | champion | challenger | difference [interval] | p (adj.) | test | "
        "result |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in evidence.metrics:
        interval = (
            f" [{format_number(m.ci_low)}, {format_number(m.ci_high)}]"
            if m.ci_low is not None and m.ci_high is not None
            else ""
        )
        difference = "—" if m.difference is None else format_number(m.difference) + interval
        threshold = (
            ""
            if m.threshold is None or not math.isfinite(m.threshold)
            else f" (needs > {m.threshold:g})"
            if m.role == "primary"
            else f" (margin {m.threshold:g})"
        )
        lines.append(
            f"| {_cell(m.name)} | {m.role} | {format_number(m.champion)} | "
            f"{format_number(m.challenger)} | {difference} | "
            f"{format_pvalue(m.p_value_adjusted)} | {_cell(m.test)} | "
            f"{'pass' if m.passed else 'fail'}{threshold} |"
        )
    lines += ["", f"Evidence: comparison run [{run_id}](#/runs/{run_id})."]
    return "\n".join(lines)
