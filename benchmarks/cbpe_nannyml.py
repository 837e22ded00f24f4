"""Our CBPE against NannyML 0.13.1's, chunk by chunk, on NannyML's car-loan data, in one run.

NannyML is a reference here, never a dependency: it runs in a virtual environment of its own
(``--nannyml-python PATH``, else one created in ``.bench-venvs/nannyml`` with ``pip install
nannyml==0.13.1 statsmodels``). There it loads its synthetic car-loan dataset, fits its CBPE
(isotonic calibration, ``chunk_size`` rows per chunk, ROC AUC and accuracy) on the reference
period and estimates the analysis period; it hands over the very probabilities it used. Ours
is fitted on the same reference probabilities and labels and estimates the same chunks. The
realised metrics come from the analysis targets.

Prints, per chunk: NannyML's estimate, ours, the difference and the realised value. Target:
every difference within 0.01.

Usage: python benchmarks/cbpe_nannyml.py [--chunk-size 5000] [--nannyml-python PATH]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlflow_retrain.estimation import CBPE  # noqa: E402

METRICS = ("roc_auc", "accuracy")

#: Run with NannyML's interpreter: argv = output .npz, chunk size.
NANNYML_SIDE = """
import sys, time
import numpy as np
import nannyml as nml

out, chunk_size = sys.argv[1], int(sys.argv[2])
reference, analysis, targets = nml.load_synthetic_car_loan_dataset()
analysis = analysis.merge(targets, on="id")
started = time.perf_counter()
estimator = nml.CBPE(
    y_pred_proba="y_pred_proba", y_pred="y_pred", y_true="repaid",
    timestamp_column_name="timestamp", metrics=["roc_auc", "accuracy"],
    chunk_size=chunk_size, problem_type="classification_binary",
)
estimator.fit(reference)
results = estimator.estimate(analysis).filter(period="analysis").to_df()
seconds = time.perf_counter() - started
values = {}
for metric in ("roc_auc", "accuracy"):
    values[metric] = results[(metric, "value")].to_numpy(dtype=float)
    values[metric + "_low"] = results[(metric, "lower_confidence_boundary")].to_numpy(dtype=float)
    values[metric + "_high"] = results[(metric, "upper_confidence_boundary")].to_numpy(dtype=float)
np.savez(
    out,
    ref_p=reference["y_pred_proba"].to_numpy(float), ref_y=reference["repaid"].to_numpy(int),
    ref_pred=reference["y_pred"].to_numpy(int),
    p=analysis["y_pred_proba"].to_numpy(float), y=analysis["repaid"].to_numpy(int),
    pred=analysis["y_pred"].to_numpy(int), seconds=seconds,
    **values,
)
"""


def _nannyml_python(given: str | None) -> Path:
    if given:
        return Path(given)
    venv = REPO / ".bench-venvs" / "nannyml"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"Creating {venv} with nannyml==0.13.1 (once; a few minutes) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # statsmodels: NannyML 0.13.1 imports it (nannyml/plots) but does not declare it.
        subprocess.run([str(python), "-m", "pip", "install", "-q", "nannyml==0.13.1",
                        "statsmodels"],
                       check=True)  # fmt: skip
    return python


def main() -> None:
    """Run NannyML and ours on the same probabilities; print the per-chunk table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--nannyml-python", default=None)
    args = parser.parse_args()
    python = _nannyml_python(args.nannyml_python)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "nannyml.npz"
        # NannyML reports usage to segment.io unless told not to (and this machine is offline).
        env = {**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"}
        subprocess.run([str(python), "-c", NANNYML_SIDE, str(out), str(args.chunk_size)],
                       check=True, env=env)  # fmt: skip
        theirs = dict(np.load(out))
    agrees = np.mean(theirs["pred"] == (theirs["p"] >= 0.5).astype(int))
    started = time.perf_counter()
    ours = CBPE().fit(theirs["ref_y"], theirs["ref_p"], [0, 1])
    n = len(theirs["p"])
    chunks = [slice(i, min(i + args.chunk_size, n)) for i in range(0, n, args.chunk_size)]
    # Its decisions are its y_pred column, not always p >= 0.5: ours is given them too.
    estimates = [
        ours.estimate(theirs["p"][c], METRICS, predictions=theirs["pred"][c]) for c in chunks
    ]
    seconds = time.perf_counter() - started
    from sklearn.metrics import accuracy_score, roc_auc_score

    worst = dict.fromkeys(METRICS, 0.0)
    print(f"NannyML 0.13.1 car-loan data, {len(chunks)} analysis chunks of {args.chunk_size} "
          f"rows (its y_pred = p >= 0.5 on {agrees:.1%} of rows)")  # fmt: skip
    print(f"{'chunk':>5}  {'metric':8} {'NannyML':>8} {'ours':>8} {'diff':>8} {'realised':>9}"
          f"  {'NannyML interval':>18}  {'ours interval':>18}")  # fmt: skip
    for k, (c, est) in enumerate(zip(chunks, estimates, strict=True)):
        y, p = theirs["y"][c], theirs["p"][c]
        realised = {"roc_auc": roc_auc_score(y, p),
                    "accuracy": accuracy_score(y, theirs["pred"][c])}  # fmt: skip
        for metric in METRICS:
            theirs_value = float(theirs[metric][k])
            diff = est[metric].value - theirs_value
            worst[metric] = max(worst[metric], abs(diff))
            print(f"{k:>5}  {metric:8} {theirs_value:8.4f} {est[metric].value:8.4f} "
                  f"{diff:+8.4f} {realised[metric]:9.4f}  "
                  f"[{theirs[metric + '_low'][k]:.4f}, {theirs[metric + '_high'][k]:.4f}]  "
                  f"[{est[metric].ci_low:.4f}, {est[metric].ci_high:.4f}]")  # fmt: skip
    for metric in METRICS:
        verdict = "PASS" if worst[metric] <= 0.01 else "FAIL"
        print(f"largest |ours - NannyML| {metric}: {worst[metric]:.4f}  target <= 0.01  {verdict}")
    print(
        f"time: NannyML fit+estimate {float(theirs['seconds']):.2f} s, ours {seconds:.2f} s "
        "(ours includes the sampling intervals' label draws)"
    )


if __name__ == "__main__":
    main()
