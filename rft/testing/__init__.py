"""Helpers for testing with rft: the tiny local model, suite assertions for your own tests, and a
scripted OpenAI-compatible server on loopback for testing judge clients against faults."""

from rft.auditing import assert_audit_clean
from rft.models import TINY_CHAT_TEMPLATE, tiny_model, tiny_model_dir
from rft.testing._fault_server import FaultServer
from rft.testing._suite_assert import assert_suite

__all__ = ["FaultServer", "TINY_CHAT_TEMPLATE", "assert_audit_clean", "assert_suite", "tiny_model", "tiny_model_dir"]
