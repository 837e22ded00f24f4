"""Description markdown: sections each writer replaces alone, tables, relative UI links."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from helpers.drift import feature_drift
from helpers.evidence import comparison_evidence, metric_comparison

from mlflow_retrain import lineage
from mlflow_retrain.drift.report import DriftReport, FeatureDrift
from mlflow_retrain.report.markdown import (
    CELL_GAP,
    alias_history_markdown,
    artifact_link,
    cycle_failed_markdown,
    cycle_markdown,
    drift_markdown,
    evidence_markdown,
    model_description,
    policy_markdown,
    replace_section,
    run_link,
    section_text,
    shadow_markdown,
    status_markdown,
    table,
    timeline_markdown,
    training_markdown,
    version_link,
)


def _table_rows(text: str) -> list[list[str]]:
    """The cells of every table row in ``text`` (header rows included, separators not), as
    a reader sees them: without the gap that keeps cells apart."""
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
            rows.append([c.strip().removesuffix(CELL_GAP).strip() for c in cells])
    return rows


def _report(features: tuple[FeatureDrift, ...], run_id: str | None = "drift123") -> DriftReport:
    drifted = tuple(f.name for f in features if f.drifted)
    return DriftReport(
        drift_detected=bool(drifted),
        n_reference=1000,
        n_current=500,
        features=features,
        target=None,
        n_drifted=len(drifted),
        share_drifted=len(drifted) / len(features),
        drifted_columns=drifted,
        critical_drifted=(),
        reason=f"{len(drifted)} of {len(features)} columns drifted.",
        alpha=0.05,
        fdr_method="bh",
        drift_share=0.2,
        reference_source="profile",
        run_id=run_id,
    )


#: What the version sections show: roc_auc 0.795 against 0.704, significantly better.
EVIDENCE = comparison_evidence(
    metric_comparison(
        challenger=0.795,
        champion=0.704,
        difference=0.0915,
        ci_low=0.0582,
        ci_high=0.125,
        p_value=3.08e-6,
        p_value_adjusted=3.08e-6,
    ),
    reason="The challenger is significantly better on roc_auc.",
    n=377,
    policy={"task": "classification"},
)


# --- sections ----------------------------------------------------------------------------------


def test_a_section_is_added_to_an_empty_description() -> None:
    text = replace_section(None, "evidence", "### Evidence\n\n| a |\n| --- |")

    assert section_text(text, "evidence") == "### Evidence\n\n| a |\n| --- |"
    assert text.startswith("### Evidence <!-- mlflow-retrain:evidence -->")


def test_replacing_a_section_leaves_the_others_and_a_persons_note_alone() -> None:
    text = replace_section(None, "training", "### Training\n\nold window")
    text = replace_section(text, "evidence", "### Evidence\n\nfirst")
    text += "\nReviewed by Ana: fine.\n"

    text = replace_section(text, "evidence", "### Evidence\n\nsecond")

    assert section_text(text, "evidence") == "### Evidence\n\nsecond"
    assert section_text(text, "training") == "### Training\n\nold window"
    assert "first" not in text
    assert text.rstrip().endswith("Reviewed by Ana: fine.")
    assert text.count("<!-- mlflow-retrain:evidence -->") == 1


def test_sections_come_in_the_display_order_whatever_the_writing_order() -> None:
    text = None
    for name in ("training", "shadow", "evidence", "trigger", "status"):
        text = replace_section(text, name, f"{name} body")
    assert text is not None

    positions = [text.index(f"{name} body") for name in
                 ("status", "evidence", "shadow", "trigger", "training")]  # fmt: skip
    assert positions == sorted(positions)


def test_the_description_starts_with_words_not_a_comment() -> None:
    # The UI's version list shows the raw start of the description.
    text = replace_section(None, "status", "**Status: promoted** · aliases: `champion`.")

    assert text.startswith("**Status: promoted**")


def test_a_section_set_to_none_is_removed() -> None:
    text = replace_section(None, "shadow", "### Shadow test\n\nbody")

    assert replace_section(text, "shadow", None).strip() == ""


def test_an_unknown_section_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown description section 'notes'"):
        replace_section("", "notes", "x")


def test_a_section_rewritten_many_times_does_not_grow() -> None:
    text = replace_section(None, "status", "a\n\nb")
    once = replace_section(text, "evidence", "c")
    again = replace_section(replace_section(once, "status", "a\n\nb"), "evidence", "c")

    assert again == once


# --- links ---------------------------------------------------------------------------------------


def test_links_are_relative_to_the_ui() -> None:
    assert run_link("r1", experiment_id="7") == "#/experiments/7/runs/r1"
    assert run_link("r1") == "#/runs/r1"
    assert (
        artifact_link("r1", "drift/report.html", experiment_id="7")
        == "#/experiments/7/runs/r1/artifacts/drift/report.html"
    )


# --- version sections ----------------------------------------------------------------------------


def test_the_evidence_table_has_a_row_per_metric_with_interval_p_and_result() -> None:
    text = evidence_markdown(
        EVIDENCE, challenger_version="2", champion_version="1", run_id="cmp", experiment_id="3"
    )

    assert "**Decision: PROMOTE** for version 2, against champion version 1" in text
    header, row = _table_rows(text)
    assert header == ["metric", "role", "champion", "challenger", "difference [90% interval]",
                      "p (adj.)", "test", "result"]  # fmt: skip
    assert row == ["roc_auc", "primary", "0.704", "0.795", "0.0915 [0.0582, 0.125]", "3.08e-6",
                   "delong", "pass (needs > 0)"]  # fmt: skip
    assert "each with its 90% two-sided interval (each end a one-sided 95% bound)." in text
    assert "(#/experiments/3/runs/cmp/artifacts/comparison/roc.png)" in text
    assert "(#/experiments/3/runs/cmp/artifacts/comparison/differences.png)" in text
    assert "(#/experiments/3/runs/cmp/artifacts/comparison/report.html)" in text
    assert "{" not in text  # no raw JSON


def test_a_first_deployment_links_no_differences_figure() -> None:
    first = comparison_evidence(
        replace(
            EVIDENCE.metrics[0],
            champion=None,
            difference=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            p_value_adjusted=None,
        ),
        reason="No champion yet.",
        n=377,
        first_deployment=True,
    )

    text = evidence_markdown(
        first, challenger_version="1", champion_version=None, run_id="cmp", experiment_id="3"
    )

    assert "differences.png" not in text
    assert "against no champion (first deployment: policy floor)" in text
    assert _table_rows(text)[1][:6] == ["roc_auc", "primary", "—", "0.795", "—", "—"]
    assert "interval" not in text.split("| metric")[0]  # no interval to explain


def test_the_trigger_section_lists_the_largest_effects_first_and_links_the_report() -> None:
    report = _report(
        (
            feature_drift("small", effect_size=0.2),
            feature_drift("large", effect_size=0.9),
            feature_drift("stable", shifted=False, effect_size=0.01),
            feature_drift("region", effect_size=0.3, kind="categorical"),
        )
    )

    text = drift_markdown(
        report, trigger="drift", reason="Drift persists.", cycle_run_id="cyc", experiment_id="3"
    )

    rows = _table_rows(text)
    assert [r[0] for r in rows[1:]] == ["large", "region", "small"]
    assert "0.9 (wasserstein)" in text
    assert "stable" not in text
    assert "[HTML drift report](#/experiments/3/runs/drift123/artifacts/drift/report.html)" in text
    assert "cycle run [cyc](#/experiments/3/runs/cyc)" in text


def test_the_trigger_section_caps_the_listed_columns() -> None:
    report = _report(tuple(feature_drift(f"c{i}", effect_size=0.1 + i / 100) for i in range(8)))

    text = drift_markdown(report, trigger="drift", reason="r", top=3)

    assert text.count("(wasserstein)") == 3
    assert "And 5 more drifted columns in the report." in text


def test_the_trigger_section_without_a_drift_check_gives_the_reason_only() -> None:
    text = drift_markdown(None, trigger="first_deployment", reason="No champion yet.")

    assert "Retrained by trigger **first_deployment**: No champion yet." in text
    assert "drifted column" not in text


def test_column_names_cannot_break_the_table() -> None:
    report = _report((feature_drift("a|b\nc", effect_size=0.5),))

    text = drift_markdown(report, trigger="drift", reason="r")

    assert "| a\\|b c" + CELL_GAP + " |" in text
    assert _table_rows(text)[1][0] == "a\\|b c"


def test_the_training_section_shows_window_digests_and_best_parameters() -> None:
    tags = {
        lineage.TAG_WINDOW: '{"kind": "last_rows", "rows": 1600, "reference": "latest"}',
        lineage.TAG_TRAINING_DIGEST: "17114e88",
        lineage.TAG_GATE_DIGEST: "70758977",
        lineage.TAG_TRAINING_SOURCE: "runs:/abc/window/training.parquet",
        lineage.TAG_CV_METRIC: "roc_auc",
        lineage.TAG_CV_SCORE: "0.769",
        lineage.TAG_BEST_PARAMS: '{"linear__C": 0.69453562}',
    }

    text = training_markdown(tags, run_id="tune", experiment_id="3", n_train=1600, n_gate=377)

    rows = {row[0]: row[1] for row in _table_rows(text)}
    assert rows["window"] == "last 1,600 rows (from the latest timestamp)"
    assert rows["training digest"] == "`17114e88`"
    assert rows["gate digest"] == "`70758977`"
    assert rows["cross-validated"] == "roc_auc 0.769 (mean over the folds, best trial)"
    assert "`linear__C=0.6945`" in text
    assert "[tune](#/experiments/3/runs/tune)" in text
    assert "1,600 training, 377 gate" in text


def test_the_status_line_names_status_aliases_and_decision() -> None:
    text = status_markdown(
        status="rolled_back",
        aliases=["champion"],
        decision="promote",
        evidence_source="shadow",
        baseline="4",
        note="Rolled back on Monday.",
    )

    assert text.startswith("**Status: rolled back** · aliases: `champion` · shadow test: "
                           "**PROMOTE** against version 4.")  # fmt: skip
    assert text.endswith("Rolled back on Monday.")


def test_the_shadow_section_shows_the_confidence_sequence() -> None:
    summary = {"decision": "continue", "batches": 3, "rows": 900, "estimate": 0.012,
               "cs": [-0.004, 0.03], "p": 0.21, "loss": "brier", "margin": 0.0,
               "champion": "1"}  # fmt: skip

    text = shadow_markdown(summary, reason="Not decisive yet.", run_id="sh", experiment_id="3")

    assert "**CONTINUE** after 3 labelled batches (900 rows) beside champion version 1." in text
    assert _table_rows(text)[1] == ["brier", "0.012", "[-0.004, 0.03]", "0.21", "0"]
    assert "(#/experiments/3/runs/sh/artifacts/shadow/sequence.png)" in text


# --- registered model ----------------------------------------------------------------------------


def test_the_policy_summary_names_metrics_guardrails_floor_and_age() -> None:
    policy = {
        "task": "classification",
        "primary": [{"metric": "roc_auc", "test": "delong", "min_improvement": 0.01}],
        "guardrails": [{"metric": "brier", "margin": 0.02, "test": "paired_t"}],
        "alpha": 0.05,
        "floor": {"roc_auc": 0.6},
        "mode": "both",
        "max_evidence_age_days": 14,
    }

    text = policy_markdown(policy, stored=True)

    assert "roc_auc (delong, must improve by more than 0.01)" in text
    assert "brier (may lose at most 0.02)" in text
    assert "First-deployment floor: roc_auc 0.6" in text
    assert "no older than 14 days" in text
    assert "(mode `both`)" in text
    assert "default policy" not in text


def test_the_alias_history_lists_the_newest_moves_first_with_evidence_links() -> None:
    records = [
        {"from": None, "to": "1", "kind": "first_deployment", "reason": "floor met",
         "evidence_run": "e1", "time_ms": 1_700_000_000_000, "user": None},
        {"from": "1", "to": "2", "kind": "promotion", "reason": "better",
         "evidence_run": "e2", "time_ms": 1_700_000_100_000, "user": "ana"},
        {"from": "2", "to": "1", "kind": "rollback", "reason": "bad | latency",
         "evidence_run": None, "time_ms": 1_700_000_200_000, "user": None},
    ]  # fmt: skip

    text = alias_history_markdown(
        {"champion": "1", "previous-champion": "2"},
        records,
        evidence_links={"e2": "#/experiments/3/runs/e2"},
        rows=2,
    )

    rows = [row for row in _table_rows(text) if row[0].startswith("2023")]
    assert len(rows) == 2
    assert rows[0][1:5] == ["rollback", "2 → 1", "bad \\| latency", "—"]
    assert rows[1][1:] == ["promotion", "1 → 2", "better", "[e2](#/experiments/3/runs/e2)", "ana"]
    assert "1 older moves are in the model's audit tags." in text
    assert "Now: `champion` → version 1, `previous-champion` → version 2." in text


def test_the_model_description_keeps_a_persons_text() -> None:
    text = model_description("Owned by the risk team.", policy="### Promotion policy\n\np",
                             aliases="### Aliases\n\na")  # fmt: skip

    again = model_description(text, policy="### Promotion policy\n\nq", aliases="### Aliases\n\na")

    assert section_text(again, "policy") == "### Promotion policy\n\nq"
    assert again.rstrip().endswith("Owned by the risk team.")
    assert again.index("Promotion policy") < again.index("### Aliases")


# --- tables --------------------------------------------------------------------------------------


def test_table_cells_keep_a_gap_the_ui_does_not_collapse() -> None:
    lines = table(["metric", "value"], [["roc_auc", "0.7043"], ["brier", "0.1822"]])

    assert lines == [
        f"| metric{CELL_GAP} | value |",
        "| --- | --- |",
        f"| roc_auc{CELL_GAP} | 0.7043 |",
        f"| brier{CELL_GAP} | 0.1822 |",
    ]
    assert CELL_GAP == "&emsp;&emsp;"  # an entity the UI's sanitiser keeps; spaces collapse


def test_version_links_are_relative_and_escape_the_model_name() -> None:
    assert version_link("credit default/eu", "3") == "#/models/credit%20default%2Feu/versions/3"


# --- run descriptions of the loop ----------------------------------------------------------------


def _items(text: str) -> dict[str, str]:
    """The ``- **Key:** value`` items of a description."""
    found = (re.fullmatch(r"- \*\*(.+?):\*\* (.*)", line) for line in text.splitlines())
    return {m.group(1): m.group(2) for m in found if m}


def _cycle(**changes: object) -> dict[str, object]:
    result: dict[str, object] = {
        "model_name": "credit",
        "batch": "s3://bucket/month_08.csv",
        "outcome": "promoted",
        "trigger": "drift",
        "retrain": True,
        "trigger_reason": "Data drift persists: found in 2 of the last 3 checks.",
        "drift_detected": True,
        "decay": {"metric": "roc_auc", "value": 0.71041234567, "ci_low": 0.686312345,
                  "ci_high": 0.734512345, "reference": 0.678413120567, "decayed": False,
                  "reference_ci": [0.6154027961456089, 0.7414234449891429]},
        "challenger_version": "2",
        "decision": "promote",
        "champion_version": "2",
        "halted": False,
        "shadow": None,
        "run_id": "cyc",
    }  # fmt: skip
    result.update(changes)
    return result


def test_a_cycle_description_tells_the_outcome_with_links_to_its_steps() -> None:
    steps = {"drift": "d1", "retrain": "t1", "compare": "c1"}

    text = cycle_markdown(_cycle(), steps=steps, experiment_id="7", champion_before="1",
                          drift_reason="3 of 8 columns drifted.")  # fmt: skip

    assert text.startswith(
        "**Cycle: promoted** · `month_08.csv` · champion after the cycle: "
        "[version 2](#/models/credit/versions/2) (was [version 1](#/models/credit/versions/1))."
    )
    rows = _items(text)
    assert rows["Batch"] == "`s3://bucket/month_08.csv`"
    assert rows["Trigger"] == (
        "**drift** (retrained): Data drift persists: found in 2 of the last 3 checks."
    )
    assert rows["Drift"] == (
        "**found**: 3 of 8 columns drifted. · [drift run](#/experiments/7/runs/d1) · "
        "[HTML report](#/experiments/7/runs/d1/artifacts/drift/report.html)"
    )
    assert rows["Decay check"] == (
        "champion's roc_auc on this batch 0.7104 [0.6863, 0.7345] vs its reference 0.6784 "
        "[0.6154, 0.7414] (the first labelled batch it served): no significant decay"
    )
    assert rows["Trained"] == (
        "[version 2](#/models/credit/versions/2) · [tuning run](#/experiments/7/runs/t1)"
    )
    assert rows["Comparison"].startswith(
        "**PROMOTE** against [version 1](#/models/credit/versions/1) · "
        "[comparison run](#/experiments/7/runs/c1)"
    )
    assert rows["Champion after"] == "[version 2](#/models/credit/versions/2)"


def test_a_cycle_that_changed_nothing_says_so() -> None:
    result = _cycle(outcome="no_change", trigger="none", retrain=False, drift_detected=False,
                    decay=None, challenger_version=None, decision=None, champion_version="1",
                    trigger_reason="No significant drift or decay.")  # fmt: skip

    text = cycle_markdown(result, steps={"drift": "d1"}, experiment_id="7", champion_before="1")

    assert text.startswith("**Cycle: no change**")
    assert "(was " not in text  # the champion did not change
    rows = _items(text)
    assert rows["Trigger"] == "**none** (no retrain): No significant drift or decay."
    assert rows["Drift"].startswith("none · [drift run](#/experiments/7/runs/d1)")
    assert rows["Decay check"].startswith("not checked")
    assert "Trained" not in rows
    assert "Comparison" not in rows


def test_a_first_deployment_cycle_and_a_halt_are_described() -> None:
    result = _cycle(trigger="first_deployment", drift_detected=None, decay=None,
                    challenger_version="1", champion_version="1", halted=True)  # fmt: skip

    text = cycle_markdown(result, steps={}, experiment_id=None, champion_before="none")

    rows = _items(text)
    assert rows["Drift"] == "not checked (no champion to compare with)"
    assert rows["Comparison"] == "**PROMOTE** as a first deployment (policy floor)"
    assert "**Retraining is halted** after this cycle" in text
    assert "`mlflow-retrain resume --model credit`" in text


def test_a_shadow_step_is_part_of_the_cycle_description() -> None:
    shadow = {"version": "3", "decision": "continue", "batches": 2, "rows": 800}

    text = cycle_markdown(_cycle(shadow=shadow), steps={"shadow": "s1"}, experiment_id="7")

    assert _items(text)["Shadow test"] == (
        "[version 3](#/models/credit/versions/3): **CONTINUE** after 2 batches (800 rows) · "
        "[shadow run](#/experiments/7/runs/s1)"
    )


def test_a_failed_cycle_description_gives_the_reason() -> None:
    text = cycle_failed_markdown(batch="month_09.csv", reason="Column 'income' is text.",
                                 circuit_breaker=True)  # fmt: skip

    assert text.startswith("**Circuit breaker open** · `month_09.csv`: Column 'income' is text.")
    assert _items(text)["Batch"] == "`month_09.csv`"
    assert text.endswith("Nothing was registered and no alias moved.")


def _timeline_row(i: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "batch": f"month_{i:02d}.csv", "drift": "none", "trigger": "none", "retrained": None,
        "decision": "-", "champion": "1", "metric": "roc_auc", "next_value": 0.6687123456,
        "run_id": f"r{i}",
    }  # fmt: skip
    row.update(changes)
    return row


def test_the_replay_description_is_the_timeline_with_links() -> None:
    rows = [
        _timeline_row(1, drift="-", trigger="first_deployment", retrained="1", decision="promote"),
        _timeline_row(2, next_value=None),
    ]

    text = timeline_markdown(rows, model_name="credit", experiment_id="7", run_id="rep")

    assert text.startswith(
        "**Replay of 2 batches** of [`credit`](#/models/credit), oldest first, one loop cycle "
        "each; champion at the end: [v1](#/models/credit/versions/1)."
    )
    header, first, second = _table_rows(text)
    assert header == ["batch", "drift", "trigger", "retrain", "decision", "champion",
                      "next-batch roc_auc"]  # fmt: skip
    assert first == ["[month_01.csv](#/experiments/7/runs/r1)", "-", "first_deployment",
                     "[v1](#/models/credit/versions/1)", "promote",
                     "[v1](#/models/credit/versions/1)", "0.6687"]  # fmt: skip
    assert second[3] == "—"
    assert second[6] == "—"
    assert "[timeline.txt](#/experiments/7/runs/rep/artifacts/timeline/timeline.txt)" in text


def test_a_running_replay_says_how_far_it_got() -> None:
    text = timeline_markdown([_timeline_row(1)], model_name="credit", total=12, run_id="rep")

    assert text.startswith("**Replay of [`credit`](#/models/credit) running: 1 of 12 batches")
    assert "timeline.txt" not in text  # not logged yet


def test_a_long_timeline_fits_the_run_description() -> None:
    rows = [_timeline_row(i) for i in range(1, 61)]

    text = timeline_markdown(rows, model_name="credit", experiment_id="7", run_id="rep",
                             limit=3000)  # fmt: skip

    assert len(text) <= 3000
    shown = len(_table_rows(text)) - 1
    assert 0 < shown < 60
    assert f"{60 - shown} later batches are in the timeline artifacts." in text
