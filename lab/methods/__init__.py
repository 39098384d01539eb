"""The methods a run can use — ``rft`` and ``rlhf`` — and the one way a dict of options becomes a method's Config.

Each method is two modules: ``<method>_config.py`` (its ``@dataclass Config``, torch-free: the one schema of its
options, see ``lab.methods.schema``) and ``<method>.py`` (``train(cfg, run) -> summary``, the TRL side). The stages
an RLHF run chains (``reward_model``, ``rl``, ``preference``) are no methods of their own: ``rlhf.train`` calls their
``fit`` with the options its Config translates for them.

Every caller turns options into a Config here: ``runs.create`` (the UI, the API and the CLI start runs through it)
with :func:`normalize`, the worker with :func:`train`. Unknown names, old names, types and ranges are all checked
by the Config itself, so a bad option gets the same message wherever it came from.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from lab import LabError
from lab.methods.schema import Schema, field_key

METHODS = ("rft", "rlhf")


def config_class(method: str) -> type[Schema]:
    """The Config of ``method`` (``lab.methods.<method>_config.Config``), without importing torch."""
    if method not in METHODS:
        raise LabError("methods.unknown", method=method, methods=", ".join(METHODS))
    return importlib.import_module(f"lab.methods.{method}_config").Config


def make_config(method: str, config: dict[str, Any]) -> Schema:
    """The method's checked Config from a dict (a form, ``--set``, the API, ``config.json``); ``LabError`` if bad."""
    return config_class(method).from_dict(config)


def normalize(method: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` checked as :func:`make_config` does, returned with current names and typed values: the options
    as a run's ``config.json`` keeps them (only those given, so it reads as "what this run changed")."""
    return config_class(method).normalize(config)


def teacher_options(method: str, config: dict[str, Any]) -> list[str]:
    """The options in ``config`` that only the teacher may change on a public deployment (``teacher`` in their
    field's metadata, e.g. ``num_processes``) and that differ from their default here."""
    options = normalize(method, config)
    fields = {f.name: f for f in dataclasses.fields(config_class(method))}
    return [name for name, value in options.items()
            if fields[name].metadata.get("teacher") and value != fields[name].default]  # fmt: skip


def option_label(method: str, name: str, language: str | None = None) -> str:
    """An option as a person reads it in a message: its knob's label in ``language`` (by default the visitor's),
    with its name for those who set it from the CLI or the API — "Processes (num_processes)"; the bare name for a
    field without a label key. The key is the one the page's knob shows (:func:`lab.methods.schema.field_key`)."""
    from lab import texts

    key = field_key(config_class(method), name, "label")
    if not texts.has_key(key):
        return name
    return texts.t("runs.option_label", language, label=texts.t(key, language), name=name)


def train(method: str, config: dict[str, Any], run) -> dict:
    """The worker's entry point: check ``config`` and run ``lab.methods.<method>.train`` on ``run``'s folder."""
    cfg = make_config(method, config)
    return importlib.import_module(f"lab.methods.{method}").train(cfg, run)
