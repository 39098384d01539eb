"""One schema per method: a Config dataclass whose fields say what a person reads and what a value may be.

Every caller goes through it: the UI's form, the API (the same functions), the CLI's flags and ``--set``, and the
worker reading ``config.json`` all call :meth:`Schema.from_dict` (names, old names, types), and every Config checks
itself when it is made (``__post_init__`` → ``check()``), so a bad option gets the same message everywhere and no
caller has to remember to ask. Field metadata (TRL's ``field(metadata={"help": …})``, extended):

- ``help``: what the option does, one line (every field has one).
- ``label`` and ``level`` (``"teaching"`` or ``"advanced"``): the option is a knob of the UI, with that label, on
  the train step or in its closed accordion, in field order (:func:`knob_names`). Adding a knob is adding a field.
- what a value may be, checked by ``check()`` for every caller: ``min``, ``max`` (inclusive), ``choices`` (the only
  values), ``optional`` (a text that may be empty). A ``Number`` knob shows the same bounds.
- how the knob looks, for the UI only: ``slider`` ``(low, high, step)`` (a slider over that part of the range),
  ``options`` (the values a dropdown offers; ``custom``: one may type another), ``step``, ``info`` (the knob's hint
  where it is not ``help``), ``new_row`` (the knob starts a row).

Every message is a key of :mod:`lab.texts` (``config.*``), its ``owner`` the Config's ``NAME`` or ``prefix``. No
torch here, nor in any ``*_config.py``: the UI imports them.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from lab import LabError, texts
from lab.models import EMBEDDED, TINY

__all__ = [
    "LEVELS", "MODEL_CHOICES", "MODEL_HELP", "TINY_NOTE", "Schema", "coerce", "field_key", "field_type", "knob_names",
    "parse",
]  # fmt: skip

LEVELS = ("teaching", "advanced")
MODEL_CHOICES = (EMBEDDED, TINY)
"""The built-in model names (``lab.models``) a model knob offers; a local folder or a hub id works too."""
MODEL_HELP = "'embedded', 'tiny', a local folder or a hub id."
TINY_NOTE = " 'tiny' is for quick checks: it learns nothing."
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


class Schema:
    """The base of every method's ``@dataclass Config``: one way in (:meth:`from_dict`), one check (:meth:`check`).

    ``NAME`` starts every message (``"rft: steps must be at least 1 (got 0)"``); ``ALIASES`` maps old option names
    to their new ones, so old run folders and old command lines keep working.
    """

    NAME: ClassVar[str] = "config"
    ALIASES: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        self.check()

    @property
    def prefix(self) -> str:
        """What a message starts with (``NAME``; a Config may name itself after a value, e.g. its algorithm)."""
        return self.NAME

    def check(self) -> None:
        """Refuse a value outside its field's metadata (``LabError``). A Config overrides this to add the rules
        that need more than one field or more words, and calls ``super().check()``."""
        for f in dataclasses.fields(self):
            _check_value(self.prefix, f, getattr(self, f.name))

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]):
        """The Config from outside values (a form, JSON, ``--set`` text): old names renamed, unknown names refused,
        each value cast to its field's type, then checked."""
        return cls(**parse(cls, config))

    @classmethod
    def normalize(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` checked as :meth:`from_dict` checks it, returned as a dict with current names and typed values
        (only the names given): what a run's ``config.json`` keeps."""
        options = parse(cls, config)
        cls(**options)
        return options


def parse(cls: type, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with current names and typed values (what ``config.json`` holds); not yet checked as a whole.

    >>> from lab.methods.rft_config import Config
    >>> parse(Config, {"steps": "3", "warmup": "false", "learning_rate": 0.001})
    {'steps': 3, 'warmup': False, 'learning_rate': 0.001}
    """
    known = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = cls.ALIASES.get(key, key)
        if name in out and out[name] != value:  # only an old name and its new one can meet here
            old = next(k for k, v in cls.ALIASES.items() if v == name)
            raise LabError("config.both_names", owner=cls.NAME, name=name, old=old)
        out[name] = value
    unknown = sorted(set(out) - known)
    if unknown:
        raise LabError(
            "config.unknown_options", owner=cls.NAME, unknown=", ".join(unknown), known=", ".join(sorted(known))
        )
    return {name: coerce(cls, name, value) for name, value in out.items()}


def coerce(cls: type, name: str, value: Any) -> Any:
    """One value cast to its field's type: numbers from text or floats (ints rounded), ``true``/``false`` text,
    JSON text for lists and dicts, text stripped; ``null`` for a field that may be None.

    >>> from lab.methods.rft_config import Config
    >>> coerce(Config, "steps", 2.0), coerce(Config, "beta", "0.1"), coerce(Config, "graders", '[{"type": "length"}]')
    (2, 0.1, [{'type': 'length'}])
    """
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    kind, nullable = field_type(f)
    where = {"owner": cls.NAME, "name": name, "help": f.metadata.get("help", "")}
    if nullable and (value is None or value == "null"):
        return None
    if kind == "bool":
        if isinstance(value, str):
            if value.strip().lower() not in _TRUE + _FALSE:
                raise LabError("config.not_bool", **where, value=value)
            return value.strip().lower() in _TRUE
        return bool(value)
    if kind in ("int", "float"):
        try:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
        except (TypeError, ValueError):
            raise LabError("config.not_number", **where, value=value) from None
        return int(round(number)) if kind == "int" else number
    if kind in ("list", "dict"):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as e:
                from lab.data.formats import json_error  # here: lab.data loads datasets, which a config does not need

                raise LabError("config.bad_json", **where, error=json_error(e), column=e.colno) from None
        if not isinstance(value, list if kind == "list" else dict):
            raise LabError("config.not_list" if kind == "list" else "config.not_object", **where, value=value)
        return value
    return "" if value is None else str(value).strip()


def knob_names(cls: type, level: str | None = None) -> tuple[str, ...]:
    """The fields the UI shows as knobs (those with a ``level``), teaching ones first, each group in field order.

    >>> from lab.methods.rft_config import Config
    >>> knob_names(Config, "teaching")[:3]
    ('steps', 'learning_rate', 'num_generations')
    """
    fields = dataclasses.fields(cls)
    levels = LEVELS if level is None else (level,)
    return tuple(f.name for lv in levels for f in fields if f.metadata.get("level") == lv)


def field_key(config_cls: type, name: str, part: str) -> str:
    """The text key of a config field's ``label``, ``help`` or ``info``: ``config.<NAME>.<field>.<part>``, the
    Config's ``NAME`` in key form (``assets/i18n/*/ui_knobs.json``; a field without a key shows its metadata) — or
    the owner its metadata names (``texts``), for the fields every method shares (``lab.methods.run_options``).

    >>> from lab.methods.reward_model_config import Config
    >>> field_key(Config, "epochs", "help")
    'config.reward_model.epochs.help'
    >>> from lab.methods.rft_config import Config
    >>> field_key(Config, "num_processes", "label")
    'config.run.num_processes.label'
    """
    meta = {f.name: f.metadata for f in dataclasses.fields(config_cls)}.get(name, {})
    owner = meta.get("texts") or texts.slug(getattr(config_cls, "NAME", "config"))
    return f"config.{owner}.{name}.{part}"


def field_type(f: dataclasses.Field) -> tuple[str, bool]:
    """``(base type name, may be None)`` of a field: ``int | None`` → ``("int", True)``, ``list[dict]`` → ``("list",
    False)`` (annotations are text under ``from __future__ import annotations``)."""
    text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    parts = [p.strip() for p in text.split("|")]
    return parts[0].split("[")[0], "None" in parts


def _check_value(prefix: str, f: dataclasses.Field, value: Any) -> None:
    m, kind = f.metadata, field_type(f)[0]
    if value is None:
        return
    if "choices" in m and value not in m["choices"]:
        choices = ", ".join(map(str, m["choices"]))
        raise LabError("config.not_choice", owner=prefix, name=f.name, choices=choices, value=value)
    if kind == "str" and not m.get("optional") and not str(value).strip():
        raise LabError("config.empty", owner=prefix, name=f.name, help=m.get("help", ""))
    lo, hi = m.get("min"), m.get("max")
    if kind in ("int", "float") and ((lo is not None and value < lo) or (hi is not None and value > hi)):
        if lo is not None and hi is not None:
            raise LabError("config.out_of_range", owner=prefix, name=f.name, min=lo, max=hi, value=value)
        if lo is not None:
            raise LabError("config.too_small", owner=prefix, name=f.name, min=lo, value=value)
        raise LabError("config.too_large", owner=prefix, name=f.name, max=hi, value=value)
