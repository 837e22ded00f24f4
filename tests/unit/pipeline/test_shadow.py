"""The `shadow` step against a real tracking store, with registered versions of known quality.

Evidence accumulates across separate processes into one decision; a promotion goes through
the registry gate; a rejected challenger is marked rejected and loses its alias; bad batches
change nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.churn import MODEL, churn_data, churn_model, register_churn
from helpers.cli import invoke
from helpers.registry import audit_records
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.report.markdown import section_text

#: The command under test, before its options.
SHADOW = ("shadow", "--model", MODEL)


def _policy(client: MlflowClient, **shadow: Any) -> None:
    policy = {"task": "classification", "mode": "shadow", "shadow": shadow}
    client.set_registered_model_tag(MODEL, lineage.TAG_POLICY, json.dumps(policy))


@pytest.fixture
def registry(tracking_uri: str) -> dict[str, str]:
    """Champion uses x1; challengers: x1+x2 (better), noise (worse), x1 (the same model)."""
    client = MlflowClient(tracking_uri)
    train = churn_data(1, 3000)
    champion_model = churn_model(["x1"], train)
    versions = {"champion": register_churn(client, champion_model)}
    client.set_registered_model_alias(MODEL, lineage.ALIAS_CHAMPION, versions["champion"])
    versions["better"] = register_churn(client, churn_model(["x1", "x2"], train))
    versions["worse"] = register_churn(client, churn_model(["noise"], train))
    versions["same"] = register_churn(client, champion_model, tags={})  # registered elsewhere
    return versions


def _batch(tmp_path: Path, seed: int, n: int = 400) -> str:
    path = tmp_path / f"batch-{seed}.csv"
    churn_data(seed, n).to_csv(path, index=False)
    return str(path)


def _shadow_process(tmp_path: Path, tracking_uri: str, *args: str) -> dict[str, Any]:
    out = tmp_path / f"shadow-{len(list(tmp_path.glob('shadow-*.json')))}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    done = subprocess.run(
        [sys.executable, "-m", "mlflow_retrain.cli", "shadow", "--model", MODEL, *args,
         "--json-out", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def test_separate_processes_accumulate_into_one_promotion_through_the_gate(
    tracking_uri: str, registry: dict[str, str], tmp_path: Path
) -> None:
    client = MlflowClient(tracking_uri)
    # Two batches of 400 cannot decide, the third can: on rows (the default batch unit needs
    # five or more such batches; a worse challenger is rejected on it below).
    _policy(client, min_rows=1000, unit="row")
    better, champion = registry["better"], registry["champion"]
    client.set_registered_model_alias(MODEL, lineage.ALIAS_CHALLENGER, better)

    results = [
        _shadow_process(tmp_path, tracking_uri, "--batch", _batch(tmp_path, seed))
        for seed in (11, 12, 13)
    ]

    assert [r["decision"] for r in results] == ["continue", "continue", "promote"]
    assert [r["batches"] for r in results] == [1, 2, 3]
    assert [r["rows"] for r in results] == [400, 800, 1200]
    assert len({r["run_id"] for r in results}) == 1  # one shadow run per challenger
    final = results[-1]
    low, high = final["confidence_sequence"]
    assert 0 < low <= final["estimate"] <= high
    assert final["p_value"] < 0.05
    assert final["loss"] == "brier"
    assert final["unit"] == "row"
    assert final["design_effect"] > 0
    assert final["promotion"]["kind"] == "promotion"
    model = client.get_registered_model(MODEL)
    assert {k: str(v) for k, v in model.aliases.items()} == {
        "champion": better,
        "previous-champion": champion,
    }
    version = client.get_model_version(MODEL, better)
    assert version.tags[lineage.TAG_EVIDENCE_SOURCE] == "shadow"
    assert version.tags[lineage.TAG_EVIDENCE_BASELINE] == champion
    assert version.tags[lineage.TAG_EVIDENCE_RUN] == final["run_id"]
    assert version.tags[lineage.TAG_STATUS] == lineage.STATUS_PROMOTED
    assert json.loads(version.tags[lineage.TAG_SHADOW_SUMMARY])["batches"] == 3
    audit = audit_records(client, MODEL)
    assert (audit[-1]["kind"], audit[-1]["evidence_run"]) == ("promotion", final["run_id"])
    history = client.get_metric_history(final["run_id"], "shadow.estimate")
    assert sorted(m.step for m in history) == [1, 2, 3]  # the UI charts it per batch
    files = {a.path for a in client.list_artifacts(final["run_id"], "shadow")}
    assert {"shadow/state.json", "shadow/sequence.png"} <= files
    calls = {r["step_run_id"] for r in results}
    assert len(calls) == 3
    for run_id in calls:
        inputs = client.get_run(run_id).inputs.dataset_inputs
        assert [i.tags[0].value for i in inputs] == [lineage.CONTEXT_SHADOW]


def test_a_worse_challenger_is_rejected_and_loses_its_alias(
    tracking_uri: str, registry: dict[str, str], tmp_path: Path
) -> None:
    client = MlflowClient(tracking_uri)
    worse = registry["worse"]
    client.set_registered_model_alias(MODEL, lineage.ALIAS_CHALLENGER, worse)
    out = tmp_path / "out.json"

    decisions = []
    for seed in range(21, 31):
        code, stdout, stderr = invoke(
            *SHADOW, "--batch", _batch(tmp_path, seed), "--json-out", str(out)
        )
        assert code == 0, stderr
        decisions.append(json.loads(out.read_text())["decision"])
        if decisions[-1] != "continue":
            break

    assert decisions[-1] == "reject", decisions
    assert "REJECT" in stdout
    data = json.loads(out.read_text())
    assert data["confidence_sequence"][1] < 0  # significantly worse
    assert data["unit"] == "batch"  # the default: the batches are the evidence
    assert data["batches"] >= 3
    model = client.get_registered_model(MODEL)
    assert {k: str(v) for k, v in model.aliases.items()} == {"champion": registry["champion"]}
    version = client.get_model_version(MODEL, worse)
    tags = version.tags
    assert tags[lineage.TAG_STATUS] == lineage.STATUS_REJECTED
    assert tags[lineage.TAG_DECISION] == "reject"
    shadow = section_text(version.description, "shadow")
    assert shadow is not None
    assert shadow.startswith("### Shadow test")
    assert f"**REJECT** after {data['batches']} labelled batches" in shadow
    status = section_text(version.description, "status")
    assert status is not None
    assert status.startswith("**Status: rejected** · no alias · shadow test: **REJECT**")
    code, _, stderr = invoke(*SHADOW, "--challenger", worse, "--batch", _batch(tmp_path, 99))
    assert code == 1
    assert "already rejected" in stderr


def test_identical_predictions_never_promote(
    tracking_uri: str, registry: dict[str, str], tmp_path: Path
) -> None:
    _policy(MlflowClient(tracking_uri), horizon_rows=800)  # retired once identical on 800 rows
    decisions = []
    for seed in (5, 6):
        out = tmp_path / f"out-{seed}.json"
        code, _, stderr = invoke(*SHADOW, "--challenger", registry["same"], "--target",
                                 "label", "--batch", _batch(tmp_path, seed), "--json-out",
                                 str(out))  # fmt: skip
        assert code == 0, stderr
        data = json.loads(out.read_text())
        decisions.append(data["decision"])

    assert decisions == ["continue", "reject"]  # one identical batch is no evidence
    assert "equal the champion's on all 800 rows" in data["reason"]
    assert data["p_value"] == 1.0
    aliases = MlflowClient(tracking_uri).get_registered_model(MODEL).aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": registry["champion"]}


def test_a_batch_counts_once(tracking_uri: str, registry: dict[str, str], tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri)
    _policy(client, min_rows=5000)
    batch = _batch(tmp_path, 7)
    assert invoke(*SHADOW, "--challenger", registry["better"], "--batch", batch)[0] == 0
    summary = client.get_model_version(MODEL, registry["better"]).tags[lineage.TAG_SHADOW_SUMMARY]

    code, _, stderr = invoke(*SHADOW, "--challenger", registry["better"], "--batch", batch)

    assert code == 1
    assert "already counted" in stderr
    tags = client.get_model_version(MODEL, registry["better"]).tags
    assert tags[lineage.TAG_SHADOW_SUMMARY] == summary


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop(columns=["label"]), "Target column 'label' is not in the batch"),
        (lambda f: f.assign(label=np.nan), "has no labelled rows"),
        (lambda f: f.drop(columns=["x2"]), "cannot score these rows"),
        (lambda f: f.assign(label=f["label"] + 5), "which the models were not trained on"),
    ],
    ids=["no-target", "no-labels", "missing-feature", "unseen-label"],
)
def test_a_bad_batch_fails_cleanly_and_changes_nothing(
    tracking_uri: str, registry: dict[str, str], tmp_path: Path, mutate: Any, message: str
) -> None:
    client = MlflowClient(tracking_uri)
    path = tmp_path / "bad.csv"
    mutate(churn_data(3, 300)).to_csv(path, index=False)

    code, _, stderr = invoke(*SHADOW, "--challenger", registry["better"], "--batch", str(path))

    assert code == 1
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
    tags = client.get_model_version(MODEL, registry["better"]).tags
    assert lineage.TAG_SHADOW_RUN not in tags
    assert lineage.TAG_STATUS not in tags
    runs = client.search_runs([client.get_experiment_by_name("test").experiment_id],
                              filter_string="tags.`mlflow_retrain.step` = 'shadow'")  # fmt: skip
    (run,) = runs
    assert run.info.status == "FAILED"
    assert message in run.data.tags[lineage.TAG_FAILURE_REASON]
    assert not client.search_runs(
        [run.info.experiment_id], filter_string="tags.`mlflow_retrain.step` = 'shadow-test'"
    )


def test_no_champion_and_mode_both_are_clear_errors(
    tracking_uri: str, registry: dict[str, str], tmp_path: Path
) -> None:
    client = MlflowClient(tracking_uri)
    policy = {"task": "classification", "mode": "both"}
    client.set_registered_model_tag(MODEL, lineage.TAG_POLICY, json.dumps(policy))

    shadow = (*SHADOW, "--challenger", registry["better"], "--batch", _batch(tmp_path, 1))

    code, _, stderr = invoke(*shadow)

    assert code == 1
    assert "mode 'both'" in stderr
    assert "mlflow-retrain compare --challenger" in stderr

    client.delete_registered_model_alias(MODEL, lineage.ALIAS_CHAMPION)
    code, _, stderr = invoke(*shadow)
    assert code == 1
    assert "has no champion" in stderr


def test_a_new_champion_restarts_the_shadow_test(
    tracking_uri: str, registry: dict[str, str], tmp_path: Path
) -> None:
    client = MlflowClient(tracking_uri)
    _policy(client, min_rows=5000)
    out = tmp_path / "out.json"
    invoke(*SHADOW, "--challenger", registry["better"], "--batch", _batch(tmp_path, 1),
           "--json-out", str(out))  # fmt: skip
    first = json.loads(out.read_text())
    # Through the gate's store, as `mlflow-retrain override` writes it: the store records the
    # override's writer, without which it would not count.
    gated = MlflowClient(tracking_uri, registry_uri="retrain+" + tracking_uri)
    gated.set_model_version_tag(MODEL, registry["worse"], lineage.TAG_OVERRIDE_REASON, "test")
    gated.set_registered_model_alias(MODEL, lineage.ALIAS_CHAMPION, registry["worse"])

    code, _, stderr = invoke(*SHADOW, "--challenger", registry["better"], "--batch",
                             _batch(tmp_path, 2), "--json-out", str(out))  # fmt: skip

    assert code == 0, stderr
    second = json.loads(out.read_text())
    assert second["restarted"] is True
    assert second["run_id"] != first["run_id"]
    assert (second["batches"], second["champion_version"]) == (1, registry["worse"])
