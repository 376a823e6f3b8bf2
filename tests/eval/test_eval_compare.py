"""compare(): paired bootstrap deltas, verdicts, flipped items."""

from __future__ import annotations

import pytest

from rft import Grade
from rft.eval import ItemResult, Report, compare


def _report(scores, ids=None, threshold=1.0) -> Report:
    ids = ids if ids is not None else list(range(len(scores)))
    items = [
        ItemResult(i, ident, f"p{ident}", ["out"], {"g": [Grade(s, s >= threshold) if s is not None else Grade.unscored_because("x", error="crash")]})
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
