"""The bad-input corpus: hostile or broken input through the real CLI and the MLflow Projects.

Every case runs ``mlflow-retrain`` (or ``mlflow run``) as a subprocess against one tracking store
whose model ``credit-default`` already has a champion (deployed once per module by a real
``mlflow-retrain run``), and checks what a user would see and what MLflow holds afterwards:

* the documented exit code: 1 for bad input or a runtime failure, 2 for a usage or config error
  (``mlflow run`` itself exits 1 when its entry point fails);
* exactly one ``mlflow-retrain: error:`` line on stderr, naming the problem and the fix, and no
  traceback;
* every run the command started ended ``FAILED`` with the reason in
  ``mlflow_retrain.failure_reason``, with no metrics (and no run anywhere is left ``RUNNING``);
* nothing in the registry changed: models, versions, aliases, tags and descriptions;
* nothing was written to ``--json-out``.

A CLI process spends most of its few seconds importing, so each CLI case is a fork of a process
that has done the imports once (``helpers.forkserver``: its own process, environment, working
directory and exit code, as from a shell), and the cases run concurrently, each in its own
experiment (``MLFLOW_EXPERIMENT_NAME``); then each test checks its case. The ``mlflow run``
cases and the unreachable-server cases start real processes. The registry is
compared before and after the whole batch: any change fails every case. The cases that change
shared state (moto's credential checks) run alone afterwards. The count of cases is printed at
the end of the session (``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from helpers.examples import example_generator
from helpers.forkserver import run_cli
from helpers.servers import free_port
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage

pytestmark = [pytest.mark.integration, pytest.mark.bad_input]

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "mlflow-retrain"
MODEL = "credit-default"
ERROR_PREFIX = "mlflow-retrain: error: "
WORKERS = 3
# Two `run` cycles of one model at once: the second steps back (outcome busy, exit 0) while the
# first holds the model's lease. The loop's cases take turns.
_LOOP = threading.Lock()
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
# What a fix sounds like: every message must tell the user what to do next.
FIX_WORDS = re.compile(
    r"\b(fix|check|export|re-export|pass|set|remove|rename|replace|restore|add|use|run|clean|"
    r"start|point|list|label|widen|deploy|retry|write|declare|raise|did you mean)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class World:
    """The shared tracking store, its champion, and the files the cases use."""

    root: Path
    tracking_uri: str
    config: Path
    reference: Path
    good: Path
    bad: Path
    bucket: str
    s3_endpoint: str

    def client(self) -> MlflowClient:
        return MlflowClient(self.tracking_uri)

    def s3_env(self) -> dict[str, str]:
        return {"MLFLOW_S3_ENDPOINT_URL": self.s3_endpoint, **S3_CREDENTIALS}


@dataclass(frozen=True)
class Expect:
    """What a case must produce besides the shared rules."""

    code: int
    problem: str  # regex the error line (and every failed run's reason) must match
    fix: str  # regex the error line must match: what the user should do
    runs: int = 0  # runs the command starts; each must end FAILED with the reason
    breaker: bool = False  # a run carries mlflow_retrain.circuit_breaker=open
    forbidden: tuple[str, ...] = field(default_factory=tuple)  # never on stderr (secrets)


@dataclass(frozen=True)
class Case:
    """One command line and what it must produce."""

    args: list[str]
    expect: Expect
    env: Mapping[str, str] = field(default_factory=dict)
    project: bool = False  # `mlflow run <repo> -e args[0] -P ...` instead of the CLI
    # Must not exist afterwards: what an unpickled payload creates, or a failed command's output.
    marker: Path | None = None


@dataclass(frozen=True)
class Outcome:
    """What running a case produced."""

    result: subprocess.CompletedProcess[str]
    json_out: Path
    runs: list[Any]


# --- helpers -----------------------------------------------------------------------------------


def _env(tracking_uri: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "AWS_")) and k != "HTTP_PROXY" and k != "http_proxy"
    }
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    # --env-manager local runs the entry point with the `python` on PATH: use this venv's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra or {})
    return env


def _command(case: Case, json_out: Path) -> list[str]:
    """``mlflow run`` of a project case."""
    entry, *params = case.args
    return [
        sys.executable, "-m", "mlflow", "run", str(REPO), "-e", entry, "--env-manager", "local",
        *[arg for param in [*params, f"json_out={json_out}"] for arg in ("-P", param)],
    ]  # fmt: skip


def _run_case(world: World, name: str, case: Case) -> Outcome:
    experiment = f"case-{name}"
    json_out = world.root / "out" / f"{name}.json"
    env = {"MLFLOW_EXPERIMENT_NAME": experiment, **case.env}
    with _LOOP if case.args[0] == "run" else contextlib.nullcontext():
        if case.project:
            result = subprocess.run(
                _command(case, json_out),
                cwd=world.root,
                env=_env(world.tracking_uri, env),
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        else:
            result = run_cli([*case.args, "--json-out", str(json_out)], cwd=world.root,
                             env=_env(world.tracking_uri, env), timeout=600)  # fmt: skip
    client = world.client()
    found = client.get_experiment_by_name(experiment)
    runs = [] if found is None else client.search_runs([found.experiment_id], max_results=100)
    return Outcome(result=result, json_out=json_out, runs=list(runs))


def _registry(client: MlflowClient) -> dict[str, Any]:
    """Everything the registry holds, as plain data to compare."""
    state: dict[str, Any] = {}
    for model in client.search_registered_models():
        versions = {
            str(mv.version): (mv.status, mv.current_stage, mv.description, dict(mv.tags))
            for mv in client.search_model_versions(f"name = '{model.name}'")
        }
        state[model.name] = {
            "tags": dict(model.tags),
            "aliases": {alias: str(v) for alias, v in model.aliases.items()},
            "description": model.description,
            "versions": versions,
        }
    return state


def _all_runs(client: MlflowClient) -> list[Any]:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(experiments, max_results=5000))


def _error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.startswith(ERROR_PREFIX)]
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n{stderr[-3000:]}"
    return lines[0][len(ERROR_PREFIX) :]


def _check(case: Case, outcome: Outcome) -> None:
    expect, result = case.expect, outcome.result
    line = _error_line(result.stderr)
    assert re.search(expect.problem, line), line
    assert re.search(expect.fix, line), line
    assert FIX_WORDS.search(line), f"no fix in: {line}"
    assert len(line) < 700, f"an error line of {len(line)} characters"
    for secret in expect.forbidden:
        assert secret not in result.stderr
    # `mlflow run` reports any failed entry point with its own exit code 1.
    assert result.returncode == (1 if case.project else expect.code), result.stderr[-3000:]
    assert not outcome.json_out.exists(), "a failed command wrote its --json-out"
    runs = outcome.runs
    assert len(runs) == expect.runs, [(r.info.run_name, r.info.status) for r in runs]
    for run in runs:
        assert run.info.status == "FAILED", (run.info.run_name, run.info.status)
        reason = run.data.tags.get(lineage.TAG_FAILURE_REASON, "")
        assert re.search(expect.problem, reason), (run.info.run_name, reason)
        assert run.data.metrics == {}, run.data.metrics
    if expect.breaker:
        assert any(r.data.tags.get(lineage.TAG_CIRCUIT_BREAKER) == "open" for r in runs)
    if case.project:
        top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        assert [r.data.tags.get("mlflow.source.type") for r in top] == ["PROJECT"]
    if case.marker is not None:
        assert not case.marker.exists(), f"{case.marker.name} exists (unpickled, or written)"


# --- the world: a champion, and a bucket ---------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, moto_server: str) -> World:
    import boto3

    root = tmp_path_factory.mktemp("bad-input")
    data = root / "data"
    data.mkdir()
    (root / "bad").mkdir()
    generate = example_generator()
    # Enough rows for the first model's gate split to show it beats chance (the default floor).
    generate.generate_month(1, rows=1500).to_csv(data / "month_01.csv", index=False)
    generate.generate_month(2, rows=600).to_csv(data / "month_02.csv", index=False)
    config = root / "retrain.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_name": MODEL,
                "target": "default",
                "timestamp": "application_date",
                "history": {"source": str(data), "pattern": "month_*.csv"},
                "tuning": {"n_trials": 1, "estimators": ["linear"], "cv_folds": 2},
            }
        )
    )
    bucket = f"bad-input-{os.getpid()}"
    boto3.client("s3", endpoint_url=moto_server, **_boto_credentials()).create_bucket(
        Bucket=bucket
    )
    found = World(
        root=root,
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        config=config,
        reference=data / "month_01.csv",
        good=data / "month_02.csv",
        bad=root / "bad",
        bucket=bucket,
        s3_endpoint=moto_server,
    )
    deployed = run_cli(
        ["run", "--config", str(config), "--batch", str(found.reference), "--create"],
        cwd=root, env=_env(found.tracking_uri),
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    # A challenger beside the champion, for the steps that score both.
    retrained = run_cli(
        ["retrain", "--train", str(found.good), "--model", MODEL, "--config", str(config)],
        cwd=root, env=_env(found.tracking_uri),
    )  # fmt: skip
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    aliases = found.client().get_registered_model(MODEL).aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "1", "challenger": "2"}
    return found


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def _s3_put(world: World, key: str, body: bytes) -> str:
    import boto3

    client = boto3.client("s3", endpoint_url=world.s3_endpoint, **_boto_credentials())
    client.put_object(Bucket=world.bucket, Key=key, Body=body)
    return f"s3://{world.bucket}/{key}"


# --- the corpus ----------------------------------------------------------------------------------


def _good(world: World) -> pd.DataFrame:
    return pd.read_csv(world.good)


def _csv(world: World, name: str, frame: pd.DataFrame) -> str:
    path = world.bad / name
    frame.to_csv(path, index=False)
    return str(path)


def _yaml(world: World, name: str, data: Any) -> str:
    path = world.bad / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return str(path)


def _drift(world: World, current: str, *extra: str) -> list[str]:
    return ["drift", "--reference", str(world.reference), "--current", current, *extra]


def _run(world: World, batch: str) -> list[str]:
    return ["run", "--config", str(world.config), "--batch", batch]


def _retrain(world: World, train: str, *extra: str) -> list[str]:
    return ["retrain", "--train", train, "--model", "new-model", *extra]


class _Payload:
    """Creates ``marker`` when unpickled: proof that a reader executed the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (str(self.marker), "w")


def _pickled(world: World, name: str) -> tuple[str, Path]:
    control = world.root / f"control-{name}"
    pickle.loads(pickle.dumps(_Payload(control)))  # the payload is live: unpickling runs it
    assert control.exists()
    marker = world.root / f"marker-{name}"
    path = world.bad / name
    path.write_bytes(pickle.dumps(_Payload(marker)))
    return str(path), marker


def case_empty_file(world: World) -> Case:
    path = world.bad / "empty.csv"
    path.write_bytes(b"")
    return Case(
        _drift(world, str(path)),
        Expect(1, r"'.*empty\.csv' is empty \(0 bytes\)", r"point at the right file", runs=1),
    )


def case_header_only(world: World) -> Case:
    path = world.bad / "header.csv"
    path.write_text(",".join(_good(world).columns) + "\n")
    return Case(
        _drift(world, str(path)),
        Expect(1, r"has 0 rows; at least 1", r"Check the export", runs=1, breaker=True),
    )


def case_wrong_delimiter(world: World) -> Case:
    path = world.bad / "semicolon.csv"
    _good(world).to_csv(path, sep=";", index=False)
    return Case(
        _drift(world, str(path)),
        Expect(1, r"looks semicolon-separated", r"Export it comma-separated", runs=1),
    )


def case_non_utf8_bytes(world: World) -> Case:
    path = world.bad / "latin1.csv"
    text = _good(world).to_csv(index=False)
    path.write_bytes(text.replace("north", "n\u00f6rth").encode("latin-1"))
    # The loop reads the batch before it opens its run: no run.
    return Case(
        _run(world, str(path)),
        Expect(1, r"is not UTF-8 text \(first invalid byte: 0xf6\)", r"Re-export it as UTF-8"),
    )


def case_missing_target(world: World) -> Case:
    path = _csv(world, "unlabelled.csv", _good(world).drop(columns=["default"]))
    return Case(
        _retrain(world, path, "--target", "default", "--config", str(world.config)),
        Expect(1, r"Target column 'default' is not in the training data", r"--target", runs=1),
    )


def case_missing_target_when_labels_are_required(world: World) -> Case:
    path = _csv(world, "unlabelled-drift.csv", _good(world).drop(columns=["default"]))
    return Case(
        _drift(world, path, "--target", "default", "--require-labels", "true"),
        Expect(1, r"Target column 'default' is not in the current batch", r"Add the column",
               runs=1, breaker=True),
    )  # fmt: skip


def case_one_class_target(world: World) -> Case:
    frame = _good(world)
    frame["default"] = 0
    path = _csv(world, "one-class.csv", frame)
    return Case(
        _retrain(world, path, "--config", str(world.config)),
        Expect(1, r"'default' has a single class", r"Widen the training data", runs=1),
    )


def case_text_in_numeric_column(world: World) -> Case:
    frame = _good(world)
    frame["income"] = frame["income"].astype(object)
    frame.loc[::7, "income"] = "unknown"  # not one of pandas' NA spellings
    path = _csv(world, "text.csv", frame)
    # The loop validates the batch against the champion's profile in its drift step: the
    # drift child run and the pipeline run both fail.
    return Case(
        _run(world, path),
        Expect(1, r"Column 'income' is numeric in the reference but has 86 non-numeric",
               r"Clean the batch", runs=2, breaker=True),
    )  # fmt: skip


def case_all_null_column(world: World) -> Case:
    frame = _good(world)
    frame["age"] = np.nan
    return Case(
        _drift(world, _csv(world, "all-null.csv", frame)),
        Expect(1, r"Column 'age' is entirely empty", r"Fix the export", runs=1, breaker=True),
    )


def _infinite(world: World, value: float, name: str) -> Case:
    frame = _good(world)
    frame.loc[3, "utilization"] = value
    return Case(
        _retrain(world, _csv(world, name, frame), "--config", str(world.config)),
        Expect(1, r"Column 'utilization' has 1 infinite values in the training data",
               r"Replace them with finite numbers", runs=1, breaker=True),
    )  # fmt: skip


def case_plus_infinity(world: World) -> Case:
    return _infinite(world, np.inf, "plus-inf.csv")


def case_minus_infinity(world: World) -> Case:
    return _infinite(world, -np.inf, "minus-inf.csv")


def case_duplicate_column_names(world: World) -> Case:
    lines = _good(world).to_csv(index=False).splitlines()
    lines[0] = lines[0].replace("region", "age")
    path = world.bad / "duplicates.csv"
    path.write_text("\n".join(lines) + "\n")
    return Case(
        _drift(world, str(path)),
        Expect(1, r"has duplicate column names: 'age'", r"rename the duplicates", runs=1),
    )


def case_duplicate_column_names_in_parquet(world: World) -> Case:
    path = world.bad / "duplicates.parquet"
    pq.write_table(pa.table([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["age", "age"]),
                   path)  # fmt: skip
    return Case(
        _drift(world, str(path)),
        Expect(1, r"has duplicate column names: 'age'", r"rename the duplicates", runs=1),
    )


def case_ten_thousand_level_categorical(world: World) -> Case:
    frame = example_generator().generate_month(3, rows=10_000)
    frame["region"] = [f"region-{i:05d}" for i in range(len(frame))]
    return Case(
        _run(world, _csv(world, "levels.csv", frame)),
        Expect(1, r"Column 'region' has 10,000 distinct values in the current batch but 5",
               r"list the column under drift.ignore", runs=2, breaker=True),
    )  # fmt: skip


def case_hundred_megabyte_cell(world: World) -> Case:
    path = world.bad / "big-cell.csv"
    text = _good(world).to_csv(index=False).splitlines()
    with path.open("w") as handle:
        handle.write("\n".join(text[:10]) + "\n")
        fields = text[10].split(",")
        fields[-2] = "x" * 100_000_000  # region
        handle.write(",".join(fields) + "\n")
        handle.write("\n".join(text[11:]) + "\n")
    assert path.stat().st_size > 100_000_000
    return Case(
        _drift(world, str(path)),
        Expect(1, r"has a 100,000,000-character value in column 'region' \(row 9\)",
               r"Remove or truncate it", runs=1),
    )  # fmt: skip


def _pickle_case(world: World, name: str, problem: str) -> Case:
    path, marker = _pickled(world, name)
    return Case(_drift(world, path), Expect(1, problem, r"Re-export it", runs=1), marker=marker)


def case_pickle_disguised_as_parquet(world: World) -> Case:
    return _pickle_case(world, "batch.parquet", r"cannot be read as Parquet")


def case_pickle_disguised_as_csv(world: World) -> Case:
    return _pickle_case(world, "batch.csv", r"is not UTF-8 text")


def case_pickle_without_an_extension(world: World) -> Case:
    return _pickle_case(world, "batch", r"is not UTF-8 text")


def case_zero_byte_s3_object(world: World) -> Case:
    uri = _s3_put(world, "batches/empty.csv", b"")
    return Case(
        _drift(world, uri),
        Expect(1, rf"'{uri}' is empty \(0 bytes\)",
               r"Check that the export which wrote it finished", runs=1),
        env=world.s3_env(),
    )  # fmt: skip


def case_missing_s3_key(world: World) -> Case:
    return Case(
        _run(world, f"s3://{world.bucket}/batches/nope.csv"),
        Expect(1, rf"bucket '{world.bucket}' has no object with key 'batches/nope.csv'",
               r"Check the key"),
        env=world.s3_env(),
    )  # fmt: skip


def case_missing_s3_bucket(world: World) -> Case:
    return Case(
        _drift(world, "s3://no-such-bucket-here/batch.csv"),
        Expect(1, r"there is no bucket 'no-such-bucket-here'", r"Check the bucket name", runs=1),
        env=world.s3_env(),
    )


def case_unknown_model_name(world: World) -> Case:
    return Case(
        ["promote", "--model", "no-such-model"],
        Expect(1, r"Registered model 'no-such-model' does not exist",
               r"Check the name"),
    )  # fmt: skip


def case_unknown_model_name_in_shadow(world: World) -> Case:
    return Case(
        ["shadow", "--model", "no-such-model", "--batch", str(world.good)],
        Expect(1, r"Registered model 'no-such-model' does not exist",
               r"Check the name"),
    )  # fmt: skip


def case_missing_alias(world: World) -> Case:
    return Case(
        ["compare", "--model", MODEL, "--challenger", "staging"],
        Expect(1, rf"'{MODEL}' has no version with the alias 'staging'", r"pass --challenger"),
    )


def case_missing_previous_champion_alias(world: World) -> Case:
    return Case(
        ["rollback", "--model", MODEL, "--reason", "drill"],
        Expect(1, r"has no previous champion to roll back to", r"Use `mlflow-retrain override`"),
    )


def case_config_with_an_unknown_key(world: World) -> Case:
    path = _yaml(world, "unknown-key.yaml", {"target": "default", "tunning": {"n_trials": 3}})
    return Case(
        ["run", "--config", path, "--model", MODEL, "--batch", str(world.good)],
        Expect(2, r"Unknown key 'tunning'", r"Did you mean 'tuning'\?"),
    )


def case_config_with_a_wrong_type(world: World) -> Case:
    path = _yaml(world, "wrong-type.yaml", {"target": "default", "tuning": {"n_trials": "many"}})
    return Case(
        _retrain(world, str(world.good), "--config", path),
        Expect(2, r"'tuning.n_trials' must be a whole number, got str 'many'",
               r"Fix the value in .*wrong-type.yaml"),
    )  # fmt: skip


def case_config_with_a_negative_trial_count(world: World) -> Case:
    path = _yaml(world, "negative.yaml", {"target": "default", "tuning": {"n_trials": -3}})
    return Case(
        _retrain(world, str(world.good), "--config", path),
        Expect(2, r"'tuning.n_trials' must be in \[1, inf\], got -3",
               r"Fix the value in .*negative.yaml"),
    )  # fmt: skip


def case_config_that_is_not_yaml(world: World) -> Case:
    path = _yaml(world, "broken.yaml", "target: [default\ntuning:\n")
    return Case(
        _drift(world, str(world.good), "--config", path),
        Expect(2, r"is not valid YAML at line \d+", r"Fix the syntax"),
    )


def case_invalid_policy_in_config(world: World) -> Case:
    path = _yaml(
        world,
        "bad-policy.yaml",
        {"target": "default", "tuning": {"n_trials": 1, "estimators": ["linear"]},
         "policy": {"primary": [{"metric": "roc_auc"}], "alpha": 7}},
    )  # fmt: skip
    return Case(
        _retrain(world, str(world.good), "--config", path),
        Expect(2, r"Policy alpha must be in \(0, 0.5\), got 7", r"Set a significance level",
               runs=1),
    )  # fmt: skip


def case_policy_file_with_a_bad_value(world: World) -> Case:
    path = world.bad / "policy.json"
    path.write_text('{"primary": [{"metric": "roc_auc", "test": "delong"}], "alpha": 7}')
    return Case(
        ["policy", "set", "--model", MODEL, "--file", str(path)],
        Expect(2, r"policy.json': Policy alpha must be in \(0, 0.5\), got 7",
               r"run `mlflow-retrain policy set` again"),
    )  # fmt: skip


def case_policy_file_with_an_unknown_key(world: World) -> Case:
    path = _yaml(world, "policy-key.yaml", {"primry": [{"metric": "roc_auc"}]})
    return Case(
        ["policy", "set", "--model", MODEL, "--file", path],
        Expect(2, r"Unknown policy key 'primry'", r"Did you mean 'primary'\?"),
    )


def case_policy_file_with_an_unknown_metric(world: World) -> Case:
    path = _yaml(world, "policy-metric.yaml", {"primary": [{"metric": "rocauc"}]})
    return Case(
        ["policy", "set", "--model", MODEL, "--file", path],
        Expect(2, r"Unknown policy metric 'rocauc'", r"use one of .*roc_auc"),
    )


def case_policy_file_that_is_not_json(world: World) -> Case:
    path = world.bad / "truncated-policy.json"
    path.write_text('{"primary": [{"metric": "roc_auc"')
    return Case(
        ["policy", "set", "--model", MODEL, "--file", str(path)],
        Expect(2, r"is not valid YAML or JSON at line \d+", r"Fix the syntax"),
    )


def case_entry_point_drift_with_an_empty_file(world: World) -> Case:
    path = world.bad / "project-empty.csv"
    path.write_bytes(b"")
    return Case(
        ["drift", f"reference={world.reference}", f"current={path}"],
        Expect(1, r"is empty \(0 bytes\)", r"point at the right file", runs=1),
        project=True,
    )


def case_entry_point_run_with_an_all_null_column(world: World) -> Case:
    frame = _good(world)
    frame["income"] = np.nan
    path = _csv(world, "project-all-null.csv", frame)
    return Case(
        ["run", f"config={world.config}", f"batch={path}"],
        Expect(1, r"Column 'income' is entirely empty", r"Fix the export", runs=2, breaker=True),
        project=True,
    )


def case_entry_point_retrain_with_a_negative_trial_count(world: World) -> Case:
    path = _yaml(world, "project-negative.yaml", {"target": "default",
                                                  "tuning": {"n_trials": -1}})  # fmt: skip
    # The config fails before any step resumes the project's run: the CLI records the reason.
    return Case(
        ["retrain", f"train={world.good}", "model=new-model", f"config={path}"],
        Expect(2, r"'tuning.n_trials' must be in \[1, inf\], got -1",
               r"Fix the value in .*project-negative.yaml", runs=1),
        project=True,
    )  # fmt: skip


def _without_income(world: World) -> str:
    return _csv(world, "no-income.csv", _good(world).drop(columns=["income"]))


def case_compare_on_rows_without_a_feature(world: World) -> Case:
    return Case(
        ["compare", "--model", MODEL, "--data", _without_income(world)],
        Expect(1, r"Version 2 of 'credit-default' cannot score these rows \(columns are missing",
               r"Pass rows with the columns and types it was trained on", runs=1),
    )  # fmt: skip


def case_compare_on_rows_with_infinite_values(world: World) -> Case:
    frame = _good(world)
    frame.loc[5, "income"] = np.inf
    return Case(
        ["compare", "--model", MODEL, "--data", _csv(world, "compare-inf.csv", frame)],
        Expect(1, r"Column 'income' has 1 infinite values in the comparison data",
               r"Replace them with finite numbers", runs=1, breaker=True),
    )  # fmt: skip


def case_shadow_batch_without_a_feature(world: World) -> Case:
    return Case(
        ["shadow", "--model", MODEL, "--batch", _without_income(world)],
        Expect(1, r"cannot score these rows \(columns are missing", r"Pass rows with the columns",
               runs=1),
    )  # fmt: skip


# --- silent successes of the first hour: each now fails with one line ---------------------


def case_misspelt_model_in_run(world: World) -> Case:
    # A cycle of a model that does not exist would deploy a brand-new model: --create says so.
    return Case(
        [*_run(world, str(world.good)), "--model", "credit-defualt"],
        Expect(1, r"Registered model 'credit-defualt' does not exist \(did you mean "
               r"'credit-default'\?\)", r"pass --create \(model\.create: true\)"),
    )  # fmt: skip


def case_entry_point_run_with_a_misspelt_model(world: World) -> Case:
    return Case(
        ["run", f"config={world.config}", f"batch={world.good}", "model=credit-defualt"],
        Expect(1, r"Registered model 'credit-defualt' does not exist", r"pass --create",
               runs=1),
        project=True,
    )  # fmt: skip


def case_misspelt_drift_target(world: World) -> Case:
    return Case(
        _drift(world, str(world.good), "--target", "defualt"),
        Expect(1, r"Target column 'defualt' is neither in the reference .*month_01\.csv nor in "
               r"the current batch .*month_02\.csv \(did you mean 'default'\?\)",
               r"Pass the label column's exact name with --target", runs=1),
    )  # fmt: skip


def case_misspelt_profile_target(world: World) -> Case:
    out = world.root / "misspelt-target-profile.json"
    return Case(
        ["profile", "--data", str(world.reference), "--out", str(out), "--target", "defualt"],
        Expect(1, r"Target column 'defualt' is not in the table .*month_01\.csv \(did you "
               r"mean 'default'\?\)", r"Pass the label column's exact name"),
        marker=out,  # no profile is written
    )  # fmt: skip


CASES: dict[str, Callable[[World], Case]] = {
    name[len("case_") :]: builder
    for name, builder in sorted(globals().items())
    if name.startswith("case_") and callable(builder)
}


@pytest.fixture(scope="module")
def corpus(world: World) -> dict[str, tuple[Case, Outcome]]:
    """Run every case concurrently; check the registry did not change and no run is RUNNING."""
    (world.root / "out").mkdir()
    cases = {name: build(world) for name, build in CASES.items()}
    client = world.client()
    before = _registry(client)
    # The slowest first, so the pool does not end on them.
    order = sorted(cases, key=lambda n: (not cases[n].project, n))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = {name: pool.submit(_run_case, world, name, cases[name]) for name in order}
        outcomes = {name: future.result() for name, future in futures.items()}
    assert _registry(client) == before, "the registry changed"
    running = [r.info.run_name for r in _all_runs(client) if r.info.status == "RUNNING"]
    assert running == [], f"runs left RUNNING: {running}"
    (world.bad / "big-cell.csv").unlink(missing_ok=True)
    return {name: (cases[name], outcomes[name]) for name in cases}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(corpus: dict[str, tuple[Case, Outcome]], name: str) -> None:
    case, outcome = corpus[name]
    _check(case, outcome)


# --- cases that run alone ------------------------------------------------------------------------


def _dead_server_command(world: World, how: str, out: Path) -> list[str]:
    if how == "cli":
        return [str(CLI), *_drift(world, str(world.good)), "--json-out", str(out)]
    # `mlflow run` talks to the server itself before the entry point starts; the package's
    # request-header plugin checks the server first, so it too fails in seconds, in one line.
    return [sys.executable, "-m", "mlflow", "run", str(REPO), "-e", "promote", "--env-manager",
            "local", "-P", f"model={MODEL}", "-P", f"json_out={out}"]  # fmt: skip


@pytest.mark.parametrize("how", ["cli", "mlflow_run"])
def test_unreachable_tracking_server(world: World, tmp_path: Path, how: str) -> None:
    uri = f"http://pipeline:s3cret-password@127.0.0.1:{free_port()}"
    out = tmp_path / "result.json"
    started = time.monotonic()
    result = subprocess.run(
        _dead_server_command(world, how, out),
        cwd=tmp_path, env=_env(uri), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started

    line = _error_line(result.stderr)
    assert result.returncode == 1
    assert re.search(r"Cannot reach the MLflow tracking server at http://\*\*\*@127", line), line
    assert re.search(r"nothing listens on port \d+\)\. Start the server or fix", line), line
    assert "s3cret-password" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-3000:]
    assert not out.exists()
    assert elapsed < 60, f"took {elapsed:.0f}s to give up"  # MLflow's retries take minutes


def test_wrong_s3_credentials(world: World, moto_enforce_auth: Callable[[], None]) -> None:
    # moto checks credentials server-wide while enforced: this case runs alone.
    uri = _s3_put(world, "batches/secret.csv", world.good.read_bytes())
    moto_enforce_auth()
    secret = "wrong-secret-do-not-print-0123456789"
    case = Case(
        _drift(world, uri),
        Expect(1, r"S3 refused to read .* \(InvalidAccessKeyId", r"Check the credentials",
               runs=1, forbidden=(secret,)),
        env={**world.s3_env(), "AWS_ACCESS_KEY_ID": "AKIAWRONGKEY00000000",
             "AWS_SECRET_ACCESS_KEY": secret},
    )  # fmt: skip
    client = world.client()
    before = _registry(client)

    outcome = _run_case(world, "wrong-s3-credentials", case)

    _check(case, outcome)
    assert _registry(client) == before
