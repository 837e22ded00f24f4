"""One full cycle of the retraining loop on the credit-default example, and where its time goes.

The cycle checks month 8 (right after the concept shift) against a champion trained on month
1, on a SQLite tracking store with local artifacts: validation, drift against the champion's
profile, decay, the trigger, a retrain (Optuna tuning with one MLflow child run per trial,
refit, model logging and registration), the comparison, and the promotion through the gate.

Baseline, measured in the same run: the model work the cycle cannot avoid, that is every
scikit-learn fit, predict and predict_proba it makes (CV folds, refit, gate scoring, decay and
comparison scoring), timed where they happen. Everything else is orchestration, logging and
I/O. Target: that share is at most 10 % of the cycle.

Signing, in the same run: the cycle signs its evidence and the gate verifies it (an evidence
key is set). The time spent in both is measured where it happens (building the signed record:
the version lookup, downloading and hashing the version's artifacts, the HMAC; the four record
and signature tag writes; the store's verification: the HMAC check, downloading and hashing
the artifacts again), and the cycle without it is the cycle minus that time. Target: signing
and verifying add at most 5 % to the cycle.

Then, in the same run, HistGradientBoosting trials on the same training window (months 7-8,
windowed as the example's ``retrain.yaml`` says) with the native thread limit the example
uses (``tuning.threads``) and without any limit (the libraries' default, one thread per
core): the same sampled parameters in both, alternating which goes first, so a change of
machine load hits both alike. The ratio depends on how busy the cores are, so the load
average is printed beside it.

Usage: python benchmarks/cycle_bench.py [--rows 5000] [--trials 8] [--hgb-trials 6]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sklearn.pipeline import Pipeline  # noqa: E402

#: Seconds spent inside outermost Pipeline calls, by method.
MODEL_TIME: dict[str, float] = {"fit": 0.0, "predict": 0.0, "predict_proba": 0.0}
_depth = 0


def _timed(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        global _depth
        _depth += 1
        start = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            _depth -= 1
            if _depth == 0:  # nested pipelines (inside a ColumnTransformer) count once
                MODEL_TIME[method] += time.perf_counter() - start

    return wrapper


def _instrument() -> None:
    for method in MODEL_TIME:
        setattr(Pipeline, method, _timed(method, getattr(Pipeline, method)))


#: Seconds spent signing evidence and verifying it, by part.
SIGNING_TIME: dict[str, float] = {"sign": 0.0, "tags": 0.0, "verify": 0.0}


def _timed_into(totals: dict[str, float], part: str, original: Callable[..., Any]) -> Any:
    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[part] += time.perf_counter() - start

    return wrapper


def _instrument_signing() -> None:
    from mlflow.tracking import MlflowClient

    from mlflow_retrain import lineage
    from mlflow_retrain.registry import evidence, store

    evidence._signed_record = _timed_into(SIGNING_TIME, "sign", evidence._signed_record)
    store.signed_evidence = _timed_into(SIGNING_TIME, "verify", store.signed_evidence)
    signed_tags = {
        lineage.TAG_EVIDENCE_RECORD, lineage.TAG_EVIDENCE_SIGNATURE,
        lineage.TAG_OFFLINE_RECORD, lineage.TAG_OFFLINE_SIGNATURE,
    }  # fmt: skip
    original = MlflowClient.set_model_version_tag

    @functools.wraps(original)
    def set_tag(self: Any, name: str, version: str, key: str, value: Any, **kw: Any) -> Any:
        if key not in signed_tags:
            return original(self, name, version, key, value, **kw)
        start = time.perf_counter()
        try:
            return original(self, name, version, key, value, **kw)
        finally:
            SIGNING_TIME["tags"] += time.perf_counter() - start

    MlflowClient.set_model_version_tag = set_tag  # type: ignore[method-assign]


def _generator() -> Any:
    path = REPO / "projects" / "credit_default" / "generate.py"
    spec = importlib.util.spec_from_file_location("credit_generate", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hgb_trials(config: Any, data: Path, trials: int) -> dict[str, dict[str, float]]:
    """Time HistGradientBoosting trials with the configured thread limit and without one."""
    import optuna
    import pandas as pd

    from mlflow_retrain.tuning import make_objective, prepare_data

    config = config.with_overrides(
        {"tuning.estimators": ["hist_gradient_boosting"], "tuning.pruner": "none"}
    )
    frame = pd.concat([pd.read_csv(data / f"month_{m:02d}.csv") for m in (7, 8)])
    prepared = prepare_data(
        frame.reset_index(drop=True),
        target=str(config.target),
        timestamp=config.timestamp,
        config=config,
    )
    runs: dict[str, Any] = {}
    for name in ("limited", "unlimited"):
        objective = make_objective(prepared, target=str(config.target), config=config)
        if name == "unlimited":
            objective.n_threads = None
        # The random sampler draws the same parameters in both studies, whatever the scores.
        study = optuna.create_study(
            direction=objective.direction,
            sampler=optuna.samplers.RandomSampler(seed=0),
            pruner=optuna.pruners.NopPruner(),
        )
        runs[name] = (objective, study, {"wall": 0.0, "cpu": 0.0, "threads": 0.0})
    for i in range(trials):
        order = ("limited", "unlimited") if i % 2 == 0 else ("unlimited", "limited")
        for name in order:
            objective, study, totals = runs[name]
            wall, cpu = time.perf_counter(), time.process_time()
            study.optimize(objective, n_trials=1)
            totals["wall"] += time.perf_counter() - wall
            totals["cpu"] += time.process_time() - cpu
            totals["threads"] = study.trials[-1].user_attrs["native_threads"]
    return {name: totals for name, (_, _, totals) in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="Rows per month.")
    parser.add_argument("--trials", type=int, default=8, help="Optuna trials.")
    parser.add_argument(
        "--hgb-trials", type=int, default=6, help="HistGradientBoosting trials per setting."
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
        # The pipeline and the gate (the store plugin, in this process) share one key.
        os.environ["MLFLOW_RETRAIN_EVIDENCE_KEY"] = "bench:" + "5e" * 32
        import mlflow
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)

        from mlflow_retrain.config import load_config
        from mlflow_retrain.pipeline.loop import run_cycle
        from mlflow_retrain.tuning import available_cores

        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        data = folder / "data"
        data.mkdir()
        generate = _generator()
        for month in range(1, 9):
            generate.generate_month(month, rows=args.rows).to_csv(
                data / f"month_{month:02d}.csv", index=False
            )
        config = load_config(
            REPO / "projects" / "credit_default" / "retrain.yaml",
            overrides={
                "history.source": str(data),
                "triggers.drift_k": 1,  # month 8 alone triggers: the cycle retrains
                "triggers.drift_n": 1,
                "safety.cooldown_checks": 0,
                "tuning.n_trials": args.trials,
                "model.create": True,  # the first cycle deploys the first version
            },
        )
        run_cycle(config, batch=str(data / "month_01.csv"))  # the champion; not measured

        _instrument()
        _instrument_signing()
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        result = run_cycle(config, batch=str(data / "month_08.csv"))
        total = time.perf_counter() - start
        load_cycle = (load_before + os.getloadavg()[0]) / 2
        model_time = dict(MODEL_TIME)  # the trials below are timed on their own

        load_before = os.getloadavg()[0]
        hgb = _hgb_trials(config, data, args.hgb_trials)
        load_hgb = (load_before + os.getloadavg()[0]) / 2

    model = sum(model_time.values())
    other = total - model
    print(f"cycle on month 8: outcome {result.outcome}, trigger {result.trigger.trigger}, "
          f"challenger v{result.challenger_version}, decision {result.decision}")  # fmt: skip
    print(f"rows per month {args.rows}, trials {args.trials}, tuning.threads "
          f"{config.tuning.threads}, {os.cpu_count()} cores, {available_cores()} usable, "
          f"load average {load_cycle:.2f}")  # fmt: skip
    print(f"{'part':<40} {'seconds':>8} {'share':>7}")
    for name, seconds in [
        ("model fit (CV folds, refit)", model_time["fit"]),
        ("model predict / predict_proba", model_time["predict"] + model_time["predict_proba"]),
        ("baseline: model work, total", model),
        ("orchestration, logging, I/O", other),
        ("ours: the whole cycle", total),
    ]:
        print(f"{name:<40} {seconds:>8.2f} {seconds / total:>7.1%}")
    print(f"ratio whole cycle / model work: {total / model:.2f}x; "
          f"overhead share {other / total:.1%} (target <= 10%)")  # fmt: skip

    signing = sum(SIGNING_TIME.values())
    without = total - signing
    print()
    print(f"signed evidence in that cycle (decision {result.decision}; key set on both sides)")
    for name, seconds in [
        ("sign: record, artifacts digest, HMAC", SIGNING_TIME["sign"]),
        ("write the record and signature tags", SIGNING_TIME["tags"]),
        ("verify: HMAC, bindings, artifacts digest", SIGNING_TIME["verify"]),
        ("baseline: the cycle without them", without),
        ("ours: the whole cycle", total),
    ]:
        print(f"{name:<40} {seconds:>8.3f} {seconds / total:>7.1%}")
    print(f"ratio signed / unsigned cycle: {total / without:.3f}x; signing adds "
          f"{signing / without:.1%} (target <= 5%)")  # fmt: skip

    ours, base = hgb["limited"], hgb["unlimited"]
    n = args.hgb_trials
    print()
    print(f"HistGradientBoosting trials on months 7-8, {n} per setting (same parameters), "
          f"load average {load_hgb:.2f}")  # fmt: skip
    print(f"{'setting':<40} {'threads':>7} {'wall s/trial':>13} {'cpu s/trial':>12}")
    for name, totals in [
        (f"ours: tuning.threads = {config.tuning.threads}", ours),
        ("baseline: no limit (library default)", base),
    ]:
        print(f"{name:<40} {totals['threads']:>7.0f} {totals['wall'] / n:>13.2f} "
              f"{totals['cpu'] / n:>12.2f}")  # fmt: skip
    print(f"ratio no limit / limit: {base['wall'] / ours['wall']:.2f}x wall time, "
          f"{base['cpu'] / ours['cpu']:.2f}x CPU time")  # fmt: skip


if __name__ == "__main__":
    main()
