"""Suites and models shared by the EvalCallback tests (tiny model, fp32 on CPU)."""

from __future__ import annotations

import pytest


def _check(name: str, reference: str) -> dict:
    return {"type": "string_check", "name": name, "input": "{{sample.output_text}}", "reference": reference,
            "operation": "like"}


@pytest.fixture
def probe():
    """Two graders on sampled outputs (2 per item, temperature 1, seeded): fractional values that
    change with every weight update, so equal numbers mean the same weights produced them."""
    return {
        "name": "probe",
        "data": [{"prompt": f"Say {i}", "id": i} for i in range(6)],
        "graders": [_check("has_e", "e"), _check("has_q", "?")],
        "samples_per_item": 2,
        "generation": {"max_new_tokens": 6, "temperature": 1.0},
    }


@pytest.fixture
def asks():
    """The tiny model answers "??????" to these prompts before training (greedy): pass rate 1."""
    return {
        "name": "asks",
        "data": [{"prompt": f"What is {i} + 2?", "id": i} for i in range(12)],
        "graders": [_check("has_q", "?")],
        "generation": {"max_new_tokens": 6},
    }


@pytest.fixture
def says_yes():
    """What supervised training on " yes yes yes yes" teaches: pass rate 0 before, 1 after."""
    return {
        "name": "yes",
        "data": [{"prompt": f"What is {i} + 3?", "id": i} for i in range(12)],
        "graders": [_check("says_yes", "yes")],
        "generation": {"max_new_tokens": 6},
    }


@pytest.fixture
def fresh_tiny(tiny_model_path):
    """A fresh ``(model, tokenizer)`` of the tiny model that a test may train."""
    from rft.models import load_model

    return load_model(tiny_model_path)
