"""The tailgate module's build backend (PEP 517), standard library only, so that
`pip install client/python` works in any venv without reaching a package index: pip's isolated
build environment needs nothing installed (pyproject.toml: requires = []). The setuptools a venv
gets from ensurepip cannot build a wheel without the `wheel` package, which is not there offline.

The wheel holds the pure-Python module, plus tailgate._native (the span in C++) when it compiles
here: a C++20 compiler (CXX, else g++), Python's headers (python3-dev) and the wire encoder's
sources (agent/ in the repository, or in an sdist) are needed. When any is missing the wheel is
pure Python and the module uses its pure-Python span. TAILGATE_BUILD_NATIVE=0 (or pip's
--config-settings native=off) skips the C++ span.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "tailgate"
# The repository's agent/ (pip builds a source folder in place), or an sdist's copy of it.
AGENT_DIRS = [os.path.join(HERE, "..", "..", "agent"), os.path.join(HERE, "agent")]
# What tailgate._native compiles from agent/ (the encoder), and includes from it.
AGENT_SOURCES = ["wire/encode.cpp"]
AGENT_HEADERS = ["wire/encode.hpp", "wire/span_record.hpp", "model/span.hpp"]


def _version() -> str:
    with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as f:
        return re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M).group(1)


def _metadata() -> str:
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {_version()}\n"
            "Summary: tailgate's Python client: spans into the tailgate agent's shared-memory "
            "ring through libtailgate.so\n")


def _package_files():
    """(path in the wheel, path on disk) of the pure-Python module."""
    package = os.path.join(HERE, NAME)
    for name in sorted(os.listdir(package)):
        if name.endswith(".py"):
            yield f"{NAME}/{name}", os.path.join(package, name)


def _agent_dir():
    for directory in AGENT_DIRS:
        if all(os.path.exists(os.path.join(directory, f)) for f in AGENT_SOURCES + AGENT_HEADERS):
            return os.path.abspath(directory)
    return None


def _native_wanted(config_settings) -> bool:
    setting = (config_settings or {}).get("native", os.environ.get("TAILGATE_BUILD_NATIVE", ""))
    return str(setting).strip().lower() not in ("0", "off", "false", "no")


def _build_native(out_dir: str):
    """Compiles tailgate._native into out_dir; its path, or None (with the reason on stderr)."""
    agent = _agent_dir()
    include = sysconfig.get_paths().get("include", "")
    if agent is None:
        return _skip("the wire encoder's sources (agent/) are not beside the module")
    if not os.path.exists(os.path.join(include, "Python.h")):
        return _skip(f"Python.h not found in {include} (install python3-dev)")
    native = os.path.join(HERE, "native")
    sources = sorted(os.path.join(native, f) for f in os.listdir(native) if f.endswith(".cpp"))
    sources += [os.path.join(agent, f) for f in AGENT_SOURCES]
    out = os.path.join(out_dir, "_native" + sysconfig.get_config_var("EXT_SUFFIX"))
    compiler = shlex.split(os.environ.get("CXX", "g++"))
    # As client/CMakeLists.txt builds it: hidden symbols, and link-time optimization (one span's
    # calls cross its files; about 20 ns a span without).
    flags = ["-std=c++20", "-O2", "-DNDEBUG", "-fPIC", "-shared", "-fvisibility=hidden",
             "-fvisibility-inlines-hidden", "-I", agent, "-I", include]
    for extra in (["-flto=auto"], []):
        command = compiler + flags + extra + sources + ["-o", out]
        try:
            result = subprocess.run(command, capture_output=True, text=True)
        except OSError as e:
            return _skip(f"no C++ compiler ({e})")
        if result.returncode == 0:
            return out
    return _skip("the compiler failed:\n" + result.stderr[-2000:])


def _skip(reason: str):
    print(f"tailgate: building the pure-Python module only: {reason}", file=sys.stderr)
    return None


def _wheel_tag(native: bool) -> str:
    if not native:
        return "py3-none-any"
    python = f"cp{sys.version_info.major}{sys.version_info.minor}"
    platform = re.sub(r"[^A-Za-z0-9]", "_", sysconfig.get_platform())
    return f"{python}-{python}-{platform}"


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


# PEP 517's hooks.

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with tempfile.TemporaryDirectory(prefix="tailgate-wheel-") as tmp:
        files = list(_package_files())
        native = _build_native(tmp) if _native_wanted(config_settings) else None
        if native:
            files.append((f"{NAME}/{os.path.basename(native)}", native))
        tag = _wheel_tag(native is not None)
        dist_info = f"{NAME}-{_version()}.dist-info"
        generated = {
            f"{dist_info}/METADATA": _metadata(),
            f"{dist_info}/WHEEL": (f"Wheel-Version: 1.0\nGenerator: {NAME}-build_backend\n"
                                   f"Root-Is-Purelib: {'false' if native else 'true'}\n"
                                   f"Tag: {tag}\n"),
        }
        filename = f"{NAME}-{_version()}-{tag}.whl"
        record = []
        with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w",
                             zipfile.ZIP_DEFLATED) as wheel:
            for arcname, path in files:
                with open(path, "rb") as f:
                    data = f.read()
                wheel.writestr(arcname, data)
                record.append(_record_line(arcname, data))
            for arcname, text in generated.items():
                wheel.writestr(arcname, text)
                record.append(_record_line(arcname, text.encode()))
            record.append(f"{dist_info}/RECORD,,")
            wheel.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return filename


def build_sdist(sdist_directory, config_settings=None):
    """The module, its C++ span and the encoder's sources from agent/, so that a wheel built
    from it can still have tailgate._native."""
    base = f"{NAME}-{_version()}"
    filename = f"{base}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as sdist:
        for name in ("pyproject.toml", "build_backend.py", NAME, "native"):
            sdist.add(os.path.join(HERE, name), f"{base}/{name}",
                      filter=lambda info: None if "__pycache__" in info.name else info)
        agent = _agent_dir()
        for f in (AGENT_SOURCES + AGENT_HEADERS) if agent else []:
            sdist.add(os.path.join(agent, f), f"{base}/agent/{f}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        data = _metadata().encode()
        info.size = len(data)
        sdist.addfile(info, io.BytesIO(data))
    return filename
