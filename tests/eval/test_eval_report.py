"""Report statistics and displays: intervals that respect [0, 1], SE shown, one set of numbers
across text / markdown / HTML / to_dict, and plots that draw what the scores are."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rft import Grade
from rft.eval import ItemResult, Report
from rft.eval._stats import wilson_interval


def _report(per_item, threshold=1.0, name="g") -> Report:
    """One item per inner list; each value a sample score (None = unscored)."""
    items = []
    for i, scores in enumerate(per_item):
        grades = [
            Grade(s, s >= threshold) if s is not None else Grade.unscored_because("x", error="crash") for s in scores
        ]
        items.append(ItemResult(i, i, f"p{i}", ["out"] * len(scores), {name: grades}))
    return Report(items, [name])


# ------------------------------------------------------------------------------ intervals


@pytest.mark.parametrize(
    "per_item",
    [
        [[1.0]] * 9 + [[0.0]],  # mean 0.9 over 10: the normal interval reached 1.096
        [[0.0]] * 9 + [[1.0]],  # mean 0.1 over 10: the normal interval went below 0
        [[1.0]] * 3,  # all pass: the normal interval was [1, 1], claiming certainty from 3 items
        [[0.0]] * 3,  # all fail
        [[1.0]],  # one item: no SE, still an honest interval
        [[0.95, 1.0, 1.0, 0.9]] * 3 + [[0.2, 0.0, 0.1, 0.3]],  # continuous scores, 4 samples per item
    ],
    ids=["0.9-of-10", "0.1-of-10", "all-pass", "all-fail", "one-item", "continuous-k4"],
)
def test_every_interval_of_a_0_1_metric_lies_in_0_1_and_has_width(per_item):
    s = _report(per_item)["g"]
    for low, est, high in [(s.ci_low, s.mean, s.ci_high), (s.pass_rate_ci_low, s.pass_rate, s.pass_rate_ci_high)]:
        assert 0.0 <= low <= est <= high <= 1.0
        assert high - low > 0.05  # never a point: a handful of items cannot pin a rate down


def test_pass_rate_interval_is_wilson_on_items():
    # 0.9 of 10 single-sample items: exactly the Wilson score interval with n = 10.
    s = _report([[1.0]] * 9 + [[0.0]])["g"]
    assert (s.pass_rate_ci_low, s.pass_rate_ci_high) == pytest.approx(wilson_interval(0.9, 10))
    assert (s.pass_rate_ci_low, s.pass_rate_ci_high) == pytest.approx((0.5958, 0.9821), abs=1e-4)
    # binary scores with threshold 1: the mean is the pass rate, so the intervals agree
    assert (s.ci_low, s.ci_high) == pytest.approx((s.pass_rate_ci_low, s.pass_rate_ci_high))


def test_pass_rate_interval_clusters_samples_by_item():
    # 4 items x 4 samples; an item's samples all agree, so there are 4 observations, not 16.
    s = _report([[1.0] * 4, [1.0] * 4, [0.0] * 4, [0.0] * 4])["g"]
    assert s.pass_rate == 0.5 and s.items == 4
    assert (s.pass_rate_ci_low, s.pass_rate_ci_high) == pytest.approx(wilson_interval(0.5, 4))
    naive = wilson_interval(0.5, 16)
    assert s.pass_rate_ci_high - s.pass_rate_ci_low > 1.5 * (naive[1] - naive[0])


def test_independent_samples_count_fully():
    # Every item passes 2 of 4 samples: no item effect, the 16 samples are 16 observations (design effect 1).
    s = _report([[1.0, 0.0, 1.0, 0.0]] * 4)["g"]
    assert s.pass_rate == 0.5
    assert (s.pass_rate_ci_low, s.pass_rate_ci_high) == pytest.approx(wilson_interval(0.5, 16))
    s = _report([[1.0, 0.0, 1.0, 0.0]] * 3 + [[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])["g"]
    lo, hi = s.pass_rate_ci_low, s.pass_rate_ci_high
    assert hi - lo < wilson_interval(0.5, 5)[1] - wilson_interval(0.5, 5)[0]  # more than 5 observations' worth
    assert hi - lo >= wilson_interval(0.5, 20)[1] - wilson_interval(0.5, 20)[0] - 1e-12  # never more than 20


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 1), st.none()), min_size=1, max_size=5),
        min_size=1,
        max_size=25,
    )
)
def test_intervals_stay_in_range_for_any_scores(per_item):
    s = _report(per_item, threshold=0.5)["g"]
    if s.mean is None:
        assert s.ci_low is None and s.pass_rate_ci_low is None
        return
    assert 0.0 <= s.ci_low <= s.mean + 1e-12 and s.mean - 1e-12 <= s.ci_high <= 1.0
    assert 0.0 <= s.pass_rate_ci_low <= s.pass_rate + 1e-12 and s.pass_rate - 1e-12 <= s.pass_rate_ci_high <= 1.0


def test_scores_outside_0_1_keep_a_normal_interval():
    s = _report([[2.0], [4.0], [3.0], [5.0]])["g"]  # e.g. a multi grader summing sub-scores
    assert s.ci_low < s.mean < s.ci_high and s.ci_high > 1.0


# ------------------------------------------------------------------------------ displays


def _cells_text(report):
    lines = report.table().splitlines()
    return [re.split(r"\s{2,}", line.strip()) for line in lines[2:]]


def _cells_markdown(report):
    rows = [line for line in report.to_markdown().splitlines() if line.startswith("| ")][1:]
    return [[c.strip().replace("\\|", "|") for c in row.strip("|").split(" | ")] for row in rows]


def _cells_html(report):
    body = report._repr_html_().split("<tbody>")[1].split("</tbody>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body)
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)] for row in rows]


def test_table_shows_se_and_both_intervals():
    report = _report([[1.0]] * 9 + [[0.0]])
    header = report.table().splitlines()[0]
    assert re.search(r"\bSE\b", header)
    s = report["g"]
    text = str(report)
    assert f"{s.se:.3f}" in text
    assert f"[{s.ci_low:.3f}, {s.ci_high:.3f}]" in text
    assert f"[{100 * s.pass_rate_ci_low:.1f}%, {100 * s.pass_rate_ci_high:.1f}%]" in text


def test_text_markdown_html_and_to_dict_show_the_same_numbers():
    report = Report(
        [
            ItemResult(
                i,
                i,
                f"p{i}",
                ["a", "b"],
                {"x": [Grade(float(i % 3 == 0), i % 3 == 0), Grade(0.5, True)], "y": [Grade(i / 10, i >= 5)] * 2},
            )
            for i in range(10)
        ],
        ["x", "y"],
    )
    text, md, page = _cells_text(report), _cells_markdown(report), _cells_html(report)
    assert text == md == page
    header = report.table().splitlines()[0]
    cols = re.split(r"\s{2,}", header.strip())
    for row, stats in zip(text, report.to_dict()["stats"]):
        cell = dict(zip(cols, row))
        assert cell["grader"] == stats["grader"]
        assert cell["mean"] == f"{stats['mean']:.3f}"
        assert cell["SE"] == f"{stats['se']:.3f}"
        assert cell["95% CI"] == f"[{stats['ci_low']:.3f}, {stats['ci_high']:.3f}]"
        assert cell["pass rate"] == f"{100 * stats['pass_rate']:.1f}%"
        low, high = 100 * stats["pass_rate_ci_low"], 100 * stats["pass_rate_ci_high"]
        assert cell["pass 95% CI"] == f"[{low:.1f}%, {high:.1f}%]"


def test_to_dict_round_trip_keeps_the_new_fields():
    report = _report([[1.0, 0.0]] * 3 + [[1.0, 1.0]])
    again = Report.from_dict(report.to_dict())
    assert again.to_dict()["stats"] == report.to_dict()["stats"]
    assert {"items", "pass_rate_se", "pass_rate_ci_low", "pass_rate_ci_high"} <= set(report.to_dict()["stats"][0])


# ------------------------------------------------------------------------------ plots


def _bars(ax):
    """(center, height, width) of every drawn bar with a non-zero height."""
    out = []
    for p in ax.patches:
        if p.get_height() > 0:
            out.append((p.get_x() + p.get_width() / 2, p.get_height(), p.get_width()))
    return sorted(out)


def test_half_zero_half_one_draws_two_bars_at_0_and_1():
    import matplotlib.pyplot as plt

    fig = _report([[0.0]] * 5 + [[1.0]] * 5).plot()
    ax = fig.axes[0]
    bars = _bars(ax)
    assert [(round(c, 6), h) for c, h, _ in bars] == [(0.0, 5), (1.0, 5)]
    assert all(w <= 0.2 for _, _, w in bars)  # two bars, not one block over [0, 1]
    lo, hi = ax.get_xlim()
    assert lo <= 0.0 and hi >= 1.0
    plt.close(fig)


def test_all_zero_scores_draw_one_bar_at_0_on_a_0_1_axis():
    import matplotlib.pyplot as plt

    fig = _report([[0.0]] * 6).plot()
    ax = fig.axes[0]
    bars = _bars(ax)
    assert len(bars) == 1 and bars[0][0] == pytest.approx(0.0) and bars[0][1] == 6
    assert bars[0][0] + bars[0][2] / 2 < 0.25  # not a bar over [0, 0.5]
    lo, hi = ax.get_xlim()
    assert -0.2 <= lo <= 0.0 and 1.0 <= hi <= 1.2  # the score axis is [0, 1], not [-0.5, 0.5]
    plt.close(fig)


def test_many_distinct_scores_use_bins_over_0_1():
    import matplotlib.pyplot as plt

    scores = [[i / 97] for i in range(98)]
    fig = _report(scores, threshold=0.5).plot()
    ax = fig.axes[0]
    bars = _bars(ax)
    assert sum(h for _, h, _ in bars) == 98
    assert all(-1e-9 <= c - w / 2 and c + w / 2 <= 1.0 + 1e-9 for c, _, w in bars)
    assert len({round(w, 9) for _, _, w in bars}) == 1  # equal-width bins
    lo, hi = ax.get_xlim()
    assert lo <= 0.0 and hi >= 1.0
    plt.close(fig)
