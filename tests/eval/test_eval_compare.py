"""compare(): paired bootstrap deltas, verdicts, flipped items."""

from __future__ import annotations

import pytest

import rft
from rft import Grade
from rft.eval import ItemResult, Report, compare, decision_text


def _grade(score, threshold):
    """A Grade passing at ``threshold``; None is unscored (the grader crashed)."""
    return Grade(score, score >= threshold) if score is not None else Grade.unscored_because("x", error="crash")


def _report(scores, ids=None, threshold=1.0) -> Report:
    ids = ids if ids is not None else list(range(len(scores)))
    items = [
        ItemResult(i, ident, f"p{ident}", ["out"], {"g": [_grade(s, threshold)]})
        for i, (ident, s) in enumerate(zip(ids, scores))
    ]
    return Report(items, ["g"])


@pytest.mark.parametrize(
    "before,after,verdict",
    [
        ([0.0] * 30 + [1.0] * 30, [1.0] * 60, "improved"),  # 30 items fixed, none broken
        ([1.0] * 60, [0.0] * 30 + [1.0] * 30, "regressed"),  # 30 items broken
        ([0.0, 1.0] * 30, [1.0, 0.0] * 30, "no significant change"),  # as many fixed as broken
        ([0.5] * 40, [0.5] * 40, "no significant change"),  # identical
    ],
    ids=["improved", "regressed", "churn", "identical"],
)
def test_verdicts(before, after, verdict):
    d = compare(_report(before), _report(after))["g"]
    assert d.verdict == verdict
    assert d.significant == (verdict in ("improved", "regressed"))
    assert d.ci_low <= d.delta <= d.ci_high


def test_flipped_items_are_listed_by_id():
    d = compare(_report([1.0, 0.0, 1.0, 0.0], ids=list("abcd")), _report([1.0, 1.0, 0.0, 0.0], ids=list("abcd")))["g"]
    assert d.fixed == ["b"] and d.broken == ["c"]


def test_items_are_paired_by_id_not_position():
    before = _report([0.0, 1.0, 0.5], ids=["x", "y", "z"])
    after = _report([1.0, 0.5, 0.0], ids=["y", "z", "x"])  # same scores per id, shuffled
    d = compare(before, after)["g"]
    assert d.delta == 0.0 and d.fixed == [] and d.broken == []


def test_unscored_and_missing_items_are_left_out_and_counted():
    before = _report([1.0, None, 0.0, 1.0], ids=["a", "b", "c", "d"])
    after = _report([1.0, 1.0, 1.0], ids=["a", "b", "c"])
    d = compare(before, after)["g"]
    assert d.n_paired == 2 and d.unpaired == 2  # b unscored before, d missing after
    assert d.before == 0.5 and d.after == 1.0


def test_paired_ci_is_tighter_than_the_spread_of_items():
    # Every item gains 0.1 on top of very different base scores: pairing sees it clearly.
    base = [i / 40 * 0.8 for i in range(40)]
    d = compare(_report(base), _report([b + 0.1 for b in base]))["g"]
    assert d.delta == pytest.approx(0.1) and d.verdict == "improved"
    assert d.ci_high - d.ci_low < 0.01


def test_compare_loads_saved_reports_and_renders(tmp_path):
    a, b = _report([0.0] * 10 + [1.0] * 10), _report([1.0] * 20)
    c = compare(a.save(tmp_path / "a.json"), b.save(tmp_path / "b.json"))
    assert c.improvements == [c["g"]] and c.regressions == []
    assert "improved" in c.table() and "| g | 20 |" in c.to_markdown() and "<table>" in c._repr_html_()
    assert c.to_dict()["graders"][0]["fixed"] == list(range(10))


def test_compare_plot_draws_before_and_after_bars():
    import matplotlib

    matplotlib.use("Agg")
    fig = compare(_report([0.0, 1.0] * 5), _report([1.0] * 10)).plot()
    assert len(fig.axes[0].patches) == 2  # one 'before' bar, one 'after' bar for the one grader


def test_grader_missing_from_one_side_is_skipped_and_unknown_name_raises():
    c = compare(_report([1.0]), _report([1.0]))
    with pytest.raises(KeyError, match="no grader 'other'"):
        c["other"]


# ------------------------------------------------------------------------------ metric-aware comparison


def _multi(per_item, threshold=1.0, ids=None) -> Report:
    """Several samples per item; None = unscored."""
    ids = ids if ids is not None else list(range(len(per_item)))
    items = [
        ItemResult(
            i,
            ident,
            f"p{ident}",
            ["out"] * len(scores),
            {"g": [_grade(s, threshold) for s in scores]},
        )
        for i, (ident, scores) in enumerate(zip(ids, per_item))
    ]
    return Report(items, ["g"])


def test_item_values_per_metric_skip_unscored():
    r = _multi([[1.0, 0.5, None], [None, None], [0.25]], threshold=0.5, ids=["a", "b", 7])
    assert r.item_values("g") == {'"a"': 0.75, "7": 0.25}  # b: nothing scored, absent (not 0)
    assert r.item_values("g", "pass_rate") == {'"a"': 1.0, "7": 0.0}
    with pytest.raises(ValueError, match="unknown metric 'median'"):
        r.item_values("g", "median")


def test_metric_decides_what_is_compared():
    # Threshold 0.5: every item passes before and after, but the mean score rises 0.6 -> 0.9.
    before, after = _report([0.6] * 20, threshold=0.5), _report([0.9] * 20, threshold=0.5)
    by_mean = compare(before, after)["g"]
    by_pass = compare(before, after, metric="pass_rate")["g"]
    assert by_mean.metric == "mean" and by_mean.delta == pytest.approx(0.3) and by_mean.verdict == "improved"
    assert by_pass.metric == "pass_rate" and by_pass.delta == 0.0 and by_pass.verdict == "no significant change"
    assert (by_pass.before, by_pass.after) == (1.0, 1.0)


def test_binary_items_use_newcombe_and_zero_flips_still_leave_doubt():
    # 40 items pass before and after. The bootstrap said [0, 0]: certainty that nothing changed.
    d = compare(_report([1.0] * 40), _report([1.0] * 40))["g"]
    assert d.method == "newcombe"
    assert d.ci_low < -0.05 and d.ci_high > 0.05  # Wilson-based: about -0.088 .. +0.088
    assert d.noninferior(0.1) and not d.noninferior(0.05)  # 40 items cannot show a 5-point margin
    assert d.sd_diff == 0.0 and d.verdict == "no significant change"


def test_interval_stays_in_minus_one_one_and_is_not_a_point():
    d = compare(_report([0.0] * 10), _report([1.0] * 10))["g"]  # every item fixed
    assert d.delta == 1.0 and d.verdict == "improved"
    assert -1.0 <= d.ci_low < 1.0 and d.ci_high == pytest.approx(1.0)
    assert d.superior() and d.noninferior(0.0)


def test_too_few_items_do_not_decide():
    d = compare(_report([0.0] * 4), _report([1.0] * 4))["g"]  # 4 of 4 fixed: a sign test gives p = 0.125
    assert d.n_paired == 4 and d.verdict == "too few items"
    assert not d.superior() and not d.noninferior(0.5) and not d.significant
    assert d.lenient(0.0)  # the point estimate alone still says 'better'


def test_several_samples_per_item_use_the_item_bootstrap():
    # 4 samples per item: per-item pass fractions, not 0/1, so the paired item bootstrap is used.
    before = _multi([[1.0, 0.0, 0.0, 0.0]] * 20 + [[1.0, 1.0, 0.0, 0.0]] * 20)
    after = _multi([[1.0, 1.0, 1.0, 0.0]] * 20 + [[1.0, 1.0, 1.0, 1.0]] * 20)
    d = compare(before, after, metric="pass_rate")["g"]
    assert d.method == "bootstrap" and d.delta == pytest.approx(0.5) and d.verdict == "improved"
    assert d.sd_diff == pytest.approx(0.0) or d.sd_diff >= 0


def test_rules_superior_noninferior_lenient():
    # 50 items; 5 broken, 3 fixed: delta -0.04.
    before = [1.0] * 5 + [0.0] * 3 + [1.0] * 20 + [0.0] * 22
    after = [0.0] * 5 + [1.0] * 3 + [1.0] * 20 + [0.0] * 22
    d = compare(_report(before), _report(after))["g"]
    assert d.delta == pytest.approx(-0.04) and d.verdict == "no significant change"
    assert d.ci_low < -0.1 < d.ci_high  # eight flips over 50 items: a wide interval
    assert not d.superior()
    assert d.noninferior(0.2) and not d.noninferior(0.05)
    assert d.lenient(0.05) and not d.lenient(0.03)  # the point estimate only
    assert d.holds("noninferior", 0.2) and not d.holds("lenient", 0.03) and not d.holds("superior")
    with pytest.raises(ValueError, match="unknown rule 'strict'"):
        d.holds("strict")
    text = d.describe("noninferior", 0.05)
    assert "g" in text and "-0.040" in text and "fails" in text


def test_decision_text_states_each_rule_in_words():
    assert "lower end of the paired 95% confidence interval" in decision_text("superior")
    assert "above -0.02" in decision_text("noninferior", tolerance=0.02)
    lenient = decision_text("lenient", tolerance=0.02)
    assert "point estimate only, not a statistical decision" in lenient


def test_deltas_serialise_the_new_fields():
    d = compare(_report([0.0, 1.0] * 10), _report([1.0] * 20), metric="pass_rate")["g"].to_dict()
    assert {"metric", "n_paired", "before", "after", "delta", "ci_low", "ci_high", "sd_diff", "verdict",
            "fixed", "broken", "unpaired", "method"} <= set(d)


def test_unknown_metric_is_a_config_error():
    with pytest.raises(rft.ConfigError, match="unknown metric 'accuracy'"):
        compare(_report([1.0]), _report([1.0]), metric="accuracy")


def test_compare_plot_draws_the_delta_and_its_interval_on_its_own_axis():
    import matplotlib.pyplot as plt

    c = compare(_report([0.0, 1.0] * 10), _report([1.0] * 20))
    d = c["g"]
    fig = c.plot()
    bars_ax, delta_ax = fig.axes[0], fig.axes[1]
    assert bars_ax.get_ylim()[1] <= 1.1  # no error bar pushing the score axis past 1
    assert not bars_ax.collections  # no CI hung on the 'after' bar
    segments = [seg for coll in delta_ax.collections for seg in coll.get_segments()]
    ys = sorted(y for seg in segments for _, y in seg)
    assert ys[0] == pytest.approx(d.ci_low) and ys[-1] == pytest.approx(d.ci_high)
    lo, hi = delta_ax.get_ylim()
    assert lo <= min(0.0, d.ci_low) and hi >= d.ci_high and lo >= -1.1 and hi <= 1.1
    plt.close(fig)
