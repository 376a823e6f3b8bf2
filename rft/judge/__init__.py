"""LLM-as-judge machinery: backends, the reply cache, verdict parsing, prompts, agreement.

The graders themselves (``score_model``, ``label_model``, :func:`rft.rubric_judge`) live in
:mod:`rft.graders._model`; this package holds what they run on. Nothing heavy is imported here:
the ``openai`` SDK and torch load only when a backend first needs them.
"""

from rft.judge._agreement import judge_agreement
from rft.judge._backends import (
    Backend,
    CallableBackend,
    JudgeReply,
    JudgeRequest,
    LocalBackend,
    OpenAIBackend,
    ScriptedBackend,
    backend_from_config,
)
from rft.judge._cache import JudgeCache, cache_key, default_cache_path
from rft.judge._engine import judge_stats
from rft.judge._parsing import Verdict, parse_label, parse_score
from rft.judge._prompts import candidate_block, load_prompt, nonce_for, truncate

__all__ = [
    "Backend",
    "CallableBackend",
    "JudgeCache",
    "JudgeReply",
    "JudgeRequest",
    "LocalBackend",
    "OpenAIBackend",
    "ScriptedBackend",
    "Verdict",
    "backend_from_config",
    "cache_key",
    "candidate_block",
    "default_cache_path",
    "judge_agreement",
    "judge_stats",
    "load_prompt",
    "nonce_for",
    "parse_label",
    "parse_score",
    "truncate",
]
