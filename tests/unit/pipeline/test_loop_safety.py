"""The loop's safety state cannot be steered from outside the pipeline's own experiment.

A colleague may write runs in any experiment they own. Such a run must not mark a batch
processed, hold the model with a lease, or feed the drift history; and a lease that runs longer
than ``safety.lease_seconds`` allows binds nothing, wherever it is.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.cli import main
from mlflow_retrain.data.table import as_table
from mlflow_retrain.pipeline.steps import frame_digest

MODEL = "planted-state"


def _batch(path: Path, rows: int = 1200, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    label = (x @ [1.5, -1.0, 0.5] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "label": label}).to_csv(
        path, index=False
    )
    return path


def _plant(client: MlflowClient, experiment_id: str, *, finished: bool, **tags: str) -> str:
    run = client.create_run(
        experiment_id,
        tags={lineage.TAG_STEP: "run", lineage.TAG_MODEL_NAME: MODEL, **tags},
    )
    if finished:
        client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def test_runs_planted_outside_the_pipeline_experiment_or_with_a_long_lease_do_not_steer_the_loop(
    tracking_uri: str, tmp_path: Path
) -> None:
    batch = _batch(tmp_path / "month_01.csv")
    config = tmp_path / "retrain.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model_name": MODEL,
                "target": "label",
                "tuning": {"n_trials": 1, "estimators": ["linear"], "cv_folds": 2},
                "model": {"create": True},
                "safety": {"lease_seconds": 60},
            }
        )
    )
    client = MlflowClient(tracking_uri)
    pipeline = client.get_experiment_by_name("test").experiment_id  # the tracking_uri fixture's
    elsewhere = client.create_experiment("a colleague's experiment")
    digest = frame_digest(as_table(str(batch)).frame)
    now = int(time.time() * 1000)
    lease = {"host": "another-host", "pid": 1, "claimed_ms": now - 3_600_000}
    # A "processed" marker and a live lease in another experiment...
    _plant(client, elsewhere, finished=True, **{lineage.TAG_BATCH_DIGEST: digest})
    _plant(
        client,
        elsewhere,
        finished=False,
        **{lineage.TAG_LEASE: json.dumps({**lease, "expires_ms": now + 30_000})},
    )
    # ... and, in the pipeline's own experiment, a lease for the next ten years.
    _plant(
        client,
        pipeline,
        finished=False,
        **{lineage.TAG_LEASE: json.dumps({**lease, "expires_ms": now + 10 * 365 * 86_400_000})},
    )
    out = tmp_path / "cycle.json"

    result = CliRunner().invoke(
        main,
        ["run", "--config", str(config), "--batch", str(batch), "--json-out", str(out)],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.stderr
    cycle = json.loads(out.read_text())
    assert (cycle["trigger"], cycle["outcome"]) == ("first_deployment", "promoted"), cycle
