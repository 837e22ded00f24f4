"""``adopt``: a hand-registered pyfunc becomes the champion the loop retrains and compares with.

Against a real tracking server: a custom ``mlflow.pyfunc.PythonModel`` registered with the stock
client (class probabilities as a DataFrame, one column per class) is adopted with reference
rows whose labels are text (``"0"``/``"1"`` where the model predicts integers); the next
cycle retrains and compares the challenger against it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers.adoptable import register_pyfunc
from helpers.cli import invoke
from helpers.pipeline import run_cycle, write_loop_project
from helpers.registry import audit_records
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage

pytestmark = pytest.mark.integration

FAILED = "attributes.status = 'FAILED'"


def _project(tmp_path: Path, name: str) -> tuple[Path, pd.DataFrame]:
    config = write_loop_project(tmp_path, name)
    settings = yaml.safe_load(config.read_text())
    settings.pop("model")  # the model exists: a team registered it by hand
    settings["triggers"] = {"max_model_age_days": 1e-6}  # the adopted model is old: retrain
    config.write_text(yaml.safe_dump(settings))
    return config, pd.read_csv(tmp_path / "data" / "month_01.csv")


def _adopt(name: str, version: str, reference: Path, config: Path, *extra: str) -> tuple:
    out = reference.with_suffix(".adopt.json")
    code, _, err = invoke("adopt", "--model", name, "--version", version, "--reference",
                          str(reference), "--config", str(config), "--json-out", str(out),
                          *extra)  # fmt: skip
    return code, json.loads(out.read_text()) if out.exists() else None, err


def test_an_adopted_pyfunc_is_the_champion_the_loop_compares_against(
    server: MlflowClient, tmp_path: Path
) -> None:
    name = "adopt-pyfunc"
    config, month = _project(tmp_path, name)
    version = register_pyfunc(name, month, target="default")
    reference = tmp_path / "reference.parquet"
    month.assign(default=month["default"].astype(str)).to_parquet(reference)  # "0" / "1"

    code, result, err = _adopt(name, version, reference, config)

    assert code == 0, err
    assert result is not None
    assert result["kind"] == "first_deployment"
    auc = result["metrics"]["roc_auc"]
    assert 0.6 < auc["ci_low"] < auc["value"] < auc["ci_high"] < 1.0
    assert server.get_model_version_by_alias(name, "champion").version == version
    tags = server.get_model_version(name, version).tags
    assert tags[lineage.TAG_TASK] == "classification"
    assert tags[lineage.TAG_PROFILE_URI].startswith(f"runs:/{result['run_id']}/")
    assert [r["kind"] for r in audit_records(server, name)] == ["first_deployment"]
    gate = pd.read_parquet(
        server.download_artifacts(result["run_id"], "gate/gate.parquet", str(tmp_path))
    )
    assert gate["default"].tolist() == month["default"].tolist()  # labels as the model's ints

    code, cycle, err = run_cycle(config, "--batch", str(tmp_path / "data" / "month_02.csv"))

    assert code == 0, err
    assert cycle is not None
    assert cycle["retrain"], cycle
    challenger = server.get_model_version(name, cycle["challenger_version"])
    assert challenger.tags[lineage.TAG_EVIDENCE_BASELINE] == version
    compare = [
        r for e in server.search_experiments()
        for r in server.search_runs([e.experiment_id],
                                    filter_string="tags.`mlflow_retrain.step` = 'compare'")
        if r.data.params.get("model_name") == name
        and r.data.params.get("challenger_version") == challenger.version
    ]  # fmt: skip
    assert compare
    # The adopted pyfunc was scored with its probabilities: the champion has an AUC.
    assert 0.6 < compare[0].data.metrics["champion.roc_auc"] < 1.0


def test_adopting_over_a_champion_is_an_audited_override(
    server: MlflowClient, tmp_path: Path
) -> None:
    name = "adopt-override"
    config, month = _project(tmp_path, name)
    first = register_pyfunc(name, month, target="default")
    second = register_pyfunc(name, month.iloc[::-1], target="default")
    reference = tmp_path / "reference.csv"
    month.to_csv(reference, index=False)
    assert _adopt(name, first, reference, config)[0] == 0

    code, _, err = _adopt(name, second, reference, config)
    assert code == 1
    assert "Pass --reason TEXT (audited)" in err.strip().splitlines()[-1]

    code, result, err = _adopt(name, second, reference, config, "--reason", "vendor model")
    assert code == 0, err
    assert result is not None
    assert result["kind"] == "override"
    assert server.get_model_version_by_alias(name, "champion").version == second
    assert [r["kind"] for r in audit_records(server, name)] == ["first_deployment", "override"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["income"]), "The reference data lacks column(s) income"),
        (lambda f: f.assign(age="old"), "cannot score the reference"),
        (lambda f: f.assign(default=f["default"].map({0: "no", 1: "yes"})),
         "Reference labels ['no', 'yes'] are not classes of the model ([0, 1])"),
    ],
)  # fmt: skip
def test_a_version_that_cannot_score_the_reference_is_not_adopted(
    server: MlflowClient, tmp_path: Path, change: object, message: str
) -> None:
    name = f"adopt-bad-{abs(hash(message)) % 10**6}"
    config, month = _project(tmp_path, name)
    version = register_pyfunc(name, month, target="default")
    reference = tmp_path / "reference.parquet"
    change(month).to_parquet(reference)  # type: ignore[operator]

    code, result, err = _adopt(name, version, reference, config)

    assert code == 1
    assert result is None
    line = err.strip().splitlines()[-1]
    assert message in line, line
    assert server.get_registered_model(name).aliases == {}
    assert lineage.TAG_PROFILE_URI not in server.get_model_version(name, version).tags
    failed = [
        r for e in server.search_experiments()
        for r in server.search_runs([e.experiment_id], filter_string=FAILED)
        if r.data.tags.get(lineage.TAG_STEP) == "adopt"
        and message in r.data.tags.get(lineage.TAG_FAILURE_REASON, "")
    ]  # fmt: skip
    assert failed


def test_a_labels_only_pyfunc_is_adopted_under_a_label_policy(
    server: MlflowClient, tmp_path: Path
) -> None:
    name = "adopt-labels"
    config, month = _project(tmp_path, name)
    version = register_pyfunc(name, month, target="default", proba=False)
    reference = tmp_path / "reference.csv"
    month.to_csv(reference, index=False)

    code, _, err = _adopt(name, version, reference, config)
    assert code == 1
    assert "gives labels only, but the policy scores roc_auc" in err.strip().splitlines()[-1]
    assert server.get_registered_model(name).aliases == {}

    settings = yaml.safe_load(config.read_text())
    settings["policy"] = {"primary": ["accuracy"], "guardrails": [], "floor": {"accuracy": 0.5}}
    config.write_text(yaml.safe_dump(settings))
    code, result, err = _adopt(name, version, reference, config)

    assert code == 0, err
    assert result is not None
    assert set(result["metrics"]) == {"accuracy"}
    assert server.get_model_version_by_alias(name, "champion").version == version
