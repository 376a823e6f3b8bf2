"""rft.EvalCallback's own logic: settings checked before training, metric names, unscored kept
apart from 0, and the context managers that leave training as it was."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import rft
from rft import Grade
from rft.eval import ItemResult, Report
from rft.eval._callback import _report_metrics, preserved_rng, preserved_train_modes


def _suite(name, graders=("g",), **extra):
    return {"name": name, "data": [{"prompt": "hi", "id": 0}],
            "graders": [{"type": "string_check", "name": g, "input": "{{sample.output_text}}", "reference": "x"}
                        for g in graders],
            **extra}


TWO = [_suite("target", ("a", "b")), _suite("guard", ("c",))]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        pytest.param(dict(suites=TWO, every_n_steps=0), "every_n_steps", id="a step interval of 0 never comes"),
        pytest.param(dict(suites=TWO, every_n_steps=True), "every_n_steps", id="a bool is not a step count"),
        pytest.param(dict(suites=TWO, eval_on_start=False), "nothing would be evaluated", id="no trigger at all"),
        pytest.param(dict(suites=[], every_n_steps=1), "non-empty list", id="no suites"),
        pytest.param(dict(suites=[TWO[0], TWO[0]], every_n_steps=1), "'target' repeats", id="two suites, one name"),
        pytest.param(dict(suites=[42], every_n_steps=1), r"suites\[0\].*cannot use a int", id="not a suite"),
        pytest.param(dict(suites=TWO, every_n_steps=1, limit=0), "limit", id="a limit of 0 rows"),
        pytest.param(dict(suites=TWO, every_n_steps=1, guards={"nope": 0.1}), "guards.nope: no suite named 'nope'",
                     id="a guard must name a suite"),
        pytest.param(dict(suites=TWO, every_n_steps=1, guards={"guard/zz": 0.1}), "suite 'guard' has no grader 'zz'",
                     id="a guard's grader must be one of its suite"),
        pytest.param(dict(suites=TWO, every_n_steps=1, guards={"guard": 1.5}), "between 0 and 1",
                     id="a tolerance is a drop in [0, 1]"),
        pytest.param(dict(suites=TWO, every_n_steps=1, early_stop_at=0.9), "needs its target suite named",
                     id="two suites and no guard: which one is the target?"),
        pytest.param(dict(suites=TWO, every_n_steps=1, guards=["guard"], early_stop_at=0.9, eval_on_start=False),
                     "leave eval_on_start=True", id="decisions compare against the start"),
        pytest.param(dict(suites=TWO, every_n_steps=1, guard_rule="strict"), "unknown guard_rule",
                     id="unknown guard rule"),
        pytest.param(dict(suites=TWO, every_n_steps=1, metric="median"), "unknown metric", id="unknown metric"),
        pytest.param(dict(suites=TWO, every_n_steps=1, best_metric="target/a/median"), "not an rft metric",
                     id="best_metric must be a logged metric"),
        pytest.param(dict(suites=TWO, every_n_steps=1, best_metric="rft/target/mean"), "names no grader",
                     id="best_metric must name a grader"),
        pytest.param(dict(suites=[_suite("s", ("g", "g"))], every_n_steps=1), "'g' repeats",
                     id="grader names are unique"),
    ],
)
def test_bad_settings_fail_before_training(kwargs, match):
    suites = kwargs.pop("suites")
    with pytest.raises(rft.ConfigError, match=match):
        rft.EvalCallback(suites, **kwargs)


def test_it_is_a_trainer_callback_and_resolves_its_decisions():
    from transformers import TrainerCallback

    cb = rft.EvalCallback(TWO, every_n_steps=5, guards=["guard"], early_stop_at=0.8, metric="mean",
                          best_metric="target/b/unscored_frac")
    assert isinstance(cb, TrainerCallback)
    assert isinstance(cb, rft.EvalCallback) and isinstance(cb, rft.eval.EvalCallback)
    (guard,) = cb.guards
    assert (guard.suite, guard.grader, guard.metric, guard.tolerance) == ("guard", "c", "mean", 0.05)
    # The target is the one suite that is no guard.
    assert (cb.target.suite, cb.target.grader, cb.target.threshold) == ("target", "a", 0.8)
    assert cb.best_metric == "rft/target/b/unscored_frac" and cb.greater_is_better is False  # fewer unscored is better
    assert cb.metric_names()[:3] == ["rft/target/a/mean", "rft/target/a/pass_rate", "rft/target/a/unscored_frac"]


def test_cost_settings_replace_the_suites_own(tmp_path):
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"prompt": f"p{i}"}) + "\n" for i in range(5)))
    path = tmp_path / "s.yaml"
    path.write_text("name: file\ndata: rows.jsonl\nlimit: 3\nsamples_per_item: 2\n"
                    "generation: {max_new_tokens: 64, temperature: 0.7}\ngraders: [answer_in_tags]\n")
    (suite,) = rft.EvalCallback(str(path), every_n_steps=1, limit=2, max_new_tokens=8).suites
    assert suite.data == str(tmp_path / "rows.jsonl")  # relative to the suite file
    assert (suite.limit, suite.samples_per_item) == (2, 2)
    assert suite.generation == {"max_new_tokens": 8, "temperature": 0.7}
    assert isinstance(suite.graders[0], rft.Grader)  # built once, before training


def test_unscored_is_reported_apart_from_zero():
    no_field = Grade.unscored_because("no field")
    items = [ItemResult(0, 0, "p", ["x", "y"], {"g": [Grade(0.0, False), Grade.unscored_because("judge down")],
                                                "h": [no_field, no_field]})]
    metrics = _report_metrics("s", Report(items, ["g", "h"]))
    assert metrics == {"rft/s/g/mean": 0.0, "rft/s/g/pass_rate": 0.0, "rft/s/g/unscored_frac": 0.5,
                       "rft/s/h/unscored_frac": 1.0}  # nothing scored: no mean, not a mean of 0


def test_random_states_are_restored():
    import random

    import numpy as np
    import torch

    before = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    with preserved_rng():
        random.seed(1), np.random.seed(1), torch.manual_seed(1)
        random.random(), np.random.rand(), torch.rand(3)
    assert random.getstate() == before[0]
    assert (np.random.get_state()[1] == before[1]).all()
    assert torch.equal(torch.get_rng_state(), before[2])


def test_each_submodule_gets_its_own_mode_back():
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    model.train()
    model[1].eval()  # frozen by the user: model.train() afterwards would switch it back on
    with preserved_train_modes(model):
        assert not any(m.training for m in model.modules())
        model.train()  # what rft.models.generate does on its way out
    assert [m.training for m in model.modules()] == [True, True, False]


def test_importing_the_callback_stays_light():
    code = ("import json, sys, rft, rft.eval\nfrom rft.eval._callback import EvalCallback\n"
            "print(json.dumps([m for m in ('torch', 'transformers', 'trl') if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == []


def test_a_row_the_suite_cannot_evaluate_fails_before_training():
    bad = {"name": "s", "data": [{"prompt": "hi"}, {"question": "no prompt here"}],
           "graders": [{"type": "string_check", "name": "g", "input": "{{sample.output_text}}", "reference": "x"}]}
    with pytest.raises(rft.DataError, match=r"suite 's': row 1: .*'prompt'"):
        rft.EvalCallback(bad, every_n_steps=1)
    rft.EvalCallback(bad, every_n_steps=1, limit=1)  # the first row alone is fine
