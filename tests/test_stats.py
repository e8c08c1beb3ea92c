"""harness.stats against scipy references, hand-computed values and seeded simulations."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from scipy import stats as st

from harness.stats import (
    Interval,
    benjamini_hochberg,
    bootstrap,
    bootstrap_mean,
    bootstrap_ratio_of_means,
    holm,
    mcnemar_p,
    mde_mean,
    mde_two_proportions,
    n_to_settle,
    power_mean,
    resample,
    sign_test_p,
    stable_fraction,
    wilcoxon_p,
    wilson_interval,
)

# ---------------------------------------------------------------- Interval


def test_interval_halfwidth_and_frozen() -> None:
    iv = Interval(1.0, 0.5, 2.5, 0.95)
    assert iv.halfwidth == 1.0
    with pytest.raises(AttributeError):
        iv.low = 0.0  # type: ignore[misc]


# ---------------------------------------------------------------- bootstrap_mean


def test_bootstrap_mean_coverage_of_known_normal() -> None:
    # 200 seeded datasets of n=200 from N(1.5, 2^2): a 95% interval should cover 1.5 in
    # about 95% of them (binomial sd ~1.5 points; percentile intervals run slightly narrow).
    rng = np.random.default_rng(12345)
    covered = 0
    for i in range(200):
        x = rng.normal(1.5, 2.0, size=200)
        iv = bootstrap_mean(x, n_boot=1000, seed=i)
        covered += iv.low <= 1.5 <= iv.high
    assert 0.90 <= covered / 200 <= 0.99


def test_bootstrap_mean_matches_normal_theory_width() -> None:
    x = np.random.default_rng(7).normal(0, 1, size=2000)
    iv = bootstrap_mean(x, n_boot=4000)
    assert iv.estimate == pytest.approx(x.mean())
    expected = 1.959964 * x.std(ddof=1) / math.sqrt(x.size)
    assert iv.halfwidth == pytest.approx(expected, rel=0.08)
    assert iv.low < iv.estimate < iv.high
    assert iv.level == 0.95


def test_clustered_interval_wider_when_clusters_correlated() -> None:
    # 50 users x 8 requests; a strong per-user effect makes rows within a user nearly equal,
    # so there are ~50 independent observations, not 400.
    rng = np.random.default_rng(3)
    users = np.repeat([f"user-{i}" for i in range(50)], 8)
    x = np.repeat(rng.normal(0, 1, 50), 8) + rng.normal(0, 0.1, 400)
    plain = bootstrap_mean(x)
    clustered = bootstrap_mean(x, users)
    assert clustered.estimate == plain.estimate
    assert clustered.halfwidth > 2 * plain.halfwidth
    # ... and about the width of the mean of the 50 user means.
    user_means = x.reshape(50, 8).mean(axis=1)
    assert clustered.halfwidth == pytest.approx(1.96 * user_means.std(ddof=1) / math.sqrt(50), rel=0.15)


def test_singleton_clusters_match_unclustered() -> None:
    # Each row its own cluster is the ordinary bootstrap; same draws, same answer.
    x = np.random.default_rng(5).normal(size=300)
    a = bootstrap_mean(x, seed=11)
    b = bootstrap_mean(x, np.arange(300), seed=11)
    assert (a.low, a.high) == pytest.approx((b.low, b.high), rel=1e-12)


def test_bootstrap_mean_of_rates() -> None:
    x = np.array([1] * 30 + [0] * 70, dtype=bool)
    iv = bootstrap_mean(x)
    assert iv.estimate == pytest.approx(0.3)
    wil = wilson_interval(30, 100)
    assert iv.low == pytest.approx(wil.low, abs=0.03)
    assert iv.high == pytest.approx(wil.high, abs=0.03)


def test_bootstrap_mean_deterministic_under_seed() -> None:
    x = np.random.default_rng(0).exponential(size=500)
    clusters = np.arange(500) // 5
    assert bootstrap_mean(x, clusters, seed=4) == bootstrap_mean(x, clusters, seed=4)
    assert bootstrap_mean(x, seed=4) == bootstrap_mean(x, seed=4)
    assert bootstrap_mean(x, seed=4) != bootstrap_mean(x, seed=5)


def test_bootstrap_mean_chunking_does_not_change_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    # Replicates come in memory-bounded chunks; the chunk size must not change the draws
    # (only float summation order, i.e. the last ulp).
    x = np.random.default_rng(1).normal(size=1001)
    whole = bootstrap_mean(x, n_boot=501)
    monkeypatch.setattr(resample, "_CHUNK_BYTES", 24 * 1001 * 7)  # 7 replicates per chunk
    chunked = bootstrap_mean(x, n_boot=501)
    assert (chunked.low, chunked.high) == pytest.approx((whole.low, whole.high), rel=1e-12)


def test_chunk_memory_bounded_for_many_clusters() -> None:
    rng = np.random.default_rng(0)
    chunk = next(resample._weight_chunks(rng, 100_000, 2000))
    assert chunk.shape[1] == 100_000
    assert 3 * chunk.nbytes <= 50 * 1024 * 1024
    # Each replicate is a multinomial draw: weights sum to the number of clusters.
    assert np.all(chunk.sum(axis=1) == 100_000)


def test_bootstrap_mean_many_clusters_runs() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=100_000)
    iv = bootstrap_mean(x, np.arange(100_000) // 2, n_boot=200)
    assert iv.low < x.mean() < iv.high


def test_bootstrap_mean_drops_nan_with_cluster_labels() -> None:
    x = np.array([1.0, np.nan, 3.0, 5.0, np.nan, 7.0])
    labels = np.array(["a", "b", "a", "c", "c", "d"])
    iv = bootstrap_mean(x, labels, seed=2)
    assert iv.estimate == pytest.approx(4.0)
    # Cluster "b" only held a NaN, so it is gone: same as passing the clean rows.
    clean = bootstrap_mean(np.array([1.0, 3.0, 5.0, 7.0]), np.array(["a", "a", "c", "d"]), seed=2)
    assert iv == clean


def test_bootstrap_mean_degenerate_inputs() -> None:
    for x in (np.array([]), np.array([2.0]), np.array([np.nan, 4.0, np.nan])):
        iv = bootstrap_mean(x)
        assert math.isnan(iv.estimate) and math.isnan(iv.low) and math.isnan(iv.high)
        assert iv.level == 0.95
    const = bootstrap_mean(np.full(50, 0.1), np.arange(50) // 3)
    assert const.estimate == pytest.approx(0.1)
    assert const.low == const.estimate == const.high and const.halfwidth == 0.0
    # One cluster: the estimate is known, its uncertainty is not.
    one = bootstrap_mean(np.array([1.0, 2.0, 3.0]), np.array(["u", "u", "u"]))
    assert one.estimate == 2.0 and math.isnan(one.low) and math.isnan(one.high)


def test_bootstrap_mean_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        bootstrap_mean(np.ones(5), np.arange(4))
    with pytest.raises(ValueError):
        bootstrap_mean(np.arange(5.0), level=1.5)


# ---------------------------------------------------------------- ratio of means


def test_ratio_of_means_simple() -> None:
    # Candidate cost is exactly 1.2x prod on every request: the ratio is 1.2 with no spread.
    prod = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    iv = bootstrap_ratio_of_means(prod * 1.2, prod)
    assert iv.estimate == pytest.approx(1.2)
    assert iv.low == pytest.approx(1.2) and iv.high == pytest.approx(1.2)


def test_ratio_of_means_estimate_and_nan_rows() -> None:
    num = np.array([2.0, 4.0, np.nan, 6.0, 8.0, 1.0])
    den = np.array([1.0, 1.0, 5.0, 2.0, 2.0, np.nan])
    iv = bootstrap_ratio_of_means(num, den, seed=1)
    # Rows 2 and 5 dropped: (2+4+6+8)/4 / ((1+1+2+2)/4) = 20/6.
    assert iv.estimate == pytest.approx(20 / 6)
    assert iv.low <= iv.estimate <= iv.high
    assert iv == bootstrap_ratio_of_means(num[[0, 1, 3, 4]], den[[0, 1, 3, 4]], seed=1)


def test_ratio_of_means_clustered_wider() -> None:
    rng = np.random.default_rng(8)
    den = rng.uniform(1, 2, 600)
    user_factor = np.repeat(rng.normal(1.0, 0.3, 60), 10)
    num = den * user_factor
    plain = bootstrap_ratio_of_means(num, den)
    clustered = bootstrap_ratio_of_means(num, den, np.repeat(np.arange(60), 10))
    assert clustered.estimate == plain.estimate
    assert clustered.halfwidth > 1.8 * plain.halfwidth


def test_ratio_of_means_degenerate() -> None:
    iv = bootstrap_ratio_of_means(np.array([1.0, np.nan]), np.array([np.nan, 1.0]))
    assert math.isnan(iv.estimate)
    with pytest.raises(ValueError):
        bootstrap_ratio_of_means(np.ones(3), np.ones(4))


# ---------------------------------------------------------------- generic bootstrap


def test_generic_bootstrap_quantile_ratio() -> None:
    rng = np.random.default_rng(4)
    prod = rng.lognormal(7, 0.5, 1000)
    data = np.column_stack([prod * 1.5, prod])  # candidate latency 1.5x prod on every request

    def p99_ratio(d: np.ndarray) -> float:
        return float(np.quantile(d[:, 0], 0.99) / np.quantile(d[:, 1], 0.99))

    iv = bootstrap(p99_ratio, data, n_boot=300)
    assert iv.estimate == pytest.approx(1.5)
    assert iv.low == pytest.approx(1.5) and iv.high == pytest.approx(1.5)


def test_generic_bootstrap_median_1d_and_determinism() -> None:
    x = np.random.default_rng(9).normal(10, 2, 400)
    iv = bootstrap(np.median, x, n_boot=500, seed=3)
    assert iv.estimate == pytest.approx(np.median(x))
    assert iv.low < 10 < iv.high
    assert iv == bootstrap(np.median, x, n_boot=500, seed=3)


def test_generic_bootstrap_agrees_with_bootstrap_mean() -> None:
    rng = np.random.default_rng(6)
    users = np.repeat(np.arange(40), rng.integers(1, 8, 40))
    x = rng.normal(size=users.size) + rng.normal(size=40)[users]
    fast = bootstrap_mean(x, users, n_boot=2000)
    generic = bootstrap(np.mean, x, users, n_boot=2000)
    assert generic.estimate == pytest.approx(fast.estimate)
    assert generic.low == pytest.approx(fast.low, abs=0.25 * fast.halfwidth)
    assert generic.high == pytest.approx(fast.high, abs=0.25 * fast.halfwidth)


def test_generic_bootstrap_resamples_whole_clusters() -> None:
    # Rows of one cluster always come together: cluster "a" rows are all 0, "b" rows all 1,
    # so every replicate mean is a mix of whole clusters of sizes 3 and 1.
    seen: set[float] = set()

    def record(d: np.ndarray) -> float:
        seen.add(round(float(d.mean()), 9))
        return float(d.mean())

    data = np.array([0.0, 0.0, 0.0, 1.0])
    bootstrap(record, data, np.array(["a", "a", "a", "b"]), n_boot=200)
    # Possible replicates: aa -> 0, ab/ba -> 1/4, bb -> 1 (plus the original 1/4).
    assert seen == {0.0, 0.25, 1.0}


def test_generic_bootstrap_nan_rows_and_degenerate() -> None:
    data = np.array([[1.0, 2.0], [np.nan, 1.0], [3.0, 4.0], [5.0, 6.0]])
    iv = bootstrap(lambda d: float(d[:, 0].mean()), data, n_boot=100)
    assert iv.estimate == pytest.approx(3.0)
    assert math.isnan(bootstrap(np.mean, np.array([1.0])).estimate)
    const = bootstrap(np.median, np.full(10, 3.0))
    assert (const.estimate, const.low, const.high) == (3.0, 3.0, 3.0)


# ---------------------------------------------------------------- tests (p-values)


def test_wilcoxon_matches_scipy() -> None:
    d = np.random.default_rng(10).normal(0.3, 1, 40)
    for alt in ("two-sided", "greater", "less"):
        assert wilcoxon_p(d, alt) == pytest.approx(st.wilcoxon(d, alternative=alt).pvalue)
    with pytest.raises(ValueError):
        wilcoxon_p(d, "bigger")


def test_wilcoxon_drops_zeros_and_nans() -> None:
    core = np.array([0.5, -0.2, 1.1, 0.7, 0.9, -0.4, 1.3, 0.8])
    d = np.concatenate([core, [0.0, 0.0, np.nan]])
    assert wilcoxon_p(d) == pytest.approx(st.wilcoxon(core).pvalue)
    # Exact two-sided p for 8 pairs where negatives hold ranks 1 and 2 (W- = 3): 2*P(W <= 3)
    # = 2 * 5/256 (rank subsets summing to 0,1,2,3,3 of the 256 sign patterns).
    assert wilcoxon_p(core) == pytest.approx(10 / 256)
    assert wilcoxon_p(np.zeros(5)) == 1.0
    assert wilcoxon_p(np.array([np.nan])) == 1.0


def test_sign_test() -> None:
    d = np.array([1.0, 2.0, 0.5, -1.0, 3.0, 0.0, 2.0, 1.5, np.nan, 4.0])
    # 7 positive, 1 negative among 8 non-zero: two-sided p = 2 * (1 + 8) / 256.
    assert sign_test_p(d) == pytest.approx(18 / 256)
    assert sign_test_p(d, "greater") == pytest.approx(9 / 256)
    assert sign_test_p(d, "less") == pytest.approx(st.binomtest(7, 8, 0.5, alternative="less").pvalue)
    assert sign_test_p(np.zeros(3)) == 1.0


def test_mcnemar_exact() -> None:
    a = np.array([True] * 9 + [False] * 2 + [True] * 20 + [False] * 69)
    b = np.array([False] * 9 + [True] * 2 + [True] * 20 + [False] * 69)
    # Discordant: 9 a-only, 2 b-only; concordant pairs do not matter.
    assert mcnemar_p(a, b) == pytest.approx(st.binomtest(9, 11, 0.5).pvalue)
    assert mcnemar_p(a, b, "greater") == pytest.approx((1 + 11 + 55) / 2048)  # P(X >= 9), X~Bin(11, 1/2)
    assert mcnemar_p(a, b, "less") == pytest.approx(st.binomtest(9, 11, 0.5, alternative="less").pvalue)
    assert mcnemar_p(b, a, "less") == pytest.approx(mcnemar_p(a, b, "greater"))
    assert mcnemar_p(a, a) == 1.0
    with pytest.raises(ValueError):
        mcnemar_p(a, b[:-1])


def test_mcnemar_float_with_nan() -> None:
    a = np.array([1.0, 1.0, 1.0, np.nan, 0.0])
    b = np.array([0.0, 0.0, 0.0, 1.0, 0.0])
    assert mcnemar_p(a, b, "greater") == pytest.approx(1 / 8)


def test_wilson_interval() -> None:
    iv = wilson_interval(8, 10)
    assert iv.estimate == 0.8
    assert iv.low == pytest.approx(0.4902, abs=1e-4)
    assert iv.high == pytest.approx(0.9433, abs=1e-4)
    ref = st.binomtest(37, 120).proportion_ci(confidence_level=0.9, method="wilson")
    iv90 = wilson_interval(37, 120, level=0.9)
    assert (iv90.low, iv90.high) == pytest.approx((ref.low, ref.high))
    zero = wilson_interval(0, 50)
    assert zero.low == 0.0 and 0 < zero.high < 0.1
    assert wilson_interval(50, 50).high == 1.0
    assert math.isnan(wilson_interval(0, 0).estimate)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


# ---------------------------------------------------------------- power


def test_mde_mean() -> None:
    # (1.959964 + 0.841621) * 1 / sqrt(100)
    assert mde_mean(1.0, 100) == pytest.approx(0.2802, abs=1e-4)
    assert mde_mean(2.0, 400) == pytest.approx(0.2802, abs=1e-4)
    # One-sided: (1.644854 + 0.841621) / 10
    assert mde_mean(1.0, 100, two_sided=False) == pytest.approx(0.24865, abs=1e-4)
    assert mde_mean(1.0, 1) == math.inf


def test_mde_two_proportions() -> None:
    # p=0.1, n1=n2=1000: 2.801585 * sqrt(0.09 * 0.002) = 0.037587
    assert mde_two_proportions(0.1, 1000, 1000) == pytest.approx(0.037587, abs=1e-5)
    zero = mde_two_proportions(0.0, 500, 500)
    assert zero == pytest.approx(2.801585 * math.sqrt(0.001 * 0.999 * 2 / 500), rel=1e-5)
    assert mde_two_proportions(0.1, 0, 10) == math.inf


def test_power_mean_inverts_mde() -> None:
    for n, sd in ((100, 1.0), (2500, 0.3)):
        assert power_mean(mde_mean(sd, n), sd, n) == pytest.approx(0.8)
        assert power_mean(-mde_mean(sd, n, power=0.9), sd, n) == pytest.approx(0.9)
        assert power_mean(mde_mean(sd, n, two_sided=False), sd, n, two_sided=False) == pytest.approx(0.8)
    assert power_mean(0.0, 1.0, 100) == pytest.approx(0.025)
    assert power_mean(0.1, 1.0, 1) == 0.0


def test_power_mean_predicts_detection_rate() -> None:
    # Simulated paired differences at the MDE: a one-sided z-test at the 2.5% level should
    # reject in ~80% of 2000 runs.
    rng = np.random.default_rng(21)
    n, sd = 100, 1.0
    d = rng.normal(mde_mean(sd, n), sd, size=(2000, n))
    z = d.mean(axis=1) / (sd / math.sqrt(n))
    assert np.mean(z > 1.959964) == pytest.approx(power_mean(mde_mean(sd, n), sd, n), abs=0.03)


def test_n_to_settle() -> None:
    assert n_to_settle(100, 0.2, 0.1) == 400
    assert n_to_settle(1000, 0.03, 0.02) == 2250
    assert n_to_settle(100, 0.1, 0.3) == 12  # 100 / 9 = 11.1
    assert n_to_settle(100, 0.1, 0.0) is None
    assert n_to_settle(100, 0.1, -0.5) is None
    assert n_to_settle(100, 0.1, math.nan) is None
    assert n_to_settle(100, 0.1, math.inf) is None


# ---------------------------------------------------------------- multiple testing


def test_holm_hand_computed() -> None:
    # Sorted: 0.005, 0.01, 0.03, 0.04 (m=4). Multipliers m, m-1, ...: 0.02, 0.03, 0.06, 0.04;
    # running maximum: 0.02, 0.03, 0.06, 0.06. Back in input order [0.01, 0.04, 0.03, 0.005]:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Clipping at 1: sorted 0.2, 0.3, 0.5 -> 0.6, 0.6, 0.5 -> running max 0.6, 0.6, 0.6.
    assert holm([0.5, 0.2, 0.3]) == pytest.approx([0.6, 0.6, 0.6])
    assert holm([0.4, 0.6]) == pytest.approx([0.8, 0.8])
    assert holm([0.6, 0.9]) == pytest.approx([1.0, 1.0])


def test_benjamini_hochberg_hand_computed() -> None:
    # Sorted: 0.005, 0.01, 0.03, 0.04 (m=4). p * m / rank: 0.02, 0.02, 0.04, 0.04;
    # running minimum from the largest rank down keeps them. In input order:
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # Monotonicity: sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.04, 0.04, 0.5 (0.02*4/2 = 0.04,
    # 0.03*4/3 = 0.04), and 0.01*4/1 = 0.04.
    assert benjamini_hochberg([0.5, 0.03, 0.02, 0.01]) == pytest.approx([0.5, 0.04, 0.04, 0.04])
    # Step-up: sorted 0.02, 0.045 -> 0.04, 0.045; a later small value pulls earlier ones down:
    # sorted 0.04, 0.041, 0.042 -> 0.12, 0.0615, 0.042 -> running min 0.042, 0.042, 0.042.
    assert benjamini_hochberg([0.045, 0.02]) == pytest.approx([0.045, 0.04])
    assert benjamini_hochberg([0.042, 0.04, 0.041]) == pytest.approx([0.042, 0.042, 0.042])


def test_adjustments_edge_cases() -> None:
    assert holm([]).shape == (0,)
    assert benjamini_hochberg([]).shape == (0,)
    assert holm([0.03]) == pytest.approx([0.03])
    out = holm([0.01, np.nan, 0.02])  # NaN is left alone and not counted: m = 2
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)
    with pytest.raises(ValueError):
        holm([0.1, 1.2])


def test_adjustments_properties() -> None:
    p = np.random.default_rng(2).uniform(size=30) ** 2
    for adjusted in (holm(p), benjamini_hochberg(p)):
        assert np.all(adjusted >= p) and np.all(adjusted <= 1)
        order = np.argsort(p)
        assert np.all(np.diff(adjusted[order]) >= 0)  # monotone in the raw p-values
    assert np.all(benjamini_hochberg(p) <= holm(p) + 1e-15)


# ---------------------------------------------------------------- stable_fraction


def test_stable_fraction_pinned_values() -> None:
    # Computed once; must never change (canary assignment would move between releases).
    assert stable_fraction("user-42") == 0.41635931317349134
    assert stable_fraction("user-42", salt="canary-2026") == 0.9126781190406922
    expected = int(hashlib.sha256(b"canary-2026:user-42").hexdigest()[:16], 16) / 2**64
    assert stable_fraction("user-42", "canary-2026") == expected


def test_stable_fraction_uniform() -> None:
    values = np.array([stable_fraction(f"user-{i}", "exp") for i in range(10_000)])
    assert values.min() >= 0.0 and values.max() < 1.0
    assert st.kstest(values, "uniform").pvalue > 0.001
    counts = np.histogram(values, bins=10, range=(0, 1))[0]
    assert counts.min() > 900 and counts.max() < 1100
    # A different salt reshuffles the assignment.
    other = np.array([stable_fraction(f"user-{i}", "exp2") for i in range(1000)])
    assert abs(np.corrcoef(values[:1000], other)[0, 1]) < 0.1


def test_vectorized_quantile_bootstrap_agrees_with_the_generic_one() -> None:
    from harness.stats import bootstrap, bootstrap_quantile, bootstrap_quantile_ratio

    rng = np.random.default_rng(3)
    prod = rng.lognormal(5.5, 0.6, 3000)
    cand = prod * 1.5 * rng.lognormal(0, 0.05, 3000)
    users = rng.integers(0, 400, 3000).astype(str)
    for q in (0.5, 0.95, 0.99):  # the same random stream: the same replicates, exactly
        fast = bootstrap_quantile(prod, q, users, n_boot=1000, seed=1)
        slow = bootstrap(lambda d, q=q: float(np.quantile(d, q, method="inverted_cdf")), prod, users, n_boot=1000,
                         seed=1)
        assert (fast.estimate, fast.low, fast.high) == (slow.estimate, slow.low, slow.high)
    unclustered = bootstrap_quantile(prod, 0.99, n_boot=500, seed=4)
    generic = bootstrap(lambda d: float(np.quantile(d, 0.99, method="inverted_cdf")), prod, n_boot=500, seed=4)
    assert (unclustered.low, unclustered.high) == (generic.low, generic.high)
    ratio = bootstrap_quantile_ratio(cand, prod, 0.95, users, n_boot=1000)
    assert ratio.low < 1.5 < ratio.high and ratio.high - ratio.low < 0.2
    assert bootstrap_quantile(np.array([7.0, 7.0, 7.0]), 0.5).halfwidth == 0.0
