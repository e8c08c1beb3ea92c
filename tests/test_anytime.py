"""Anytime-valid intervals: time-uniform coverage by simulation (looks at every step, clustered
data too), shrinking with n, the looks helper, the pass/fail rule and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from harness import anytime
from harness.anytime import (
    AnytimeInterval,
    at_looks,
    cs_mean_bounded,
    cs_paired_diff,
    cs_quantile,
    cs_quantile_ratio,
    cs_rate,
    cs_rate_diff,
    cs_ratio_of_means,
    sequential_status,
)

ALPHA = 0.05


def _clustered(rng: np.random.Generator, n_users: int) -> np.ndarray:
    """User labels in cluster-major order (a user's requests together), 1 to 8 requests each."""
    sizes = rng.integers(1, 9, n_users)
    return np.repeat(np.arange(n_users), sizes)


def _missed(intervals: list[AnytimeInterval], truth: float) -> bool:
    return any(not iv.low <= truth <= iv.high for iv in intervals)


def _miss_rate(draw, cs, truth: float, reps: int, seed: int, **options) -> float:
    """Share of simulated runs in which the sequence misses `truth` at any look (a look after every row)."""
    rng = np.random.default_rng(seed)
    misses = 0
    for _ in range(reps):
        args = draw(rng)
        n = len(args[0])
        misses += _missed(at_looks(cs, range(1, n + 1), *args, **options), truth)
    return misses / reps


# ---------------------------------------------------------------- time-uniform coverage


def test_a_fixed_sample_interval_peeked_at_every_step_misses_far_more_than_alpha():
    """The control that shows the simulation can see a broken construction: a 95% normal interval
    looked at after every one of 400 rows misses the true mean in well over 5% of runs."""
    rng = np.random.default_rng(1)
    misses = 0
    for _ in range(300):
        x = rng.beta(2, 5, 400)
        n = np.arange(1, 401)
        mean = np.cumsum(x) / n
        sd = np.sqrt(np.maximum(np.cumsum(x**2) / n - mean**2, 0) * n / np.maximum(n - 1, 1))
        half = norm.ppf(1 - ALPHA / 2) * sd / np.sqrt(n)
        misses += bool(np.any(np.abs(mean[1:] - 2 / 7) > half[1:]))
    assert misses / 300 > 3 * ALPHA


def test_bounded_mean_covers_at_every_look():
    rate = _miss_rate(lambda rng: (rng.beta(2, 5, 400),), cs_mean_bounded, 2 / 7, 300, 2, lo=0, hi=1)
    assert rate <= ALPHA


def test_paired_quality_difference_covers_with_clustered_users():
    """A user effect shared by the requests of a user (different for the two arms) makes rows
    dependent; the clustered sequence still covers the true difference 0 at every look."""
    def draw(rng):
        users = _clustered(rng, 120)
        shift = rng.normal(0, 0.15, 120)[users]
        a = np.clip(0.7 + shift + rng.normal(0, 0.05, len(users)), 0, 1)
        b = np.clip(0.7 - shift + rng.normal(0, 0.05, len(users)), 0, 1)
        return a, b, 0, 1, users

    assert _miss_rate(draw, cs_paired_diff, 0.0, 300, 3) <= ALPHA


def test_row_level_sequence_on_clustered_data_is_what_the_clusters_protect_against():
    """The same dependent data treated as independent rows misses far more often: clustering matters."""
    def draw(rng):
        users = _clustered(rng, 120)
        shift = rng.normal(0, 0.15, 120)[users]
        a = np.clip(0.7 + shift + rng.normal(0, 0.05, len(users)), 0, 1)
        b = np.clip(0.7 - shift + rng.normal(0, 0.05, len(users)), 0, 1)
        return a, b, 0, 1

    assert _miss_rate(draw, cs_paired_diff, 0.0, 100, 3) > 2 * ALPHA


def test_rate_difference_covers_for_rare_paired_errors_with_clusters():
    def draw(rng):
        users = _clustered(rng, 150)
        prone = rng.random(150)[users] < 0.2  # some users' requests fail more, on both arms
        p = np.where(prone, 0.10, 0.01)
        return (rng.random(len(users)) < p + 0.02).astype(float), (rng.random(len(users)) < p).astype(float), users

    # the target is the average over users of their rate difference: 0.02 for every user
    assert _miss_rate(draw, cs_rate_diff, 0.02, 300, 4) <= ALPHA


def test_rate_covers_at_every_look():
    rate = _miss_rate(lambda rng: ((rng.random(500) < 0.03).astype(float),), cs_rate, 0.03, 300, 5)
    assert rate <= ALPHA


def test_ratio_of_means_covers_paired_skewed_costs_with_clusters():
    def draw(rng):
        users = _clustered(rng, 150)
        difficulty = rng.normal(0, 0.8, len(users)) + rng.normal(0, 0.3, 150)[users]
        prod = np.exp(difficulty + rng.normal(0, 0.3, len(users)))
        candidate = 1.2 * np.exp(difficulty + rng.normal(0, 0.3, len(users)))
        return candidate, prod, users

    assert _miss_rate(draw, cs_ratio_of_means, 1.2, 300, 6) <= ALPHA


def test_quantile_covers_the_median_and_p90_at_every_look():
    assert _miss_rate(lambda rng: (rng.exponential(1, 300),), cs_quantile, math.log(2), 150, 7, q=0.5) <= ALPHA
    assert _miss_rate(lambda rng: (rng.exponential(1, 300),), cs_quantile, math.log(10), 150, 8, q=0.9) <= ALPHA


def test_quantile_ratio_covers_with_clustered_latencies():
    """Each user has their own latency level; the target is the quantile of the mixture in which
    every user weighs the same (lognormal with sd sqrt(0.5^2 + 0.4^2)), the same for both arms here
    except a factor 1.5 on the candidate."""
    def draw(rng):
        users = _clustered(rng, 80)
        level = rng.normal(0, 0.5, 80)[users]
        prod = np.exp(6 + level + rng.normal(0, 0.4, len(users)))
        candidate = 1.5 * np.exp(6 + level + rng.normal(0, 0.4, len(users)))
        return candidate, prod, 0.75, users

    assert _miss_rate(draw, cs_quantile_ratio, 1.5, 120, 9) <= ALPHA


# ---------------------------------------------------------------- shape


@pytest.mark.parametrize("cs, make", [
    (cs_mean_bounded, lambda rng, n: (rng.random(n), 0, 1)),
    (cs_rate_diff, lambda rng, n: ((rng.random(n) < 0.1) * 1.0, (rng.random(n) < 0.05) * 1.0)),
    (cs_ratio_of_means, lambda rng, n: (rng.lognormal(0, 0.5, n), rng.lognormal(0, 0.5, n))),
    (cs_quantile_ratio, lambda rng, n: (rng.lognormal(0, 0.5, n), rng.lognormal(0, 0.5, n), 0.5)),
])  # fmt: skip
def test_intervals_shrink_as_data_arrives(cs, make):
    args = make(np.random.default_rng(10), 6400)
    widths = [iv.high - iv.low for iv in at_looks(cs, [100, 400, 1600, 6400], *args)]
    assert all(math.isfinite(w) for w in widths)
    assert widths[0] > widths[1] > widths[2] > widths[3]
    assert widths[3] < widths[0] / 4  # about 1/sqrt(n), slowed a little by the log factor


def test_at_looks_equals_single_calls_on_complete_prefixes():
    rng = np.random.default_rng(11)
    users = np.repeat(np.arange(50), 4)
    a, b = rng.random(200), rng.random(200)
    looks = [40, 120, 200]  # every user's 4 requests fall within one of these prefixes
    together = at_looks(cs_paired_diff, looks, a, b, 0, 1, users, alpha=0.1)
    one_by_one = [cs_paired_diff(a[:k], b[:k], 0, 1, users[:k], alpha=0.1) for k in looks]
    assert together == one_by_one
    assert [iv.n for iv in together] == [10, 30, 50]
    quantiles = at_looks(cs_quantile, looks, a, 0.5, users)
    assert quantiles == [cs_quantile(a[:k], 0.5, users[:k]) for k in looks]


def test_a_cluster_counts_only_once_its_last_request_is_in():
    users = np.array(["u1", "u2", "u1", "u3", "u2", "u3"])
    x = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    counted = [iv.n for iv in at_looks(cs_rate, range(7), x, users)]
    assert counted == [0, 0, 0, 1, 1, 2, 3]
    assert at_looks(cs_rate, [0], x, users)[0].low == 0.0 and at_looks(cs_rate, [0], x, users)[0].high == 1.0


def test_clustered_units_weigh_each_user_the_same():
    users = np.array(["a"] * 9 + ["b"])
    scores = np.array([1.0] * 9 + [0.0])
    assert cs_mean_bounded(scores, 0, 1, users).estimate == pytest.approx(0.5)
    assert cs_mean_bounded(scores, 0, 1).estimate == pytest.approx(0.9)


def test_ratio_and_quantile_ratio_estimates_are_the_plain_ratios():
    rng = np.random.default_rng(12)
    a, b = rng.lognormal(0, 0.5, 3000), rng.lognormal(0, 0.5, 3000)
    assert cs_ratio_of_means(a, b).estimate == pytest.approx(a.mean() / b.mean())
    expected = np.quantile(a, 0.95, method="inverted_cdf") / np.quantile(b, 0.95, method="inverted_cdf")
    assert cs_quantile_ratio(a, b, 0.95).estimate == pytest.approx(expected)


def test_a_tail_quantile_bound_stays_infinite_until_enough_data_lies_beyond_it():
    rng = np.random.default_rng(13)
    x = rng.exponential(1, 3000)
    early, late = at_looks(cs_quantile, [100, 3000], x, 0.99)
    assert early.high == math.inf and math.isfinite(early.low)
    assert math.isfinite(late.high) and late.low <= math.log(100) <= late.high
    ratio = cs_quantile_ratio(x[:100], x[:100], 0.99)
    assert ratio.low == 0.0 and ratio.high == math.inf
    assert sequential_status(ratio, 1.0, 0.5) == "undecided"


# ---------------------------------------------------------------- edge cases


def test_all_zeros_give_a_rate_near_zero():
    interval = cs_rate(np.zeros(2000))
    assert interval.estimate == 0.0 and interval.low == 0.0
    assert 0.0 < interval.high < 0.01
    diff = cs_rate_diff(np.zeros(2000), np.zeros(2000))
    assert diff.estimate == 0.0 and diff.low < 0.0 < diff.high < 0.01


def test_one_row_gives_a_valid_but_uninformative_interval():
    for interval in (cs_mean_bounded([0.3], 0, 1), cs_rate([1.0]), cs_paired_diff([0.9], [0.1], 0, 1)):
        assert interval.n == 1 and interval.low <= interval.estimate <= interval.high
        assert interval.high - interval.low > 0.5
    assert cs_ratio_of_means([1.0], [2.0]) == AnytimeInterval(0.5, 0.0, math.inf, 1, 0.95)
    q = cs_quantile([5.0], 0.5)
    assert q.estimate == 5.0 and q.low == -math.inf and q.high == math.inf


def test_constant_values_give_a_tight_interval_around_the_constant():
    interval = cs_mean_bounded(np.full(5000, 0.8), 0, 1)
    assert interval.estimate == pytest.approx(0.8)
    assert interval.low < 0.8 < interval.high and interval.high - interval.low < 0.01
    ratio = cs_ratio_of_means(np.full(500, 3.0), np.full(500, 2.0))
    assert ratio.estimate == pytest.approx(1.5) and ratio.low == pytest.approx(1.5) and ratio.high == pytest.approx(1.5)
    quantile = cs_quantile(np.full(500, 7.0), 0.9)
    assert quantile.low == quantile.estimate == quantile.high == 7.0


def test_ties_are_handled_by_the_quantile_sequence():
    rng = np.random.default_rng(14)
    x = rng.integers(0, 3, 3000).astype(float)  # P(x <= 1) = 2/3: the median is 1
    interval = cs_quantile(x, 0.5)
    assert interval.low == interval.estimate == interval.high == 1.0


@pytest.mark.parametrize("call, message", [
    (lambda: cs_mean_bounded([0.1, math.nan, 0.3], 0, 1), r"x\[1\] is nan"),
    (lambda: cs_paired_diff([0.1, 0.2], [0.1, math.inf], 0, 1), r"b\[1\] is inf"),
    (lambda: cs_rate([0.0, 2.0]), r"x\[1\] = 2.0 is outside \[0.0, 1.0\]"),
    (lambda: cs_ratio_of_means([1.0, -1.0], [1.0, 1.0]), r"a\[1\] = -1.0 is outside"),
    (lambda: cs_rate_diff([1.0, 0.0], [1.0]), r"b has shape \(1,\), expected \(2,\)"),
    (lambda: cs_rate([1.0, 0.0], ["u1"]), r"clusters has shape \(1,\), expected \(2,\)"),
    (lambda: cs_rate([]), "no rows"),
    (lambda: cs_mean_bounded([0.5], 1, 0), "need lo < hi"),
    (lambda: cs_quantile([1.0], 1.5), "q must be in"),
    (lambda: cs_rate([1.0], alpha=0.0), "alpha must be in"),
    (lambda: at_looks(cs_rate, [3], [1.0, 0.0]), "looks must be row counts between 0 and 2"),
    (lambda: at_looks(np.mean, [1], [1.0]), "not a confidence sequence"),
    (lambda: sequential_status(cs_rate([1.0]), 0, 0, worse="bigger"), "worse must be"),
])  # fmt: skip
def test_bad_input_is_rejected_with_where_it_was(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------- decisions


def _interval(low: float, high: float) -> AnytimeInterval:
    return AnytimeInterval((low + high) / 2, low, high, 100, 0.95)


@pytest.mark.parametrize("low, high, null, margin, worse, status", [
    (0.03, 0.05, 0.0, 0.02, "higher", "fail"),      # error rate diff: all of it more than 2 points worse
    (-0.01, 0.015, 0.0, 0.02, "higher", "pass"),    # all of it within the margin
    (0.01, 0.03, 0.0, 0.02, "higher", "undecided"),
    (-0.09, -0.06, 0.0, 0.05, "lower", "fail"),     # quality diff: all of it more than 0.05 lower
    (-0.04, 0.02, 0.0, 0.05, "lower", "pass"),
    (1.25, 1.4, 1.0, 0.2, "higher", "fail"),        # cost ratio beyond 1.2
    (0.9, 1.2, 1.0, 0.2, "higher", "pass"),         # the margin itself passes, as in the fixed-sample gates
    (0.9, math.inf, 1.0, 0.5, "higher", "undecided"),
    (math.nan, math.nan, 0.0, 0.02, "higher", "undecided"),
])  # fmt: skip
def test_sequential_status_uses_the_fixed_sample_rule(low, high, null, margin, worse, status):
    assert sequential_status(_interval(low, high), null, margin, worse) == status


def test_a_planted_regression_is_decided_before_the_end_and_an_aa_run_passes():
    rng = np.random.default_rng(15)
    n = 6000
    prod = (rng.random(n) < 0.02).astype(float)
    worse = (rng.random(n) < 0.10).astype(float)
    looks = range(200, n + 1, 200)
    statuses = [sequential_status(iv, 0.0, 0.02) for iv in at_looks(cs_rate_diff, looks, worse, prod)]
    assert "fail" in statuses and statuses.index("fail") < len(statuses) // 2
    assert "pass" not in statuses
    same = (rng.random(n) < 0.02).astype(float)
    statuses = [sequential_status(iv, 0.0, 0.02) for iv in at_looks(cs_rate_diff, looks, same, prod)]
    assert "pass" in statuses and "fail" not in statuses


def test_the_quantile_thresholds_are_computed_once_per_setting(monkeypatch):
    computed: list[int] = []
    compute = anytime._thresholds
    monkeypatch.setattr(anytime, "_thresholds", lambda t, *rest: computed.append(len(t)) or compute(t, *rest))
    x = np.random.default_rng(16).random(500)
    first = at_looks(cs_quantile, range(1, 501), x, 0.9, alpha=0.07)
    again = cs_quantile(x[:300], 0.9, alpha=0.07)
    assert computed == [500] and again == first[299]
