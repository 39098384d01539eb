"""One module per training method, each a ``@dataclass`` Config and ``train(cfg, run) -> summary``.

``train(method, config_dict, run)`` is the single entry point the worker calls: it turns the JSON config the user
gave into the method's dataclass (unknown keys are an error that names them) and runs it.
"""

from __future__ import annotations

import dataclasses
import importlib

from lab import LabError

METHODS = {"rft": "lab.methods.rft", "rlhf": "lab.methods.rlhf"}


def config_class(method: str):
    if method not in METHODS:
        raise LabError(f"unknown method '{method}': one of {', '.join(METHODS)}")
    return importlib.import_module(METHODS[method]).Config


def make_config(method: str, config: dict):
    """Build the method's Config from a dict, refusing keys it does not know."""
    cls = config_class(method)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise LabError(f"{method}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return cls(**config)


def train(method: str, config: dict, run) -> dict:
    module = importlib.import_module(METHODS[method]) if method in METHODS else None
    if module is None:
        raise LabError(f"unknown method '{method}': one of {', '.join(METHODS)}")
    return module.train(make_config(method, config), run)
