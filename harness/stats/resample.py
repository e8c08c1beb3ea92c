"""Paired bootstrap intervals that resample whole clusters (users, sessions) when given.

Means, ratios of means, any statistic, quantiles and quantile ratios; replicate weights are
drawn in memory-bounded chunks and cached per seed so that checks on one run share them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import numpy as np

from harness.stats.interval import Interval, _as_float, _check_level, _nan_interval

# Bytes the replicate-weight arrays of one chunk may use (three (chunk, clusters) arrays).
_CHUNK_BYTES = 48 * 1024 * 1024
# Quantile bootstraps are exact up to this many rows, then located to within n / this ranks.
_EXACT_QUANTILE_ROWS = 4096


def _factorize(clusters: np.ndarray | Sequence[Hashable]) -> np.ndarray:
    """Cluster labels (any hashable) -> integer codes 0..G-1."""
    labels = np.asarray(clusters)
    if labels.ndim != 1:
        raise ValueError(f"clusters must be 1-D, got shape {labels.shape}")
    try:
        _, codes = np.unique(labels, return_inverse=True)
        return codes.reshape(-1).astype(np.intp)
    except TypeError:  # unorderable mix of label types (e.g. None and str)
        seen: dict[Hashable, int] = {}
        return np.fromiter((seen.setdefault(x, len(seen)) for x in labels.tolist()), np.intp, len(labels))


def _check_clusters(clusters: np.ndarray | Sequence[Hashable] | None, n: int) -> np.ndarray | None:
    if clusters is None:
        return None
    codes = _factorize(clusters)
    if len(codes) != n:
        raise ValueError(f"clusters has {len(codes)} labels for {n} rows")
    return codes


def _weight_chunks(rng: np.random.Generator, g: int, n_boot: int) -> Iterator[np.ndarray]:
    """Bootstrap replicate weights, (chunk, g) at a time: how often each of g units is drawn.

    Each row is an exact multinomial(g, 1/g) draw, made by counting g uniform draws
    with one offset bincount, which is several times faster than ``rng.multinomial``.
    """
    chunk = max(1, min(n_boot, _CHUNK_BYTES // (24 * g)))
    for start in range(0, n_boot, chunk):
        c = min(chunk, n_boot - start)
        idx = rng.integers(0, g, size=(c, g))
        idx += (np.arange(c, dtype=idx.dtype) * g)[:, None]
        yield np.bincount(idx.ravel(), minlength=c * g).reshape(c, g).astype(float)


_WEIGHT_CACHE: dict[tuple[int, int, int], np.ndarray] = {}
_WEIGHT_CACHE_ENTRIES = 64_000_000  # uint8 counts kept for reuse (64 MB)


def _seeded_weights(seed: int, g: int, n_boot: int) -> Iterator[np.ndarray]:
    """The replicate weights of `seed` for g units, in float chunks. Every statistic with the same
    seed and number of units draws the same weights, so they are drawn once and kept (as small
    integer counts) while they fit in the cache; the random stream is the same either way."""
    key = (seed, g, n_boot)
    cached = _WEIGHT_CACHE.get(key)
    if cached is None and g * n_boot <= _WEIGHT_CACHE_ENTRIES:
        chunks = list(_weight_chunks(np.random.default_rng(seed), g, n_boot))
        cached = np.concatenate(chunks).astype(np.uint8)
        _WEIGHT_CACHE.clear()  # one set at a time bounds the memory
        _WEIGHT_CACHE[key] = cached
    if cached is None:
        yield from _weight_chunks(np.random.default_rng(seed), g, n_boot)
        return
    chunk = max(1, min(n_boot, _CHUNK_BYTES // (24 * g)))
    for start in range(0, n_boot, chunk):
        yield cached[start : start + chunk].astype(float)


def _replicate_sums(unit_sums: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(G, k) per-unit sums -> (n_boot, k) weighted sums under resampled units."""
    g = unit_sums.shape[0]
    return np.concatenate([w @ unit_sums for w in _seeded_weights(seed, g, n_boot)], axis=0)


def _unit_sums(columns: list[np.ndarray], codes: np.ndarray | None) -> np.ndarray:
    """Per-cluster sums of each column (rows themselves when unclustered) as (G, k)."""
    if codes is None:
        return np.column_stack(columns)
    g = int(codes.max()) + 1
    return np.column_stack([np.bincount(codes, weights=col, minlength=g) for col in columns])


def _percentile_interval(estimate: float, reps: np.ndarray, level: float) -> Interval:
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return _nan_interval(level, estimate)
    alpha = 1.0 - level
    low, high = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return Interval(float(estimate), float(low), float(high), level)


def _n_units(codes: np.ndarray | None, n: int) -> int:
    return n if codes is None else int(codes.max()) + 1


# ---------------------------------------------------------------- bootstrap


def bootstrap_mean(
    values: np.ndarray,
    clusters: np.ndarray | Sequence[Hashable] | None = None,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Mean of ``values`` (NaNs dropped with their labels) with a percentile bootstrap CI.

    With ``clusters`` whole clusters are resampled; one cluster only gives NaN bounds.
    """
    _check_level(level)
    x = _as_float(values, "values")
    codes = _check_clusters(clusters, len(x))
    keep = ~np.isnan(x)
    x = x[keep]
    if codes is not None:
        codes = _factorize(codes[keep])
    if x.size < 2:
        return _nan_interval(level)
    estimate = float(x.mean())
    if np.all(x == x[0]):
        return Interval(estimate, estimate, estimate, level)
    if _n_units(codes, x.size) < 2:
        return _nan_interval(level, estimate)
    sums = _unit_sums([x, np.ones_like(x)], codes)
    reps = _replicate_sums(sums, n_boot, seed)
    return _percentile_interval(estimate, reps[:, 0] / reps[:, 1], level)


def bootstrap_ratio_of_means(
    numerator: np.ndarray,
    denominator: np.ndarray,
    clusters: np.ndarray | Sequence[Hashable] | None = None,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """mean(numerator) / mean(denominator) over paired rows, with a percentile bootstrap CI.

    Rows where either side is NaN are dropped; replicates with a zero denominator are ignored.
    """
    _check_level(level)
    num = _as_float(numerator, "numerator")
    den = _as_float(denominator, "denominator")
    if num.shape != den.shape:
        raise ValueError(f"numerator and denominator differ in length: {num.shape} vs {den.shape}")
    codes = _check_clusters(clusters, len(num))
    keep = ~(np.isnan(num) | np.isnan(den))
    num, den = num[keep], den[keep]
    if codes is not None:
        codes = _factorize(codes[keep])
    if num.size < 2:
        return _nan_interval(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = float(num.sum() / den.sum())
    if np.all(num == num[0]) and np.all(den == den[0]):
        return Interval(estimate, estimate, estimate, level)
    if _n_units(codes, num.size) < 2:
        return _nan_interval(level, estimate)
    reps = _replicate_sums(_unit_sums([num, den], codes), n_boot, seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = reps[:, 0] / reps[:, 1]
    return _percentile_interval(estimate, ratios, level)


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    data: np.ndarray,
    clusters: np.ndarray | Sequence[Hashable] | None = None,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap CI of ``statistic(data)``, resampling rows or whole clusters of rows.

    ``data`` is 1-D or 2-D (rows = requests); float rows holding any NaN are dropped first.
    """
    _check_level(level)
    arr = np.asarray(data)
    if arr.ndim not in (1, 2):
        raise ValueError(f"data must be 1-D or 2-D, got shape {arr.shape}")
    codes = _check_clusters(clusters, len(arr))
    if np.issubdtype(arr.dtype, np.floating):
        nan_rows = np.isnan(arr) if arr.ndim == 1 else np.isnan(arr).any(axis=1)
        arr = arr[~nan_rows]
        if codes is not None:
            codes = _factorize(codes[~nan_rows])
    n = len(arr)
    if n < 2:
        return _nan_interval(level)
    estimate = float(statistic(arr))
    if np.all(arr == arr[0]):
        return Interval(estimate, estimate, estimate, level)
    if _n_units(codes, n) < 2:
        return _nan_interval(level, estimate)

    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    if codes is None:
        for i in range(n_boot):
            reps[i] = statistic(arr[rng.integers(0, n, n)])
    else:
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        g = len(sizes)
        for i in range(n_boot):
            chosen = rng.integers(0, g, g)
            lengths = sizes[chosen]
            # Row positions of the chosen clusters, concatenated: start of each cluster
            # repeated over its length, plus the offset within it.
            ends = np.cumsum(lengths)
            offsets = np.arange(ends[-1]) - np.repeat(ends - lengths, lengths)
            reps[i] = statistic(arr[order[np.repeat(starts[chosen], lengths) + offsets]])
    return _percentile_interval(estimate, reps, level)


def bootstrap_quantile(
    values: np.ndarray,
    q: float,
    clusters: np.ndarray | Sequence[Hashable] | None = None,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap CI of the q-quantile (inverted-CDF definition), vectorized:
    each replicate is a weighted quantile under multinomial row (or cluster) weights."""
    return _quantile_bootstrap([values], q, clusters, n_boot, level, seed, lambda qs: qs[0])


def bootstrap_quantile_ratio(
    numerator: np.ndarray,
    denominator: np.ndarray,
    q: float,
    clusters: np.ndarray | Sequence[Hashable] | None = None,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """CI of quantile_q(numerator) / quantile_q(denominator) over paired rows resampled together
    (e.g. candidate p99 latency over prod's)."""
    def ratio(qs: list[np.ndarray]) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(qs[1] != 0, qs[0] / qs[1], np.nan)

    return _quantile_bootstrap([numerator, denominator], q, clusters, n_boot, level, seed, ratio)


def _quantile_bootstrap(
    columns: list[np.ndarray],
    q: float,
    clusters: np.ndarray | Sequence[Hashable] | None,
    n_boot: int,
    level: float,
    seed: int,
    combine: Callable[[list[np.ndarray]], np.ndarray],
) -> Interval:
    _check_level(level)
    arrays = [_as_float(c, "values") for c in columns]
    codes = _check_clusters(clusters, len(arrays[0]))
    keep = np.all([np.isfinite(a) for a in arrays], axis=0)
    arrays = [a[keep] for a in arrays]
    n = len(arrays[0])
    if n < 2:
        return _nan_interval(level)
    codes = _factorize(codes[keep]) if codes is not None else None
    estimate = float(combine([np.atleast_1d(np.quantile(a, q, method="inverted_cdf")) for a in arrays])[0])
    if all(np.all(a == a[0]) for a in arrays):
        return Interval(estimate, estimate, estimate, level)
    g = _n_units(codes, n)
    if g < 2:
        return _nan_interval(level, estimate)
    binned = [_rank_bins(a, codes, g) for a in arrays]
    sizes = np.ones(n, dtype=np.int64) if codes is None else np.bincount(codes, minlength=g)
    reps: list[np.ndarray] = []
    for unit_weights in _seeded_weights(seed, g, n_boot):
        totals = unit_weights @ sizes
        by_unit = np.ascontiguousarray(unit_weights.T)
        quantiles = [values[_weighted_positions(np.asarray(membership.T @ by_unit).T, totals, q)]
                     for values, membership in binned]
        reps.append(combine(quantiles))
    return _percentile_interval(estimate, np.concatenate(reps), level)


def _rank_bins(values: np.ndarray, codes: np.ndarray | None, g: int) -> tuple[np.ndarray, Any]:
    """Rows grouped into at most _EXACT_QUANTILE_ROWS bins of consecutive rank: each bin's value
    and a sparse (unit x bin) count matrix, so a replicate's bin weights are one sparse product.

    Up to _EXACT_QUANTILE_ROWS rows every row is its own bin and the quantile is exact; above,
    the quantile is located to within one bin (n / 4096 ranks) and takes the bin's middle value.
    """
    from scipy.sparse import csr_array

    n = len(values)
    order = np.argsort(values, kind="stable")
    k = min(n, _EXACT_QUANTILE_ROWS)
    bins = (np.arange(n) * k) // n
    middle = np.searchsorted(bins, np.arange(k), side="left") + np.bincount(bins, minlength=k) // 2
    representative = values[order][np.minimum(middle, n - 1)] if k < n else values[order]
    units = order if codes is None else codes[order]
    membership = csr_array((np.ones(n), (units, bins)), shape=(g, k))
    return representative, membership


def _weighted_positions(weights: np.ndarray, totals: np.ndarray, q: float) -> np.ndarray:
    """Per replicate (row of `weights`, columns in ascending value order), the position of the
    weighted q-quantile: the first column whose cumulative weight reaches q * total.

    For an upper quantile only the top tail is summed (the mass above it is small), which is
    several times cheaper; replicates whose tail holds too little mass take the full sum.
    """
    n = weights.shape[1]
    threshold = q * totals
    if q > 0.5:
        m = min(n - 1, int(n * (1 - q) * 4) + 64)
        if m < n - 1:
            tail = weights[:, n - m - 1 :]
            # suffix[:, j]: weight strictly above column n-m-1+j
            suffix = np.cumsum(tail[:, ::-1], axis=1)[:, ::-1] - tail
            above = totals[:, None] - suffix  # cumulative weight up to and including each tail column
            in_tail = suffix[:, 0] > totals - threshold  # the quantile lies inside the tail
            positions = (n - m - 1) + (above < threshold[:, None]).sum(axis=1)
            if in_tail.all():
                return np.minimum(positions, n - 1)
            rest = ~in_tail
            full = np.cumsum(weights[rest], axis=1)
            positions[rest] = (full < threshold[rest, None]).sum(axis=1)
            return np.minimum(positions, n - 1)
    cumulative = np.cumsum(weights, axis=1)
    return np.minimum((cumulative < threshold[:, None]).sum(axis=1), n - 1)
