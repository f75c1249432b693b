"""The Python module installed as a user installs it in a virtualenv: `pip install client/python`
with no package index, then imported by the venv's Python (not the source tree's) and sending a
span through the real agent's ring to the real sink (tests/support/agent_stack.py). Once with a
compiler that fails (the pure-Python wheel), once as it is (tailgate._native built)."""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from agent_stack import Stack  # tests/support: the real agent and sink in a temp dir

MODULE = os.path.join(os.path.dirname(__file__), "..", "..", "client", "python")
SEND = """
import json, os, sys, tailgate
where = os.path.realpath(tailgate.__file__)
assert where.startswith(os.path.realpath(sys.prefix)), where
t = tailgate.init_tracing("venv-test")  # TAILGATE_RING_DIRECTORY, TAILGATE_LIBRARY
assert t.error == "", t.error
with t.span("venv.span", installed="venv"):
    pass
print(json.dumps({"native": bool(t.native), "dropped": t.stats()["dropped"]}))
"""


@pytest.fixture(scope="module")
def venv():
    with tempfile.TemporaryDirectory(prefix="tailgate-venv-") as tmp:
        subprocess.run([sys.executable, "-m", "venv", os.path.join(tmp, "venv")], check=True)
        # libtailgate.so alone in a folder, as a user points the module at it: beside the build
        # tree's library sits the build tree's tailgate._native, which the module would load.
        os.mkdir(os.path.join(tmp, "lib"))
        shutil.copy(os.environ["TAILGATE_LIBRARY"], os.path.join(tmp, "lib", "libtailgate.so.0"))
        stack = Stack(tmp)
        try:
            yield tmp, stack
        finally:
            stack.close()


def install(tmp, **env):
    """pip install client/python into the venv: no index, pip's isolated build environment."""
    # Not the source tree's module, nor the suite's PYTHONPATH: only what pip installed.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    clean["TAILGATE_LIBRARY"] = os.path.join(tmp, "lib", "libtailgate.so.0")
    result = subprocess.run(
        [os.path.join(tmp, "venv", "bin", "pip"), "install", "--no-index", "--force-reinstall",
         "--disable-pip-version-check", "-v", os.path.abspath(MODULE)],
        env=dict(clean, **env), cwd=tmp, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return clean, result.stdout + result.stderr


def send(tmp, stack, env):
    """A span from the venv's Python into the agent's ring (TAILGATE_RING_DIRECTORY), through
    the libtailgate.so that TAILGATE_LIBRARY names; what the tracer said."""
    result = subprocess.run([os.path.join(tmp, "venv", "bin", "python"), "-c", SEND],
                            env=dict(env, TAILGATE_RING_DIRECTORY=stack.ring), cwd=tmp,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def natives(tmp):
    return glob.glob(os.path.join(tmp, "venv", "lib", "python3*", "site-packages", "tailgate",
                                  "_native*"))


def test_pure_python_when_the_extension_cannot_be_built(venv):
    tmp, stack = venv
    env, log = install(tmp, CXX="false")
    assert "pure-Python module only" in log
    assert natives(tmp) == []
    said = send(tmp, stack, env)
    assert said == {"native": False, "dropped": 0}
    spans = stack.spans(name="venv.span", count=1)
    assert len(spans) == 1


def test_native_span_built_and_installed(venv):
    tmp, stack = venv
    env, _ = install(tmp)
    assert len(natives(tmp)) == 1
    said = send(tmp, stack, env)
    assert said == {"native": True, "dropped": 0}
    spans = stack.spans(name="venv.span", count=2)
    assert len(spans) == 2
