"""Markdown the MLflow UI renders: model-version and registered-model descriptions.

A version's description is built from sections, one per writer: ``status`` (whoever changes
the version's status), ``evidence`` (``compare``), ``shadow`` (``shadow``), ``trigger`` (the
loop: the drift that triggered the retrain) and ``training`` (``retrain``). Each section sits
between two HTML comments (``<!-- mlflow-retrain:evidence -->`` ...
``<!-- /mlflow-retrain:evidence -->``), which the UI does not show, so a writer can replace its
own section without touching the others or a person's notes outside them
(:func:`replace_section`).

Links are relative to the UI (``#/experiments/<id>/runs/<id>``), so they work on any server,
behind any host name or proxy.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from mlflow_retrain import lineage
from mlflow_retrain.comparison import Evidence
from mlflow_retrain.drift.report import DriftReport, FeatureDrift
from mlflow_retrain.report.html import (
    difference_text,
    format_number,
    format_pvalue,
    interval_short,
    interval_text,
    rule_text,
)

__all__ = [
    "CELL_GAP",
    "SECTIONS",
    "alias_history_markdown",
    "artifact_link",
    "cycle_failed_markdown",
    "cycle_markdown",
    "drift_markdown",
    "drift_summary_markdown",
    "evidence_markdown",
    "model_description",
    "policy_markdown",
    "replace_section",
    "run_link",
    "section_text",
    "shadow_markdown",
    "status_markdown",
    "table",
    "timeline_markdown",
    "training_markdown",
    "version_link",
]

#: The sections of a version description, in the order they are shown.
SECTIONS = ("status", "evidence", "shadow", "trigger", "training")
#: The sections of a registered model's description.
MODEL_SECTIONS = ("policy", "aliases")
#: Drifted columns listed in the trigger section (the report holds them all).
TOP_DRIFTED = 5
#: Alias moves listed in the registered model's description (newest first).
HISTORY_ROWS = 10

_BADGE = {
    lineage.DECISION_PROMOTE: "PROMOTE",
    lineage.DECISION_REJECT: "REJECT",
    lineage.DECISION_INCONCLUSIVE: "INCONCLUSIVE",
    lineage.DECISION_CONTINUE: "CONTINUE",
}
_DASH = "\u2014"
#: Space after every table cell but a row's last: two em spaces, which HTML does not
#: collapse (see :func:`table`).
CELL_GAP = "&emsp;&emsp;"


def _open(name: str) -> str:
    return f"<!-- mlflow-retrain:{name} -->"


def _close(name: str) -> str:
    return f"<!-- /mlflow-retrain:{name} -->"


def _section_pattern(name: str) -> re.Pattern[str]:
    # A section runs from the start of the line that ends with its opening marker to its
    # closing marker. The opening marker ends the section's first line (not a line of its
    # own) so the description's raw text, which the UI's version list shows, starts with
    # words, not with a comment.
    return re.compile(
        r"\n*^[^\n]*?" + re.escape(_open(name)) + r"(?s:.*?)" + re.escape(_close(name)) + r"\n*",
        re.MULTILINE,
    )


def section_text(description: str | None, name: str) -> str | None:
    """The body of section ``name`` in ``description``, or ``None`` when it has none."""
    found = _section_pattern(name).search(description or "")
    if found is None:
        return None
    inner = found.group(0).replace(" " + _open(name), "").replace(_open(name), "")
    return inner.replace(_close(name), "").strip()


def _render(name: str, body: str) -> str:
    first, _, rest = body.strip().partition("\n")
    return f"{first} {_open(name)}" + (f"\n{rest}" if rest else "") + f"\n{_close(name)}"


def replace_section(
    description: str | None,
    name: str,
    body: str | None,
    *,
    order: Sequence[str] = SECTIONS,
) -> str:
    """Return ``description`` with section ``name`` set to ``body`` (removed when ``None``).

    The other sections keep their text and come in ``order``; text outside any section (a
    person's note) is kept after them.

    Args:
        description: The current description (``None`` or empty: none yet).
        name: The section, one of ``order``.
        body: Its new markdown.
        order: The sections' display order.

    Returns:
        The new description.

    Raises:
        ValueError: If ``name`` is not in ``order``.
    """
    if name not in order:
        raise ValueError(f"Unknown description section {name!r}; use one of {', '.join(order)}.")
    text = description or ""
    bodies: dict[str, str] = {}
    for section in order:
        found = section_text(text, section)
        if found is not None:
            bodies[section] = found
        text = _section_pattern(section).sub("\n\n", text)
    if body is None:
        bodies.pop(name, None)
    else:
        bodies[name] = body.strip()
    parts = [_render(s, bodies[s]) for s in order if s in bodies]
    rest = text.strip()
    if rest:
        parts.append(rest)
    return "\n\n".join(parts) + "\n"


def run_link(run_id: str, *, experiment_id: str | None = None) -> str:
    """The UI's relative address of a run (``#/experiments/<e>/runs/<r>``).

    Without the experiment, ``#/runs/<r>``, which the UI redirects to the run's page.
    """
    if experiment_id:
        return f"#/experiments/{experiment_id}/runs/{run_id}"
    return f"#/runs/{run_id}"


def artifact_link(run_id: str, path: str, *, experiment_id: str) -> str:
    """The UI's relative address of one artifact of a run, opened in the artifact viewer."""
    return f"{run_link(run_id, experiment_id=experiment_id)}/artifacts/{path}"


def _cell(text: object) -> str:
    # Names can come from data (column names): keep table cells and links intact.
    return str(text).replace("|", "\\|").replace("\n", " ")


def _when(ms: float | None) -> str:
    if ms is None or not math.isfinite(ms):
        return _DASH
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def _link(label: str, href: str | None) -> str:
    return f"[{label}]({href})" if href else label


def version_link(name: str, version: str) -> str:
    """The UI's relative address of a model version (``#/models/<name>/versions/<v>``)."""
    return f"#/models/{quote(name, safe='')}/versions/{version}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """The lines of a markdown table whose cells stay apart in the MLflow UI.

    The UI renders a table with no cell padding and its sanitiser strips ``style``
    attributes, so every cell but a row's last ends with :data:`CELL_GAP`. Cells are used
    as given: escape text from data with ``_cell`` first.

    Args:
        header: Column titles.
        rows: The rows, one text per column.

    Returns:
        Markdown lines: the header, the separator, one line per row.
    """

    def line(cells: Sequence[str]) -> str:
        last = len(cells) - 1
        padded = [c + (CELL_GAP if i < last else "") for i, c in enumerate(cells)]
        return "| " + " | ".join(padded) + " |"

    return [line(header), "|" + " --- |" * len(header), *(line(r) for r in rows)]


def status_markdown(
    *,
    status: str | None,
    aliases: Sequence[str] = (),
    decision: str | None = None,
    evidence_source: str | None = None,
    baseline: str | None = None,
    note: str | None = None,
) -> str:
    """The ``status`` section: lifecycle status, aliases and the decision behind them.

    Args:
        status: The version's ``mlflow_retrain.status`` tag.
        aliases: Its aliases now.
        decision: Its evidence decision (``promote``, ``reject``, ``inconclusive``), if any.
        evidence_source: ``compare`` or ``shadow``.
        baseline: The champion the evidence was computed against (``none``: first deployment).
        note: One more sentence (what the last alias move did, say).

    Returns:
        Markdown text.
    """
    parts = [f"**Status: {(status or 'unknown').replace('_', ' ')}**"]
    parts.append("aliases: " + ", ".join(f"`{a}`" for a in aliases) if aliases else "no alias")
    if decision:
        against = (
            "as a first deployment (policy floor)"
            if baseline in (None, "", "none")
            else f"against version {baseline}"
        )
        source = {
            lineage.SOURCE_COMPARE: "offline comparison",
            lineage.SOURCE_SHADOW: "shadow test",
        }.get(evidence_source or "", "evidence")
        parts.append(f"{source}: **{_BADGE.get(decision, decision.upper())}** {against}")
    lines = [" · ".join(parts) + "."]
    if note:
        lines += ["", note]
    return "\n".join(lines)


def evidence_markdown(
    evidence: Evidence,
    *,
    challenger_version: str,
    champion_version: str | None,
    run_id: str,
    experiment_id: str | None = None,
) -> str:
    """Render the decision and the evidence table (the ``evidence`` section).

    Args:
        evidence: The comparison's outcome.
        challenger_version: The version the description belongs to.
        champion_version: The champion it was compared against, if any.
        run_id: The comparison run (linked relatively, so it works on any server).
        experiment_id: The comparison run's experiment (for the link and its artifacts).

    Returns:
        Markdown text.
    """
    against = (
        f"champion version {champion_version}"
        if champion_version
        else "no champion (first deployment: policy floor)"
    )
    lines = [
        "### Evidence",
        "",
        f"**Decision: {_BADGE[evidence.decision]}** for version {challenger_version}, against "
        f"{against}, on {evidence.n:,} gate rows (alpha {evidence.alpha:g}, Holm across primary "
        "metrics).",
        "",
        evidence.reason,
        "",
    ]
    if not evidence.first_deployment:
        lines += [
            "Differences are challenger minus champion, each with its "
            f"{interval_text(evidence.alpha)}.",
            "",
        ]
    rows = []
    for m in evidence.metrics:
        rule = rule_text(m)
        rows.append(
            [
                _cell(m.name),
                m.role,
                format_number(m.champion),
                format_number(m.challenger),
                difference_text(m),
                format_pvalue(m.p_value_adjusted),
                _cell(m.test),
                ("pass" if m.passed else "fail") + (f" ({rule})" if rule else ""),
            ]
        )
    interval = interval_short(evidence.alpha)
    header = ["metric", "role", "champion", "challenger", f"difference [{interval}]",
              "p (adj.)", "test", "result"]  # fmt: skip
    lines += table(header, rows)
    link = f"Comparison run: [{run_id}]({run_link(run_id, experiment_id=experiment_id)})"
    if experiment_id:
        curves = (
            ("ROC curves", "roc.png")
            if evidence.policy.get("task", "classification") == "classification"
            else ("residuals", "residuals.png")
        )
        artifacts = [("HTML report", "report.html")]
        # A first deployment's rows are floors: no differences figure.
        if any(m.difference is not None and m.role != "floor" for m in evidence.metrics):
            artifacts.append(("differences with intervals", "differences.png"))
        artifacts.append(curves)
        for label, path in artifacts:
            href = artifact_link(run_id, f"comparison/{path}", experiment_id=experiment_id)
            link += f" · [{label}]({href})"
    lines += ["", link + "."]
    return "\n".join(lines)


def shadow_markdown(
    summary: Mapping[str, Any],
    *,
    reason: str,
    run_id: str,
    experiment_id: str | None = None,
) -> str:
    """The ``shadow`` section: the sequential test's state after the latest batch.

    Args:
        summary: ``decision``, ``batches``, ``rows``, ``estimate``, ``cs`` (low, high),
            ``p``, ``loss``, ``margin``, ``champion`` (the version tag's summary).
        reason: The decision's one-sentence reason.
        run_id: The accumulating shadow run.
        experiment_id: Its experiment.

    Returns:
        Markdown text.
    """
    low, high = [*(summary.get("cs") or []), None, None][:2]
    decision = str(summary.get("decision", lineage.DECISION_CONTINUE))
    header = ["loss", "improvement (champion - challenger)", "confidence sequence",
              "p (always valid)", "margin"]  # fmt: skip
    cells = [_cell(summary.get("loss")), format_number(summary.get("estimate")),
             f"[{format_number(low)}, {format_number(high)}]", format_pvalue(summary.get("p")),
             format_number(summary.get("margin"))]  # fmt: skip
    lines = [
        "### Shadow test",
        "",
        f"**{_BADGE.get(decision, decision.upper())}** after {summary.get('batches')} "
        f"labelled batches ({summary.get('rows')} rows) beside champion version "
        f"{summary.get('champion')}. {reason}",
        "",
        *table(header, [cells]),
        "",
    ]
    link = f"Shadow run: [{run_id}]({run_link(run_id, experiment_id=experiment_id)})"
    if experiment_id:
        chart = artifact_link(run_id, "shadow/sequence.png", experiment_id=experiment_id)
        link += f" · [evidence chart]({chart})"
    lines.append(link + ".")
    return "\n".join(lines)


def _effect(feature: FeatureDrift) -> str:
    return f"{format_number(feature.effect_size)} ({_cell(feature.effect_metric)})"


def drift_markdown(
    report: DriftReport | None,
    *,
    trigger: str,
    reason: str,
    cycle_run_id: str | None = None,
    experiment_id: str | None = None,
    top: int = TOP_DRIFTED,
) -> str:
    """The ``trigger`` section: why the loop retrained, with the drift that triggered it.

    Args:
        report: The cycle's drift report (``run_id`` set: the drift run); ``None`` when the
            cycle checked no drift (a first deployment).
        trigger: The trigger (``drift``, ``decay``, ``model_age``, ...).
        reason: The trigger decision's sentence.
        cycle_run_id: The cycle (pipeline) run.
        experiment_id: The experiment of the drift and cycle runs.
        top: Drifted columns to list, largest effect first.

    Returns:
        Markdown text.
    """
    lines = ["### Trigger", "", f"Retrained by trigger **{_cell(trigger)}**: {reason}"]
    links = []
    if cycle_run_id:
        links.append(f"cycle run [{cycle_run_id}]"
                     f"({run_link(cycle_run_id, experiment_id=experiment_id)})")  # fmt: skip
    if report is None:
        if links:
            lines += ["", "Runs: " + " · ".join(links) + "."]
        return "\n".join(lines)
    lines += ["", f"Drift check: {report.reason}", *_drifted_table(report, top)]
    if report.run_id:
        links.insert(0, f"drift run [{report.run_id}]"
                        f"({run_link(report.run_id, experiment_id=experiment_id)})")  # fmt: skip
        if experiment_id:
            html = artifact_link(report.run_id, "drift/report.html", experiment_id=experiment_id)
            links.insert(1, f"[HTML drift report]({html})")
    if links:
        lines += ["", "Runs: " + " · ".join(links) + "."]
    return "\n".join(lines)


def _drifted_table(report: DriftReport, top: int) -> list[str]:
    """Lines of the table of the ``top`` drifted columns (critical first, then by effect)."""
    drifted = sorted(
        (f for f in report.features if f.drifted),
        key=lambda f: (not f.critical, -(f.effect_size if math.isfinite(f.effect_size) else 0)),
    )
    if not drifted:
        return []
    rows = [
        [
            _cell(f.name) + (" (critical)" if f.critical else ""),
            f.kind,
            _cell(f.test),
            _effect(f),
            format_pvalue(f.p_value_adjusted),
            f"{f.missing_rate_reference:.1%} → {f.missing_rate_current:.1%}",
        ]
        for f in drifted[:top]
    ]
    header = ["drifted column", "kind", "test", "effect size", "p (FDR)",
              "missing rate ref → cur"]  # fmt: skip
    lines = ["", *table(header, rows)]
    if len(drifted) > top:
        lines += ["", f"And {len(drifted) - top} more drifted columns in the report."]
    return lines


def drift_summary_markdown(
    report: DriftReport, *, experiment_id: str | None = None, top: int = TOP_DRIFTED
) -> str:
    """A drift run's description: the decision, the top drifted columns, the HTML report.

    Args:
        report: The drift report (``run_id`` set: the drift run).
        experiment_id: The drift run's experiment (for the report's link).
        top: Drifted columns to list, largest effect first.

    Returns:
        Markdown text.
    """
    verdict = "Drift detected" if report.drift_detected else "No drift"
    lines = [f"**{verdict}**: {report.reason}", *_drifted_table(report, top)]
    if report.run_id and experiment_id:
        html = artifact_link(report.run_id, "drift/report.html", experiment_id=experiment_id)
        lines += ["", f"Every column, with its distribution plot: [HTML drift report]({html})."]
    return "\n".join(lines)


def training_markdown(
    tags: Mapping[str, str],
    *,
    run_id: str,
    experiment_id: str | None = None,
    n_train: int | None = None,
    n_gate: int | None = None,
) -> str:
    """The ``training`` section: data window, digests, tuning result and the tuning run.

    Args:
        tags: The version's tags.
        run_id: The retrain (tuning) run.
        experiment_id: Its experiment.
        n_train: Rows in the training window.
        n_gate: Rows in the gate split.

    Returns:
        Markdown text.
    """

    keys = {
        "window": lineage.TAG_WINDOW,
        "source": lineage.TAG_TRAINING_SOURCE,
        "training_digest": lineage.TAG_TRAINING_DIGEST,
        "gate_digest": lineage.TAG_GATE_DIGEST,
        "metric": lineage.TAG_CV_METRIC,
        "score": lineage.TAG_CV_SCORE,
        "params": lineage.TAG_BEST_PARAMS,
    }

    def tag(name: str) -> str:
        return tags.get(keys[name], "") or ""

    window_text = _window_text(tag("window"))
    try:
        params = json.loads(tag("params") or "{}")
        params_text = ", ".join(f"`{k}={_short(v)}`" for k, v in sorted(params.items()))
    except ValueError:
        params_text = ""
    rows = []
    if n_train is not None:
        rows.append(("rows", f"{n_train:,} training, {n_gate or 0:,} gate (held out of tuning)"))
    rows += [
        ("data", f"`{_cell(tag('source'))}`" if tag("source") else _DASH),
        ("window", window_text),
        ("training digest", f"`{tag('training_digest')}`" if tag("training_digest") else _DASH),
        ("gate digest", f"`{tag('gate_digest')}`" if tag("gate_digest") else _DASH),
        ("cross-validated", _cv_text(tag("metric"), tag("score"))),
        ("best parameters", params_text or _DASH),
    ]
    lines = ["### Training", "", *table(["", ""], rows)]
    link = f"Tuning run: [{run_id}]({run_link(run_id, experiment_id=experiment_id)})"
    if experiment_id:
        history = artifact_link(run_id, "tuning/optimization_history.png",
                                experiment_id=experiment_id)  # fmt: skip
        link += f" (trials are its child runs) · [optimisation history]({history})"
    lines += ["", link + "."]
    return "\n".join(lines)


def _cv_text(metric: str, score: str) -> str:
    """``roc_auc 0.7691 (mean over the folds, best trial)`` from the version's tags."""
    try:
        value = format_number(float(score)) if score else ""
    except ValueError:
        value = _cell(score)
    text = f"{_cell(metric)} {value}".strip()
    return f"{text} (mean over the folds, best trial)" if value else text or _DASH


def _window_text(window: str) -> str:
    """``{"kind": "last_rows", "rows": 1600, ...}`` -> ``last 1,600 rows``."""
    try:
        data = json.loads(window) if window else {}
    except ValueError:
        return _cell(window)
    kind = data.get("kind", "all")
    text = {
        "all": "all rows",
        "last_rows": f"last {data.get('rows') or 0:,} rows",
        "last_days": f"last {data.get('days')} days",
        "half_life": f"all rows, weighted with a half-life of {data.get('half_life_days')} days",
    }.get(kind, _cell(kind))
    if kind != "all":
        text += f" (from the {data.get('reference', 'latest')} timestamp)"
    if data.get("tune"):
        text += "; the share of history tuned by Optuna"
    return text


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _cell(value)[:40]


def policy_markdown(policy: Mapping[str, Any], *, stored: bool) -> str:
    """The registered model's ``policy`` section: the promotion rules in a few lines.

    Args:
        policy: The policy's JSON form (``PromotionPolicy.to_dict()``).
        stored: It is the model's own policy (tag ``mlflow_retrain.policy``), not the default.

    Returns:
        Markdown text.
    """
    primary = ", ".join(
        f"{p['metric']} ({p.get('test') or 'default test'}, must improve by more than "
        f"{float(p.get('min_improvement', 0)):g})"
        for p in policy.get("primary", [])
    )
    guardrails = ", ".join(
        f"{g['metric']} (may lose at most {float(g['margin']):g})"
        for g in policy.get("guardrails", [])
    )
    floor = ", ".join(f"{k} {v:g}" for k, v in dict(policy.get("floor") or {}).items())
    mode = policy.get("mode", "offline")
    how = {
        "offline": "an offline paired comparison on the gate split",
        "shadow": "a sequential shadow test on live labelled batches",
        "both": "an offline comparison, then a sequential shadow test",
    }.get(str(mode), str(mode))
    lines = [
        "### Promotion policy",
        "",
        "`champion` moves only through the mlflow-retrain promotion gate: with evidence "
        f"computed against the current champion by {how} (mode `{mode}`), no older than "
        f"{float(policy.get('max_evidence_age_days', 30)):g} days; or as a rollback to "
        "`previous-champion`; or by an audited override.",
        "",
        f"- Primary metrics (Holm, alpha {float(policy.get('alpha', 0.05)):g}): "
        f"{primary or _DASH}",
        f"- Guardrails: {guardrails or 'none'}",
        f"- First-deployment floor: {floor or 'none'}",
    ]
    if not stored:
        lines += ["", "The task's default policy (no `mlflow_retrain.policy` tag is set)."]
    return "\n".join(lines)


def alias_history_markdown(
    aliases: Mapping[str, str],
    records: Sequence[Mapping[str, Any]],
    *,
    evidence_links: Mapping[str, str] | None = None,
    rows: int = HISTORY_ROWS,
) -> str:
    """The registered model's ``aliases`` section: who holds which alias, and recent moves.

    Args:
        aliases: Alias to version, now.
        records: Audit records (``from``, ``to``, ``kind``, ``reason``, ``evidence_run``,
            ``time_ms``, ``user``), any order.
        evidence_links: Run id to its UI link, for the evidence column.
        rows: Moves to list, newest first.

    Returns:
        Markdown text.
    """
    links = evidence_links or {}
    held = ", ".join(f"`{a}` → version {v}" for a, v in sorted(aliases.items())) or "none yet"
    lines = ["### Aliases", "", f"Now: {held}."]
    ordered = sorted(records, key=lambda r: -float(r.get("time_ms") or 0))
    if ordered:
        cells = []
        for r in ordered[:rows]:
            run = r.get("evidence_run")
            evidence = _link(str(run)[:8], links.get(str(run))) if run else _DASH
            reason = _cell(r.get("reason") or "")
            if len(reason) > 160:
                reason = reason[:157] + "..."
            cells.append(
                [
                    _when(r.get("time_ms")),
                    _cell(r.get("kind", "")),
                    f"{_cell(r.get('from') or _DASH)} → {_cell(r.get('to'))}",
                    reason,
                    evidence,
                    _cell(r.get("user") or _DASH),
                ]
            )
        lines += ["", *table(["time", "move", "from → to", "reason", "evidence", "by"], cells)]
        if len(ordered) > rows:
            lines += ["", f"{len(ordered) - rows} older moves are in the model's audit tags."]
    else:
        lines += ["", "No alias move recorded yet."]
    return "\n".join(lines)


def model_description(description: str | None, *, policy: str, aliases: str) -> str:
    """The registered model's description with its ``policy`` and ``aliases`` sections set."""
    text = replace_section(description, "policy", policy, order=MODEL_SECTIONS)
    return replace_section(text, "aliases", aliases, order=MODEL_SECTIONS)


# Run descriptions of the loop: one cycle, and a replay of many.

_OUTCOMES = {
    "no_change": "no change",
    "held": "held",
    "promoted": "promoted",
    "rejected": "rejected",
    "inconclusive": "inconclusive",
    "challenger_in_shadow": "challenger in shadow",
    "busy": "stepped back",
}


def cycle_markdown(
    result: Mapping[str, Any],
    *,
    steps: Mapping[str, str] | None = None,
    experiment_id: str | None = None,
    champion_before: str | None = None,
    drift_reason: str | None = None,
) -> str:
    """A cycle run's description: what the check found and what it did.

    The first line says the outcome and the champion after the cycle (the run page shows
    only the first lines until "Show more"); a list follows, one item per step, each linked
    to its run.

    Args:
        result: The cycle's JSON form (``CycleResult.to_dict()``: ``model_name``, ``batch``,
            ``outcome``, ``trigger``, ``retrain``, ``trigger_reason``, ``drift_detected``,
            ``decay``, ``challenger_version``, ``decision``, ``champion_version``,
            ``halted``, ``shadow``).
        steps: The cycle's step runs by step (``drift``, ``retrain``, ``compare``,
            ``shadow``), linked from their rows.
        experiment_id: The experiment of the cycle and its step runs.
        champion_before: The champion the batch was checked against.
        drift_reason: The drift run's decision sentence.

    Returns:
        Markdown text.
    """
    runs = dict(steps or {})
    name = str(result.get("model_name", ""))

    def version(v: object) -> str:
        return _link(f"version {v}", version_link(name, str(v))) if v else "none"

    def step(label: str, key: str, *extra: tuple[str, str]) -> str:
        if key not in runs:
            return ""
        links = [_link(label, run_link(runs[key], experiment_id=experiment_id))]
        if experiment_id:
            links += [
                _link(text, artifact_link(runs[key], path, experiment_id=experiment_id))
                for text, path in extra
            ]
        return " · " + " · ".join(links)

    outcome = str(result.get("outcome", ""))
    after = result.get("champion_version")
    batch = str(result.get("batch", ""))
    head = (
        f"**Cycle: {_OUTCOMES.get(outcome, _cell(outcome.replace('_', ' ')))}** · "
        f"`{_cell(batch.rstrip('/').rsplit('/', 1)[-1])}` · champion after the cycle: "
        f"{version(after)}"
    )
    if champion_before not in (None, "", "none") and str(champion_before) != str(after):
        head += f" (was {version(champion_before)})"
    lines = [head + "."]
    if result.get("halted"):
        lines += ["", "**Retraining is halted** after this cycle: a person must check the "
                  f"model and run `mlflow-retrain resume --model {_cell(name)}`."]  # fmt: skip
    trigger = _cell(result.get("trigger") or "none")
    action = "retrained" if result.get("retrain") else "no retrain"
    rows = [
        ["Batch", f"`{_cell(batch)}`"],
        ["Trigger", f"**{trigger}** ({action}): {_cell(result.get('trigger_reason', ''))}"],
    ]
    detected = result.get("drift_detected")
    if detected is None:
        drift = "not checked (no champion to compare with)"
    else:
        drift = ("**found**" if detected else "none") + (
            f": {_cell(drift_reason)}" if drift_reason else ""
        )
    drift += step("drift run", "drift", ("HTML report", "drift/report.html"))
    rows.append(["Drift", drift])
    rows.append(["Decay check", _decay_text(result.get("decay"))])
    shadow = result.get("shadow")
    if shadow:
        rows.append(
            [
                "Shadow test",
                f"{version(shadow.get('version'))}: "
                f"**{_BADGE.get(str(shadow.get('decision')), str(shadow.get('decision')))}** "
                f"after {shadow.get('batches')} batches ({shadow.get('rows')} rows)"
                + step("shadow run", "shadow"),
            ]
        )
    trained = result.get("challenger_version")
    if trained:
        rows.append(["Trained", version(trained) + step("tuning run", "retrain")])
    decision = result.get("decision")
    if decision:
        against = (
            f"against {version(champion_before)}"
            if champion_before not in (None, "", "none")
            else "as a first deployment (policy floor)"
        )
        rows.append(
            [
                "Comparison",
                f"**{_BADGE.get(str(decision), str(decision).upper())}** {against}"
                + step("comparison run", "compare", ("HTML report", "comparison/report.html")),
            ]
        )
    rows.append(["Champion after", version(after)])
    lines += ["", *(f"- **{key}:** {value}" for key, value in rows)]
    return "\n".join(lines)


def _decay_text(decay: Mapping[str, Any] | None) -> str:
    """``roc_auc 0.7104 [0.6812, 0.7391] on the batch vs reference 0.7012 [...]: no decay``."""
    if not decay:
        return "not checked (no champion, too few labelled rows, or no reference)"
    metric = _cell(decay.get("metric", ""))
    low, high = decay.get("ci_low"), decay.get("ci_high")
    if decay.get("reference_set"):
        return (
            f"champion's {metric} on this batch {format_number(decay.get('value'))} "
            f"[{format_number(low)}, {format_number(high)}]: its reference from now on (the "
            "first labelled batch it served), not judged"
        )
    ref_low, ref_high = [*(decay.get("reference_ci") or []), None, None][:2]
    reference = format_number(decay.get("reference"))
    if ref_low is not None and ref_high is not None:
        reference += f" [{format_number(ref_low)}, {format_number(ref_high)}]"
    verdict = "**decayed**" if decay.get("decayed") else "no significant decay"
    return (
        f"champion's {metric} on this batch {format_number(decay.get('value'))} "
        f"[{format_number(low)}, {format_number(high)}] vs its reference {reference} "
        f"(the first labelled batch it served): {verdict}"
    )


def cycle_failed_markdown(*, batch: str, reason: str, circuit_breaker: bool) -> str:
    """A failed cycle run's description: why it stopped, and that nothing changed."""
    what = "Circuit breaker open" if circuit_breaker else "Cycle failed"
    name = batch.rstrip("/").rsplit("/", 1)[-1]
    return (
        f"**{what}** · `{_cell(name)}`: {reason}\n\n"
        f"- **Batch:** `{_cell(batch)}`\n\n"
        "Nothing was registered and no alias moved."
    )


def timeline_markdown(
    rows: Sequence[Mapping[str, Any]],
    *,
    model_name: str,
    experiment_id: str | None = None,
    total: int | None = None,
    run_id: str | None = None,
    limit: int = lineage.MAX_NOTE_LENGTH,
) -> str:
    """A replay run's description: the timeline the CLI prints, with links.

    Args:
        rows: One row per batch (the ``TimelineRow`` JSON form: ``batch``, ``drift``,
            ``trigger``, ``retrained``, ``decision``, ``champion``, ``metric``,
            ``next_value``, ``run_id``).
        model_name: Registered model (for version links).
        experiment_id: The experiment of the cycle runs.
        total: Batches the replay will check; more than ``len(rows)`` while it runs.
        run_id: The replay run, to link its ``timeline/`` artifacts (once they are logged).
        limit: Longest text; rows that do not fit are left to the artifacts.

    Returns:
        Markdown text.
    """
    metric = str(rows[0].get("metric", "metric")) if rows else "metric"

    def version(v: object) -> str:
        return _link(f"v{v}", version_link(model_name, str(v))) if v else _DASH

    done = total is None or len(rows) >= total
    champion = rows[-1].get("champion") if rows else None
    model = _link(f"`{_cell(model_name)}`", f"#/models/{quote(model_name, safe='')}")
    if done:
        head = (
            f"**Replay of {len(rows)} batches** of {model}, oldest first, one loop cycle each; "
            f"champion at the end: {version(champion)}."
        )
    else:
        head = f"**Replay of {model} running: {len(rows)} of {total} batches checked.**"
    header = ["batch", "drift", "trigger", "retrain", "decision", "champion",
              f"next-batch {_cell(metric)}"]  # fmt: skip
    foot = [
        "",
        f"Next-batch {_cell(metric)}: the champion after the cycle, scored on the next batch "
        "(the one it serves). Each batch links to its cycle run.",
    ]
    if done and run_id and experiment_id:
        links = [
            _link(path, artifact_link(run_id, f"timeline/{path}", experiment_id=experiment_id))
            for path in ("timeline.txt", "timeline.json")
        ]
        foot[-1] += " The whole timeline: " + " · ".join(links) + "."
    cells = []
    for r in rows:
        batch = _cell(r.get("batch", ""))
        run = r.get("run_id")
        cells.append(
            [
                _link(batch, run_link(str(run), experiment_id=experiment_id)) if run else batch,
                _cell(r.get("drift", "")),
                _cell(r.get("trigger", "")),
                version(r.get("retrained")),
                _cell(r.get("decision", "")),
                version(r.get("champion")),
                format_number(r.get("next_value")),
            ]
        )
    budget = limit - len(head) - sum(len(line) + 1 for line in foot) - 200
    shown = cells
    while shown and len("\n".join(table(header, shown))) > budget:
        shown = shown[:-1]
    lines = [head, "", *table(header, shown)]
    if len(shown) < len(cells):
        lines += ["", f"{len(cells) - len(shown)} later batches are in the timeline artifacts."]
    return "\n".join([*lines, *foot])
