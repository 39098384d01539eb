"""The examples in the docstrings of ``lab`` are run: a docstring that shows a wrong result fails here."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lab

SCRIPTS = ("lab.__main__", "lab.learn.port_rlhf", "lab.learn.port_rft")  # importing them runs them
MODULES = sorted(m.name for m in pkgutil.walk_packages(lab.__path__, "lab.") if m.name not in SCRIPTS)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"
