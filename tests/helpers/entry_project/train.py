"""A team's training script: logistic regression on the numeric columns, its own holdout.

``--behaviour`` makes it misbehave for the tests: ``no-metric`` logs no metric, ``nan``
logs a NaN score when C > 1, ``fail`` exits with an error, ``slow`` logs a step metric per
epoch (for pruning). Records the columns it received in ``columns.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import mlflow
import mlflow.sklearn
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--timestamp", default="")
    parser.add_argument("--metric", default="roc_auc")
    parser.add_argument("--weight-column", default="")
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--behaviour", default="good")
    args = parser.parse_args()
    if args.behaviour == "fail":
        sys.exit("training crashed")
    frame = pd.read_parquet(args.train)
    features = [
        c
        for c in frame.select_dtypes("number").columns
        if c not in (args.target, args.weight_column, "row_id")
    ]
    cut = int(len(frame) * 0.75)  # the team's own holdout: the last quarter
    fit, hold = frame.iloc[:cut], frame.iloc[cut:]
    weights = fit[args.weight_column] if args.weight_column else None
    model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(C=args.C))
    with mlflow.start_run():
        mlflow.log_dict({"columns": list(frame.columns), "rows": len(frame)}, "columns.json")
        if args.behaviour == "slow":
            for epoch in range(5):
                mlflow.log_metric(
                    args.metric, 0.5 + 0.01 * epoch if args.C < 1 else 0.5, step=epoch
                )
                time.sleep(1.0)
        model.fit(fit[features], fit[args.target], logisticregression__sample_weight=weights)
        auc = roc_auc_score(hold[args.target], model.predict_proba(hold[features])[:, 1])
        if args.behaviour == "nan" and args.C > 1:
            auc = math.nan
        if args.behaviour != "no-metric":
            mlflow.log_metric(args.metric, auc, step=5 if args.behaviour == "slow" else 0)
        mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            input_example=fit[features].head(3),
        )


if __name__ == "__main__":
    main()
