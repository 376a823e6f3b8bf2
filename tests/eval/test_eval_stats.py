"""Statistics behind reports: pass@k, clustered SE, paired bootstrap."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft.eval._stats import clustered_mean_se, normal_ci, paired_bootstrap, pass_at_k, pass_at_k_values


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
    delta, low, high = paired_bootstrap(before, after, n_boot=500)
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
