"""Anytime-valid intervals (confidence sequences): look after every wave, stop when the answer is known.

A fixed-sample interval covers once; looked at after every wave it does not (30 looks at a 5%
test fail far more than 5% of A/A runs). A confidence sequence covers at every look at once,
``P(exists t: value outside interval_t) <= alpha``, so gates may be evaluated after each wave and
the run stopped at the first decision. One pure function per statistic the checks use, each
returning an ``AnytimeInterval``; ``at_looks`` gives the intervals after many looks in one pass;
``sequential_status`` applies the gates' pass/fail rule.

Clustering: rows are requests in arrival order; with ``clusters`` (user or session labels) each
cluster is one observation ("unit"), arriving when its last row does, because requests of one
user are not independent. A bounded mean then targets the average over clusters of their means
(each user weighs the same), a quantile the quantile of the equal-cluster-weight mixture, and a
ratio of means the row-weighted ratio (cluster sums). The guarantee needs clusters that are
complete when counted: ``at_looks`` counts a cluster only after its last row, so replay clusters
together (shuffle users, not requests) or nothing is counted until users finish; a single call
treats every cluster it is given as complete.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import special

__all__ = ["AnytimeInterval", "at_looks", "cs_mean_bounded", "cs_paired_diff", "cs_quantile", "cs_quantile_ratio",
           "cs_rate", "cs_rate_diff", "cs_ratio_of_means", "sequential_status"]

Clusters = np.ndarray | Sequence[Hashable] | None
# Units below which the asymptotic (ratio of means) sequence is not trusted: its interval is infinite.
MIN_ASYMPTOTIC_UNITS = 20
# Default number of units at which the mixture boundaries (ratio, quantile) are tightest.
DEFAULT_TARGET_UNITS = 500


@dataclass(frozen=True)
class AnytimeInterval:
    """An estimate and a confidence-sequence interval at ``level``, computed from ``n`` units
    (clusters, or rows without clusters). Bounds may be infinite: nothing is known yet."""

    estimate: float
    low: float
    high: float
    n: int
    level: float

    @property
    def halfwidth(self) -> float:
        """Half the interval's width, (high - low) / 2."""
        return (self.high - self.low) / 2


def sequential_status(interval: AnytimeInterval, null: float, margin: float,
                      worse: Literal["higher", "lower"] = "higher") -> Literal["pass", "fail", "undecided"]:
    """The fixed-sample gates' rule on an anytime interval: ``fail`` when the whole interval is
    worse than ``null`` by more than ``margin``, ``pass`` when all of it is within the margin."""
    if worse not in ("higher", "lower"):
        raise ValueError(f"worse must be 'higher' or 'lower', got {worse!r}")
    low, high = interval.low - null, interval.high - null
    near, far = (low, high) if worse == "higher" else (-high, -low)
    return "fail" if near > margin else "pass" if far <= margin else "undecided"



def _column(values: Any, name: str, lo: float = -math.inf, hi: float = math.inf, n: int | None = None) -> np.ndarray:
    """A 1-D float column of finite values within [lo, hi] (and of n rows); else ValueError naming the row."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or (n is not None and len(arr) != n):
        raise ValueError(f"{name} has shape {arr.shape}, expected ({'n' if n is None else n},)")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] is {arr[bad[0]]} ({bad.size} non-finite values): drop those rows first")
    bad = np.flatnonzero((arr < lo) | (arr > hi))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] = {arr[bad[0]]} is outside [{lo}, {hi}]")
    return arr


def _pair(a: Any, b: Any, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    first = _column(a, "a", lo, hi)
    return first, _column(b, "b", lo, hi, len(first))


def _check_levels(alpha: float, q: float | None = None) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if q is not None and not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q!r}")


@dataclass(frozen=True)
class _Units:
    """Rows grouped into units numbered in the order they complete."""

    code: np.ndarray  # unit of each row
    complete_after: np.ndarray  # rows read when each unit is complete, ascending
    size: np.ndarray  # rows per unit

    def count_at(self, looks: Sequence[int] | None) -> np.ndarray:
        """Complete units after each look (a number of rows read); all of them without looks."""
        if looks is None:
            return np.array([len(self.size)])
        rows = np.asarray(looks)
        if rows.ndim != 1 or np.any(rows < 0) or np.any(rows > len(self.code)):
            raise ValueError(f"looks must be row counts between 0 and {len(self.code)}")
        return np.searchsorted(self.complete_after, rows, side="right")

    def sums(self, column: np.ndarray) -> np.ndarray:
        return np.bincount(self.code, weights=column, minlength=len(self.size))


def _units(n: int, clusters: Clusters) -> _Units:
    if n == 0:
        raise ValueError("no rows")
    if clusters is None:
        return _Units(np.arange(n), np.arange(1, n + 1), np.ones(n))
    labels = np.asarray(clusters).astype(str)
    if labels.shape != (n,):
        raise ValueError(f"clusters has shape {labels.shape}, expected ({n},)")
    label = np.unique(labels, return_inverse=True)[1].reshape(-1)
    last_row = np.zeros(label.max() + 1, dtype=np.int64)
    np.maximum.at(last_row, label, np.arange(n))
    order = np.argsort(last_row, kind="stable")  # units in the order they complete
    code = np.argsort(order)[label]
    return _Units(code, last_row[order] + 1, np.bincount(code).astype(float))


def _intervals(est: np.ndarray, low: np.ndarray, high: np.ndarray, ts: np.ndarray, alpha: float) -> list[AnytimeInterval]:
    return [AnytimeInterval(float(e), float(lo), float(hi), int(t), 1 - alpha) for e, lo, hi, t in zip(est, low, high, ts)]


def _at(ts: np.ndarray, alpha: float, est: np.ndarray, low: np.ndarray, high: np.ndarray,
        before: tuple[float, float, float]) -> list[AnytimeInterval]:
    """Intervals after ts units from arrays over 1..T units; `before` is (estimate, low, high) at 0."""
    e, lo, hi = (np.concatenate(([first], arr))[ts] for first, arr in zip(before, (est, low, high), strict=True))
    return _intervals(e, lo, hi, ts, alpha)



def _eb_lower(y: np.ndarray, alpha: float) -> np.ndarray:
    """Predictable plug-in empirical-Bernstein (PrPl-EB) lower confidence sequence for the mean of
    y in [0, 1], at every t (Waudby-Smith & Ramdas 2024): bets lambda_t = min(sqrt(2 log(1/alpha) /
    (sigma2_{t-1} t log(1+t))), 1/2), psi_E(l) = -log(1-l) - l, v_t = (y_t - mu_{t-1})^2."""
    t = np.arange(1, len(y) + 1)
    mu = (0.5 + np.cumsum(y)) / (t + 1)  # regularised running mean, prior 1/2 with weight 1
    sigma2 = (0.25 + np.cumsum((y - mu) ** 2)) / (t + 1)
    mu_prev = np.concatenate(([0.5], mu[:-1]))
    sigma2_prev = np.concatenate(([0.25], sigma2[:-1]))
    lam = np.minimum(np.sqrt(2 * math.log(1 / alpha) / (sigma2_prev * t * np.log1p(t))), 0.5)
    psi = -np.log1p(-lam) - lam
    sum_lam = np.cumsum(lam)
    return (np.cumsum(lam * y) - math.log(1 / alpha) - np.cumsum((y - mu_prev) ** 2 * psi)) / sum_lam


def _bounded_mean(looks: Sequence[int] | None, x: Any, lo: float, hi: float, clusters: Clusters,
                  alpha: float, name: str = "x") -> list[AnytimeInterval]:
    _check_levels(alpha)
    if not hi > lo:
        raise ValueError(f"need lo < hi, got [{lo}, {hi}]")
    values = _column(x, name, lo, hi)
    units = _units(len(values), clusters)
    ts = units.count_at(looks)
    y = (units.sums(values) / units.size - lo) / (hi - lo)  # each unit's mean, on [0, 1]
    low = np.clip(_eb_lower(y, alpha / 2), 0, 1)
    high = np.clip(1 - _eb_lower(1 - y, alpha / 2), 0, 1)
    mean = np.cumsum(y) / np.arange(1, len(y) + 1)
    scaled_mean, scaled_low, scaled_high = (lo + (hi - lo) * arr for arr in (mean, low, high))
    return _at(ts, alpha, scaled_mean, scaled_low, scaled_high, before=(math.nan, lo, hi))


def cs_mean_bounded(x: Any, lo: float, hi: float, clusters: Clusters = None, *,
                    alpha: float = 0.05) -> AnytimeInterval:
    """Confidence sequence for the mean of values known to lie in [lo, hi] (a score, a rate):
    the predictable plug-in empirical-Bernstein sequence of Waudby-Smith & Ramdas (2024, JRSSB,
    "Estimating means of bounded random variables by betting"), alpha/2 on each side.
    Nonasymptotic: valid for any distribution on [lo, hi] at every look. Non-finite or out-of-range
    values raise ValueError."""
    return _bounded_mean(None, x, lo, hi, clusters, alpha)[-1]


def _paired(looks: Sequence[int] | None, a: Any, b: Any, lo: float, hi: float, clusters: Clusters,
            alpha: float) -> list[AnytimeInterval]:
    first, second = _pair(a, b, lo, hi)
    span = hi - lo
    return _bounded_mean(looks, first - second, -span, span, clusters, alpha, "a - b")


def cs_paired_diff(a: Any, b: Any, lo: float, hi: float, clusters: Clusters = None, *,
                   alpha: float = 0.05) -> AnytimeInterval:
    """Confidence sequence for mean(a - b) over paired rows whose scores lie in [lo, hi] (quality
    in [0, 1], similarity in [-1, 1]): ``cs_mean_bounded`` on the differences, in [lo-hi, hi-lo]."""
    return _paired(None, a, b, lo, hi, clusters, alpha)[-1]


def cs_rate(x: Any, clusters: Clusters = None, *, alpha: float = 0.05) -> AnytimeInterval:
    """Confidence sequence for a rate (x is 0/1, e.g. error): ``cs_mean_bounded`` on [0, 1]."""
    return _bounded_mean(None, x, 0.0, 1.0, clusters, alpha)[-1]


def cs_rate_diff(a: Any, b: Any, clusters: Clusters = None, *, alpha: float = 0.05) -> AnytimeInterval:
    """Confidence sequence for rate(a) - rate(b) from paired binary outcomes (candidate and prod
    errors on the same requests): the paired differences in {-1, 0, 1} as a bounded mean."""
    return _paired(None, a, b, 0.0, 1.0, clusters, alpha)[-1]



def _mixture_rho(target: float, alpha: float) -> float:
    """Intrinsic time of the normal mixture that makes its boundary tightest at `target` (Howard,
    Ramdas, McAuliffe & Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences")."""
    log_inv = math.log(1 / alpha)
    return target / (2 * log_inv + math.log1p(2 * log_inv))


def _ratio(looks: Sequence[int] | None, a: Any, b: Any, clusters: Clusters, alpha: float,
           target_n: int) -> list[AnytimeInterval]:
    _check_levels(alpha)
    first, second = _pair(a, b, 0.0, math.inf)
    units = _units(len(first), clusters)
    ts = units.count_at(looks)
    num, den = units.sums(first), units.sums(second)
    t = np.arange(1, len(num) + 1)
    mean_n, mean_d = np.cumsum(num) / t, np.cumsum(den) / t
    var_n = np.cumsum(num**2) / t - mean_n**2
    var_d = np.cumsum(den**2) / t - mean_d**2
    cov = np.cumsum(num * den) / t - mean_n * mean_d
    rho = _mixture_rho(target_n, alpha)
    c2 = (t + rho) * (np.log1p(t / rho) + 2 * math.log(1 / alpha)) / t**2  # squared boundary per unit sd
    # r stays in the sequence while (mean_n - r mean_d)^2 <= c2 var(num - r den): a quadratic in r
    qa, qb, qc = mean_d**2 - c2 * var_d, mean_n * mean_d - c2 * cov, mean_n**2 - c2 * var_n
    with np.errstate(invalid="ignore", divide="ignore"):
        root = np.sqrt(np.maximum(qb**2 - qa * qc, 0.0))
        low, high = (qb - root) / qa, (qb + root) / qa
        est = np.where(mean_d > 0, mean_n / mean_d, math.nan)
    bounded = (t >= MIN_ASYMPTOTIC_UNITS) & (qa > 0)  # else the denominator is not yet known to be > 0
    low, high = np.where(bounded, np.maximum(low, 0.0), 0.0), np.where(bounded, high, math.inf)
    return _at(ts, alpha, est, low, high, before=(math.nan, 0.0, math.inf))


def cs_ratio_of_means(a: Any, b: Any, clusters: Clusters = None, *, alpha: float = 0.05,
                      target_n: int = DEFAULT_TARGET_UNITS) -> AnytimeInterval:
    """Confidence sequence for mean(a) / mean(b) of nonnegative, unbounded values (cost).

    No nonasymptotic sequence exists for the mean of an unbounded variable, so this one is
    asymptotic (Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas 2024, Annals of Statistics,
    "Time-uniform central limit theory and asymptotic confidence sequences": the two-sided normal
    mixture with the running variance plugged in, tightest at ``target_n`` units), inverted like
    Fieller's interval: r stays while the sequence for mean(a - r b) holds 0. It assumes finite
    variance and is infinite below MIN_ASYMPTOTIC_UNITS units or while mean(b) may be 0. Simulated
    time-uniform miss rates (2,000 looks, alpha 0.05): 2-4% for paired or equally skewed arms,
    6-9% when one arm is much more skewed (lognormal sd 1 vs 0.5), and far above alpha when a
    rare event (1% of calls at 20x) has not been seen yet: no sequence can know of it."""
    return _ratio(None, a, b, clusters, alpha, target_n)[-1]



# Thresholds already computed, per (p, alpha, target_n) and number of units: they do not depend on data.
_THRESHOLDS: dict[tuple[float, float, int], dict[int, tuple[float, float]]] = {}


def _quantile_thresholds(ts: np.ndarray, p: float, alpha: float, target_n: int) -> tuple[np.ndarray, np.ndarray]:
    """For t units: the count k_lo(t) the units at or below q must exceed, and the count m_hi(t)
    the units strictly below q must stay under, for q to remain in the sequence (-inf and inf
    while that side rejects nothing). Computed once per setting and number of units."""
    known = _THRESHOLDS.setdefault((p, alpha, target_n), {})
    missing = sorted({int(t) for t in ts} - known.keys())
    if missing:
        if len(known) > 1_000_000:
            known.clear()
        known.update(zip(missing, zip(*(arr.tolist() for arr in _thresholds(np.array(missing, float), p, alpha,
                                                                            target_n)))))
    pairs = np.array([known[int(t)] for t in ts], dtype=float).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def _thresholds(t: np.ndarray, p: float, alpha: float, target_n: int) -> tuple[np.ndarray, np.ndarray]:
    """k_lo and m_hi for each t: each side is a one-sided beta-binomial mixture martingale at alpha/2
    (Howard & Ramdas 2022, with the conjugate mixture of Howard et al. 2021). The prior
    Beta(r/(1-p), r/p) has mean p and is truncated to [0, p) for the lower side, (p, 1] for the
    upper; r makes the boundary tightest at target_n units. Counts may be fractional (a cluster
    counts the share of its rows at or below q): a [0, 1] variable with mean p is sub-Bernoulli,
    so the martingale stays a supermartingale."""
    v = p * (1 - p)
    r = max(_mixture_rho(v * target_n, alpha) - v, 1e-3 * v)
    a0, b0 = r / (1 - p), r / p
    log_thr = math.log(2 / alpha)

    def rejected(k: np.ndarray, upper: bool) -> np.ndarray:
        a, b = a0 + k, b0 + t - k
        tail = special.betaincc if upper else special.betainc
        with np.errstate(divide="ignore"):
            log_m = (special.betaln(a, b) + np.log(tail(a, b, p)) - special.betaln(a0, b0)
                     - math.log(tail(a0, b0, p)) - k * math.log(p) - (t - k) * math.log1p(-p))
        return log_m >= log_thr

    bounds = []
    for upper in (False, True):
        # log M is monotone in k (decreasing for the lower side, increasing for the upper): bisect for
        # where it crosses the threshold and keep the bracket end that widens the interval.
        below, above = np.zeros_like(t), t.copy()
        for _ in range(40):
            mid = (below + above) / 2
            to_above = rejected(mid, upper) == upper
            below, above = np.where(to_above, below, mid), np.where(to_above, mid, above)
        edge = rejected(t if upper else np.zeros_like(t), upper)
        bounds.append(np.where(edge, above if upper else below, np.inf if upper else -np.inf))
    return bounds[0], bounds[1]


def _quantile_bounds(x: np.ndarray, units: _Units, ts: np.ndarray, p: float, alpha: float,
                     target_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimate, low and high of the p-quantile after the first t units, for each t in ts."""
    k_lo, m_hi = _quantile_thresholds(ts, p, alpha, target_n)
    order = np.argsort(x, kind="stable")
    values, code = x[order], units.code[order]
    weight = 1 / units.size[code]  # each unit counts once, shared among its rows
    est, low, high = np.full(len(ts), math.nan), np.full(len(ts), -np.inf), np.full(len(ts), np.inf)
    for i, t in enumerate(ts):
        if t == 0:
            continue
        seen = code < t
        vals, cum = values[seen], np.cumsum(weight[seen])
        last = len(vals) - 1
        est[i] = vals[min(np.searchsorted(cum, p * t - 1e-9, side="left"), last)]
        if np.isfinite(k_lo[i]):
            low[i] = vals[min(np.searchsorted(cum, k_lo[i], side="right"), last)]
        if np.isfinite(m_hi[i]):
            high[i] = vals[min(np.searchsorted(cum, m_hi[i], side="left"), last)]
    return est, low, high


def _quantile(looks: Sequence[int] | None, x: Any, q: float, clusters: Clusters, alpha: float,
              target_n: int) -> list[AnytimeInterval]:
    _check_levels(alpha, q)
    values = _column(x, "x")
    units = _units(len(values), clusters)
    ts = units.count_at(looks)
    return _intervals(*_quantile_bounds(values, units, ts, q, alpha, target_n), ts, alpha)


def cs_quantile(x: Any, q: float, clusters: Clusters = None, *, alpha: float = 0.05,
                target_n: int = DEFAULT_TARGET_UNITS) -> AnytimeInterval:
    """Confidence sequence for the q-quantile (Howard & Ramdas 2022, Bernoulli 28(3), "Sequential
    estimation of quantiles with applications to A/B testing and best-arm identification", the
    fixed-quantile sequence with a beta-binomial mixture boundary): order statistics whose ranks
    come from a time-uniform bound on the count below the quantile. Nonasymptotic for any distribution (ties
    included); a bound stays infinite until enough units lie beyond it (about 1/(1-q) of them)."""
    return _quantile(None, x, q, clusters, alpha, target_n)[-1]


def _quantile_ratio(looks: Sequence[int] | None, a: Any, b: Any, q: float, clusters: Clusters, alpha: float,
                    target_n: int) -> list[AnytimeInterval]:
    _check_levels(alpha, q)
    first, second = _pair(a, b, 0.0, math.inf)
    units = _units(len(first), clusters)
    ts = units.count_at(looks)
    est_a, low_a, high_a = _quantile_bounds(first, units, ts, q, alpha / 2, target_n)
    est_b, low_b, high_b = _quantile_bounds(second, units, ts, q, alpha / 2, target_n)
    low_a, low_b = np.maximum(low_a, 0.0), np.maximum(low_b, 0.0)  # the values are nonnegative
    with np.errstate(divide="ignore", invalid="ignore"):
        est = np.where(est_b > 0, est_a / est_b, math.nan)
        low = np.where(np.isfinite(high_b), low_a / high_b, 0.0)
        high = np.where(low_b > 0, high_a / low_b, math.inf)
    return _intervals(est, np.nan_to_num(low, nan=0.0), high, ts, alpha)


def cs_quantile_ratio(a: Any, b: Any, q: float, clusters: Clusters = None, *, alpha: float = 0.05,
                      target_n: int = DEFAULT_TARGET_UNITS) -> AnytimeInterval:
    """Confidence sequence for quantile_q(a) / quantile_q(b) of nonnegative values (candidate p99
    latency over prod's): a ``cs_quantile`` sequence for each arm at alpha/2, so both hold at once
    with probability 1 - alpha (union bound, no independence needed), and the ratio interval is
    [low_a / high_b, high_a / low_b]."""
    return _quantile_ratio(None, a, b, q, clusters, alpha, target_n)[-1]


_AT_LOOKS: dict[Callable[..., AnytimeInterval], Callable[..., list[AnytimeInterval]]] = {
    cs_mean_bounded: _bounded_mean, cs_paired_diff: _paired, cs_ratio_of_means: _ratio, cs_quantile: _quantile,
    cs_quantile_ratio: _quantile_ratio,
    cs_rate: lambda looks, x, clusters, alpha: _bounded_mean(looks, x, 0.0, 1.0, clusters, alpha),
    cs_rate_diff: lambda looks, a, b, clusters, alpha: _paired(looks, a, b, 0.0, 1.0, clusters, alpha),
}


def at_looks(cs: Callable[..., AnytimeInterval], looks: Sequence[int], *args: Any,
             **kwargs: Any) -> list[AnytimeInterval]:
    """``cs(*args, **kwargs)`` after each look, in one pass over the rows: ``looks`` are numbers of
    rows read (e.g. after every wave), and a cluster counts from the look after its last row.

    ``at_looks(cs_rate_diff, [100, 200], a, b, clusters)`` equals the intervals of
    ``cs_rate_diff(a[:100], b[:100], clusters[:100])`` and so on when no cluster straddles a look.
    """
    if cs not in _AT_LOOKS:
        raise ValueError(f"{getattr(cs, '__name__', cs)!r} is not a confidence sequence of harness.anytime")
    arguments = inspect.signature(cs).bind(*args, **kwargs)
    arguments.apply_defaults()
    return _AT_LOOKS[cs](looks, **arguments.arguments)
