"""The `drift` and `profile` commands end to end in-process, against a real SQLite store.

Every validation failure must exit 1 with a one-line message naming the column, the problem and
the fix, end its MLflow run FAILED with the reason in a tag, and write nothing else.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.cli import invoke
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage


def _frame(n: int = 400, *, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.normal(100 + shift * 15, 15, n).round(2),
            "age": rng.integers(18, 80, n),
            "channel": rng.choice(["web", "app", "store"], n, p=[0.5, 0.3, 0.2]),
            "label": rng.integers(0, 2, n),
        }
    )


@pytest.fixture
def reference_csv(tmp_path: Path) -> Path:
    path = tmp_path / "reference.csv"
    _frame(seed=1).to_csv(path, index=False)
    return path


def _runs(tracking_uri: str) -> list:
    client = MlflowClient(tracking_uri)
    experiments = client.search_experiments()
    return client.search_runs([e.experiment_id for e in experiments])


def test_drift_detects_a_shift_and_logs_everything(
    tracking_uri: str, reference_csv: Path, tmp_path: Path
) -> None:
    current = tmp_path / "current.csv"
    _frame(shift=1.0, seed=2).to_csv(current, index=False)
    out = tmp_path / "out" / "result.json"

    code, stdout, _ = invoke(
        "drift",
        "--reference",
        str(reference_csv),
        "--current",
        str(current),
        "--target",
        "label",
        "--json-out",
        str(out),
    )

    assert code == 0
    assert "DRIFT DETECTED" in stdout
    assert "mlflow ui" in stdout
    result = json.loads(out.read_text())
    assert result["drift_detected"] is True
    assert result["drifted_columns"] == ["amount"]
    (run,) = _runs(tracking_uri)
    assert run.info.run_id == result["run_id"]
    assert run.info.status == "FINISHED"
    assert run.data.tags[lineage.TAG_STEP] == "drift"
    assert run.data.tags[lineage.TAG_DRIFT_DETECTED] == "true"
    assert run.data.tags[lineage.TAG_DRIFTED_COLUMNS] == "amount"
    assert run.data.metrics[lineage.drift_metric_key("amount", "drifted")] == 1.0
    assert run.data.metrics[lineage.METRIC_DRIFT_N_DRIFTED] == 1.0
    contexts = {d.tags[0].value: d.dataset.name for d in run.inputs.dataset_inputs if d.tags}
    assert contexts == {"reference": "reference.csv", "current": "current.csv"}
    client = MlflowClient(tracking_uri)
    files = {a.path for a in client.list_artifacts(run.info.run_id, "drift")}
    assert files == {"drift/report.json", "drift/report.html", "drift/plots"}
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "drift/plots")}
    assert plots == {"drift/plots/amount.png"}


def test_drift_without_shift_exits_zero_with_no_drift(
    tracking_uri: str, reference_csv: Path, tmp_path: Path
) -> None:
    current = tmp_path / "current.csv"
    _frame(seed=3).to_csv(current, index=False)

    code, stdout, _ = invoke("drift", "--reference", str(reference_csv), "--current", str(current))

    assert code == 0
    assert stdout.startswith("No dataset drift")
    (run,) = _runs(tracking_uri)
    assert run.data.tags[lineage.TAG_DRIFT_DETECTED] == "false"


def test_drift_against_a_saved_profile_matches_the_table(
    tracking_uri: str, reference_csv: Path, tmp_path: Path
) -> None:
    current = tmp_path / "current.csv"
    _frame(shift=1.0, seed=2).to_csv(current, index=False)
    profile = tmp_path / "profile.json"
    code, stdout, _ = invoke("profile", "--data", str(reference_csv), "--out", str(profile))
    assert code == 0, stdout
    from_table, from_profile = tmp_path / "t.json", tmp_path / "p.json"

    invoke(
        "drift",
        "--reference",
        str(reference_csv),
        "--current",
        str(current),
        "--json-out",
        str(from_table),
    )
    invoke(
        "drift",
        "--reference",
        str(profile),
        "--current",
        str(current),
        "--json-out",
        str(from_profile),
    )

    table, prof = json.loads(from_table.read_text()), json.loads(from_profile.read_text())
    assert prof["reference_source"] == "profile"
    assert table["drifted_columns"] == prof["drifted_columns"]
    for a, b in zip(table["features"], prof["features"], strict=True):
        assert a["statistic"] == pytest.approx(b["statistic"], abs=1e-12)
        assert a["p_value"] == pytest.approx(b["p_value"], rel=1e-9)


def _write_header_only(path: Path) -> None:
    path.write_text("amount,age,channel,label\n")


def _drop_column(path: Path) -> None:
    _frame(seed=2).drop(columns=["channel"]).to_csv(path, index=False)


def _extra_column(path: Path) -> None:
    _frame(seed=2).assign(extra=1).to_csv(path, index=False)


def _text_in_numeric(path: Path) -> None:
    frame = _frame(seed=2).astype({"amount": object})
    frame.loc[[3, 9], "amount"] = "twelve"
    frame.to_csv(path, index=False)


def _all_null(path: Path) -> None:
    _frame(seed=2).assign(age=np.nan).to_csv(path, index=False)


def _null_jump(path: Path) -> None:
    frame = _frame(seed=2)
    frame.loc[frame.index[: int(len(frame) * 0.7)], "amount"] = np.nan
    frame.to_csv(path, index=False)


def _infinite(path: Path) -> None:
    frame = _frame(seed=2).astype({"amount": float})
    frame.loc[5, "amount"] = np.inf
    frame.loc[6, "amount"] = -np.inf
    frame.to_csv(path, index=False)


def _duplicate_columns(path: Path) -> None:
    frame = _frame(seed=2)
    body = frame.to_csv(index=False).splitlines()[1:]
    path.write_text("amount,age,channel,amount\n" + "\n".join(body) + "\n")


def _truncated_parquet(path: Path) -> None:
    full = path.with_suffix(".full.parquet")
    _frame(seed=2).to_parquet(full)
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _empty_file(path: Path) -> None:
    path.write_bytes(b"")


def _not_utf8(path: Path) -> None:
    path.write_bytes("amount,age,channel,label\n1,2,caf\u00e9,0\n".encode("latin-1"))


def _gzip_garbage(path: Path) -> None:
    path.write_bytes(gzip.compress(b"amount,age,channel,label\n")[:10])


BAD_BATCHES: list[tuple[str, Callable[[Path], None], str, str]] = [
    ("header_only.csv", _write_header_only, r"has 0 rows", "breaker"),
    (
        "missing_column.csv",
        _drop_column,
        r"Column 'channel' is in the reference but missing",
        "breaker",
    ),
    (
        "extra_column.csv",
        _extra_column,
        r"Column 'extra' is in the current batch but not in the reference",
        "breaker",
    ),
    (
        "text.csv",
        _text_in_numeric,
        r"Column 'amount' is numeric in the reference but has 2 non-numeric values .*'twelve'",
        "breaker",
    ),
    ("all_null.csv", _all_null, r"Column 'age' is entirely empty", "breaker"),
    (
        "null_jump.csv",
        _null_jump,
        r"Column 'amount' missing rate rose from 0.0% .* to 70.0%",
        "breaker",
    ),
    ("infinite.csv", _infinite, r"Column 'amount' has 2 infinite values", "breaker"),
    ("duplicate.csv", _duplicate_columns, r"duplicate column name.*'amount'", "input"),
    ("truncated.parquet", _truncated_parquet, r"truncated or corrupt", "input"),
    ("empty.csv", _empty_file, r"is empty \(0 bytes\)", "input"),
    ("latin1.csv", _not_utf8, r"not UTF-8", "input"),
    ("broken.csv.gz", _gzip_garbage, r"cannot be read|corrupt|truncated", "input"),
]


@pytest.mark.parametrize(
    ("name", "write", "message", "kind"), BAD_BATCHES, ids=[b[0] for b in BAD_BATCHES]
)
def test_bad_batch_opens_the_circuit_breaker_and_writes_nothing_else(
    tracking_uri: str,
    reference_csv: Path,
    tmp_path: Path,
    name: str,
    write: Callable[[Path], None],
    message: str,
    kind: str,
) -> None:
    current = tmp_path / name
    write(current)
    out = tmp_path / "result.json"

    code, stdout, stderr = invoke(
        "drift",
        "--reference",
        str(reference_csv),
        "--current",
        str(current),
        "--json-out",
        str(out),
    )

    assert code == 1
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("mlflow-retrain: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert not out.exists()
    (run,) = _runs(tracking_uri)
    assert run.info.status == "FAILED"
    reason = run.data.tags[lineage.TAG_FAILURE_REASON]
    assert re.search(message, reason)
    breaker = run.data.tags.get(lineage.TAG_CIRCUIT_BREAKER)
    assert breaker == ("open" if kind == "breaker" else None)
    assert run.data.metrics == {}
    assert run.data.params == {}
    assert run.inputs.dataset_inputs == []
    assert MlflowClient(tracking_uri).list_artifacts(run.info.run_id) == []


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (None, r"Target column 'label' is not in the current batch"),
        ([1], r"Target column 'label' has 1 distinct value \('1'\)"),
    ],
    ids=["target_missing", "single_class"],
)
def test_required_labels_are_checked(
    tracking_uri: str,
    reference_csv: Path,
    tmp_path: Path,
    labels: list[int] | None,
    message: str,
) -> None:
    frame = _frame(seed=2)
    frame = frame.drop(columns=["label"]) if labels is None else frame.assign(label=labels[0])
    current = tmp_path / "current.csv"
    frame.to_csv(current, index=False)

    code, _, stderr = invoke(
        "drift",
        "--reference",
        str(reference_csv),
        "--current",
        str(current),
        "--target",
        "label",
        "--require-labels",
        "true",
    )

    assert code == 1
    assert re.search(message, stderr)
    (run,) = _runs(tracking_uri)
    assert run.info.status == "FAILED"
    assert run.data.tags[lineage.TAG_CIRCUIT_BREAKER] == "open"


def test_unlabelled_batch_is_fine_when_labels_are_not_required(
    tracking_uri: str, reference_csv: Path, tmp_path: Path
) -> None:
    current = tmp_path / "current.csv"
    _frame(seed=2).drop(columns=["label"]).to_csv(current, index=False)

    code, _, stderr = invoke(
        "drift",
        "--reference",
        str(reference_csv),
        "--current",
        str(current),
        "--target",
        "label",
    )

    assert code == 0, stderr


def test_missing_reference_file_fails_cleanly(tracking_uri: str, tmp_path: Path) -> None:
    current = tmp_path / "current.csv"
    _frame().to_csv(current, index=False)

    code, _, stderr = invoke(
        "drift", "--reference", str(tmp_path / "nope.csv"), "--current", str(current)
    )

    assert code == 1
    assert stderr.splitlines() == [
        f"mlflow-retrain: error: '{tmp_path / 'nope.csv'}' does not exist. Check the path, "
        "or pass an absolute path."
    ]


def test_invalid_config_is_a_usage_error(
    tracking_uri: str, reference_csv: Path, tmp_path: Path
) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text("drift:\n  alpah: 0.1\n")

    code, _, stderr = invoke(
        "drift",
        "--reference",
        str(reference_csv),
        "--current",
        str(reference_csv),
        "--config",
        str(config),
    )

    assert code == 2
    assert "Unknown key 'drift.alpah'. Did you mean 'drift.alpha'?" in stderr
    assert _runs(tracking_uri) == []


def test_missing_required_option_is_a_usage_error() -> None:
    code, _, stderr = invoke("drift", "--current", "x.csv")

    assert code == 2
    assert "--reference" in stderr


def test_empty_string_options_from_mlproject_mean_unset(
    tracking_uri: str, reference_csv: Path
) -> None:
    code, _, stderr = invoke(
        "drift",
        "--reference",
        str(reference_csv),
        "--current",
        str(reference_csv),
        "--target",
        "",
        "--ignore",
        "",
        "--config",
        "",
        "--json-out",
        "",
        "--require-labels",
        "false",
    )

    assert code == 0, stderr


def test_profile_writes_json_and_reports(tmp_path: Path, reference_csv: Path) -> None:
    out = tmp_path / "p" / "profile.json"
    summary = tmp_path / "summary.json"

    code, stdout, _ = invoke(
        "profile",
        "--data",
        str(reference_csv),
        "--out",
        str(out),
        "--max-points",
        "64",
        "--json-out",
        str(summary),
    )

    assert code == 0
    data = json.loads(out.read_text())
    assert data["format"] == "mlflow-retrain/profile"
    assert data["n_rows"] == 400
    assert data["max_points"] == 64
    assert len(data["columns"]["amount"]["values"]) <= 64
    assert json.loads(summary.read_text())["n_columns"] == 4
    assert "400 rows x 4 columns" in stdout
