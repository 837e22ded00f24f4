"""The churn team's own model code: feature engineering and a LightGBM classifier.

``churn_model.model:build`` is the factory ``retrain.yaml`` names (``tuning.model``); the
retraining loop tunes it with Optuna and ships this package with every model it logs.
"""
