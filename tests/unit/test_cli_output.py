"""What the commands print: each result's ``format_*`` text, pinned byte for byte.

The CLI echoes these functions' text and nothing else, so these are the lines a person (or a
script grepping a cron log) reads after ``run``, ``replay``, ``resume`` and the alias moves.
"""

from __future__ import annotations

from collections.abc import Iterator

import mlflow
import pytest

from mlflow_retrain.pipeline.loop import CycleResult, format_cycle
from mlflow_retrain.pipeline.steps import where_to_look
from mlflow_retrain.pipeline.timeline import TimelineRow, format_replay
from mlflow_retrain.pipeline.triggers import TriggerDecision
from mlflow_retrain.registry.halt import ResumeResult, format_resume
from mlflow_retrain.registry.lifecycle import AliasMove, format_move


@pytest.fixture
def tracking(request: pytest.FixtureRequest) -> Iterator[str]:
    mlflow.set_tracking_uri(request.param)
    yield request.param
    mlflow.set_tracking_uri(None)


def _cycle(**changes: object) -> CycleResult:
    fields: dict[str, object] = {
        "model_name": "m",
        "batch": "data/month_03.csv",
        "outcome": "no_change",
        "trigger": TriggerDecision(False, "none", "No significant drift or decay."),
        "drift_detected": False,
        "decay": None,
        "challenger_version": None,
        "decision": None,
        "champion_version": "1",
        "run_id": "r0",
    }
    return CycleResult(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_quiet_cycle_prints_its_outcome_trigger_and_champion() -> None:
    assert format_cycle(_cycle()) == (
        "NO_CHANGE: m, batch data/month_03.csv: no drift.\n"
        "Trigger: none. No significant drift or decay.\n"
        "Champion: version 1.\n"
        "MLflow run: r0"
    )


def test_a_cycle_that_retrained_and_halted_says_so() -> None:
    decay = {"metric": "roc_auc", "value": 0.71234, "ci_low": 0.7, "ci_high": 0.73,
             "reference": 0.8, "decayed": True}  # fmt: skip

    text = format_cycle(_cycle(drift_detected=True, decay=decay, challenger_version="7",
                               decision="reject", halted=True))  # fmt: skip

    assert text == (
        "NO_CHANGE: m, batch data/month_03.csv: drift, roc_auc 0.7123 [0.7, 0.73] vs reference "
        "0.8 (decayed).\n"
        "Trigger: none. No significant drift or decay.\n"
        "Retrained: version 7, comparison: reject.\n"
        "Champion: version 1.\n"
        "HALTED: too many rejected challengers. Run `mlflow-retrain resume --model m` after "
        "checking.\n"
        "MLflow run: r0"
    )


def test_a_cycle_without_a_champion_says_none() -> None:
    assert format_cycle(_cycle(drift_detected=None, champion_version=None)).splitlines()[::2] == [
        "NO_CHANGE: m, batch data/month_03.csv: no champion.",
        "Champion: version none.",
    ]


@pytest.mark.parametrize(
    ("move", "line"),
    [
        (
            AliasMove("m", "1", None, "first_deployment"),
            "m: champion is version 1 (first_deployment).",
        ),
        (
            AliasMove("m", "2", "1", "rollback", {"reason": "Bad numbers."}),
            "m: champion is version 2, previous-champion is version 1 (rollback). Bad numbers.",
        ),
    ],
)
def test_an_alias_move_names_both_versions_and_the_reason(move: AliasMove, line: str) -> None:
    assert format_move(move) == line


def test_resume_names_the_halt_it_cleared() -> None:
    result = ResumeResult("m", "3 challengers in a row were rejected.", 0)

    assert format_resume(result) == (
        "Resumed retraining of 'm' (it was halted: 3 challengers in a row were rejected.)"
    )


@pytest.mark.parametrize(
    ("tracking", "run_id", "line"),
    [
        (
            "sqlite:///mlflow.db",
            None,
            "Look at it: mlflow ui --backend-store-uri sqlite:///mlflow.db",
        ),
        (
            "sqlite:///mlflow.db",
            "r0",
            "Look at it: mlflow ui --backend-store-uri sqlite:///mlflow.db",
        ),
        ("https://mlflow.example.com/", None, "Open it: https://mlflow.example.com"),
        ("https://mlflow.example.com/", "r0", "Open it: https://mlflow.example.com/#/runs/r0"),
    ],
    indirect=["tracking"],
)
def test_where_to_look_follows_the_tracking_uri(
    tracking: str, run_id: str | None, line: str
) -> None:
    assert where_to_look(run_id) == line


@pytest.mark.parametrize("tracking", ["https://mlflow.example.com/"], indirect=True)
def test_replay_prints_the_timeline_then_where_to_look(tracking: str) -> None:
    rows = [TimelineRow("month_01.csv", "-", "first_deployment", "1", "promote", "1", "roc_auc",
                        0.7123, "r1")]  # fmt: skip

    assert format_replay(rows).splitlines() == [
        "batch            drift  trigger                retrain  decision               champion  "
        "next-batch roc_auc",
        "-" * 107,
        "month_01.csv     -      first_deployment       v1       promote                v1      "
        "              0.7123",
        "Open it: https://mlflow.example.com",
    ]
