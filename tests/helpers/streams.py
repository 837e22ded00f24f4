"""One simulated shadow batch added to a sequential state: the small-batch tests' and
``benchmarks/evidence_table.py``'s shared step."""

from __future__ import annotations

from typing import Any

from mlflow_retrain.stats import SequentialState


def add_batch(state: SequentialState, drawn: Any) -> SequentialState:
    """``state`` after one batch: ``drawn`` is the loss differences (champion minus
    challenger), or the challenger's and the champion's losses, which the tail check sees."""
    if isinstance(drawn, tuple):
        challenger, champion = drawn
        return state.update(champion - challenger, losses=drawn)
    return state.update(drawn)
