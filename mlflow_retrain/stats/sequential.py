"""Always-valid inference for shadow mode: mixture sequential tests and their confidence sequences.

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

Assumptions of this row-level test (``unit = "row"``; document them to users): rows are
independent, with a finite variance; the variance is estimated from the rows so far (plug-in, as in
Johari et al.), which is asymptotically valid, so no look is used before ``min_rows`` rows; ``rho``
is fixed before the data (chosen from the horizon or the expected effect), never tuned on it.

Rows of one batch are seldom independent: a day's traffic shares its weather, its promotions and
its upstream outages, so the two models' losses move together within a batch. A shared day effect
with an intra-batch correlation of only 0.01 makes the row-level sequence above promote an equal
challenger in about 40-50% of streams (batches of 500-2,000 rows), because its variance counts rows
as independent. The default unit is therefore the batch (``unit = "batch"``): each batch
contributes one observation ``y_b = sqrt(n_b) (m_b - mu)`` (``m_b`` its mean difference, ``n_b``
its rows), and the test is the scale-invariant Gaussian-mixture sequential t-test of Wang and
Ramdas ("Anytime-valid t-tests and confidence sequences for Gaussian means with unknown variance";
arXiv:2310.03722, 2023), the test martingale of the reduced filtration that
replaces Lai's (1976) flat mixture over the mean by a Gaussian one. With ``k`` batches, ``S = sum
y_b`` and ``V = sum y_b**2``:

    Lambda(mu) = sqrt(c / (c + k)) * (1 - S**2 / ((c + k) V)) ** (-k / 2),

integrated over the unknown standard deviation (right Haar measure) instead of estimating it, so
there is no variance plug-in and the test is exact at every number of batches when the batch means
are normal, which the central limit theorem makes them for batches of a few hundred rows. The
variance of ``y_b`` includes the day effect, so shared day effects cannot inflate promotions. ``c``
is the mixing precision in batches: ``rho`` divided by the first batch's rows (with independent
rows and equal batches, the row-level mixture rescaled) and by 4, a wider mixture that suits the
t-test's heavier tails (in simulations at alpha 0.05, batches of 500 and 2,000 rows, it reached
decisions 5-15% sooner than ``rho`` over the rows, and no scaling between 0.1 and 1 moved the false
promotions out of 1-2.5%). The price is that no decision is possible before the batches themselves
show the spread: the confidence sequence is unbounded until ``((c + k) / c) ** ((k - 1) / 2) > 1 /
alpha`` (three to five batches at the defaults), so very large batches that the row-level test
would decide on in one or two are decided in four or five.

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

from mlflow_retrain.stats.betting import BettingState
from mlflow_retrain.stats.tails import TailCheck, largest, tail_check

__all__ = [
    "BATCH_MIXING_SHARE",
    "UNITS",
    "SequentialState",
    "batches_before_a_bound",
    "horizon_of",
    "mixture_bound",
    "mixture_log_likelihood_ratio",
    "optimal_rho",
    "rho_for_effect",
    "t_mixture_interval",
    "t_mixture_log_likelihood_ratio",
]

#: The units of evidence: ``batch`` (the sequential t-test on batch means, robust to shared
#: day effects; the default) and ``row`` (the normal mixture on rows, for independent rows).
UNITS = ("batch", "row")

#: The batch unit's mixing precision is ``rho / first_rows`` times this (module docstring).
BATCH_MIXING_SHARE = 0.25

# Relative spread (sd / |mean|) below which the differences count as constant.
_ROUNDING = 1e-10

#: Largest losses of each model a state keeps for its tail check: Hill's ``floor(sqrt(n))``
#: is exact up to a million rows.
TAIL_KEPT = 1001


def mixture_log_likelihood_ratio(s: float, v: float, rho: float) -> float:
    """Log of the two-sided normal-mixture likelihood ratio at sum ``s`` and intrinsic time ``v``.

    ``0.5 log(rho / (v + rho)) + s**2 / (2 (v + rho))``: the mSPRT statistic for a sum ``s`` of
    standardised differences (``v`` = their count).
    """
    return 0.5 * math.log(rho / (v + rho)) + s * s / (2.0 * (v + rho))


def mixture_bound(v: float, alpha: float, rho: float) -> float:
    """The value of ``|s|`` at which the mixture likelihood ratio reaches ``1 / alpha``."""
    return math.sqrt((v + rho) * (math.log(1.0 + v / rho) + 2.0 * math.log(1.0 / alpha)))


def t_mixture_log_likelihood_ratio(s: float, v: float, k: int, c: float) -> float:
    """Log of the scale-invariant Gaussian-mixture likelihood ratio of ``k`` observations.

    ``0.5 log(c / (c + k)) - (k / 2) log(1 - s**2 / ((c + k) v))`` for the sum ``s`` and the sum
    of squares ``v`` of the observations, centred at the hypothesised mean (Wang and Ramdas,
    arXiv:2310.03722): the normal mixture over the standardised mean with precision ``c``,
    integrated over the standard deviation. Since ``s**2 <= k v``, the logarithm is defined
    whenever ``v > 0``.

    Raises:
        ValueError: If ``v`` is not positive, ``k`` is below 1 or ``c`` is not positive.
    """
    if not v > 0 or k < 1 or not c > 0:
        raise ValueError(f"need v > 0, k >= 1 and c > 0, got v={v!r}, k={k!r}, c={c!r}")
    return 0.5 * math.log(c / (c + k)) - 0.5 * k * math.log1p(-s * s / ((c + k) * v))


def t_mixture_interval(
    *,
    weights: float,
    weighted_sum: float,
    rows: int,
    mean: float,
    scatter: float,
    k: int,
    c: float,
    alpha: float,
) -> tuple[float, float]:
    """The ``1 - alpha`` confidence-sequence interval of the sequential t-test after ``k`` batches.

    The observations are ``y_b = w_b (m_b - mu)`` with ``w_b = sqrt(n_b)``, so ``S(mu) =
    weighted_sum - weights * mu`` (``weighted_sum = sum w_b m_b``, ``weights = sum w_b``) and
    ``V(mu) = scatter + rows (mu - mean)**2`` (``rows = sum n_b``, ``mean`` the row mean,
    ``scatter = sum n_b (m_b - mean)**2``). The interval is the set of ``mu`` whose likelihood
    ratio stays below ``1 / alpha``: ``S(mu)**2 < K V(mu)`` with ``K = (1 - r) (c + k)`` and
    ``r = (alpha sqrt(c / (c + k))) ** (2 / k)``, the roots of a quadratic.

    Returns:
        ``(low, high)``; ``(-inf, inf)`` while the set is unbounded (too few batches for the
        spread to be known).
    """
    r = (alpha * math.sqrt(c / (c + k))) ** (2.0 / k)
    big_k = (1.0 - r) * (c + k)
    # In nu = mu - mean: S = centred - weights nu, V = scatter + rows nu**2.
    centred = weighted_sum - weights * mean
    a = weights * weights - big_k * rows
    if not a > 0:
        return -math.inf, math.inf
    half_b = -centred * weights
    const = centred * centred - big_k * scatter
    disc = half_b * half_b - a * const
    if not disc > 0:
        return -math.inf, math.inf
    root = math.sqrt(disc)
    return mean + (-half_b - root) / a, mean + (-half_b + root) / a


def batches_before_a_bound(c: float, alpha: float) -> int:
    """Equal batches the sequential t-test needs before its interval can be bounded.

    The smallest ``k`` with ``((c + k) / c) ** ((k - 1) / 2) > 1 / alpha``: with fewer, even
    batch means that agree exactly leave every mean in the confidence sequence. (Unequal
    batches need at least as many.)

    Raises:
        ValueError: If ``c`` is not positive or ``alpha`` is not in (0, 1).
    """
    if not c > 0 or not 0 < alpha < 1:
        raise ValueError(f"need c > 0 and 0 < alpha < 1, got c={c!r}, alpha={alpha!r}")
    k = 2
    while 0.5 * (k - 1) * math.log1p(k / c) <= math.log(1.0 / alpha):
        k += 1
    return k


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


def horizon_of(rho: float, alpha: float) -> float:
    """The horizon, in rows, that :func:`optimal_rho` turned into ``rho`` (its inverse)."""
    return rho / optimal_rho(1.0, alpha)


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
        rho: Mixing parameter, in rows (for ``unit = "batch"``, divided by the first batch's
            rows).
        null_value: ``mu0`` of the always-valid p-value (the policy's minimum improvement).
        min_rows: Rows needed before a look counts.
        unit: ``batch`` (the sequential t-test on batch means) or ``row`` (the normal mixture
            on rows); see the module docstring.
        n: Rows seen.
        mean: Mean difference.
        m2: Sum of squared deviations from the mean (Welford), for the variance.
        batches: Batches seen.
        looks: Batches that counted as looks (after ``min_rows``, with variance > 0, and for
            the batch unit a bounded interval).
        p_value: Always-valid p-value of ``mu = null_value`` (running minimum; 1 before a look).
        cs_low: Lower end of the confidence sequence (running intersection; -inf before a look).
        cs_high: Upper end (running intersection; +inf before a look).
        first_rows: Rows of the first batch that had any (fixes the batch unit's mixing).
        filled: Batches that had rows (the batch unit's observations).
        root_rows: ``sum sqrt(n_b)`` over those batches.
        root_sum: ``sum sqrt(n_b) m_b``.
        batch_m2: ``sum n_b (m_b - mean)**2``, the scatter of the batch means.
        betting: For the row unit with a bounded loss, the betting confidence sequence
            (:mod:`mlflow_retrain.stats.betting`) that replaces the normal mixture's
            variance plug-in; ``None`` otherwise.
        tail_challenger: The challenger's largest losses so far (at most
            :data:`TAIL_KEPT`, largest first), for the heavy-tail check (:meth:`tail`); empty
            when :meth:`update` was given no losses.
        tail_champion: The champion's, likewise.
    """

    alpha: float
    rho: float
    null_value: float = 0.0
    min_rows: int = 100
    unit: str = "batch"
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    batches: int = 0
    looks: int = 0
    p_value: float = 1.0
    cs_low: float = -math.inf
    cs_high: float = math.inf
    first_rows: int = 0
    filled: int = 0
    root_rows: float = 0.0
    root_sum: float = 0.0
    batch_m2: float = 0.0
    betting: BettingState | None = None
    tail_challenger: tuple[float, ...] = ()
    tail_champion: tuple[float, ...] = ()

    @classmethod
    def start(
        cls,
        *,
        alpha: float,
        rho: float,
        null_value: float = 0.0,
        min_rows: int = 100,
        unit: str = "batch",
        bound: float | None = None,
    ) -> SequentialState:
        """An empty state.

        Args:
            alpha: Level.
            rho: Mixing parameter, in rows.
            null_value: ``mu0`` of the p-value.
            min_rows: Rows before a look counts.
            unit: ``batch`` or ``row``.
            bound: For the row unit: every difference lies in ``[-bound, bound]`` (a bounded
                loss: 1 for 0/1 and binary Brier, 2 for multiclass Brier). The row unit then
                uses the betting confidence sequence instead of the normal mixture.

        Raises:
            ValueError: On an invalid ``alpha``, ``rho``, ``min_rows``, ``unit`` or ``bound``.
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
        if not rho > 0:
            raise ValueError(f"rho must be > 0, got {rho!r}")
        if min_rows < 2:
            raise ValueError(f"min_rows must be at least 2, got {min_rows!r}")
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
        betting = None
        if bound is not None and unit == "row":
            # Tuned for the horizon the mixture was tuned for (rho is proportional to it).
            horizon = max(1, round(horizon_of(rho, alpha)))
            betting = BettingState.start(
                alpha=alpha, low=-bound, high=bound, null_value=null_value, horizon=horizon
            )
        return cls(
            alpha=alpha,
            rho=rho,
            null_value=null_value,
            min_rows=min_rows,
            unit=unit,
            betting=betting,
        )

    @property
    def variance(self) -> float:
        """Sample variance of the differences (NaN with fewer than 2 rows)."""
        return self.m2 / (self.n - 1) if self.n > 1 else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation of the differences."""
        return math.sqrt(self.variance) if self.n > 1 else math.nan

    @property
    def mixing_batches(self) -> float:
        """The batch unit's mixing precision ``c``: ``rho`` over the first batch's rows, times
        :data:`BATCH_MIXING_SHARE`."""
        if not self.first_rows:
            return math.nan
        return BATCH_MIXING_SHARE * self.rho / self.first_rows

    @property
    def design_effect(self) -> float:
        """How much the batches' spread exceeds what independent rows would give.

        ``batch_m2 / (filled - 1)`` over the row variance: about 1 for independent rows, about
        ``1 + (m - 1) icc`` for batches of ``m`` rows sharing a day effect with intra-batch
        correlation ``icc``. NaN before two batches.
        """
        if self.filled < 2 or not self.variance > 0:
            return math.nan
        return self.batch_m2 / (self.filled - 1) / self.variance

    def update(
        self, differences: Any, *, losses: tuple[Any, Any] | None = None
    ) -> SequentialState:
        """Add one batch of paired differences and look once.

        ``losses`` (the challenger's and the champion's per-row losses of the batch) keeps
        each model's largest losses for :meth:`tail`.

        The look updates the p-value and the confidence sequence only when at least
        ``min_rows`` rows have been seen and the differences vary (a zero variance gives no
        valid look: identical models never look significant); for the batch unit, also only
        once the interval is bounded.

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
            spread = delta * delta * self.n * n_b / n
            state = replace(
                self,
                n=n,
                mean=self.mean + delta * n_b / n,
                m2=self.m2 + m2_b + spread,
                first_rows=self.first_rows or n_b,
                filled=self.filled + 1,
                root_rows=self.root_rows + math.sqrt(n_b),
                root_sum=self.root_sum + math.sqrt(n_b) * mean_b,
                batch_m2=self.batch_m2 + spread,
                betting=None if self.betting is None else self.betting.update(d),
            )
            if losses is not None:
                state = replace(
                    state,
                    tail_challenger=largest(self.tail_challenger, losses[0], TAIL_KEPT),
                    tail_champion=largest(self.tail_champion, losses[1], TAIL_KEPT),
                )
        state = replace(state, batches=state.batches + 1)
        return state._look()

    def tail(self) -> TailCheck:
        """The heavy-tail check (:func:`~mlflow_retrain.stats.tails.tail_check`) on every row
        so far: Hill's index from the ``floor(sqrt(n))`` largest losses of each model (at most
        ``TAIL_KEPT - 1``). No estimate when :meth:`update` was given no losses."""
        if not self.tail_challenger or not self.tail_champion:
            return TailCheck(math.nan, math.nan, 0)
        return tail_check(self.tail_challenger, self.tail_champion, rows=self.n)

    def _look(self) -> SequentialState:
        sd = self.std
        # A constant difference (0.1 on every row) leaves a standard deviation of rounding
        # noise, about eps * |mean|, instead of 0, and a look on it would be infinitely
        # confident. Below 1e-10 |mean| (above the rounding of 1e5 merged batches) it is 0.
        if self.n < self.min_rows or not sd > _ROUNDING * abs(self.mean) or not math.isfinite(sd):
            return self
        if self.unit == "batch":
            return self._look_at_batches()
        if self.betting is not None:
            low, high = self.betting.interval()
            return self._with_look(self.betting.max_log_capital, low, high)
        s = self.n * (self.mean - self.null_value) / sd
        log_lr = mixture_log_likelihood_ratio(s, self.n, self.rho)
        radius = sd * mixture_bound(self.n, self.alpha, self.rho) / self.n
        return self._with_look(log_lr, self.mean - radius, self.mean + radius)

    def _look_at_batches(self) -> SequentialState:
        # Batch means that agree to rounding (the same constant difference in every batch)
        # are no spread to test against.
        if self.filled < 2 or not math.sqrt(self.batch_m2 / self.n) > _ROUNDING * abs(self.mean):
            return self
        c = self.mixing_batches
        low, high = t_mixture_interval(
            weights=self.root_rows,
            weighted_sum=self.root_sum,
            rows=self.n,
            mean=self.mean,
            scatter=self.batch_m2,
            k=self.filled,
            c=c,
            alpha=self.alpha,
        )
        if not (math.isfinite(low) and math.isfinite(high)):
            return self
        offset = self.mean - self.null_value
        log_lr = t_mixture_log_likelihood_ratio(
            self.root_sum - self.root_rows * self.null_value,
            self.batch_m2 + self.n * offset * offset,
            self.filled,
            c,
        )
        return self._with_look(log_lr, low, high)

    def _with_look(self, log_lr: float, low: float, high: float) -> SequentialState:
        return replace(
            self,
            looks=self.looks + 1,
            p_value=min(self.p_value, math.exp(-log_lr) if log_lr > 0 else 1.0),
            cs_low=max(self.cs_low, low),
            cs_high=min(self.cs_high, high),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (infinite bounds become ``None``)."""
        data = asdict(self)
        for key in ("cs_low", "cs_high"):
            if not math.isfinite(data[key]):
                data[key] = None
        data["betting"] = None if self.betting is None else self.betting.to_dict()
        data["tail_challenger"] = list(self.tail_challenger)
        data["tail_champion"] = list(self.tail_champion)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequentialState:
        """Rebuild a state written by :meth:`to_dict`.

        Raises:
            ValueError: If a field is missing or invalid.
        """
        batch_fields = (
            "unit",
            "first_rows",
            "filled",
            "root_rows",
            "root_sum",
            "batch_m2",
            "betting",
        )
        # States written before the unit existed were row-level and have none of its fields;
        # a state with some of them is damaged.
        legacy = not any(key in data for key in batch_fields)
        try:
            state = cls(
                alpha=float(data["alpha"]),
                rho=float(data["rho"]),
                null_value=float(data["null_value"]),
                min_rows=int(data["min_rows"]),
                unit="row" if legacy else str(data["unit"]),
                n=int(data["n"]),
                mean=float(data["mean"]),
                m2=float(data["m2"]),
                batches=int(data["batches"]),
                looks=int(data["looks"]),
                p_value=float(data["p_value"]),
                cs_low=-math.inf if data["cs_low"] is None else float(data["cs_low"]),
                cs_high=math.inf if data["cs_high"] is None else float(data["cs_high"]),
                first_rows=0 if legacy else int(data["first_rows"]),
                filled=0 if legacy else int(data["filled"]),
                root_rows=0.0 if legacy else float(data["root_rows"]),
                root_sum=0.0 if legacy else float(data["root_sum"]),
                batch_m2=0.0 if legacy else float(data["batch_m2"]),
                betting=(
                    None
                    if legacy or data["betting"] is None
                    else BettingState.from_dict(data["betting"])
                ),
                # States written before the tail check keep none: the check has no estimate.
                tail_challenger=tuple(float(v) for v in data.get("tail_challenger") or ()),
                tail_champion=tuple(float(v) for v in data.get("tail_champion") or ()),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"invalid sequential state: {err!r}") from err
        if state.n < 0 or state.m2 < 0 or not 0 <= state.p_value <= 1:
            raise ValueError("invalid sequential state: negative counts or p-value out of range")
        betting = state.betting
        if betting is not None and (
            state.unit != "row"
            or (betting.alpha, betting.null_value) != (state.alpha, state.null_value)
            or betting.t != state.n
        ):
            raise ValueError(
                "invalid sequential state: the betting sequence does not belong to this row test"
            )
        if state.unit not in UNITS:
            raise ValueError(
                f"invalid sequential state: unit must be one of {', '.join(UNITS)}, got "
                f"{state.unit!r}"
            )
        if (
            min(state.first_rows, state.filled, state.root_rows, state.batch_m2) < 0
            or state.filled > state.batches
            or state.first_rows > state.n
            or (state.unit == "batch" and state.n and not state.first_rows)
        ):
            raise ValueError(
                "invalid sequential state: the batch statistics do not fit the rows and "
                f"batches (first_rows={state.first_rows!r}, filled={state.filled!r}, "
                f"batches={state.batches!r}, n={state.n!r})"
            )
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
