"""Shared test setup: nothing may reach a hub, plots render off-screen, tiny models are local."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model_path():
    """Folder of the tiny Qwen2 test model (built once per machine, cached)."""
    from rft.testing import tiny_model_dir

    return tiny_model_dir()


@pytest.fixture(scope="session")
def tiny(tiny_model_path):
    """``(model, tokenizer)`` of the tiny test model; tests must not train this shared copy."""
    from rft.models import load_model

    return load_model(tiny_model_path)
