"""The fixtures the Python client's tests share (tests/client/test_python_*.py): the real agent and
sink in a temp dir, and one tracer for the module (one per process; ctest runs each file in a
process of its own, with tailgate._native's span and with the pure-Python one). A test file that
needs another stack or tracer defines its own, which takes precedence."""

import tempfile

import pytest

import tailgate
from agent_stack import Stack  # tests/support: the real agent and sink in a temp dir


@pytest.fixture(scope="module")
def stack():
    with tempfile.TemporaryDirectory(prefix="tailgate-py-") as tmp:
        s = Stack(tmp)
        yield s
        s.close()


@pytest.fixture(scope="module")
def tracer(stack):
    t = tailgate.Tracer("signal-bot", service_version="2.1.0", directory=stack.ring,
                        resource={"deployment.environment": "test",
                                  "vault.token": "s.resource-secret"})
    assert t.error == ""
    yield t
    t.close()
