"""Benchmark: how long the command line takes to answer, against MLflow's own floor.

Every ``mlflow-retrain`` call is a new process, and the test suite starts hundreds of them
(the bad-input corpus alone 47), so start-up is paid again and again. Timed, each as a fresh
process, best and median of ``--repeat`` runs:

(a) ``mlflow-retrain --help`` against ``mlflow --help`` (the baseline: MLflow's own command
    line, which loads mlflow);
(b) importing the drift step (``mlflow_retrain.pipeline.drift``) against importing what it
    cannot do without (mlflow, pandas and ``scipy.stats``);
(c) a drift step that fails on a missing file (it opens its run in a SQLite store, marks it
    FAILED and prints one line) against a script that opens and fails a run in the same kind
    of store through the MLflow client.

Usage: ``python benchmarks/startup_bench.py [--repeat N]``. Ratios are ours / baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

BIN = Path(sys.executable).parent

FAILED_RUN = """
import mlflow
client = mlflow.MlflowClient()
experiment = client.get_experiment_by_name("Default").experiment_id
run = client.create_run(experiment)
client.set_tag(run.info.run_id, "reason", "missing file")
client.set_terminated(run.info.run_id, "FAILED")
"""


def _time(command: Sequence[str], *, cwd: Path, env: dict[str, str], repeat: int) -> list[float]:
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
        seconds.append(time.perf_counter() - start)
    return seconds


def _row(label: str, ours: list[float], baseline: list[float]) -> str:
    best, base = min(ours), min(baseline)
    return (
        f"{label:<34} ours {best:6.2f} s (median {statistics.median(ours):5.2f})   "
        f"baseline {base:6.2f} s (median {statistics.median(baseline):5.2f})   "
        f"ratio {best / base:5.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}"}
    python = [sys.executable]
    ours = str(BIN / "mlflow-retrain")
    try:
        # Create the store's tables once, so no timed run pays the migrations.
        subprocess.run([*python, "-c", FAILED_RUN], cwd=work, env=env, check=True)
        rows = [
            _row(
                "(a) --help",
                _time([ours, "--help"], cwd=work, env=env, repeat=args.repeat),
                _time([str(BIN / "mlflow"), "--help"], cwd=work, env=env, repeat=args.repeat),
            ),
            _row(
                "(b) import the drift step",
                _time(
                    [*python, "-c", "import mlflow_retrain.pipeline.drift"],
                    cwd=work,
                    env=env,
                    repeat=args.repeat,
                ),
                _time(
                    [*python, "-c", "import mlflow, pandas, scipy.stats"],
                    cwd=work,
                    env=env,
                    repeat=args.repeat,
                ),
            ),
            _row(
                "(c) a failing drift step",
                _time(
                    [
                        ours,
                        "drift",
                        "--reference",
                        "missing.csv",
                        "--current",
                        "missing.csv",
                    ],
                    cwd=work,
                    env=env,
                    repeat=args.repeat,
                ),
                _time([*python, "-c", FAILED_RUN], cwd=work, env=env, repeat=args.repeat),
            ),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"start-up, best of {args.repeat} fresh processes (load {os.getloadavg()[0]:.1f})")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
