"""Power check: the smallest change a suite can resolve, checked against hand computations."""

from __future__ import annotations

import math

import pytest

import rft
from rft import Grade
from rft.eval import ItemResult, PowerCheck, Report, items_needed, min_detectable_change, planning_sd, power_check

# z quantiles, written out: z_{0.975} (two-sided 95%) and z_{0.80} (80% power).
Z_975 = 1.959963984540054
Z_80 = 0.8416212335729143


def _report(per_item, threshold=1.0) -> Report:
    items = [
        ItemResult(i, i, f"p{i}", ["o"] * len(scores), {"g": [Grade(s, s >= threshold) for s in scores]})
        for i, scores in enumerate(per_item)
    ]
    return Report(items, ["g"])


def test_min_detectable_change_and_items_needed_formulas():
    # (z_{1-alpha/2} + z_power) * sd / sqrt(n) = 2.801585 * 0.5 / sqrt(25) = 0.2801585
    assert min_detectable_change(0.5, 25) == pytest.approx((Z_975 + Z_80) * 0.5 / 5)
    assert min_detectable_change(0.5, 25) == pytest.approx(0.2801585, abs=1e-7)
    # inverted: n = ((z + z) * sd / change)^2 = (2.801585 * 0.5 / 0.1)^2 = 196.22 -> 197
    assert items_needed(0.5, 0.1) == 197
    assert items_needed(0.5, min_detectable_change(0.5, 25)) == 25  # the two formulas invert each other
    # other levels: 90% two-sided (z = 1.6449) and 90% power (z = 1.2816)
    assert min_detectable_change(1.0, 100, level=0.9, power=0.9) == pytest.approx((1.644854 + 1.281552) / 10, abs=1e-6)


@pytest.mark.parametrize(
    "call",
    [lambda: min_detectable_change(0.5, 0), lambda: items_needed(0.5, 0.0), lambda: min_detectable_change(-1.0, 5)],
    ids=["no-items", "zero-change", "negative-sd"],
)
def test_impossible_inputs_raise(call):
    with pytest.raises(ValueError):
        call()


def test_guard_with_32_binary_items_by_hand():
    # 32 items, 15 pass (46.9%), one sample each: the plain-sums guard of issue 10.
    report = _report([[1.0]] * 15 + [[0.0]] * 17)
    # Per-item values are 0/1 with mean 15/32; their sample SD:
    #   sum of squares = 15 * (17/32)^2 + 17 * (15/32)^2 = 7.96875;  sd = sqrt(7.96875 / 31) = 0.507007
    sd = math.sqrt(7.96875 / 31)
    # Agresti-Coull floor: p~ = (15 + 2) / (32 + 4) = 0.4722, sqrt(p~ (1 - p~)) = 0.4992 < sd, so sd stands.
    assert math.sqrt(17 / 36 * 19 / 36) < sd
    # resolvable drop = 2.801585 * 0.507007 / sqrt(32) = 0.251098
    mde = (Z_975 + Z_80) * sd / math.sqrt(32)
    # items for a 0.02 tolerance = (2.801585 * 0.507007 / 0.02)^2 = 5044.01 -> 5045
    need = math.ceil(((Z_975 + Z_80) * sd / 0.02) ** 2)
    assert (round(mde, 4), need) == (0.2511, 5045)

    check = power_check(report, "g", "pass_rate", 0.02, name="guard 'plain_sum'")
    assert isinstance(check, PowerCheck)
    assert (check.grader, check.metric, check.n_items, check.samples_per_item) == ("g", "pass_rate", 32, 1)
    assert check.sd_diff == pytest.approx(sd)
    assert check.resolvable == pytest.approx(mde)
    assert check.tolerance == 0.02 and check.ok is False and check.items_needed == need
    assert check.advice == (
        "guard 'plain_sum' has 32 items x 1 sample: it can resolve a drop of 0.251 in pass rate at 95%/80% power; "
        "tolerance 0.02 would need 5,045 items — add items, raise samples_per_item with temperature > 0, "
        "or raise the tolerance"
    )

    loose = power_check(report, "g", "pass_rate", 0.3)
    assert loose.ok is True and loose.items_needed == math.ceil(((Z_975 + Z_80) * sd / 0.3) ** 2) == 23
    assert "tolerance 0.3 is enough" in loose.advice


def test_all_pass_baseline_does_not_claim_infinite_resolution():
    # 32 items all pass: the SD of the values is 0. Floor: p~ = (32 + 2) / (32 + 4) = 0.9444,
    # sd = sqrt(0.9444 * 0.0556) = 0.229061, resolvable = 2.801585 * 0.229061 / sqrt(32) = 0.113444.
    floor = math.sqrt(34 / 36 * 2 / 36)
    check = power_check(_report([[1.0]] * 32), "g", "pass_rate", 0.02)
    assert check.sd_diff == pytest.approx(floor) == pytest.approx(0.229061, abs=1e-6)
    resolvable = (Z_975 + Z_80) * floor / math.sqrt(32)
    assert check.resolvable == pytest.approx(resolvable) == pytest.approx(0.113444, abs=1e-6)
    assert not check.ok
    # mean of 0/1 scores is the same data: the same floor
    assert power_check(_report([[1.0]] * 32), "g", "mean", 0.02).sd_diff == pytest.approx(floor)


def test_several_samples_per_item_lower_the_floor():
    # 4 samples per item, all pass: the floor is the SD of a 4-sample fraction, sqrt(p~ (1 - p~) / 4) = 0.114531.
    check = power_check(_report([[1.0] * 4] * 32), "g", "pass_rate", 0.02)
    assert check.samples_per_item == 4
    assert check.sd_diff == pytest.approx(math.sqrt(34 / 36 * 2 / 36 / 4)) == pytest.approx(0.114531, abs=1e-6)


def test_planning_sd_of_continuous_scores_has_no_binomial_floor():
    values = [0.45, 0.55] * 10  # sd = 0.05 * sqrt(20 / 19) = 0.051299, far below any binomial SD
    assert planning_sd(values, "mean") == pytest.approx(0.05 * math.sqrt(20 / 19))
    assert planning_sd([1.0, 0.0, 1.0], "pass_rate") == pytest.approx(math.sqrt(1 / 3))  # stdev above the floor


def test_no_scored_item_cannot_resolve_anything():
    report = Report([ItemResult(0, 0, "p", ["o"], {"g": [Grade.unscored_because("down")]})], ["g"])
    check = power_check(report, "g", "mean", 0.05)
    assert check.n_items == 0 and not check.ok and math.isinf(check.resolvable) and check.items_needed is None
    assert "no scored items" in check.advice


def test_power_check_rejects_an_unknown_metric():
    with pytest.raises(rft.ConfigError, match="unknown metric"):
        power_check(_report([[1.0]]), "g", "median", 0.05)
