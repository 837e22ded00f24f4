"""The betting confidence sequence for the mean of bounded observations (Waudby-Smith and Ramdas).

Waudby-Smith and Ramdas, "Estimating means of bounded random variables by betting", JRSS-B
86(1), 2024 (arXiv:2010.09686): for observations in ``[0, 1]`` with conditional mean ``m``,
the capital of a gambler who bets a predictable fraction ``lambda_i`` on ``x_i - m``,

    K_t(m) = prod_{i <= t} (1 + lambda_i (x_i - m)),

is a nonnegative martingale, so by Ville's inequality it reaches ``1 / alpha`` with probability
at most ``alpha`` ever. The hedged capital ``max(theta K_t^+(m), (1 - theta) K_t^-(m))`` bets
both ways, and the confidence sequence is the set of ``m`` whose hedged capital is still below
``1 / alpha``. It needs no variance estimate to be valid, only the bounds: the bets adapt to
the observed spread, but the guarantee holds whatever they are. The bets are the paper's
predictable plug-in (with the hedged ``log(2 / alpha)``):

    lambda_t = sqrt(2 log(2 / alpha) / (sigma2_{t-1} t log(1 + t))),
    mu_t = (1/2 + sum_{i <= t} x_i) / (t + 1),
    sigma2_t = (1/4 + sum_{i <= t} (x_i - mu_i)**2) / (t + 1),

truncated at ``c / m`` (betting on ``x > m``) and ``c / (1 - m)`` (on ``x < m``), ``c = 1/2``,
so that no bet can lose everything. With a planned horizon ``n``, ``t log(1 + t)`` becomes
``n`` (the paper's choice for a fixed horizon; any predictable bet keeps the guarantee).

Shadow mode uses it for the row unit with a bounded loss
(0/1 and Brier): paired differences of losses in ``[0, b]`` lie in ``[-b, b]`` and are mapped to
``[0, 1]``.

The capital is kept on a grid of candidate means (``GRID`` points across ``[0, 1]``) and,
exactly, at the null value; an end of the confidence sequence is the outermost grid point
whose capital is still below ``1 / alpha`` (plus one grid step outwards, so a grid end never
makes the interval narrower than the continuous one). Rows are taken in the order given.

Pure numpy; the state is JSON-serialisable (two arrays of ``GRID`` floats).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["GRID", "BettingState"]

#: Candidate means on ``[0, 1]`` (the ends are left out: a bet there is meaningless).
GRID = 1001
#: Rows bet on at once (rows x grid values in memory).
_CHUNK = 1024
#: The hedge: half the capital bets on a mean above ``m``, half below.
_THETA = 0.5
#: The bets' truncation (Waudby-Smith and Ramdas's ``c``): at most half the capital at risk.
_TRUNCATION = 0.5


def _grid() -> np.ndarray:
    return np.linspace(0.0, 1.0, GRID)[1:-1]


@dataclass(frozen=True)
class BettingState:
    """The betting confidence sequence so far, for observations in ``[low, high]``.

    Build one with :meth:`start`, feed each batch to :meth:`update` (a new state), persist it
    with :meth:`to_dict` / :meth:`from_dict`. Means are reported on the observations' own
    scale.

    Attributes:
        alpha: Level of the confidence sequence.
        low: Lower bound of every observation.
        high: Upper bound.
        null_value: The mean whose capital gives the always-valid p-value.
        horizon: Observations by which a decision is expected: the bets are tuned for it
            (``t log(1 + t)`` in the bets' denominator becomes ``horizon``, the paper's
            fixed-horizon choice), which bets more boldly early on; ``None``: the paper's
            horizon-free schedule. Either is valid at every time.
        t: Observations seen.
        total: Their sum, on the ``[0, 1]`` scale.
        spread: ``sum (x_i - mu_i)**2`` of the plug-in variance, on the ``[0, 1]`` scale.
        log_up: Log capital of the bets on a mean above each grid point.
        log_down: Log capital of the bets below.
        null_up: Log capital above the null value (exact, not on the grid).
        null_down: Log capital below the null value.
        max_log_capital: The largest hedged log capital the null value has reached (the
            p-value is its running minimum ``exp(-max)``).
    """

    alpha: float
    low: float
    high: float
    null_value: float = 0.0
    horizon: int | None = None
    t: int = 0
    total: float = 0.0
    spread: float = 0.0
    log_up: tuple[float, ...] = field(default=(0.0,) * (GRID - 2), repr=False)
    log_down: tuple[float, ...] = field(default=(0.0,) * (GRID - 2), repr=False)
    null_up: float = 0.0
    null_down: float = 0.0
    max_log_capital: float = -math.inf

    @classmethod
    def start(
        cls,
        *,
        alpha: float,
        low: float,
        high: float,
        null_value: float = 0.0,
        horizon: int | None = None,
    ) -> BettingState:
        """An empty state for observations in ``[low, high]``.

        Raises:
            ValueError: On ``alpha`` outside (0, 1), ``low >= high``, or a null value outside
                ``(low, high)``.
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        if not low < high:
            raise ValueError(f"need low < high, got {low!r} and {high!r}")
        if not low < null_value < high:
            raise ValueError(f"null_value must lie in ({low!r}, {high!r}), got {null_value!r}")
        if horizon is not None and horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {horizon!r}")
        return cls(
            alpha=alpha,
            low=float(low),
            high=float(high),
            null_value=float(null_value),
            horizon=horizon,
        )

    def _scaled(self, value: float) -> float:
        return (value - self.low) / (self.high - self.low)

    def _unscaled(self, value: float) -> float:
        return self.low + value * (self.high - self.low)

    @property
    def p_value(self) -> float:
        """Always-valid p-value of ``mean = null_value`` (1 before any capital grew)."""
        return min(1.0, math.exp(-self.max_log_capital)) if self.t else 1.0

    @property
    def mean(self) -> float:
        """The observations' mean (NaN before any)."""
        return self._unscaled(self.total / self.t) if self.t else math.nan

    def interval(self) -> tuple[float, float]:
        """The confidence-sequence interval now, on the observations' scale (before any running
        intersection); ``(low, high)`` while every grid mean is still plausible."""
        hedged = np.maximum(
            math.log(_THETA) + np.asarray(self.log_up),
            math.log(1 - _THETA) + np.asarray(self.log_down),
        )
        inside = np.flatnonzero(hedged < math.log(1 / self.alpha))
        if inside.size == 0:  # every candidate refuted: the widest honest answer is empty
            return math.inf, -math.inf
        grid = _grid()
        step = 1.0 / (GRID - 1)
        first = max(0.0, grid[inside[0]] - step)
        last = min(1.0, grid[inside[-1]] + step)
        return float(self._unscaled(first)), float(self._unscaled(last))

    def update(self, observations: Any) -> BettingState:
        """Bet on each observation in turn, in the order given.

        Raises:
            ValueError: If an observation is not finite or lies outside ``[low, high]``.
        """
        x = np.asarray(observations, dtype=float).ravel()
        if not x.size:
            return self
        if not np.all(np.isfinite(x)):
            raise ValueError("observations must be finite")
        if x.min() < self.low or x.max() > self.high:
            raise ValueError(
                f"observations must lie in [{self.low:g}, {self.high:g}], got "
                f"[{x.min():g}, {x.max():g}]"
            )
        x = (x - self.low) / (self.high - self.low)
        # The plug-in mean and variance before each observation (predictable).
        index = self.t + np.arange(1, x.size + 1)  # t of each observation, 1-based
        sums = self.total + np.cumsum(x)
        means = (0.5 + sums) / (index + 1)  # mu_t, after observation t
        spreads = self.spread + np.cumsum((x - means) ** 2)
        variance_before = (0.25 + np.concatenate(([self.spread], spreads[:-1]))) / index
        schedule = index * np.log1p(index) if self.horizon is None else float(self.horizon)
        bets = np.sqrt(2 * math.log(2 / self.alpha) / (variance_before * schedule))
        grid = _grid()
        up_cap, down_cap = _TRUNCATION / grid, _TRUNCATION / (1 - grid)
        log_up, log_down = np.array(self.log_up), np.array(self.log_down)
        for start in range(0, x.size, _CHUNK):  # rows x grid at a time, in bounded memory
            rows = slice(start, start + _CHUNK)
            centred = x[rows, None] - grid[None, :]
            log_up += np.log1p(np.minimum(bets[rows, None], up_cap) * centred).sum(axis=0)
            log_down += np.log1p(-np.minimum(bets[rows, None], down_cap) * centred).sum(axis=0)
        m0 = self._scaled(self.null_value)
        up0 = np.cumsum(np.log1p(np.minimum(bets, _TRUNCATION / m0) * (x - m0)))
        down0 = np.cumsum(np.log1p(-np.minimum(bets, _TRUNCATION / (1 - m0)) * (x - m0)))
        hedged0 = np.maximum(
            math.log(_THETA) + self.null_up + up0, math.log(1 - _THETA) + self.null_down + down0
        )
        return replace(
            self,
            t=self.t + x.size,
            total=float(sums[-1]),
            spread=float(spreads[-1]),
            log_up=tuple(log_up.tolist()),
            log_down=tuple(log_down.tolist()),
            null_up=self.null_up + float(up0[-1]),
            null_down=self.null_down + float(down0[-1]),
            max_log_capital=max(self.max_log_capital, float(hedged0.max())),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "alpha": self.alpha,
            "low": self.low,
            "high": self.high,
            "null_value": self.null_value,
            "horizon": self.horizon,
            "t": self.t,
            "total": self.total,
            "spread": self.spread,
            "log_up": list(self.log_up),
            "log_down": list(self.log_down),
            "null_up": self.null_up,
            "null_down": self.null_down,
            "max_log_capital": None if self.t == 0 else self.max_log_capital,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BettingState:
        """Rebuild a state written by :meth:`to_dict`.

        Raises:
            ValueError: If a field is missing or invalid.
        """
        try:
            state = cls.start(
                alpha=float(data["alpha"]),
                low=float(data["low"]),
                high=float(data["high"]),
                null_value=float(data["null_value"]),
                horizon=None if data["horizon"] is None else int(data["horizon"]),
            )
            peak = data["max_log_capital"]
            state = replace(
                state,
                t=int(data["t"]),
                total=float(data["total"]),
                spread=float(data["spread"]),
                log_up=tuple(float(v) for v in data["log_up"]),
                log_down=tuple(float(v) for v in data["log_down"]),
                null_up=float(data["null_up"]),
                null_down=float(data["null_down"]),
                max_log_capital=-math.inf if peak is None else float(peak),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"invalid betting state: {err!r}") from err
        if len(state.log_up) != GRID - 2 or len(state.log_down) != GRID - 2:
            raise ValueError(f"invalid betting state: the capital needs {GRID - 2} grid values")
        capital = np.asarray(state.log_up + state.log_down)
        if not np.all(np.isfinite(capital)) or state.t < 0 or state.spread < 0:
            raise ValueError("invalid betting state: counts or capital out of range")
        if not 0 <= state.total <= state.t:
            raise ValueError("invalid betting state: counts out of range")
        return state
