"""Every registered model loads and predicts where only its own requirements are installed.

Models of the three built-in families and the churn example's LightGBM pipeline (the team's
own code, built by its factory) are trained by the ``retrain`` step against a real tracking
server, downloaded, and loaded in a new virtual environment that holds nothing but the
packages of the model's ``requirements.txt``: no mlflow-retrain, no Optuna, no boto3. Their
predictions there must equal those of the training environment.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers.pipeline import credit_frame

from mlflow_retrain.config import RetrainConfig
from mlflow_retrain.pipeline.retrain import run_retrain

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CHURN = REPO / "projects" / "churn_lightgbm"

#: Run inside the clean environment: load each model folder, predict, and report.
SERVE = """
import importlib.util, json, pickle, sys
absent = [n for n in ("mlflow_retrain", "optuna", "boto3") if importlib.util.find_spec(n)]
import mlflow.pyfunc, mlflow.sklearn
out = {"installed": absent}
for folder in sys.argv[2:]:
    with open(folder + "/rows.pkl", "rb") as f:
        rows = pickle.load(f)
    labels = mlflow.pyfunc.load_model(folder).predict(rows)
    proba = mlflow.sklearn.load_model(folder).predict_proba(rows)
    out[folder] = {"labels": [str(v) for v in labels], "proba": proba[:, 1].tolist()}
with open(sys.argv[1], "w") as f:
    json.dump(out, f)
"""


def _train(name: str, data: pd.DataFrame, tmp_path: Path, **settings: object) -> str:
    path = tmp_path / f"{name}.csv"
    data.to_csv(path, index=False)
    tuning = {"n_trials": 2, "cv_folds": 2, **dict(settings.pop("tuning", {}))}
    config = RetrainConfig.from_dict({**settings, "tuning": tuning})
    return run_retrain(str(path), model_name=name, config=config).version


def _download(name: str, version: str, rows: pd.DataFrame, into: Path) -> tuple[Path, dict]:
    """The model's folder with the rows to score in it, and its predictions here."""
    folder = Path(
        mlflow.artifacts.download_artifacts(f"models:/{name}/{version}", dst_path=str(into))
    )
    with (folder / "rows.pkl").open("wb") as f:
        pickle.dump(rows, f)
    expected = {
        "labels": [str(v) for v in mlflow.pyfunc.load_model(str(folder)).predict(rows)],
        "proba": mlflow.sklearn.load_model(str(folder)).predict_proba(rows)[:, 1].tolist(),
    }
    return folder, expected


def _requirements(folder: Path) -> set[str]:
    return set((folder / "requirements.txt").read_text().split())


def _serve(python: Path, folders: list[Path], out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON"))}
    done = subprocess.run(
        [str(python), "-I", "-c", SERVE, str(out), *map(str, folders)],
        cwd=out.parent, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def _pip(python: Path, requirements: Path) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
         str(requirements)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


def test_registered_models_serve_with_only_their_own_requirements(
    mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    mlflow.set_tracking_uri(mlflow_server)
    sys.path.insert(0, str(CHURN))  # the example's package, as `mlflow run` finds it
    try:
        from generate import generate_month

        credit = credit_frame(600)
        builtin = {
            family: _train(
                f"serve-{family}",
                credit,
                tmp_path,
                target="default",
                timestamp="day",
                tuning={"estimators": [family]},
            )
            for family in ("hist_gradient_boosting", "random_forest", "linear")
        }
        churn = pd.concat([generate_month(m, rows=800) for m in (1, 2)])
        churn_version = _train("serve-churn", churn, tmp_path, target="churned",
                               timestamp="snapshot_date", drift={"ignore": ["customer_id"]},
                               tuning={"model": "churn_model.model:build"})  # fmt: skip
        credit_rows = credit.drop(columns=["default", "day"]).head(50)
        churn_rows = churn.drop(columns=["churned", "snapshot_date", "customer_id"]).head(50)
        downloads = {
            family: _download(f"serve-{family}", version, credit_rows, tmp_path / family)
            for family, version in builtin.items()
        }
        churn_folder, churn_expected = _download("serve-churn", churn_version, churn_rows,
                                                 tmp_path / "churn")  # fmt: skip
    finally:
        sys.path.remove(str(CHURN))
        sys.modules.pop("generate", None)
        mlflow.set_tracking_uri(None)

    requirements = {family: _requirements(folder) for family, (folder, _) in downloads.items()}
    first = next(iter(downloads.values()))[0]
    assert all(r == requirements["linear"] for r in requirements.values()), requirements
    assert not {r.split("==")[0] for r in requirements["linear"]} & {
        "mlflow-retrain", "optuna", "boto3", "click"
    }  # fmt: skip
    assert (first / "code" / "mlflow_retrain_runtime" / "__init__.py").is_file()
    assert not (first / "code" / "mlflow_retrain").exists()
    churn_requirements = _requirements(churn_folder)
    assert any(r.startswith("lightgbm==") for r in churn_requirements)
    # The churn model needs exactly the built-ins' packages and LightGBM, so one environment
    # holds each model's requirements and nothing else: first the built-ins', then LightGBM.
    assert requirements["linear"] < churn_requirements
    assert (churn_folder / "code" / "churn_model" / "features.py").is_file()

    venv = tmp_path / "serving-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    _pip(python, first / "requirements.txt")
    served = _serve(python, [folder for folder, _ in downloads.values()], tmp_path / "out.json")
    assert served.pop("installed") == []
    for folder, expected in downloads.values():
        got = served[str(folder)]
        assert got["labels"] == expected["labels"]
        np.testing.assert_allclose(got["proba"], expected["proba"], rtol=1e-9)

    _pip(python, churn_folder / "requirements.txt")
    served = _serve(python, [churn_folder], tmp_path / "churn-out.json")
    assert served.pop("installed") == []
    assert served[str(churn_folder)]["labels"] == churn_expected["labels"]
    np.testing.assert_allclose(served[str(churn_folder)]["proba"], churn_expected["proba"],
                               rtol=1e-9)  # fmt: skip
