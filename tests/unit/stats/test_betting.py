"""The betting confidence sequence for bounded means (``stats.betting``).

Sources:

- Waudby-Smith and Ramdas, "Estimating means of bounded random variables by betting", JRSS-B
  86(1), 2024: the hedged capital process with the predictable plug-in bets.
- Reference values: ``confseq`` 0.0.11 (PyPI; the authors' implementation),
  ``confseq.betting.betting_cs(x, alpha=0.05, breaks=1000, running_intersection=False,
  parallel=False)``, run once in a separate environment (its pure-Python modules with numpy
  1.26; its C++ extension does not build on Python 3.11) on the two sequences of
  :data:`REFERENCE_DATA`; the intervals at rows 50, 200 and 600 are in :data:`REFERENCE`.

The paper's promise is checked by simulation (marker ``slow``): for observations in ``[0, 1]``
the sequence misses the true mean at any time in at most ``alpha`` of the streams, whatever
their distribution (Bernoulli, Beta, a three-point 0/1-loss difference), with no variance
estimate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from mlflow_retrain.stats import BettingState, SequentialState, optimal_rho

ALPHA = 0.05


REFERENCE_DATA = {
    "bernoulli": lambda: (np.random.default_rng(11).random(600) < 0.3).astype(float),
    "golden": lambda: (np.arange(1, 601) * 0.6180339887498949) % 1.0 * 0.8,
}
#: confseq 0.0.11's betting_cs intervals (lower, upper) at rows 50, 200 and 600.
REFERENCE = {
    "bernoulli": {50: (0.206, 0.587), 200: (0.259, 0.479), 600: (0.266, 0.406)},
    "golden": {50: (0.307, 0.502), 200: (0.351, 0.45), 600: (0.369, 0.43)},
}


@pytest.mark.parametrize("name", list(REFERENCE))
def test_the_intervals_equal_the_authors_implementation(name: str) -> None:
    x = REFERENCE_DATA[name]()
    for rows, expected in REFERENCE[name].items():
        state = BettingState.start(alpha=ALPHA, low=0.0, high=1.0, null_value=0.5)

        assert state.update(x[:rows]).interval() == pytest.approx(expected, abs=1e-9), rows


def test_the_interval_narrows_around_the_mean_and_the_null_is_refuted_under_an_effect() -> None:
    rng = np.random.default_rng(1)
    state = BettingState.start(alpha=ALPHA, low=0.0, high=1.0, null_value=0.5)
    widths = []
    for _ in range(10):
        state = state.update(rng.random(300) < 0.4)
        low, high = state.interval()
        widths.append(high - low)

    assert low < 0.4 < high
    assert widths == sorted(widths, reverse=True)
    assert widths[-1] < 0.12
    assert state.p_value < 1e-6  # a mean of 0.4 against the null 0.5, on 3,000 rows


def test_an_interval_is_on_the_observations_own_scale() -> None:
    rng = np.random.default_rng(2)
    d = rng.choice([-1.0, 0.0, 1.0], p=[0.1, 0.6, 0.3], size=4000)  # mean 0.2 on [-1, 1]
    state = BettingState.start(alpha=ALPHA, low=-1.0, high=1.0).update(d)

    low, high = state.interval()
    assert low < 0.2 < high
    assert state.mean == pytest.approx(d.mean())
    assert low > 0.0  # 0.2 is clearly above 0 on 4,000 rows


def test_the_capital_is_the_same_in_one_batch_or_many() -> None:
    x = np.random.default_rng(3).random(1500)
    whole = BettingState.start(alpha=ALPHA, low=0.0, high=1.0, null_value=0.3).update(x)
    parts = BettingState.start(alpha=ALPHA, low=0.0, high=1.0, null_value=0.3)
    for chunk in np.array_split(x, 7):
        parts = parts.update(chunk)

    assert parts.log_up == pytest.approx(whole.log_up, abs=1e-9)
    assert parts.log_down == pytest.approx(whole.log_down, abs=1e-9)
    assert parts.p_value == pytest.approx(whole.p_value, rel=1e-9)


def test_a_state_survives_json() -> None:
    x = np.random.default_rng(4).random(800)
    state = BettingState.start(alpha=ALPHA, low=0.0, high=1.0, null_value=0.2).update(x)

    text = json.dumps(state.to_dict(), allow_nan=False)

    assert BettingState.from_dict(json.loads(text)) == state


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("log_up", [0.0, 1.0]),
        ("t", -1),
        ("total", 1e9),
        ("alpha", 2.0),
        ("log_down", None),
        ("horizon", 0),
    ],
)
def test_from_dict_rejects_a_damaged_state(field: str, value: object) -> None:
    data = BettingState.start(alpha=ALPHA, low=0.0, high=1.0, null_value=0.5).to_dict()
    data[field] = value

    with pytest.raises(ValueError, match="invalid betting state"):
        BettingState.from_dict(data)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"low": 1.0, "high": 0.0}, "need low < high"),
        ({"low": 0.0, "high": 1.0, "null_value": 1.0}, r"null_value must lie in \(0.0, 1.0\)"),
        ({"low": 0.0, "high": 1.0, "alpha": 0.0}, r"alpha must be in \(0, 1\)"),
    ],
)
def test_start_refuses_bad_settings(settings: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BettingState.start(**{"alpha": ALPHA, "null_value": 0.5, **settings})


def test_an_observation_outside_the_bounds_is_refused() -> None:
    state = BettingState.start(alpha=ALPHA, low=-1.0, high=1.0)

    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\], got \[-1, 1.5\]"):
        state.update([0.0, 1.5, -1.0])


def test_the_row_unit_with_a_bounded_loss_decides_on_the_betting_sequence() -> None:
    rng = np.random.default_rng(6)
    d = rng.choice([-1.0, 0.0, 1.0], p=[0.05, 0.8, 0.15], size=3000)
    row = SequentialState.start(alpha=ALPHA, rho=optimal_rho(3000, ALPHA), unit="row", bound=1.0)
    intervals = []
    for chunk in np.array_split(d, 6):
        row = row.update(chunk)
        assert row.betting is not None
        intervals.append(row.betting.interval())

    assert row.betting is not None
    assert row.cs_low == max(low for low, _ in intervals)  # the running intersection
    assert row.cs_high == min(high for _, high in intervals)
    assert row.p_value == pytest.approx(row.betting.p_value)
    assert SequentialState.from_dict(json.loads(json.dumps(row.to_dict()))) == row
    # The batch unit has no use for it.
    batch = SequentialState.start(alpha=ALPHA, rho=100.0, unit="batch", bound=1.0)
    assert batch.betting is None


# --------------------------------------------------------------------------------------------
# Simulation (slow): valid at every time, for any bounded distribution
# --------------------------------------------------------------------------------------------

STREAMS = 300
ROWS, BATCHES = 200, 10
#: A valid procedure exceeds it with probability about 0.1%, whatever the seed.
MISS_BOUND = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / STREAMS)

DRAWS: dict[str, tuple[Callable[[np.random.Generator, int], np.ndarray], float]] = {
    "bernoulli(0.1)": (lambda rng, n: (rng.random(n) < 0.1).astype(float), 0.1),
    "beta(2, 5)": (lambda rng, n: rng.beta(2, 5, n), 2 / 7),
    # A 0/1-loss difference mapped to [0, 1]: the models disagree on 10% of rows.
    "0/1 difference": (
        lambda rng, n: rng.choice([0.0, 0.5, 1.0], p=[0.05, 0.9, 0.05], size=n),
        0.5,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "horizon"), [(name, None) for name in DRAWS] + [("0/1 difference", 2000)]
)
def test_the_sequence_misses_the_mean_in_at_most_alpha_of_the_streams(
    name: str, horizon: int | None, record_property: Callable[[str, object], None]
) -> None:
    # horizon 2000: the bets tuned for the rows of the whole stream, as shadow mode tunes them.
    draw, mean = DRAWS[name]
    rng = np.random.default_rng(90 + list(DRAWS).index(name) + (horizon or 0))
    missed = 0
    for _ in range(STREAMS):
        state = BettingState.start(alpha=ALPHA, low=0.0, high=1.0, null_value=0.5,
                                   horizon=horizon)  # fmt: skip
        low, high = -math.inf, math.inf
        for _b in range(BATCHES):
            state = state.update(draw(rng, ROWS))
            now = state.interval()
            low, high = max(low, now[0]), min(high, now[1])
            if not low <= mean <= high:
                missed += 1
                break

    rate = missed / STREAMS
    record_property(f"betting_miss_rate_{name}_{horizon}", rate)
    print(
        f"{name}, horizon {horizon}: the betting sequence missed the mean in {rate:.2%} of "
        f"{STREAMS} streams"
    )
    assert rate <= MISS_BOUND
