"""Statistics behind reports: pass@k, clustered SE, paired bootstrap."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft.eval._stats import (
    clustered_interval,
    clustered_mean_se,
    newcombe_paired_ci,
    normal_ci,
    paired_bootstrap,
    paired_interval,
    pass_at_k,
    pass_at_k_values,
    wilson_interval,
)


def _brute_pass_at_k(n: int, c: int, k: int) -> float:
    """Enumerate every k-subset of n samples (c of which pass) and count subsets with a pass."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize(
    "n,c,k",
    [
        (1, 0, 1),  # one failing sample
        (1, 1, 1),  # one passing sample
        (4, 1, 2),  # one pass in four, two drawn
        (8, 3, 4),  # typical GRPO group size
        (10, 0, 5),  # nothing passes: pass@k = 0 for every k
        (10, 9, 2),  # n - c < k: any two draws include a pass
        (6, 2, 6),  # k = n: pass iff any passes
    ],
    ids=["n1-fail", "n1-pass", "4-1-2", "8-3-4", "none-pass", "n-c<k", "k=n"],
)
def test_pass_at_k_equals_enumeration(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(_brute_pass_at_k(n, c, k))


@pytest.mark.parametrize("n,k", [(3, 0), (3, 4)], ids=["k=0", "k>n"])
def test_pass_at_k_rejects_impossible_k(n, k):
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(n, 1, k)


def test_pass_at_k_values_skips_items_with_too_few_samples():
    # item 2 has only 1 scored sample (the rest unscored): it counts for k=1 but not k=2
    values = pass_at_k_values([(2, 1), (2, 0), (1, 1)], [1, 2])
    assert values[1] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert values[2] == pytest.approx((1.0 + 0.0) / 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=40))
def test_clustered_se_with_singletons_is_the_classic_se(values):
    mean, se = clustered_mean_se([[v] for v in values])
    assert mean == pytest.approx(statistics.fmean(values))
    assert se == pytest.approx(statistics.stdev(values) / math.sqrt(len(values)), abs=1e-12)


def test_clustered_se_accounts_for_correlated_samples():
    # Each item's 4 samples agree: clustering must not treat them as 4 independent draws.
    groups = [[1.0] * 4, [0.0] * 4, [1.0] * 4, [0.0] * 4]
    _, clustered = clustered_mean_se(groups)
    _, naive = clustered_mean_se([[v] for g in groups for v in g])
    assert clustered > naive * 1.5


@pytest.mark.parametrize(
    "groups,expected",
    [([], (None, None)), ([[0.5]], (0.5, None)), ([[], [1.0]], (1.0, None))],
    ids=["empty", "one-item-no-se", "empty-groups-ignored"],
)
def test_clustered_se_undefined_cases(groups, expected):
    assert clustered_mean_se(groups) == expected


def test_normal_ci_is_symmetric_95():
    low, high = normal_ci(0.5, 0.1)
    assert high - 0.5 == pytest.approx(0.5 - low) == pytest.approx(0.196, abs=1e-3)
    assert normal_ci(None, 0.1) == (None, None)


def test_paired_bootstrap_sees_a_small_consistent_gain_that_unpaired_noise_would_hide():
    # Items vary hugely (0..1), but every item improves by exactly 0.05.
    before = [i / 49 * 0.9 for i in range(50)]
    after = [b + 0.05 for b in before]
    delta, low, _high = paired_bootstrap(before, after, n_boot=500)
    assert delta == pytest.approx(0.05)
    assert low > 0  # significant when paired
    _, se_b = clustered_mean_se([[b] for b in before])
    assert 0.05 < 1.96 * math.sqrt(2) * se_b  # an unpaired test could not tell


def test_paired_bootstrap_no_change_ci_contains_zero_and_is_repeatable():
    before = [0, 1, 0, 1, 1, 0, 1, 0] * 5
    after = [1, 0, 0, 1, 0, 1, 1, 0] * 5
    d1 = paired_bootstrap(before, after, seed=3)
    assert d1[1] <= 0 <= d1[2]
    assert paired_bootstrap(before, after, seed=3) == d1


def test_paired_bootstrap_rejects_unpaired_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        paired_bootstrap([1.0], [1.0, 0.0])


# ------------------------------------------------------------------------------ intervals in [0, 1]


@pytest.mark.parametrize(
    "p,n,expected",
    [
        (0.0, 10, (0.0, 0.2775)),  # no success: upper bound z^2 / (n + z^2)
        (1.0, 10, (0.7225, 1.0)),  # all successes: mirror image
        (0.5, 10, (0.2366, 0.7634)),  # symmetric around 1/2
    ],
    ids=["0-of-10", "10-of-10", "5-of-10"],
)
def test_wilson_interval_textbook_values(p, n, expected):
    assert wilson_interval(p, n) == pytest.approx(expected, abs=1e-4)


def test_clustered_interval_with_one_sample_per_item_is_plain_wilson():
    mean, _se, low, high = clustered_interval([[1.0]] * 7 + [[0.0]] * 3)
    assert mean == pytest.approx(0.7)
    assert (low, high) == pytest.approx(wilson_interval(0.7, 10))


# ------------------------------------------------------------------------------ paired proportions


def test_newcombe_paired_interval_by_hand():
    # Newcombe (1998) method 10, worked out for a = 36 both pass, b = 12 pass -> fail, c = 2 fail -> pass,
    # d = 0 both fail (n = 50): before = 48/50, after = 38/50, delta = after - before = -0.2.
    z = 1.959963984540054
    l_b, u_b = wilson_interval(48 / 50, 50)  # before: 0.8654 .. 0.9890
    l_a, u_a = wilson_interval(38 / 50, 50)  # after:  0.6254 .. 0.8569
    phi = (36 * 0 - 12 * 2) / math.sqrt(48 * 2 * 38 * 12)  # ad - bc < 0: phi used as it is
    low = -0.2 - math.sqrt((0.76 - l_a) ** 2 - 2 * phi * (0.76 - l_a) * (u_b - 0.96) + (u_b - 0.96) ** 2)
    high = -0.2 + math.sqrt((u_a - 0.76) ** 2 - 2 * phi * (u_a - 0.76) * (0.96 - l_b) + (0.96 - l_b) ** 2)
    assert z == pytest.approx(1.96, abs=1e-3)
    before = [1] * 36 + [1] * 12 + [0] * 2 + [0] * 0
    after = [1] * 36 + [0] * 12 + [1] * 2 + [0] * 0
    delta, lo, hi = newcombe_paired_ci(before, after)
    assert delta == pytest.approx(-0.2)
    assert (lo, hi) == pytest.approx((low, high))
    assert (lo, hi) == pytest.approx((-0.3404, -0.0569), abs=1e-4)  # Newcombe (1998), Table II, method 10


@pytest.mark.parametrize(
    "before,after",
    [
        ([1] * 10, [1] * 10),  # all pass both times: no discordant pair
        ([0] * 10, [0] * 10),  # all fail both times
        ([1] * 5 + [0] * 5, [1] * 5 + [0] * 5),  # nothing flipped: the corrected phi keeps the width above 0
        ([0] * 10, [1] * 10),  # every item fixed: the interval stops at +1
    ],
    ids=["all-pass", "all-fail", "no-flips", "all-fixed"],
)
def test_newcombe_paired_interval_has_width_and_stays_in_range(before, after):
    delta, lo, hi = newcombe_paired_ci(before, after)
    assert -1.0 <= lo <= delta <= hi <= 1.0
    assert hi - lo > 0.1  # ten items cannot pin a change down to a point


def test_paired_interval_picks_newcombe_for_binary_and_bootstrap_otherwise():
    binary = paired_interval([1, 0] * 10, [1, 1] * 10)
    assert binary.method == "newcombe" and binary.ci_low > 0
    frac = paired_interval([0.5, 0.25] * 10, [0.75, 0.5] * 10)
    assert frac.method == "bootstrap" and frac.delta == pytest.approx(0.25)
    diffs = [after - before for before, after in zip([1, 0] * 10, [1, 1] * 10)]
    assert binary.sd_diff == pytest.approx(statistics.stdev(diffs))
