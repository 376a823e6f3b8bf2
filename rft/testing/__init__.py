"""Helpers for testing with rft: a tiny local model (and, with the eval issue, suite assertions)."""

from rft.testing._tiny import TINY_CHAT_TEMPLATE, tiny_model, tiny_model_dir

__all__ = ["TINY_CHAT_TEMPLATE", "tiny_model", "tiny_model_dir"]
