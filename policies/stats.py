"""The statistics of an experiment's results: Wilson intervals, the pooled two-proportion
z-test, the sample size a difference needs, and percentiles. Pure functions on counts, so
they are tested against published values; scipy does the distributions."""

import importlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

ALPHA = 0.05
POWER = 0.8
# The smallest difference in approval rate worth detecting: 5 points.
DETECTABLE_DIFFERENCE = 0.05


def _stats() -> ModuleType:
    # Imported on first use: scipy.stats costs every process that imports this module (the
    # admin's, so every API and worker process) about 75 MB resident, for figures that
    # only the admin's pages and experiment results compute.
    return importlib.import_module("scipy.stats")


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True)
class ZTest:
    z: float
    p_value: float


def wilson_interval(successes: int, trials: int, confidence: float = 1 - ALPHA) -> Interval | None:
    """The Wilson score interval of a proportion (Newcombe 1998, method 3); None without trials.

    Wilson rather than the normal approximation because review counts are small and rates
    near 0 or 1, where the plain interval leaves [0, 1] or collapses to a point.
    """
    if trials <= 0:
        return None
    ci = _stats().binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return Interval(low=float(ci.low), high=float(ci.high))


def two_proportion_z_test(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> ZTest | None:
    """Pooled two-sided z-test of p_b = p_a; None when a side has no trials or the pooled
    rate is 0 or 1 (no variance: every review went the same way on both sides)."""
    if trials_a <= 0 or trials_b <= 0:
        return None
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return None
    z = (successes_b / trials_b - successes_a / trials_a) / math.sqrt(variance)
    return ZTest(z=z, p_value=float(2 * _stats().norm.sf(abs(z))))


def sample_size_two_proportions(p1: float, p2: float, alpha: float = ALPHA, power: float = POWER) -> int:
    """Trials per group to detect p1 vs p2 with a two-sided test (Fleiss, Levin & Paik 2003,
    eq. 4.14, without continuity correction)."""
    norm = _stats().norm
    z_alpha = float(norm.ppf(1 - alpha / 2))
    z_beta = float(norm.ppf(power))
    mean = (p1 + p2) / 2
    numerator = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_beta * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(numerator**2 / (p1 - p2) ** 2)


def reviews_needed_to_detect(control_rate: float, difference: float = DETECTABLE_DIFFERENCE) -> int:
    """Reviews per variant to detect `difference` points around the control's rate (the
    other side of it when adding would pass 100%)."""
    other = control_rate + difference if control_rate + difference <= 1 else control_rate - difference
    return sample_size_two_proportions(control_rate, other)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between ranks as numpy's default; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    below, above = math.floor(rank), math.ceil(rank)
    return ordered[below] + (ordered[above] - ordered[below]) * (rank - below)


@dataclass(frozen=True)
class Verdict:
    """A variant's approval rate against the control's, in words."""

    text: str
    test: ZTest | None
    significant: bool
    more_reviews_needed: int | None


def _p_text(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.2g}"


def approval_verdict(
    *, control: str, control_approved: int, control_reviewed: int, name: str, approved: int, reviewed: int
) -> Verdict:
    """The two-sided pooled z-test of `name` against `control`, at ALPHA; without a
    difference, how many more reviews per variant would detect DETECTABLE_DIFFERENCE
    around the control's rate (50% while the control has no reviews: the most it can take)."""
    test = two_proportion_z_test(control_approved, control_reviewed, approved, reviewed)
    if test is not None and test.p_value < ALPHA:
        direction = "more" if test.z > 0 else "less"
        return Verdict(f"{name} approves {direction} than {control} ({_p_text(test.p_value)})", test, True, 0)
    control_rate = control_approved / control_reviewed if control_reviewed else 0.5
    needed = max(0, reviews_needed_to_detect(control_rate) - min(control_reviewed, reviewed))
    points = round(DETECTABLE_DIFFERENCE * 100)
    if needed == 0:
        # No test: every review on both sides went the same way, the same rate exactly (p = 1).
        p_value = test.p_value if test is not None else 1.0
        text = f"no difference of {points} points or more between {name} and {control} ({_p_text(p_value)})"
    else:
        text = f"no difference detected yet; about {needed} more reviews per variant needed to detect {points} points"
    return Verdict(text, test, False, needed)
