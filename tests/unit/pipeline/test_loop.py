"""The retraining loop (`mlflow-retrain run`) in-process, against a local tracking store.

A first batch trains and promotes a first model; the same batch again is skipped; a corrupt
batch opens the circuit breaker and changes nothing; a halted model does not retrain until a
person resumes it; each cycle reads its batch and policy once and describes what it did. A
killed cycle, a history in S3 and a tracking server are in
``tests/integration/test_loop_remote.py``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from helpers.examples import example_generator
from helpers.pipeline import run_cycle, write_loop_project
from helpers.registry import version_numbers
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_retrain.cli import main
from mlflow_retrain.lineage import (
    TAG_DRIFT_REASON,
    TAG_GATE_URI,
    TAG_HALTED,
    TAG_POLICY,
    TAG_RUN_NOTE,
    TAG_STEP,
)
from mlflow_retrain.report.html import format_number
from mlflow_retrain.report.markdown import CELL_GAP, section_text

MODEL = "credit-default"
#: Why the circuit breaker stops a batch whose ``income`` is all ``n/a`` (pandas reads it as
#: missing): the column, what is wrong with it, how many rows, and the fix.
EMPTY_INCOME = (
    "Column 'income' is entirely empty in the current batch (all 500 values missing) but has "
    "values in the reference. Fix the export or list the column under drift.ignore."
)


@pytest.fixture
def project(tracking_uri: str, tmp_path: Path) -> Path:
    """The loop's ``retrain.yaml`` over months 1 and 2, with a private tracking store."""
    return write_loop_project(tmp_path, MODEL)


def test_first_batch_deploys_and_a_batch_is_processed_once(
    tracking_uri: str, project: Path
) -> None:
    first = str(project.parent / "data" / "month_01.csv")

    code, data, stderr = run_cycle(project, "--batch", first)

    assert code == 0, stderr
    assert data is not None
    assert (data["trigger"], data["outcome"], data["champion_version"]) == (
        "first_deployment", "promoted", "1",
    )  # fmt: skip
    code, again, _ = run_cycle(project, "--batch", first)
    assert code == 0
    assert again is not None
    assert again["outcome"] == "already_processed"
    client = MlflowClient(tracking_uri)
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 1
    description = client.get_model_version(MODEL, "1").description
    trigger = section_text(description, "trigger")
    assert trigger is not None
    assert "Retrained by trigger **first_deployment**" in trigger
    assert f"cycle run [{data['run_id']}](#/experiments/" in trigger
    for section in ("status", "evidence", "training"):
        assert section_text(description, section), section

    code, second, stderr = run_cycle(project)  # the newest batch of the history: month 2

    assert code == 0, stderr
    assert second is not None
    assert second["batch"].endswith("month_02.csv")
    assert second["outcome"] == "no_change", second
    assert second["drift_detected"] is False
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 1


def test_a_corrupt_batch_opens_the_circuit_breaker_and_changes_nothing(
    tracking_uri: str, project: Path
) -> None:
    assert run_cycle(project, "--batch", str(project.parent / "data" / "month_01.csv"))[0] == 0
    bad = project.parent / "bad.csv"
    frame = example_generator().generate_month(2, rows=500)
    frame["income"] = "n/a"
    frame.to_csv(bad, index=False)

    code, data, stderr = run_cycle(project, "--batch", str(bad))

    assert code == 1
    assert data is None
    # One line on stderr says why, after MLflow's download progress bars (``\r`` redraws).
    errors = [line for line in stderr.splitlines() if line.startswith("mlflow-retrain:")]
    assert errors == [f"mlflow-retrain: error: {EMPTY_INCOME}"]
    assert stderr.rstrip("\n").endswith(errors[0])
    client = MlflowClient(tracking_uri)
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 1
    assert {k: str(v) for k, v in client.get_registered_model(MODEL).aliases.items()} == {
        "champion": "1"
    }


def test_a_halted_model_waits_for_a_person(tracking_uri: str, project: Path) -> None:
    assert run_cycle(project, "--batch", str(project.parent / "data" / "month_01.csv"))[0] == 0
    client = MlflowClient(tracking_uri)
    client.set_registered_model_tag(MODEL, TAG_HALTED, "3 challengers in a row were rejected.")

    code, _, stderr = run_cycle(project)

    assert code == 1
    assert "is halted" in stderr
    assert f"mlflow-retrain resume --model {MODEL}" in stderr
    resumed = CliRunner().invoke(main, ["resume", "--model", MODEL], catch_exceptions=False)
    assert resumed.exit_code == 0
    assert TAG_HALTED not in client.get_registered_model(MODEL).tags
    assert run_cycle(project)[0] == 0


def test_repeated_rejections_halt_the_loop(tracking_uri: str, project: Path) -> None:
    config = yaml.safe_load(project.read_text())
    config["triggers"] = {"max_model_age_days": 1e-9}  # every check wants to retrain
    config["safety"] = {"max_consecutive_rejections": 2}
    config["policy"] = {"primary": [{"metric": "roc_auc", "min_improvement": 0.5}]}  # unreachable
    project.write_text(yaml.safe_dump(config))
    data_dir = project.parent / "data"
    example_generator().generate_month(3, rows=1500).to_csv(data_dir / "month_03.csv", index=False)
    assert run_cycle(project, "--batch", str(data_dir / "month_01.csv"))[0] == 0

    code, second, _ = run_cycle(project, "--batch", str(data_dir / "month_02.csv"))
    assert code == 0
    assert second is not None
    assert (second["trigger"], second["halted"]) == ("model_age", False)
    assert second["outcome"] in ("inconclusive", "rejected")
    code, third, _ = run_cycle(project, "--batch", str(data_dir / "month_03.csv"))
    assert code == 0
    assert third is not None
    assert third["halted"] is True

    client = MlflowClient(tracking_uri)
    assert TAG_HALTED in client.get_registered_model(MODEL).tags
    versions = len(version_numbers(client, MODEL))
    code, _, stderr = run_cycle(project, "--batch", str(data_dir / "month_01.csv"))
    assert code == 0  # an already processed batch is still reported, halted or not
    example_generator().generate_month(4, rows=1500).to_csv(data_dir / "month_04.csv", index=False)
    code, _, stderr = run_cycle(project)
    assert code == 1
    assert "is halted" in stderr
    assert len(version_numbers(client, MODEL)) == versions  # nothing was trained


def test_only_the_batches_the_window_needs_are_read(tracking_uri: str, project: Path) -> None:
    config = yaml.safe_load(project.read_text())
    config["window"] = {"kind": "last_rows", "rows": 1500}
    project.write_text(yaml.safe_dump(config))
    data_dir = project.parent / "data"
    example_generator().generate_month(3, rows=1500).to_csv(data_dir / "month_03.csv", index=False)

    code, data, stderr = run_cycle(project)  # month 3, with months 1 and 2 as history

    assert code == 0, stderr
    assert data is not None
    client = MlflowClient(tracking_uri)
    path = client.download_artifacts(data["run_id"], "window/training.parquet")
    window = pd.read_parquet(path)
    # 1,500 training rows plus the 20 % gate share need 1,875 rows: months 2 and 3, not 1.
    assert len(window) == 3000
    assert window["application_date"].min() >= "2025-02-01"


# --- one read per cycle -----------------------------------------------------------------------


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Counter[str]]:
    """Every data read (by URI) and every registry read of the policy, counted as they happen.

    Every table and file a step reads goes through ``data.io._fetch`` (``load_table`` and
    ``read_bytes`` both do), and every read of a model's policy through ``read_policy``
    (``load_policy`` too), wherever a module imported it from.
    """
    from mlflow_retrain.data import io
    from mlflow_retrain.registry import policies

    found: dict[str, Counter[str]] = {"data": Counter(), "policy": Counter()}
    fetch, read_policy = io._fetch, policies.read_policy

    def counted_fetch(uri: str, **kwargs: Any) -> Any:
        found["data"][uri] += 1
        return fetch(uri, **kwargs)

    def counted_read_policy(client: Any, name: str, **kwargs: Any) -> Any:
        found["policy"][name] += 1
        return read_policy(client, name, **kwargs)

    monkeypatch.setattr(io, "_fetch", counted_fetch)
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("mlflow_retrain") and (
            getattr(module, "read_policy", None) is read_policy
        ):
            monkeypatch.setattr(module, "read_policy", counted_read_policy)
    return found


def test_a_cycle_reads_its_batch_and_its_policy_once(
    tracking_uri: str, project: Path, reads: dict[str, Counter[str]]
) -> None:
    config = yaml.safe_load(project.read_text())
    config["triggers"] = {"max_model_age_days": 1e-9}  # month 2 retrains and compares too
    project.write_text(yaml.safe_dump(config))
    data_dir = project.parent / "data"
    example_generator().generate_month(3, rows=1500).to_csv(data_dir / "month_03.csv", index=False)
    assert run_cycle(project, "--batch", str(data_dir / "month_01.csv"))[0] == 0
    # Under mode shadow, month 2's challenger waits in shadow and month 3 runs the shadow step.
    policy = {"task": "classification", "mode": "shadow", "shadow": {"min_rows": 100_000}}
    MlflowClient(tracking_uri).set_registered_model_tag(MODEL, TAG_POLICY, json.dumps(policy))

    cycles = {}
    for month in (2, 3):
        reads["data"].clear()
        reads["policy"].clear()
        code, data, stderr = run_cycle(
            project, "--batch", str(data_dir / f"month_{month:02d}.csv")
        )
        assert code == 0, stderr
        assert data is not None
        cycles[month] = (data, dict(reads["data"]), dict(reads["policy"]))

    retrained, data_reads, policy_reads = cycles[2]
    assert (retrained["outcome"], retrained["challenger_version"]) == ("challenger_in_shadow", "2")
    assert policy_reads == {MODEL: 1}  # the shadow check, the decay check and compare share it
    assert data_reads[str(data_dir / "month_02.csv")] == 1  # not again by drift
    assert set(data_reads.values()) == {1}
    # Neither the window the cycle logged nor the gate split retrain stored is downloaded.
    gate_uri = MlflowClient(tracking_uri).get_model_version(MODEL, "2").tags[TAG_GATE_URI]
    assert f"runs:/{retrained['run_id']}/window/training.parquet" not in data_reads
    assert gate_uri not in data_reads

    shadowed, data_reads, policy_reads = cycles[3]
    assert shadowed["shadow"] is not None
    assert shadowed["shadow"]["decision"] == "continue"
    assert policy_reads == {MODEL: 1}
    assert data_reads[str(data_dir / "month_03.csv")] == 1  # not again by shadow or drift
    assert set(data_reads.values()) == {1}


# --- what a reviewer reads on the run pages --------------------------------------------------


def _note(client: MlflowClient, run_id: str) -> str:
    return str(client.get_run(run_id).data.tags.get(TAG_RUN_NOTE, ""))


def _step_runs(client: MlflowClient, cycle_run_id: str) -> dict[str, Any]:
    cycle = client.get_run(cycle_run_id)
    children = client.search_runs(
        [cycle.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{cycle_run_id}'"
    )
    return {run.data.tags[TAG_STEP]: run for run in children}


def _runs(client: MlflowClient, filter_string: str = "") -> list[Any]:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(experiments, filter_string=filter_string))


def _note_items(note: str) -> dict[str, str]:
    """The ``- **Key:** value`` items of a cycle run's description."""
    found = (re.fullmatch(r"- \*\*(.+?):\*\* (.*)", line) for line in note.splitlines())
    return {m.group(1): m.group(2) for m in found if m}


def test_each_cycle_run_describes_what_it_found_and_what_it_did(
    tracking_uri: str, project: Path
) -> None:
    client = MlflowClient(tracking_uri)
    code, first, _ = run_cycle(project, "--batch", str(project.parent / "data" / "month_01.csv"))
    assert code == 0
    assert first is not None
    code, second, _ = run_cycle(project)
    assert code == 0
    assert second is not None

    note = _note(client, first["run_id"])
    steps = _step_runs(client, first["run_id"])
    experiment = client.get_run(first["run_id"]).info.experiment_id
    version_1 = f"[version 1](#/models/{MODEL}/versions/1)"
    assert note.startswith(f"**Cycle: promoted** · `month_01.csv` · champion after the cycle: "
                           f"{version_1}.")  # fmt: skip
    rows = _note_items(note)
    assert rows["Batch"] == f"`{first['batch']}`"
    assert rows["Trigger"].startswith("**first_deployment** (retrained): No champion yet")
    assert rows["Trained"] == (
        f"{version_1} · [tuning run](#/experiments/{experiment}/runs/"
        f"{steps['retrain'].info.run_id})"
    )
    assert rows["Comparison"].startswith(
        "**PROMOTE** as a first deployment (policy floor) · [comparison run]"
        f"(#/experiments/{experiment}/runs/{steps['compare'].info.run_id})"
    )
    assert rows["Champion after"] == version_1

    note = _note(client, second["run_id"])
    steps = _step_runs(client, second["run_id"])
    rows = _note_items(note)
    assert note.startswith("**Cycle: no change**")
    assert rows["Trigger"] == "**none** (no retrain): No significant drift or decay."
    drift_run = steps["drift"]
    assert rows["Drift"].startswith(
        f"none: {drift_run.data.tags[TAG_DRIFT_REASON]} · [drift run](#/experiments/"
        f"{experiment}/runs/{drift_run.info.run_id})"
    )
    decay = second["decay"]
    assert decay is not None
    # The first labelled batch the champion serves becomes its reference, unjudged.
    assert decay["reference_set"] is True
    assert rows["Decay check"] == (
        f"champion's roc_auc on this batch {format_number(decay['value'])} "
        f"[{format_number(decay['ci_low'])}, {format_number(decay['ci_high'])}]: its reference "
        "from now on (the first labelled batch it served), not judged"
    )
    assert "Trained" not in rows

    month_03 = project.parent / "data" / "month_03.csv"
    example_generator().generate_month(3, rows=1500).to_csv(month_03, index=False)
    code, third, _ = run_cycle(project, "--batch", str(month_03))
    assert code == 0
    assert third is not None
    judged = third["decay"]
    assert judged is not None
    assert judged["reference"] == pytest.approx(decay["value"], rel=1e-5)
    assert judged["level"] == pytest.approx(0.05 / 24)
    assert _note_items(_note(client, third["run_id"]))["Decay check"].startswith(
        f"champion's roc_auc on this batch {format_number(judged['value'])} "
        f"[{format_number(judged['ci_low'])}, {format_number(judged['ci_high'])}] vs its "
        f"reference {format_number(decay['value'])}"
    )


def test_a_failed_cycle_run_says_why_it_stopped(tracking_uri: str, project: Path) -> None:
    assert run_cycle(project, "--batch", str(project.parent / "data" / "month_01.csv"))[0] == 0
    bad = project.parent / "bad.csv"
    frame = example_generator().generate_month(2, rows=500)
    frame["income"] = "n/a"
    frame.to_csv(bad, index=False)

    assert run_cycle(project, "--batch", str(bad))[0] == 1

    client = MlflowClient(tracking_uri)
    (failed,) = _runs(client, f"tags.`{TAG_STEP}` = 'run' and attributes.status = 'FAILED'")
    note = _note(client, failed.info.run_id)
    assert note.startswith(f"**Circuit breaker open** · `bad.csv`: {EMPTY_INCOME}\n")
    assert note.endswith("Nothing was registered and no alias moved.")


def test_a_run_description_that_cannot_be_written_never_fails_the_cycle(
    tracking_uri: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_tag = MlflowClient.set_tag

    def refuse_notes(self: MlflowClient, run_id: str, key: str, value: Any, **kw: Any) -> Any:
        if key == TAG_RUN_NOTE:
            raise MlflowException("descriptions are read-only here")
        return set_tag(self, run_id, key, value, **kw)

    monkeypatch.setattr(MlflowClient, "set_tag", refuse_notes)
    with caplog.at_level(logging.WARNING, logger="mlflow_retrain.registry.describe"):
        code, data, stderr = run_cycle(
            project, "--batch", str(project.parent / "data" / "month_01.csv")
        )

    assert code == 0, stderr
    assert data is not None
    assert data["outcome"] == "promoted"
    assert f"Could not write the description of run {data['run_id']}" in caplog.text
    client = MlflowClient(tracking_uri)
    assert client.get_run(data["run_id"]).info.status == "FINISHED"
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"


def _replay(project: Path) -> list[dict[str, Any]]:
    out = project.parent / "timeline.json"
    result = CliRunner().invoke(main, ["replay", "--config", str(project), "--json-out",
                                       str(out)], catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return list(json.loads(out.read_text())["timeline"])


def test_the_replay_run_describes_the_timeline_with_links(
    tracking_uri: str, project: Path
) -> None:
    timeline = _replay(project)

    client = MlflowClient(tracking_uri)
    (replay_run,) = _runs(client, f"tags.`{TAG_STEP}` = 'replay'")
    experiment = replay_run.info.experiment_id
    note = _note(client, replay_run.info.run_id)
    assert note.startswith(f"**Replay of 2 batches** of [`{MODEL}`](#/models/{MODEL})")
    lines = [line for line in note.splitlines() if line.startswith("| [month_")]
    assert len(lines) == len(timeline) == 2
    for line, row in zip(lines, timeline, strict=True):
        assert line.startswith(
            f"| [{row['batch']}](#/experiments/{experiment}/runs/{row['run_id']}){CELL_GAP} |"
        )
        assert f"[v{row['champion']}](#/models/{MODEL}/versions/{row['champion']})" in line
    assert f"[v1](#/models/{MODEL}/versions/1){CELL_GAP} | promote" in lines[0]
    assert format_number(timeline[0]["next_value"]) in lines[0]
    assert f"runs/{replay_run.info.run_id}/artifacts/timeline/timeline.txt" in note


_DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e-?\d+)?(?![\w.])")


def _significant_digits(number: str) -> int:
    return len(number.lstrip("-").split("e")[0].replace(".", "").lstrip("0"))


def test_no_text_a_reviewer_reads_shows_more_than_four_significant_digits(
    tracking_uri: str, project: Path
) -> None:
    config = yaml.safe_load(project.read_text())
    config["triggers"] = {"max_model_age_days": 1e-9}  # month 2 retrains and compares too
    project.write_text(yaml.safe_dump(config))
    _replay(project)

    client = MlflowClient(tracking_uri)
    assert len(version_numbers(client, MODEL)) == 2
    texts = {f"model {MODEL}": client.get_registered_model(MODEL).description or ""}
    for version in version_numbers(client, MODEL):
        texts[f"version {version}"] = client.get_model_version(MODEL, version).description
    for run in _runs(client):
        texts[f"run {run.info.run_name} {run.info.run_id}"] = run.data.tags.get(TAG_RUN_NOTE, "")
    # The model, both versions, the replay, both cycles, the drift run, both comparisons.
    assert sum(bool(t) for t in texts.values()) >= 9

    long = {
        where: numbers
        for where, text in texts.items()
        if (numbers := [n for n in _DECIMAL.findall(text or "") if _significant_digits(n) > 4])
    }
    assert long == {}
