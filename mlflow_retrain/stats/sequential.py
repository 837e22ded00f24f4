"""Always-valid inference for shadow mode: the normal-mixture mSPRT and its confidence sequence.

Shadow mode looks at the evidence after every batch. An ordinary test checked that often
promotes far more often than its alpha says; the mixture sequential probability ratio test
(mSPRT; Johari, Koomen, Pekelis and Walsh, KDD 2017; Johari, Pekelis and Walsh, Operations
Research 70(3), 2022) does not: its p-value and confidence sequence hold at every look at
once, so the loop may stop whenever they are decisive.

The quantity is the mean ``mu`` of the per-row paired differences ``d = champion loss -
challenger loss`` (positive: the challenger is better). With ``n`` rows, mean ``m`` and
standard deviation ``s``, the standardised sum ``S = n (m - mu) / s`` runs on intrinsic time
``V = n``, and the normal mixture (mixing variance ``1 / rho`` over the effect in standard
deviations) gives the likelihood ratio

    Lambda(mu) = sqrt(rho / (V + rho)) * exp(S**2 / (2 (V + rho))),

identical to Johari et al.'s ``sqrt(s2 / (s2 + n tau2)) exp(n2 tau2 (m - mu)2 / (2 s2 (s2 +
n tau2)))`` with ``rho = s2 / tau2`` and to Howard, Ramdas, McAuliffe and Sekhon's two-sided
normal mixture (Ann. Statist. 49(2), 2021, eq. (14)). By Ville's inequality ``Lambda >= 1 /
alpha`` happens with probability at most ``alpha`` ever, under ``mu``; inverting gives the
always-valid p-value ``min over looks of 1 / Lambda(mu0)`` and the confidence sequence
``m +- s * sqrt((V + rho) (log(1 + V / rho) + 2 log(1 / alpha))) / V``. Both are kept as running
minimum and running intersection across looks.

Assumptions (document them to users): rows are independent, with a finite variance; the
variance is estimated from the rows so far (plug-in, as in Johari et al.), which is
asymptotically valid, so no look is used before ``min_rows`` rows; ``rho`` is fixed before the
data (chosen from the horizon or the expected effect), never tuned on it.

Pure numpy; the state is a small JSON-serialisable record of sufficient statistics, so evidence
accumulates across processes and days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "SequentialState",
    "mixture_bound",
    "mixture_log_likelihood_ratio",
    "optimal_rho",
    "rho_for_effect",
]

# Relative spread (sd / |mean|) below which the differences count as constant.
_ROUNDING = 1e-10


def mixture_log_likelihood_ratio(s: float, v: float, rho: float) -> float:
    """Log of the two-sided normal-mixture likelihood ratio at sum ``s`` and intrinsic time ``v``.

    ``0.5 log(rho / (v + rho)) + s**2 / (2 (v + rho))``: the mSPRT statistic for a sum ``s`` of
    standardised differences (``v`` = their count).
    """
    return 0.5 * math.log(rho / (v + rho)) + s * s / (2.0 * (v + rho))


def mixture_bound(v: float, alpha: float, rho: float) -> float:
    """The value of ``|s|`` at which the mixture likelihood ratio reaches ``1 / alpha``."""
    return math.sqrt((v + rho) * (math.log(1.0 + v / rho) + 2.0 * math.log(1.0 / alpha)))


def optimal_rho(horizon: float, alpha: float) -> float:
    """The mixing parameter that makes the confidence sequence tightest after ``horizon`` rows.

    Howard et al. (2021), Section 3.5: ``rho = V / (2 log(1/alpha) + log(1 + 2 log(1/alpha)))``
    for a two-sided mixture, in intrinsic time (rows, since the differences are standardised).

    Raises:
        ValueError: If ``horizon`` is not positive or ``alpha`` is not in (0, 1).
    """
    if not horizon > 0:
        raise ValueError(f"horizon must be > 0 rows, got {horizon!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    log_inv = math.log(1.0 / alpha)
    return horizon / (2.0 * log_inv + math.log(1.0 + 2.0 * log_inv))


def rho_for_effect(effect_size: float, alpha: float, *, power: float = 0.8) -> float:
    """The mixing parameter for an expected standardised effect (mean / sd of the differences).

    The horizon is the number of rows a fixed-sample one-sided z-test at ``alpha`` needs to
    detect ``effect_size`` with ``power``; the mixture is then tuned for that horizon
    (:func:`optimal_rho`), so the sequential test is sharpest where a decision is expected.

    Raises:
        ValueError: If ``effect_size`` is not positive or ``power`` is not in (0, 1).
    """
    if not effect_size > 0:
        raise ValueError(f"effect_size must be > 0, got {effect_size!r}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)
    return optimal_rho(max(1.0, (z / effect_size) ** 2), alpha)


@dataclass(frozen=True)
class SequentialState:
    """Sufficient statistics of the paired differences seen so far, and the running inference.

    Build one with :meth:`start`, feed each batch to :meth:`update` (which returns a new state),
    and persist it with :meth:`to_dict` / :meth:`from_dict`.

    Attributes:
        alpha: Level of the confidence sequence (and threshold of the p-value).
        rho: Mixing parameter, in rows.
        null_value: ``mu0`` of the always-valid p-value (the policy's minimum improvement).
        min_rows: Rows needed before a look counts (the variance is estimated).
        n: Rows seen.
        mean: Mean difference.
        m2: Sum of squared deviations from the mean (Welford), for the variance.
        batches: Batches seen.
        looks: Batches that counted as looks (after ``min_rows``, with variance > 0).
        p_value: Always-valid p-value of ``mu = null_value`` (running minimum; 1 before a look).
        cs_low: Lower end of the confidence sequence (running intersection; -inf before a look).
        cs_high: Upper end (running intersection; +inf before a look).
    """

    alpha: float
    rho: float
    null_value: float = 0.0
    min_rows: int = 100
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    batches: int = 0
    looks: int = 0
    p_value: float = 1.0
    cs_low: float = -math.inf
    cs_high: float = math.inf

    @classmethod
    def start(
        cls, *, alpha: float, rho: float, null_value: float = 0.0, min_rows: int = 100
    ) -> SequentialState:
        """An empty state.

        Raises:
            ValueError: On an invalid ``alpha``, ``rho`` or ``min_rows``.
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        if not rho > 0:
            raise ValueError(f"rho must be > 0, got {rho!r}")
        if min_rows < 2:
            raise ValueError(f"min_rows must be at least 2, got {min_rows!r}")
        return cls(alpha=alpha, rho=rho, null_value=null_value, min_rows=min_rows)

    @property
    def variance(self) -> float:
        """Sample variance of the differences (NaN with fewer than 2 rows)."""
        return self.m2 / (self.n - 1) if self.n > 1 else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation of the differences."""
        return math.sqrt(self.variance) if self.n > 1 else math.nan

    def update(self, differences: Any) -> SequentialState:
        """Add one batch of paired differences and look once.

        The look updates the p-value and the confidence sequence only when at least
        ``min_rows`` rows have been seen and the differences vary (a zero variance gives no
        valid look: identical models never look significant).

        Raises:
            ValueError: If a difference is not finite.
        """
        d = np.asarray(differences, dtype=float).ravel()
        if d.size and not np.all(np.isfinite(d)):
            raise ValueError("paired differences must be finite")
        state = self
        if d.size:
            n_b = d.size
            mean_b = float(d.mean())
            m2_b = float(((d - mean_b) ** 2).sum())
            n = self.n + n_b
            delta = mean_b - self.mean
            state = replace(
                self,
                n=n,
                mean=self.mean + delta * n_b / n,
                m2=self.m2 + m2_b + delta * delta * self.n * n_b / n,
            )
        state = replace(state, batches=state.batches + 1)
        return state._look()

    def _look(self) -> SequentialState:
        sd = self.std
        # A constant difference (0.1 on every row) leaves a standard deviation of rounding
        # noise, about eps * |mean|, instead of 0, and a look on it would be infinitely
        # confident. Below 1e-10 |mean| (above the rounding of 1e5 merged batches) it is 0.
        if self.n < self.min_rows or not sd > _ROUNDING * abs(self.mean) or not math.isfinite(sd):
            return self
        s = self.n * (self.mean - self.null_value) / sd
        log_lr = mixture_log_likelihood_ratio(s, self.n, self.rho)
        radius = sd * mixture_bound(self.n, self.alpha, self.rho) / self.n
        return replace(
            self,
            looks=self.looks + 1,
            p_value=min(self.p_value, math.exp(-log_lr) if log_lr > 0 else 1.0),
            cs_low=max(self.cs_low, self.mean - radius),
            cs_high=min(self.cs_high, self.mean + radius),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (infinite bounds become ``None``)."""
        data = asdict(self)
        for key in ("cs_low", "cs_high"):
            if not math.isfinite(data[key]):
                data[key] = None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequentialState:
        """Rebuild a state written by :meth:`to_dict`.

        Raises:
            ValueError: If a field is missing or invalid.
        """
        try:
            state = cls(
                alpha=float(data["alpha"]),
                rho=float(data["rho"]),
                null_value=float(data["null_value"]),
                min_rows=int(data["min_rows"]),
                n=int(data["n"]),
                mean=float(data["mean"]),
                m2=float(data["m2"]),
                batches=int(data["batches"]),
                looks=int(data["looks"]),
                p_value=float(data["p_value"]),
                cs_low=-math.inf if data["cs_low"] is None else float(data["cs_low"]),
                cs_high=math.inf if data["cs_high"] is None else float(data["cs_high"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"invalid sequential state: {err!r}") from err
        if state.n < 0 or state.m2 < 0 or not 0 <= state.p_value <= 1:
            raise ValueError("invalid sequential state: negative counts or p-value out of range")
        if not 0 <= state.looks <= state.batches or (state.looks and state.n < state.min_rows):
            raise ValueError(
                "invalid sequential state: a look needs a batch and at least min_rows rows, got "
                f"looks={state.looks!r}, batches={state.batches!r}, n={state.n!r}, "
                f"min_rows={state.min_rows!r}"
            )
        if not (0 < state.alpha < 1 and state.rho > 0 and state.min_rows >= 2):
            raise ValueError(
                "invalid sequential state: need 0 < alpha < 1, rho > 0 and min_rows >= 2, got "
                f"alpha={state.alpha!r}, rho={state.rho!r}, min_rows={state.min_rows!r}"
            )
        return state
