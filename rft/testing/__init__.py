"""Helpers for testing with rft: a tiny local model, and suite assertions for your own tests."""

from rft.testing._suite_assert import assert_suite
from rft.testing._tiny import TINY_CHAT_TEMPLATE, tiny_model, tiny_model_dir

__all__ = ["TINY_CHAT_TEMPLATE", "assert_suite", "tiny_model", "tiny_model_dir"]
