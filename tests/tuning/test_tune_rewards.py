"""The reward adapter: unique names, unscored metric and reasons, the stop-on-unscored policy."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle

import pytest

import rft
from rft.graders._async import AsyncCall
from rft.tuning import TooManyUnscoredError, reward_functions
from rft.tuning._rewards import GraderReward, reward_weights, unique_names, weighted


@pytest.mark.parametrize(
    "names, expected",
    [
        pytest.param(["a", "b"], ["a", "b"], id="unique names kept"),
        pytest.param(["a", "a", "a"], ["a", "a_2", "a_3"], id="repeats numbered"),
        pytest.param(["a", "a_2", "a"], ["a", "a_2", "a_3"], id="suffix never collides with a real name"),
    ],
)
def test_unique_names(names, expected):
    assert unique_names(names) == expected


def _check(name="answer"):
    return rft.StringCheck(name=name, reference="{{item.answer}}")


class _Log:
    def __init__(self):
        self.metrics, self.extra = [], []

    def metric(self, name, value):
        self.metrics.append((name, value))

    def column(self, name, values):
        self.extra.append((name, values))


def test_metric_and_reasons_reach_trl_hooks():
    log = _Log()
    [fn] = reward_functions([_check()], log_reasons=True)
    scores = fn(prompts=["p"] * 3, completions=["4", "5", "4"], answer=["4", "4", None],
                log_metric=log.metric, log_extra=log.column)
    assert scores[:2] == [1.0, 0.0]
    assert log.metrics == [("rft/answer/unscored_frac", pytest.approx(0.0 if scores[2] is not None else 1 / 3))]
    assert log.extra[0][0] == "reason/answer" and len(log.extra[0][1]) == 3 and "pass" in log.extra[0][1][0]


def test_stops_when_too_much_is_unscored_and_says_why():
    [fn] = reward_functions([_check()], max_unscored_frac=0.5)
    fn(prompts=["p"] * 2, completions=["4", "4"], answer=["4", "4"])  # all scored: fine
    with pytest.raises(TooManyUnscoredError) as info:
        fn(prompts=["p"] * 4, completions=["4"] * 4, other=["x"] * 4)  # no 'answer' column at all
    text = str(info.value)
    assert "'answer' could not score 4 of 4" in text and "max_unscored_frac=0.5" in text and "answer" in text


@pytest.mark.parametrize(
    "scores, stops",
    [
        pytest.param([None, 1.0], False, id="half unscored is at the 0.5 limit: abstentions, training goes on"),
        pytest.param([None, None, 1.0], True, id="two thirds unscored is over the limit: stop"),
        pytest.param([0.0, 0.0, 0.0], False, id="all judged bad is signal, not unscored"),
    ],
)
def test_unscored_share_limit(scores, stops):
    def flaky(completions, **kwargs):
        return list(scores)

    [fn] = reward_functions([flaky], max_unscored_frac=0.5)
    call = lambda: fn(prompts=["p"] * len(scores), completions=["x"] * len(scores))  # noqa: E731
    if stops:
        with pytest.raises(TooManyUnscoredError, match="'flaky' could not score 2 of 3"):
            call()
    else:
        assert call() == scores


def test_duplicate_names_get_separate_rewards_and_wrappers_pickle():
    third = "answer_in_tags" if "answer_in_tags" in rft.list_catalogue() else _check("x")
    fns = reward_functions([_check(), _check(), third])
    assert [f.__name__ for f in fns][:2] == ["answer", "answer_2"]
    clone = pickle.loads(pickle.dumps(fns[1]))
    assert clone.__name__ == "answer_2" and clone(prompts=["p"], completions=["4"], answer=["4"]) == [1.0]


@pytest.mark.parametrize("log_reasons", [False, True])
@pytest.mark.parametrize(
    "column, words",
    [
        pytest.param("12", ["'answer'", "str", "list of 2"], id="a string is not split into characters"),
        pytest.param(["1"], ["'answer'", "1 value", "list of 2"], id="a short column is not dropped"),
    ],
)
def test_columns_that_do_not_fit_the_completions_are_caller_errors(column, words, log_reasons):
    tagged = rft.StringCheck(
        name="tagged", input="{{sample.output_text}}", reference="<answer>{{item.answer}}</answer>"
    )
    [fn] = reward_functions([tagged], log_reasons=log_reasons)
    log = _Log()
    with pytest.raises(rft.GraderError) as info:
        fn(prompts=["p", "p"], completions=["<answer>1</answer>", "<answer>2</answer>"], answer=column,
           trainer_state=None, log_metric=log.metric, log_extra=log.column, completion_ids=[[1], [2]])
    for word in words:
        assert word in str(info.value)
    assert not isinstance(info.value, TooManyUnscoredError)  # the caller's mistake, not the grader's


def test_async_rewards_reject_bad_columns_too():
    [fn] = reward_functions([_AsyncEchoAnswer(name="judge")])
    with pytest.raises(rft.GraderError, match="'answer'"):
        asyncio.run(fn(prompts=["p", "p"], completions=["1", "2"], answer="12"))


def test_plain_trl_reward_functions_are_wrapped_too():
    def length_reward(completions, **kwargs):
        return [float(len(c) < 3) for c in completions]

    [fn] = reward_functions([length_reward])
    assert fn.__name__ == "length_reward" and fn(prompts=["p", "p"], completions=["ab", "abcd"]) == [1.0, 0.0]


@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class _AsyncEcho(AsyncCall, rft.Grader):
    """A grader whose work is a coroutine, like a judge's HTTP call."""

    type = "test_async_echo"

    async def _aevaluate(self, batch, rich):
        await asyncio.sleep(0)
        return [1.0 if t else 0.0 for t in batch.texts]


@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class _AsyncEchoAnswer(_AsyncEcho):
    type = "test_async_echo_answer"

    async def _aevaluate(self, batch, rich):
        await asyncio.sleep(0)
        return [1.0 if t == a else 0.0 for t, a in zip(batch.texts, batch.item_column("answer"))]


@pytest.mark.parametrize("log_reasons", [False, True])
def test_one_reward_class_is_sync_or_async_by_what_it_wraps_and_pickles_as_such(log_reasons):
    sync = GraderReward(_check(), "answer", log_reasons=log_reasons)
    judge = GraderReward(_AsyncEchoAnswer(name="judge"), "judge", log_reasons=log_reasons, max_unscored_frac=0.0)
    assert isinstance(judge, GraderReward) and type(judge).__name__ == "GraderReward"
    assert not asyncio.iscoroutinefunction(type(sync).__call__)
    assert asyncio.iscoroutinefunction(type(judge).__call__)  # what TRL's is_async_callable reads
    log = _Log()
    assert asyncio.run(judge(prompts=["p"] * 2, completions=["1", "2"], answer=["1", "1"],
                             log_metric=log.metric, log_extra=log.column)) == [1.0, 0.0]
    assert [name for name, _ in log.extra] == (["reason/judge"] if log_reasons else [])
    for reward in (sync, judge):
        clone = pickle.loads(pickle.dumps(reward))  # AsyncGRPO sends rewards to another process
        assert type(clone) is type(reward) and clone.__name__ == reward.__name__
        assert (clone.calls, clone.log_reasons) == (reward.calls, log_reasons)


def test_async_plain_reward_functions_stay_async():
    async def shout(completions, **kwargs):
        await asyncio.sleep(0)
        return [float(c.isupper()) for c in completions]

    [fn] = reward_functions([shout])
    assert asyncio.iscoroutinefunction(type(fn).__call__)
    assert asyncio.run(fn(prompts=["p", "p"], completions=["HEY", "hey"])) == [1.0, 0.0]


def test_async_graders_stay_async_and_keep_the_policy():
    [fn] = reward_functions([_AsyncEcho(name="judge")], max_unscored_frac=0.0)
    assert asyncio.iscoroutinefunction(type(fn).__call__)
    log = _Log()
    assert asyncio.run(fn(prompts=["p", "p"], completions=["yes", ""], log_metric=log.metric)) == [1.0, 0.0]
    assert log.metrics == [("rft/judge/unscored_frac", 0.0)]


@pytest.mark.parametrize(
    "weights, expected",
    [
        pytest.param(None, None, id="no weights: TRL's default of 1 each"),
        pytest.param([2, 0.5], [2.0, 0.5], id="a list in grader order"),
        pytest.param({"b": 0.5}, [1.0, 0.5], id="a mapping; missing names weigh 1"),
    ],
)
def test_reward_weights(weights, expected):
    fns = reward_functions([_check("a"), _check("b")])
    assert reward_weights(fns, weights) == expected


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param({"c": 1}, id="unknown name"),
        pytest.param([1], id="wrong length"),
        pytest.param(["x", 1], id="not a number"),
    ],
)
def test_bad_weights(weights):
    fns = reward_functions([_check("a"), _check("b")])
    with pytest.raises(rft.ConfigError):
        reward_weights(fns, weights)


def test_weighted_matches_trl_nansum():
    assert weighted([[1.0, None, None], [0.0, 1.0, None]], [2.0, 0.5]) == [2.0, 0.5, None]
