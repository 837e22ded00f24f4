"""A comparison's evidence as the tests build it: the ``Evidence`` result, and the tags the gate
reads on a version.

* ``metric_comparison`` and ``comparison_evidence``: one metric's row and the ``Evidence`` of a
  comparison, every field filled in (the report writers' and the registry writer's tests).
* ``evidence_tags``: the decision, baseline, time and run tags a comparison leaves on a
  version, unsigned (the gate's tests and the servers').
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from mlflow_retrain import lineage
from mlflow_retrain.comparison import Evidence, MetricComparison


def metric_comparison(
    name: str = "roc_auc", *, passed: bool = True, **changes: Any
) -> MetricComparison:
    """One metric's row: a primary DeLong test the challenger wins, 0.8 against 0.7.

    ``changes`` overrides any other field (``role``, ``test``, ``challenger``, ``champion``,
    ``difference``, ``ci_low``, ``ci_high``, ``p_value``, ``p_value_adjusted``, ``threshold``).
    """
    fields: dict[str, Any] = {
        "name": name,
        "role": "primary",
        "test": "delong",
        "challenger": 0.8,
        "champion": 0.7,
        "difference": 0.1,
        "ci_low": 0.05,
        "ci_high": 0.15,
        "p_value": 1e-4,
        "p_value_adjusted": 1e-4,
        "threshold": 0.0,
        "passed": passed,
        **changes,
    }
    return MetricComparison(**fields)


def comparison_evidence(
    *metrics: MetricComparison,
    decision: str = lineage.DECISION_PROMOTE,
    reason: str = "The challenger is better.",
    n: int = 1200,
    alpha: float = 0.05,
    first_deployment: bool = False,
    policy: Mapping[str, Any] | None = None,
) -> Evidence:
    """A comparison's ``Evidence`` on ``n`` gate rows, with ``metrics`` as its table.

    Without ``metrics`` the table is one ``metric_comparison()`` row that passes when
    ``decision`` is ``promote`` and fails otherwise.
    """
    if not metrics:
        metrics = (metric_comparison(passed=decision == lineage.DECISION_PROMOTE),)
    return Evidence(
        decision=decision,  # type: ignore[arg-type]
        reason=reason,
        metrics=metrics,
        n=n,
        alpha=alpha,
        first_deployment=first_deployment,
        policy=dict(policy or {}),
    )


def evidence_tags(
    baseline: str = "1",
    *,
    decision: str = lineage.DECISION_PROMOTE,
    now_ms: int | None = None,
    age_ms: float = 0,
    run_id: str = "run-x",
) -> dict[str, str]:
    """The evidence tags a comparison against ``baseline`` leaves on a version, unsigned.

    Args:
        baseline: The champion it was judged against (``"none"`` for a first deployment).
        decision: The evidence's decision.
        now_ms: The clock, in milliseconds since the epoch; by default the current time.
        age_ms: How long before ``now_ms`` the evidence was written.
        run_id: The comparison run the evidence names.
    """
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return {
        lineage.TAG_DECISION: decision,
        lineage.TAG_EVIDENCE_BASELINE: baseline,
        lineage.TAG_EVIDENCE_TIME: str(int(now - age_ms)),
        lineage.TAG_EVIDENCE_RUN: run_id,
    }
