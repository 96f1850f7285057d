"""The statistics of experiment results against published values (sources by each case)."""

import pytest

from policies.stats import (
    approval_verdict,
    percentile,
    reviews_needed_to_detect,
    sample_size_two_proportions,
    two_proportion_z_test,
    wilson_interval,
)


# Newcombe RG (1998), "Two-sided confidence intervals for the single proportion: comparison
# of seven methods", Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score).
@pytest.mark.parametrize(
    "successes, trials, low, high",
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_matches_newcombe_1998(successes, trials, low, high):
    interval = wilson_interval(successes, trials)
    assert (round(interval.low, 4), round(interval.high, 4)) == (low, high)


def test_wilson_interval_of_no_trials_is_none():
    assert wilson_interval(0, 0) is None


# Pooled two-proportion z-tests worked in published solutions:
# 28/254 vs 36/301: z = -0.344, two-tailed p = 0.7307
#   (https://homeworksource.com/p/997366/test-weather-p1-p2-given-the-sample-data-x1-28-n1-254-x2);
# 11/20 vs 1439/2000: z = -1.675923, p = 0.09375
#   (https://homeworksource.com/p/1051381/sample-consists-of-2000-people-with-1439-of-them-having-the-1051381);
# 718/797 vs 593/732 (Moore, The Basic Practice of Statistics, financial aid SRS): z = 5.071
#   (https://homeworksource.com/p/1069741/a-university-financial-aid-office-polled-an-srs-of-undergrad).
# The test is of b against a, so z is (p_b - p_a) / se.
@pytest.mark.parametrize(
    "a, b, z, p_value",
    [
        ((36, 301), (28, 254), -0.344, 0.7307),
        ((1439, 2000), (11, 20), -1.676, 0.0938),
        ((593, 732), (718, 797), 5.071, 0.0000),
    ],
)
def test_two_proportion_z_test_matches_published_solutions(a, b, z, p_value):
    result = two_proportion_z_test(*a, *b)
    assert (round(result.z, 3), round(result.p_value, 4)) == (z, p_value)


@pytest.mark.parametrize("a, b", [((0, 0), (3, 4)), ((4, 4), (7, 7)), ((0, 5), (0, 9))])
def test_two_proportion_z_test_without_trials_or_variance_is_none(a, b):
    assert two_proportion_z_test(*a, *b) is None


# Fleiss, Levin & Paik (2003), eq. 4.14 without continuity correction, alpha 0.05 two-sided,
# power 0.8. 50% vs 55% by hand: (1.95996 * sqrt(2 * .525 * .475) + 0.84162 * sqrt(.25 + .2475))^2
# / 0.05^2 = 1564.7, so 1565 per group, the figure sample-size tables give for this case.
# 10% vs 15%: (1.95996 * sqrt(2 * .125 * .875) + 0.84162 * sqrt(.09 + .1275))^2 / 0.05^2 = 685.6.
@pytest.mark.parametrize("p1, p2, needed", [(0.5, 0.55, 1565), (0.10, 0.15, 686)])
def test_sample_size_for_two_proportions(p1, p2, needed):
    assert sample_size_two_proportions(p1, p2) == needed


def test_reviews_needed_goes_below_the_control_rate_near_100_percent():
    # 97% + 5 points passes 100%: the difference is detected downwards, 97% vs 92%.
    assert reviews_needed_to_detect(0.97) == sample_size_two_proportions(0.97, 0.92)
    assert reviews_needed_to_detect(0.5) == 1565


# numpy's default ("linear"): rank (n - 1) * q / 100; [1, 2, 3, 4] at 95 is 3 + 0.85 * (4 - 3).
@pytest.mark.parametrize("values, q, expected", [([7], 95, 7), ([1, 2, 3, 4], 50, 2.5), ([1, 2, 3, 4], 95, 3.85)])
def test_percentile_interpolates_between_ranks(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_percentile_of_nothing_is_none():
    assert percentile([], 50) is None


NOT_YET = "no difference detected yet; about"


# The verdicts on counts worked by hand. 60/100 vs 75/100: pooled 0.675,
# se = sqrt(0.675 * 0.325 * 0.02) = 0.066238, z = 0.15 / 0.066238 = 2.2646, p = 0.0235.
# 30/40 vs 32/40: no difference; the control's 75% vs 80% needs (1.95996 * sqrt(2 * .775 * .225)
# + 0.84162 * sqrt(.1875 + .16))^2 / 0.05^2 = 1093.7, so 1094, minus the 40 reviews each has.
@pytest.mark.parametrize(
    "control, variant, text, needed, significant",
    [
        ((60, 100), (75, 100), "B approves more than A (p = 0.024)", 0, True),
        ((75, 100), (60, 100), "B approves less than A (p = 0.024)", 0, True),
        ((30, 40), (32, 40), f"{NOT_YET} 1054 more reviews per variant needed to detect 5 points", 1054, False),
        ((0, 0), (0, 0), f"{NOT_YET} 1565 more reviews per variant needed to detect 5 points", 1565, False),
        ((1500, 2000), (1510, 2000), "no difference of 5 points or more between B and A (p = 0.71)", 0, False),
        # Every review approved on both sides: no variance, so no z-test; the rates are equal (p = 1).
        ((2000, 2000), (2000, 2000), "no difference of 5 points or more between B and A (p = 1)", 0, False),
    ],
)
def test_approval_verdict_in_plain_words(control, variant, text, needed, significant):
    verdict = approval_verdict(
        control="A", control_approved=control[0], control_reviewed=control[1],
        name="B", approved=variant[0], reviewed=variant[1],
    )  # fmt: skip
    assert (verdict.text, verdict.more_reviews_needed, verdict.significant) == (text, needed, significant)
