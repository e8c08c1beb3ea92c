"""Power and minimum detectable effects: what a comparison of this size could have found."""

from __future__ import annotations

import math

from scipy import special as _special
from scipy import stats as _st


def _z_alpha(alpha: float, two_sided: bool) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return float(_st.norm.ppf(1 - alpha / 2 if two_sided else 1 - alpha))


def mde_mean(sd: float, n: int, *, alpha: float = 0.05, power: float = 0.8, two_sided: bool = True) -> float:
    """Minimum detectable mean paired difference: (z_alpha + z_power) * sd / sqrt(n); inf for n < 2."""
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    z = _z_alpha(alpha, two_sided) + float(_st.norm.ppf(power))
    if n < 2:
        return math.inf
    return z * sd / math.sqrt(n)


def mde_two_proportions(
    p: float, n1: int, n2: int, *, alpha: float = 0.05, power: float = 0.8, two_sided: bool = True
) -> float:
    """Smallest detectable difference between two independent proportions near baseline ``p``.

    (z_alpha + z_power) * sqrt(p(1-p)(1/n1 + 1/n2)), p clipped to [0.001, 0.999]; inf if n1 or n2 < 1.
    """
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    z = _z_alpha(alpha, two_sided) + float(_st.norm.ppf(power))
    if n1 < 1 or n2 < 1:
        return math.inf
    q = min(max(float(p), 0.001), 0.999)
    return z * math.sqrt(q * (1 - q) * (1 / n1 + 1 / n2))


def detectable_increase(p0: float, n: int, *, alpha: float = 0.05, power: float = 0.8, two_sided: bool = True) -> float:
    """Smallest rise of a rate above its baseline ``p0`` that ``n`` observations detect with ``power``.

    Exact binomial test against ``p0`` (one-sided at alpha/2 when two_sided): the critical count c is
    the least with P(X >= c | p0) <= alpha, and the answer is the p1 with P(X >= c | p1) = power, minus
    p0. Honest at 0 events and small n (no normal approximation, no clipping); inf for n < 1 or when
    no rate could be told apart.
    """
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    _z_alpha(alpha, two_sided)  # validates alpha
    a = alpha / 2 if two_sided else alpha
    if n < 1:
        return math.inf
    p0 = min(max(float(p0), 0.0), 1.0)
    k = int(min(max(_st.binom.isf(a, n, p0), 0), n))
    while k > 0 and _st.binom.sf(k - 1, n, p0) <= a:
        k -= 1
    while k <= n and _st.binom.sf(k, n, p0) > a:
        k += 1
    critical = k + 1  # reject when X >= critical
    if critical > n:
        return math.inf
    p1 = float(_special.betaincinv(critical, n - critical + 1, power))  # P(X >= c | p) = I_p(c, n - c + 1)
    return max(p1 - p0, 0.0)


def power_mean(effect: float, sd: float, n: int, *, alpha: float = 0.05, two_sided: bool = True) -> float:
    """Power of the z-test to find ``effect`` significant in its own direction (inverse of mde_mean).

    The opposite tail is ignored, so power_mean(mde_mean(sd, n), sd, n) == 0.8; 0.0 for n < 2.
    """
    z_a = _z_alpha(alpha, two_sided)
    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0 if effect != 0 else float(_st.norm.sf(z_a))
    return float(_st.norm.cdf(abs(effect) * math.sqrt(n) / sd - z_a))


def n_to_settle(n: int, halfwidth: float, distance: float) -> int | None:
    """Observations needed for an interval of ``halfwidth`` at ``n`` to shrink below ``distance``.

    Assumes halfwidth ~ 1/sqrt(n): ceil(n * (halfwidth / distance)**2); None if it cannot be said.
    """
    if not (math.isfinite(distance) and distance > 0 and math.isfinite(halfwidth)):
        return None
    # round() first so that float noise (e.g. 400.00000000000006) does not add one.
    return math.ceil(round(n * (halfwidth / distance) ** 2, 9))
