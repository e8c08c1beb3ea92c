"""`make validate`: anytime-valid gates on simulated paired runs, with a look after every wave.

Each run replays users in a random order (a user's requests together, so a user is complete
when counted) in equal waves, and after each wave evaluates the checks with harness.anytime.
Prints:
  * A/A: how often any critical check fails at some look although nothing changed, for the
    confidence sequences and for a fixed-sample 95% interval (normal, cluster-robust standard
    error: what the gates' cluster bootstrap approximates) looked at after every wave; against
    "no difference" (margin 0) and with the default checks' margins;
  * planted regressions of several sizes: how often the sequential check fails, the median share
    of the dataset read when it did, and the fixed-sample check's detection on the full dataset.
Exits 1 when the sequential A/A false-fail rate exceeds alpha.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import stats
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


@dataclass(frozen=True)
class Effects:
    """What differs in the candidate; all defaults: an A/A run."""

    error_add: float = 0.0
    quality_drop: float = 0.0
    cost_factor: float = 1.0
    tail_share: float = 0.0
    tail_factor: float = 1.0


@dataclass(frozen=True)
class Run:
    """One simulated paired run: per-request columns in replay order, and the user of each request."""

    users: np.ndarray
    columns: dict[str, np.ndarray]
    looks: np.ndarray


def simulate(n_requests: int, waves: int, seed: int, effects: Effects = Effects(), *, by_user: bool = True) -> Run:
    """Users with 1-7 requests and their own latency and quality level; per request a difficulty
    that moves latency and cost on both arms; effects planted on the candidate only."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 8, n_requests)
    users = np.repeat(np.arange(n_requests), sizes)[:n_requests]
    n_users = users[-1] + 1
    order = np.argsort(rng.permutation(n_users)[users], kind="stable") if by_user else rng.permutation(n_requests)
    users = users[order]
    latency_level, quality_level = rng.normal(0, 0.25, n_users)[users], rng.normal(0, 0.04, n_users)[users]
    difficulty = rng.normal(0, 0.3, n_requests)
    base_quality = np.clip(0.8 + quality_level + rng.normal(0, 0.1, n_requests), 0, 1)
    columns: dict[str, np.ndarray] = {}
    for arm in ("prod", "candidate"):
        cand = arm == "candidate"
        latency = np.exp(6.0 + latency_level + difficulty + rng.normal(0, 0.35, n_requests))
        if cand:
            latency = np.where(rng.random(n_requests) < effects.tail_share, latency * effects.tail_factor, latency)
        columns[f"latency_{arm}"] = latency
        columns[f"error_{arm}"] = (rng.random(n_requests) < 0.02 + effects.error_add * cand).astype(float)
        columns[f"cost_{arm}"] = (effects.cost_factor if cand else 1.0) * 0.002 * np.exp(
            0.5 * difficulty + rng.normal(0, 0.1, n_requests))
        columns[f"quality_{arm}"] = np.clip(base_quality + rng.normal(0, 0.05, n_requests)
                                            - effects.quality_drop * cand, 0, 1)
    looks = np.linspace(0, n_requests, waves + 1).round().astype(int)[1:]
    return Run(users.astype(str), columns, looks)


@dataclass(frozen=True)
class Check:
    """A default gate check: how to get its anytime intervals and, where it is a mean, the
    per-request values for the fixed-sample comparison."""

    name: str
    severity: str
    null: float
    margin: float
    worse: str
    sequence: Callable[[Run], list[AnytimeInterval]]
    values: Callable[[Run], np.ndarray] | None = None


def _seq(cs: Callable[..., AnytimeInterval], *names: str, **options: float) -> Callable[[Run], list[AnytimeInterval]]:
    def intervals(run: Run) -> list[AnytimeInterval]:
        columns = [run.columns[n] for n in names]
        extra = list(options.values())
        return at_looks(cs, run.looks, *columns, *extra, run.users, alpha=ALPHA)
    return intervals


CHECKS = {c.name: c for c in (
    Check("error_rate", "critical", 0.05, 0.0, "higher", _seq(cs_rate, "error_candidate")),
    Check("quality", "critical", 0.7, 0.0, "lower", _seq(cs_mean_bounded, "quality_candidate", lo=0.0, hi=1.0)),
    Check("latency_p99", "critical", 10_000.0, 0.0, "higher", _seq(cs_quantile, "latency_candidate", q=0.99)),
    Check("error_rate_diff", "critical", 0.0, 0.02, "higher", _seq(cs_rate_diff, "error_candidate", "error_prod"),
          lambda r: r.columns["error_candidate"] - r.columns["error_prod"]),
    Check("quality_delta", "critical", 0.0, 0.05, "lower",
          _seq(cs_paired_diff, "quality_candidate", "quality_prod", lo=0.0, hi=1.0),
          lambda r: r.columns["quality_candidate"] - r.columns["quality_prod"]),
    Check("cost", "warning", 1.0, 0.2, "higher", _seq(cs_ratio_of_means, "cost_candidate", "cost_prod")),
    Check("latency_p99_ratio", "warning", 1.0, 0.5, "higher",
          _seq(cs_quantile_ratio, "latency_candidate", "latency_prod", q=0.99)),
)}  # fmt: skip


def first_decision(statuses: list[str], wanted: str) -> int | None:
    return next((i for i, s in enumerate(statuses) if s == wanted), None)


def fixed_sample_statuses(run: Run, values: np.ndarray, null: float, margin: float, worse: str) -> list[str]:
    """A fixed-sample 95% interval of the mean after each look (cluster-robust normal), with the gates' rule."""
    codes = np.unique(run.users, return_inverse=True)[1]
    out = []
    for look in run.looks:
        x, g = values[:look], codes[:look]
        sums, sizes = np.bincount(g, weights=x), np.bincount(g).astype(float)
        keep = sizes > 0
        sums, sizes = sums[keep], sizes[keep]
        mean = sums.sum() / sizes.sum()
        k = len(sums)
        se = np.sqrt(((sums - mean * sizes) ** 2).sum() * k / max(k - 1, 1)) / sizes.sum()
        half = norm.ppf(1 - ALPHA / 2) * se
        out.append(sequential_status(AnytimeInterval(mean, mean - half, mean + half, k, 1 - ALPHA), null, margin,
                                     worse))
    return out


def aa(seeds: range, n: int, waves: int) -> bool:
    print(f"A/A: {len(seeds)} runs of {n:,} requests, a look after each of {waves} waves, alpha {ALPHA}")
    critical = [c for c in CHECKS.values() if c.severity == "critical"]
    relative = [c for c in critical if c.values is not None]
    seq_fail = fixed_fail = fixed_fail_end = 0
    zero = {c.name: [0, 0] for c in relative}  # runs excluding "no difference": fixed-sample peeked, sequence
    passed_at: list[float] = []
    check_passed: dict[str, list[float]] = {c.name: [] for c in critical}
    for seed in seeds:
        run = simulate(n, waves, seed)
        intervals = {check.name: check.sequence(run) for check in critical}
        decided = []
        failed = False
        for check in critical:
            statuses = [sequential_status(iv, check.null, check.margin, check.worse)
                        for iv in intervals[check.name]]
            failed |= "fail" in statuses
            first = first_decision(statuses, "pass")
            decided.append(len(statuses) if first is None else first + 1)
            check_passed[check.name].append(1.0 if first is None else (first + 1) / waves)
        seq_fail += failed
        passed_at.append(max(decided) / waves)
        margin_fixed = margin_fixed_end = False
        for check in relative:
            values = check.values(run)
            zero[check.name][0] += any("fail" in fixed_sample_statuses(run, values, 0.0, 0.0, w)
                                       for w in ("higher", "lower"))
            zero[check.name][1] += any(sequential_status(iv, 0.0, 0.0, w) == "fail"
                                       for iv in intervals[check.name] for w in ("higher", "lower"))
            with_margin = fixed_sample_statuses(run, values, check.null, check.margin, check.worse)
            margin_fixed |= "fail" in with_margin
            margin_fixed_end |= with_margin[-1] == "fail"
        fixed_fail += margin_fixed
        fixed_fail_end += margin_fixed_end
    runs = len(seeds)
    ok = seq_fail / runs <= ALPHA
    print("  against no difference (margin 0), the two-sided 95% interval excluding 0 at any look:")
    for name, (fixed, sequence) in zero.items():
        print(f"    {name:16s} fixed-sample interval peeked after every wave {fixed / runs:6.1%},"
              f" confidence sequence {sequence / runs:6.1%}")
    print(f"  with the default checks' margins, any critical check failing at any look:\n"
          f"    fixed-sample interval, one look at the end     {fixed_fail_end / runs:6.1%}  (relative checks)\n"
          f"    fixed-sample interval peeked after every wave  {fixed_fail / runs:6.1%}  (relative checks)\n"
          f"    confidence sequence                            {seq_fail / runs:6.1%}  (all five)"
          f"  {'ok' if ok else 'TOO HIGH'} (<= {ALPHA:.0%})")
    print(f"  every critical check passed before the end in {np.mean(np.array(passed_at) < 1):.0%} of runs,"
          f" after a median {np.median(passed_at):.0%} of the requests; per check, the median share read to pass:")
    print("    " + ", ".join(f"{name} {np.median(shares):.0%}" for name, shares in check_passed.items()))
    return ok


PLANTED = (
    ("error_rate_diff", "error rate +{:.0f} pts", "error_add", 100, (0.02, 0.04, 0.06, 0.10)),
    ("quality_delta", "quality -{:.2f}", "quality_drop", 1, (0.05, 0.07, 0.10, 0.15)),
    ("cost", "cost x{:.1f}", "cost_factor", 1, (1.2, 1.3, 1.5, 2.0)),
    ("latency_p99_ratio", "10% of calls x{:.0f} slower", "tail_factor", 1, (2.0, 4.0, 8.0)),
)


def fixed_full(check: Check, run: Run) -> str:
    """The fixed-sample gate on the whole dataset (the gates' own bootstrap intervals)."""
    c = run.columns
    if check.name == "cost":
        iv = stats.bootstrap_ratio_of_means(c["cost_candidate"], c["cost_prod"], run.users, n_boot=1000)
    elif check.name == "latency_p99_ratio":
        iv = stats.bootstrap_quantile_ratio(c["latency_candidate"], c["latency_prod"], 0.99, run.users, n_boot=1000)
    else:
        iv = stats.bootstrap_mean(check.values(run), run.users, n_boot=1000)
    return sequential_status(AnytimeInterval(iv.estimate, iv.low, iv.high, 0, iv.level), check.null, check.margin,
                             check.worse)


def planted(seeds: range, n: int, waves: int, by_user: bool = True, only: tuple[str, ...] = ()) -> None:
    order = "users in random order" if by_user else "requests in random order, so users straddle looks"
    print(f"\nplanted regressions: {len(seeds)} runs of {n:,} requests each, {waves} waves, {order}")
    print(f"  {'check':18s} {'effect':28s} {'sequential fail':>15s} {'median share read':>18s} {'fixed-sample, all':>18s}")
    for name, label, field, scale, sizes in PLANTED:
        if only and name not in only:
            continue
        check = CHECKS[name]
        for size in sizes:
            effects = Effects(tail_share=0.10) if field == "tail_factor" else Effects()
            effects = replace(effects, **{field: size})
            hits, shares, fixed_hits = 0, [], 0
            for seed in seeds:
                run = simulate(n, waves, seed, effects, by_user=by_user)
                statuses = [sequential_status(iv, check.null, check.margin, check.worse)
                            for iv in check.sequence(run)]
                first = first_decision(statuses, "fail")
                if first is not None:
                    hits += 1
                    shares.append(run.looks[first] / n)
                fixed_hits += fixed_full(check, run) == "fail"
            median = f"{np.median(shares):.0%}" if shares else "-"
            print(f"  {name:18s} {label.format(size * scale):28s} {hits / len(seeds):15.2f} {median:>18s}"
                  f" {fixed_hits / len(seeds):18.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=200, help="A/A runs (planted: half as many per effect)")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--waves", type=int, default=30)
    args = parser.parse_args()
    ok = aa(range(5000, 5000 + args.seeds), args.requests, args.waves)
    planted(range(7000, 7000 + args.seeds // 2), args.requests, args.waves)
    planted(range(7000, 7000 + args.seeds // 4), args.requests, args.waves, by_user=False,
            only=("error_rate_diff", "quality_delta"))
    print("\nsequential A/A false-fail rate within alpha" if ok else "\nSEQUENTIAL A/A FALSE-FAIL RATE ABOVE ALPHA")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
