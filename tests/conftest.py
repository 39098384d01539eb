"""Test fixtures: an isolated LAB_HOME per session that shares the machine's model cache.

The embedded model is dequantized once per machine (about 40 s) into the normal cache and linked into the test
LAB_HOME, so tests never write to the user's runs or feedback but do not redo that work every session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REAL_HOME = Path(os.environ.get("LAB_HOME") or Path.home() / ".cache" / "rlhf-rft-lab")


@pytest.fixture(scope="session", autouse=True)
def lab_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("lab_home")
    (REAL_HOME / "models").mkdir(parents=True, exist_ok=True)
    (home / "models").symlink_to(REAL_HOME / "models", target_is_directory=True)
    os.environ["LAB_HOME"] = str(home)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="session")
def tiny_model(lab_home) -> Path:
    from lab import models

    return models.resolve("tiny")


@pytest.fixture
def fresh_home(tmp_path, monkeypatch, lab_home) -> Path:
    """A LAB_HOME of its own for one test (runs, feedback), still sharing the model cache."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(lab_home / "models", target_is_directory=True)
    monkeypatch.setenv("LAB_HOME", str(home))
    return home


def kernel_sandbox_missing() -> str:
    """Why this kernel cannot hold the python-grader sandbox, asked without the lab's code ('' when it can)."""
    import ctypes.util

    import landlock

    try:
        landlock.landlock_abi_version()
    except OSError as e:
        return f"no Landlock here ({e})"
    return "" if ctypes.util.find_library("seccomp") else "no libseccomp here"


@pytest.fixture
def python_graders(monkeypatch):
    """``LAB_PYTHON_GRADER=1``; skips where the kernel lacks Landlock or libseccomp is missing (python graders stay
    off there, which tests/test_sandbox.py checks), and fails where the kernel has both but the lab's probe says no."""
    from lab.grading import sandbox

    monkeypatch.setenv("LAB_PYTHON_GRADER", "1")
    missing = kernel_sandbox_missing()
    if missing:
        pytest.skip(missing)
    found = sandbox.isolation()
    assert found.ok, found.reason
