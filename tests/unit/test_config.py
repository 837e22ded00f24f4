"""retrain.yaml loading: validation, clear errors, and precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlflow_retrain import InvalidConfigError, RetrainConfig, load_config


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "retrain.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    config = load_config(None, environ={})

    assert config == RetrainConfig()
    assert config.drift.alpha == 0.05
    assert config.drift.fdr_method == "bh"
    assert config.drift.numeric.min_effect == 0.1


def test_file_values_are_read(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "target: y\ndrift:\n  alpha: 0.01\n  critical_columns: [a, b]\n"
        "  columns: {zip: categorical}\n  numeric: {effect_metric: psi, min_effect: 0.2}\n",
    )

    config = load_config(path, environ={})

    assert config.target == "y"
    assert config.drift.alpha == 0.01
    assert config.drift.critical_columns == ("a", "b")
    assert config.drift.columns == {"zip": "categorical"}
    assert config.drift.numeric.effect_metric == "psi"


def test_precedence_is_argument_then_environment_then_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "drift:\n  alpha: 0.01\n  drift_share: 0.5\n")
    env = {"MLFLOW_RETRAIN_DRIFT__ALPHA": "0.02", "MLFLOW_RETRAIN_DRIFT__DRIFT_SHARE": "0.4"}

    config = load_config(path, overrides={"drift.alpha": 0.03}, environ=env)

    assert config.drift.alpha == 0.03
    assert config.drift.drift_share == 0.4


def test_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, "target: label\n")

    config = load_config(None, environ={"MLFLOW_RETRAIN_CONFIG": str(path)})

    assert config.target == "label"


def test_environment_lists_are_comma_separated() -> None:
    env = {"MLFLOW_RETRAIN_DRIFT__CRITICAL_COLUMNS": "a, b"}

    assert load_config(None, environ=env).drift.critical_columns == ("a", "b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("drift:\n  alpah: 0.1\n", r"Unknown key 'drift.alpah'. Did you mean 'drift.alpha'\?"),
        ("drfit: {}\n", r"Unknown key 'drfit'. Did you mean 'drift'\?"),
        ("drift:\n  alpha: high\n", r"'drift.alpha' must be a number, got str 'high'"),
        ("drift:\n  alpha: 1.5\n", r"'drift.alpha' must be in \(0, 1\), got 1.5"),
        ("drift:\n  fdr_method: fdr\n", r"'drift.fdr_method' must be one of 'bh', 'by'"),
        ("drift:\n  numeric:\n    psi_bins: 2.5\n", r"'drift.numeric.psi_bins' must be a whole"),
        ("drift:\n  columns: {a: text}\n", r"'drift.columns.a' must be one of 'numeric'"),
        ("validation:\n  allow_extra_columns: 1\n", r"must be true or false, got 1"),
        ("drift: 3\n", r"'drift' must be a mapping"),
        ("- a\n- b\n", r"must hold a mapping of sections"),
        ("drift: [unclosed\n", r"is not valid YAML at line"),
        ("tuning:\n  threads: two\n", r"'tuning.threads' must be 'auto' or a whole number, got"),
        ("tuning:\n  threads: 1.5\n", r"'tuning.threads' must be 'auto' or a whole number, got"),
        ("tuning:\n  threads: 0\n", r"'tuning.threads' must be in \[1, 1024\], got 0"),
        ("drift:\n  weights: shap\n", r"'drift.weights' must be one of 'importance', 'equal'"),
        ("triggers:\n  decay_horizon: 0\n", r"'triggers.decay_horizon' must be in \[1, 1000\]"),
        ("triggers:\n  decay_horizon: 1.5\n", r"'triggers.decay_horizon' must be a whole"),
    ],
)
def test_invalid_files_name_the_key_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)

    with pytest.raises(InvalidConfigError, match=message):
        load_config(path, environ={})


def test_error_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "drift:\n  alpah: 0.1\n")

    with pytest.raises(InvalidConfigError, match=r"retrain.yaml: Unknown key"):
        load_config(path, environ={})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError, match=r"does not exist. Pass an existing"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_bad_environment_value_names_the_variable() -> None:
    env = {"MLFLOW_RETRAIN_DRIFT__ALPHA": "abc"}

    with pytest.raises(InvalidConfigError, match=r"'drift.alpha' must be a number"):
        load_config(None, environ=env)


def test_with_overrides_skips_none_and_validates() -> None:
    config = RetrainConfig().with_overrides({"drift.alpha": None, "profile.max_points": 64})

    assert config.profile.max_points == 64
    with pytest.raises(InvalidConfigError, match=r"profile.max_points"):
        RetrainConfig().with_overrides({"profile.max_points": 3})


def test_to_dict_round_trips() -> None:
    config = load_config(None, overrides={"drift.critical_columns": ["x"]}, environ={})

    assert load_config(None, overrides={}, environ={}).to_dict()["drift"]["alpha"] == 0.05
    assert config.to_dict()["drift"]["critical_columns"] == ["x"]


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("", {}, "auto"),
        ("tuning:\n  threads: 1\n", {}, 1),
        ("tuning:\n  threads: 1\n", {"MLFLOW_RETRAIN_TUNING__THREADS": "auto"}, "auto"),
        ("tuning:\n  threads: auto\n", {"MLFLOW_RETRAIN_TUNING__THREADS": "3"}, 3),
    ],
)
def test_tuning_threads_is_auto_or_a_whole_number(
    tmp_path: Path, text: str, env: dict[str, str], expected: object
) -> None:
    config = load_config(_write(tmp_path, text), environ=env)

    assert config.tuning.threads == expected
    assert RetrainConfig.from_dict(config.to_dict()) == config


def test_the_evidence_key_variables_are_secrets_not_configuration() -> None:
    env = {
        "MLFLOW_RETRAIN_EVIDENCE_KEY": "k1:" + "s" * 64,
        "MLFLOW_RETRAIN_EVIDENCE_KEY_FILE": "/etc/mlflow-retrain/evidence.keys",
    }

    assert load_config(None, environ=env) == load_config(None, environ={})


def test_the_team_servers_own_variables_are_not_configuration() -> None:
    # A pipeline started beside deploy/team-server.sh inherits its environment; an unknown
    # MLFLOW_RETRAIN_* variable is otherwise a config error naming the key.
    env = {
        "MLFLOW_RETRAIN_PIPELINE_USERS": "pipeline,etl",
        "MLFLOW_RETRAIN_DB_URI": "postgresql://mlflow@db/mlflow",
        "MLFLOW_RETRAIN_WORKERS": "4",
        "MLFLOW_RETRAIN_TEST_MYSQL": "mysql+pymysql://root@127.0.0.1/test",
    }

    assert load_config(None, environ=env) == load_config(None, environ={})
    with pytest.raises(InvalidConfigError, match=r"Unknown key .pipeline_user."):
        load_config(None, environ={"MLFLOW_RETRAIN_PIPELINE_USER": "pipeline"})
