"""Native thread limits of tuning: how they are sized, and that trials and the refit run
under them (checked with threadpoolctl inside the fit, never by timing)."""

from __future__ import annotations

import logging
import os
from typing import Any

import optuna
import pytest
from _tuning_frames import mixed_frame
from helpers import factories
from threadpoolctl import threadpool_info, threadpool_limits

from mlflow_retrain.config import RetrainConfig
from mlflow_retrain.exceptions import InvalidConfigError, InvalidInputError
from mlflow_retrain.pipeline import retrain as retrain_module
from mlflow_retrain.tuning import (
    available_cores,
    limit_threads,
    make_objective,
    native_threads,
    prepare_data,
    resolve_threads,
)
from mlflow_retrain.tuning import objective as objective_module
from mlflow_retrain.tuning import study as study_module
from mlflow_retrain.tuning import threads as threads_module

optuna.logging.set_verbosity(optuna.logging.WARNING)

Seen = list[dict[str, int]]


def _limits() -> dict[str, int]:
    """The thread limit of every loaded native library, by its file."""
    return {lib["filepath"]: int(lib["num_threads"]) for lib in threadpool_info()}


@pytest.fixture
def seen() -> Seen:
    """The thread limits inside every fit of ``helpers.factories:recording``'s model."""
    factories.RECORDED.clear()
    return factories.RECORDED


#: A factory whose model records the native thread limits it is fitted under.
RECORDING = "helpers.factories:recording"


def _config(**tuning: Any) -> RetrainConfig:
    settings = {"estimators": ["linear"], "cv_folds": 2, "pruner": "none", **tuning}
    return RetrainConfig.from_dict({"target": "y", "timestamp": "ts", "tuning": settings})


def _prepared(config: RetrainConfig) -> Any:
    return prepare_data(mixed_frame(), target="y", timestamp="ts", config=config)


@pytest.mark.parametrize(
    ("cores", "workers", "expected"),
    [(2, 1, 2), (2, 2, 1), (2, 3, 1), (1, 4, 1), (8, 3, 2), (16, 4, 4), (64, 64, 1)],
)
def test_auto_shares_the_cores_among_the_workers(cores: int, workers: int, expected: int) -> None:
    assert resolve_threads("auto", workers=workers, cores=cores) == expected


def test_an_explicit_thread_count_is_used_as_given() -> None:
    assert resolve_threads(3, workers=2, cores=8) == 3


def test_an_explicit_count_above_the_cores_is_kept_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=threads_module.__name__):
        assert resolve_threads(4, workers=2, cores=2) == 4

    assert "asks for 8 native threads on 2 usable core(s)" in caplog.text


@pytest.mark.parametrize("setting", [0, -1, "two", True, 1.5, None])
def test_a_bad_thread_setting_is_refused(setting: Any) -> None:
    with pytest.raises(InvalidConfigError, match=r"'tuning.threads' must be 'auto' or a whole"):
        resolve_threads(setting, workers=1, cores=2)


@pytest.mark.parametrize("workers", [0, -2, True])
def test_a_bad_worker_count_is_refused(workers: Any) -> None:
    with pytest.raises(InvalidConfigError, match=r"workers must be a whole number >= 1"):
        resolve_threads("auto", workers=workers, cores=2)


def test_auto_counts_the_cores_of_this_machine_by_default() -> None:
    assert resolve_threads("auto", workers=1) == available_cores()
    assert 1 <= available_cores() <= (os.cpu_count() or 1)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity here")
def test_available_cores_respects_the_cpu_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})

    assert available_cores() == 1
    assert resolve_threads("auto", workers=1) == 1


def test_available_cores_respects_loky_max_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOKY_MAX_CPU_COUNT", "1")

    assert available_cores() == 1


def test_limit_threads_limits_every_library_and_restores_it() -> None:
    with threadpool_limits(limits=2):
        with limit_threads(1):
            inside = _limits()
            assert native_threads() == 1
        after = _limits()

    assert inside
    assert set(inside.values()) == {1}
    assert set(after.values()) == {2}


def test_limit_threads_none_leaves_the_limits_alone() -> None:
    with threadpool_limits(limits=2), limit_threads(None):
        assert set(_limits().values()) == {2}


def test_a_trial_fits_and_scores_under_the_thread_limit(seen: Seen) -> None:
    config = _config(model=RECORDING)
    objective = make_objective(_prepared(config), target="y", config=config)
    objective.n_threads = 1
    study = optuna.create_study(direction=objective.direction)

    with threadpool_limits(limits=2):
        study.optimize(objective, n_trials=2)
        after = _limits()

    assert len(seen) == 4  # 2 trials x 2 folds
    assert all(set(limits.values()) == {1} for limits in seen), seen
    assert [t.user_attrs["native_threads"] for t in study.trials] == [1, 1]
    assert set(after.values()) == {2}


def test_without_a_limit_a_trial_keeps_the_library_defaults(seen: Seen) -> None:
    config = _config(model=RECORDING)
    objective = make_objective(_prepared(config), target="y", config=config)
    objective.n_threads = None
    study = optuna.create_study(direction=objective.direction)

    with threadpool_limits(limits=2):
        study.optimize(objective, n_trials=1)

    assert seen
    assert all(set(limits.values()) == {2} for limits in seen), seen


def test_the_objective_refuses_a_thread_count_below_one() -> None:
    config = _config()
    prepared = _prepared(config)
    objective = make_objective(prepared, target="y", config=config)

    with pytest.raises(InvalidInputError, match=r"n_threads must be a whole number >= 1"):
        objective_module.Objective(
            objective.X,
            objective.y,
            numeric=prepared.numeric,
            categorical=prepared.categorical,
            task=prepared.task,
            metric=prepared.metric,
            splits=prepared.splits,
            estimators=("linear",),
            n_threads=0,
        )


@pytest.mark.parametrize(
    ("threads", "workers", "expected"), [("auto", 1, 8), ("auto", 3, 2), (1, 3, 1), (5, 1, 5)]
)
def test_the_study_objective_is_sized_from_the_config(
    monkeypatch: pytest.MonkeyPatch, threads: Any, workers: int, expected: int
) -> None:
    monkeypatch.setattr(study_module, "available_cores", lambda: 8)
    config = _config(threads=threads, workers=workers)

    objective = make_objective(_prepared(config), target="y", config=config)

    assert objective.n_threads == expected


@pytest.mark.parametrize(("threads", "outer", "expected"), [("auto", 1, 2), (1, 2, 1)])
def test_the_refit_runs_alone_so_auto_gives_it_every_core(
    monkeypatch: pytest.MonkeyPatch, seen: Seen, threads: Any, outer: int, expected: int
) -> None:
    # Two workers shared the cores while tuning; the refit runs after they stopped.
    monkeypatch.setattr(threads_module, "available_cores", lambda: 2)
    config = _config(threads=threads, workers=2, model=RECORDING)

    with threadpool_limits(limits=outer):
        retrain_module.fit_best(_prepared(config), {"C": 1.0}, target="y", config=config)
        after = _limits()

    assert len(seen) == 1
    assert set(seen[0].values()) == {expected}
    assert set(after.values()) == {outer}
