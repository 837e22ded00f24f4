"""The pipeline's inputs as its tests build them, and one loop cycle run through the CLI.

* ``credit_frame``, ``write_credit_csv``, ``retrain_config`` and ``child_runs``: a synthetic
  credit table (as a CSV file), the ``retrain`` step's settings for it and a tuning run's
  trials (the ``retrain`` step's tests).
* ``write_loop_project`` and ``run_cycle``: a ``retrain.yaml`` over two months of the
  credit-default example, and ``mlflow-retrain run`` on it (the loop's tests).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from mlflow.tracking import MlflowClient

from helpers.examples import example_generator
from mlflow_retrain.config import RetrainConfig


def credit_frame(n: int = 1200, *, seed: int = 0) -> pd.DataFrame:
    """``n`` credit applications, ten a day from 2026-01-01, with a binary ``default``.

    The columns: ``row_id``, ``day``, ``income`` (2 % missing), ``utilization``,
    ``late_payments``, ``employment`` (categorical) and the target ``default``.
    """
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.5, 0.4, n)
    utilization = rng.beta(2, 5, n)
    late = rng.poisson(0.7, n)
    employment = rng.choice(["salaried", "self", "none"], n, p=[0.6, 0.3, 0.1])
    logit = -1.5 + 3 * utilization + 0.6 * late - 0.5 * (np.log(income) - 10.5)
    logit += np.where(employment == "none", 1.0, 0.0)
    frame = pd.DataFrame(
        {
            "row_id": np.arange(n),
            "day": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n) // 10, unit="D"),
            "income": income.round(0),
            "utilization": utilization.round(3),
            "late_payments": late,
            "employment": employment,
            "default": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )
    frame.loc[rng.random(n) < 0.02, "income"] = np.nan
    return frame


def write_credit_csv(folder: Path) -> Path:
    """Write ``credit_frame()`` to ``folder/train.csv``; return its path."""
    path = folder / "train.csv"
    credit_frame().to_csv(path, index=False)
    return path


def retrain_config(**tuning: object) -> RetrainConfig:
    """The config for ``credit_frame``: six trials on three folds, seed 1; ``tuning`` overrides."""
    settings = {"n_trials": 6, "cv_folds": 3, "seed": 1, **tuning}
    return RetrainConfig.from_dict(
        {"target": "default", "drift": {"ignore": ["row_id"]}, "tuning": settings}
    )


def child_runs(client: MlflowClient, run_id: str) -> list[Any]:
    """The runs whose parent is ``run_id`` (a tuning run's trials), in its experiment."""
    run = client.get_run(run_id)
    return list(
        client.search_runs(
            [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'"
        )
    )


def write_loop_project(folder: Path, model_name: str) -> Path:
    """Write months 1 and 2 of the credit-default example and a ``retrain.yaml`` over them.

    The history is ``folder/data/month_*.csv``; tuning is two trials of a linear model on two
    folds, and the first cycle creates the registered model ``model_name``.

    Returns:
        The path of ``retrain.yaml``.
    """
    data = folder / "data"
    data.mkdir()
    generate = example_generator()
    for month in (1, 2):
        generate.generate_month(month, rows=1500).to_csv(data / f"month_{month:02d}.csv",
                                                         index=False)  # fmt: skip
    config = {
        "model_name": model_name,
        "target": "default",
        "timestamp": "application_date",
        "history": {"source": str(data), "pattern": "month_*.csv"},
        "tuning": {"n_trials": 2, "estimators": ["linear"], "cv_folds": 2},
        "model": {"create": True},  # the first cycle starts the model
    }
    path = folder / "retrain.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_cycle(config: Path, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    """Run ``mlflow-retrain run --config config *args`` in-process.

    Returns:
        The exit code, the cycle's ``--json-out`` result (``None`` where none was written) and
        what it wrote on stderr.
    """
    from click.testing import CliRunner

    from mlflow_retrain.cli import main

    out = config.parent / "cycle.json"
    out.unlink(missing_ok=True)
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--json-out", str(out),
                                       *args], catch_exceptions=False)  # fmt: skip
    data = json.loads(out.read_text()) if out.exists() else None
    return result.exit_code, data, result.stderr
