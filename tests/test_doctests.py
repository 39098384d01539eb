"""The examples in the docstrings of ``lab`` are run: a docstring that shows a wrong result fails here."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lab

MODULES = sorted(m.name for m in pkgutil.walk_packages(lab.__path__, "lab.") if m.name != "lab.__main__")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} docstring examples failed"
