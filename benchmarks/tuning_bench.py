"""Tuning overhead and scale-out, measured beside the baselines in one run.

1. Per-trial overhead of our MLflow trial logging (one child run per trial, through
   ``MlflowClient`` with an explicit parent, on a SQLite tracking store) against bare Optuna on
   the same objective, a fixed ~1 s of CPU work per trial. Target: <= 5 % extra time.
2. Per-trial time of the entry-point form (each trial an ``mlflow run`` of a project's own
   training script) beside the factory form (``tuning.model``), the same logistic regression
   on the same 2,000 rows, both logged as child runs on a SQLite store. No target: the figure
   tells a team what the MLflow-native form costs per trial.
3. Trial throughput with 2 worker processes against 1, sharing one study in PostgreSQL
   (Optuna RDB storage with heartbeat), each trial ~1 s of CPU work and logged to MLflow.
   Target: >= 1.7x on 2 cores.

Usage: python benchmarks/tuning_bench.py [--trials 20] [--entry-trials 4] [--postgres URL]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlflow_retrain.config import RetrainConfig  # noqa: E402
from mlflow_retrain.tuning.study import (  # noqa: E402
    make_entry_point_objective,
    make_objective,
    open_study,
    prepare_data,
    run_trials,
)
from mlflow_retrain.tuning.tracking import MlflowTrialLogger  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _busy(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0.0
    while time.process_time() < end:
        for i in range(1000):
            x += i * 1e-9


class Objective:
    """About ``seconds`` of CPU work, reporting one intermediate value per 'fold'."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -5, 5)
        for fold in range(3):
            _busy(self.seconds / 3)
            trial.report(x * x, fold)
        return x * x


def _tracking(folder: Path) -> tuple[str, str, str]:
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.create_experiment(f"bench-{uuid.uuid4().hex[:6]}")
    parent = client.create_run(experiment).info.run_id
    return uri, experiment, parent


def overhead(trials: int, seconds: float) -> tuple[float, float]:
    """Return (bare seconds, ours seconds) for ``trials`` sequential trials."""
    config = RetrainConfig.from_dict({"tuning": {"pruner": "none"}})
    with tempfile.TemporaryDirectory() as tmp:
        uri, experiment, parent = _tracking(Path(tmp))
        # Warm up MLflow's store (schema creation, imports) outside the timed region.
        logger = MlflowTrialLogger(
            experiment_id=experiment, parent_run_id=parent, metric_name="loss", tracking_uri=uri
        )
        warm = optuna.create_study()
        warm.optimize(Objective(0.01), n_trials=2, callbacks=[logger])

        bare = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
        start = time.perf_counter()
        bare.optimize(Objective(seconds), n_trials=trials)
        t_bare = time.perf_counter() - start

        ours = open_study("ours", storage=None, direction="minimize", config=config)
        start = time.perf_counter()
        run_trials(ours, Objective(seconds), n_trials=trials, timeout=None, trial_logger=logger)
        t_ours = time.perf_counter() - start
    return t_bare, t_ours


def _worker(storage: str, name: str, trials: int, seconds: float, tracking: tuple) -> None:
    import mlflow

    uri, experiment, parent = tracking
    mlflow.set_tracking_uri(uri)
    config = RetrainConfig.from_dict({"tuning": {"pruner": "none"}})
    study = open_study(name, storage=storage, direction="minimize", config=config, create=False)
    logger = MlflowTrialLogger(
        experiment_id=experiment, parent_run_id=parent, metric_name="loss", tracking_uri=uri
    )
    run_trials(study, Objective(seconds), n_trials=trials, timeout=None, trial_logger=logger)


def throughput(
    storage: str, workers: int, trials: int, seconds: float, folder: Path
) -> tuple[float, float]:
    """Return trials per second with ``workers`` processes sharing one study.

    The first figure is the steady state (first trial start to last trial end), the second
    includes each process's interpreter start-up and imports (wall clock).
    """
    config = RetrainConfig.from_dict({"tuning": {"pruner": "none"}})
    name = f"bench-{workers}-{uuid.uuid4().hex[:6]}"
    open_study(name, storage=storage, direction="minimize", config=config)
    tracking = _tracking(folder)
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(storage, name, trials, seconds, tracking))
        for _ in range(workers)
    ]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    wall = time.perf_counter() - start
    # Throughput from the first trial's start to the last trial's end: the steady state, the
    # same for both runs, without each process's interpreter start-up and imports.
    study = optuna.load_study(study_name=name, storage=storage)
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    first = min(t.datetime_start for t in done if t.datetime_start)
    last = max(t.datetime_complete for t in done if t.datetime_complete)
    return len(done) / (last - first).total_seconds(), len(done) / wall


_FACTORY = """
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def build(trial, *, task, columns):
    C = trial.suggest_float("C", 0.01, 10.0, log=True)
    return make_pipeline(StandardScaler(), LogisticRegression(C=C))
"""

_MLPROJECT = """
name: bench-train
entry_points:
  train:
    parameters:
      train: string
      target: string
      timestamp: {type: string, default: ""}
      metric: {type: string, default: roc_auc}
      weight_column: {type: string, default: ""}
      C: {type: float, default: 1.0}
    command: python train.py {train} {target} {metric} {C}
"""

_TRAIN = """
import sys

import mlflow
import mlflow.sklearn
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

path, target, metric, C = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
frame = pd.read_parquet(path)
features = [c for c in frame.columns if c != target]
cut = len(frame) // 2
model = make_pipeline(StandardScaler(), LogisticRegression(C=C))
with mlflow.start_run():
    model.fit(frame[features].iloc[:cut], frame[target].iloc[:cut])
    score = roc_auc_score(frame[target].iloc[cut:],
                          model.predict_proba(frame[features].iloc[cut:])[:, 1])
    mlflow.log_metric(metric, score)
    mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle")
"""


def entry_point_overhead(trials: int) -> tuple[float, float]:
    """Return (factory, entry point) seconds per trial, same model, data and logging."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 5))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    frame["y"] = (X[:, 0] + rng.normal(size=2000) > 0).astype(int)
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bench_factory.py").write_text(_FACTORY)
        (folder / "project").mkdir()
        (folder / "project" / "MLproject").write_text(_MLPROJECT)
        (folder / "project" / "train.py").write_text(_TRAIN)
        uri, experiment, parent = _tracking(folder)
        os.environ["MLFLOW_TRACKING_URI"] = uri
        os.chdir(folder)
        try:
            logger = MlflowTrialLogger(experiment_id=experiment, parent_run_id=parent,
                                       metric_name="roc_auc", tracking_uri=uri)  # fmt: skip
            base = {"target": "y", "tuning": {"cv_folds": 2, "pruner": "none"}}
            factory = RetrainConfig.from_dict(
                {**base, "tuning": {**base["tuning"], "model": "bench_factory:build"}}
            )
            prepared = prepare_data(frame, target="y", timestamp=None, config=factory)
            study = optuna.create_study(direction="maximize")
            start = time.perf_counter()
            run_trials(study, make_objective(prepared, target="y", config=factory),
                       n_trials=trials, timeout=None, trial_logger=logger)  # fmt: skip
            t_factory = (time.perf_counter() - start) / trials
            entry = RetrainConfig.from_dict({**base, "tuning": {
                **base["tuning"], "entry_point": "train", "project_uri": str(folder / "project"),
                "space": {"train": {"C": {"low": 0.01, "high": 10.0, "log": True}}}}})  # fmt: skip
            objective = make_entry_point_objective(
                prepared, target="y", timestamp=None, config=entry, experiment_id=experiment,
                parent_run_id=parent, folder=folder,
            )  # fmt: skip
            study = optuna.create_study(direction="maximize")
            start = time.perf_counter()
            run_trials(study, objective, n_trials=trials, timeout=None, trial_logger=logger)
            t_entry = (time.perf_counter() - start) / trials
        finally:
            os.chdir(here)
    return t_factory, t_entry


def _postgres(url: str | None) -> tuple[str | None, object]:
    try:
        import psycopg
    except ImportError:
        return None, None
    admin_url = url or "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError:
        return None, None
    name = f"tuning_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url.rsplit('/', 1)[0]}/{name}", (admin, name)


def main() -> None:
    """Run both measurements and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=1.0, help="CPU seconds per trial")
    parser.add_argument("--postgres", default=None, help="admin URL of a PostgreSQL server")
    parser.add_argument("--entry-trials", type=int, default=4, help="trials per form in 3.")
    args = parser.parse_args()

    t_bare, t_ours = overhead(args.trials, args.seconds)
    per_bare, per_ours = t_bare / args.trials, t_ours / args.trials
    extra = (t_ours - t_bare) / t_bare
    print(f"1. Per-trial time over {args.trials} trials of ~{args.seconds:g} s CPU (SQLite store)")
    print(f"   bare Optuna            {per_bare * 1000:8.1f} ms/trial")
    print(f"   ours (+ MLflow child)  {per_ours * 1000:8.1f} ms/trial")
    print(f"   extra time             {extra * 100:8.2f} %   target <= 5 %   "
          f"{'PASS' if extra <= 0.05 else 'FAIL'}")  # fmt: skip

    t_factory, t_entry = entry_point_overhead(args.entry_trials)
    print(f"2. Per-trial time, {args.entry_trials} trials per form, the same model and rows")
    print(f"   factory (tuning.model)          {t_factory * 1000:8.0f} ms/trial")
    print(f"   entry point (tuning.entry_point) {t_entry * 1000:7.0f} ms/trial")
    print(f"   overhead of the entry point     {(t_entry - t_factory) * 1000:8.0f} ms/trial "
          f"({t_entry / t_factory:.0f}x)")  # fmt: skip

    storage, cleanup = _postgres(args.postgres)
    if storage is None:
        print("3. PostgreSQL unreachable: scale-out not measured.")
        return
    try:
        with tempfile.TemporaryDirectory() as tmp:
            one = throughput(storage, 1, args.trials, args.seconds, Path(tmp))
            two = throughput(storage, 2, args.trials, args.seconds, Path(tmp))
    finally:
        admin, name = cleanup  # type: ignore[misc]
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ratio, wall_ratio = two[0] / one[0], two[1] / one[1]
    print(f"3. Throughput, {args.trials} trials, PostgreSQL RDB storage, {os.cpu_count()} cores")
    print("                steady state   wall clock incl. process start-up")
    print(f"   1 worker   {one[0]:8.3f}/s     {one[1]:8.3f}/s")
    print(f"   2 workers  {two[0]:8.3f}/s     {two[1]:8.3f}/s")
    verdict = "PASS" if ratio >= 1.7 else "FAIL"
    print(f"   ratio      {ratio:8.2f} x     {wall_ratio:8.2f} x   target >= 1.7 x   {verdict}")


if __name__ == "__main__":
    main()
