"""Shared fixtures for the judge tests."""

import pytest

from rft.testing import FaultServer


@pytest.fixture
def serve():
    """``serve(script)`` starts a loopback :class:`~rft.testing.FaultServer` that replies as ``script``
    says; every server started in the test is stopped after it."""
    servers = []

    def start(script):
        server = FaultServer(script).start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()
