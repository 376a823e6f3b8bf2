"""Per-row reward routing: a grader judges only its suite's rows; abstentions are not unscored."""

from __future__ import annotations

import pickle

import pytest

import rft
from rft.tuning._rewards import TooManyUnscoredError, reward_functions
from rft.tuning._routing import ROUTE_COLUMN, RoutedReward, route_rewards, routed_rows

YES = rft.StringCheck(name="says_yes", reference="yes", operation="ilike")
SUM = rft.ExactMatch(name="sum_ok", reference="{{item.answer}}", extract="last_number", numeric=True)


def _routed(*graders, routes=("chat",), max_unscored_frac=0.5):
    return route_rewards(reward_functions(list(graders), max_unscored_frac=max_unscored_frac), routes)


def test_each_grader_judges_only_its_rows():
    [yes], [total] = _routed(YES), _routed(SUM, routes=["sums"])
    batch = {
        "prompts": ["a", "b", "c"],
        "completions": ["yes", "4", "yes 5"],
        ROUTE_COLUMN: ["chat", "sums", "sums"],
        "answer": [None, "4", "5"],
    }
    assert yes(**batch) == [1.0, None, None]
    assert total(**batch) == [None, 1.0, 1.0]


def test_abstentions_do_not_count_as_unscored():
    # 3 of 4 rows belong to another suite and the grader cannot read their (absent) answer: routed,
    # it never sees them, so the unscored policy (at most half) holds and nothing is counted.
    [total] = _routed(SUM, routes=["sums"])
    batch = {
        "prompts": ["p"] * 4,
        "completions": ["4", "x", "y", "z"],
        ROUTE_COLUMN: ["sums", "chat", "chat", "chat"],
        "answer": ["4", None, None, None],
    }
    assert total(**batch) == [1.0, None, None, None]
    assert (total.scored, total.unscored) == (1, 0)
    # Unrouted, the same grader would be stopped by the policy: 3 of 4 unscored.
    [plain] = reward_functions([SUM])
    with pytest.raises(TooManyUnscoredError):
        plain(**{k: v for k, v in batch.items() if k != ROUTE_COLUMN})


def test_the_unscored_policy_still_applies_to_the_rows_of_the_route():
    [total] = _routed(SUM, routes=["sums"])
    batch = {
        "prompts": ["p"] * 3,
        "completions": ["4", "4", "4"],
        ROUTE_COLUMN: ["sums", "sums", "chat"],
        "answer": [None, None, "4"],
    }
    with pytest.raises(TooManyUnscoredError, match="2 of 2"):
        total(**batch)


def test_a_batch_without_routes_is_an_error_naming_the_column():
    [yes] = _routed(YES)
    with pytest.raises(rft.DataError, match=ROUTE_COLUMN):
        yes(prompts=["a"], completions=["yes"])


def test_routed_rewards_pass_through_reward_functions_and_pickle():
    [yes] = _routed(YES)
    assert reward_functions([yes]) == [yes]
    again = pickle.loads(pickle.dumps(yes))
    assert isinstance(again, RoutedReward) and again.routes == yes.routes
    assert again(prompts=["a"], completions=["YES"], **{ROUTE_COLUMN: ["chat"]}) == [1.0]


def test_mixed_rows_get_their_route_and_every_column():
    rows = routed_rows({"target": [{"prompt": "p", "name": "Ada"}], "sums": [{"prompt": "q", "answer": "4"}]})
    assert [sorted(r) for r in rows] == [["answer", "name", "prompt", ROUTE_COLUMN]] * 2
