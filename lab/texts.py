"""User-facing text as keys with values: one table per language, one function that fills a key in.

Every text the lab shows — page labels, errors, status lines, plot titles, table headers — is a key in the JSON
files of ``assets/i18n/<language>/`` (one file per concern: ``lab.json`` for messages, ``ui_rft.json`` for the RFT
tab's labels, …) with ``str.format`` fields (``"runs.no_run": "no run '{run_id}' under {folder}"``), filled by
:func:`t`. Each language is a folder with the same keys (``tests/test_texts.py`` fails when a key or a field is
missing in any of them, or a key is in two files). The page's static labels go to Gradio's ``gr.I18n`` from the
same tables (``lab.ui.lang``); text made at run time comes from :func:`t`, in the language asked for — or, when
none is given, in the language of the visitor whose request is being answered (:func:`current_language`, set by
``lab.ui.lang`` for every page event). The CLI prints English.

A :class:`lab.LabError` raised with a key (``LabError("runs.no_run", run_id=..., folder=...)``) keeps the key and
its values, so a page can show it in the visitor's language (:meth:`lab.LabError.text`); its ``str`` is English,
which the CLI prints.

>>> t("plots.waiting")
'waiting for the first step…'
>>> t("runs.no_run", run_id="abc", folder="/tmp/runs")
"no run 'abc' under /tmp/runs"
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_LANGUAGE", "LANGUAGES", "TEXTS_DIR", "counted", "current_language", "duration", "fields", "has_key",
    "slug", "speaking", "t", "table",
]  # fmt: skip

TEXTS_DIR = Path(__file__).resolve().parents[1] / "assets" / "i18n"
DEFAULT_LANGUAGE = "en"


def slug(text: Any) -> str:
    """A text as a key part: lower case, runs of anything but ``a-z0-9`` as one ``_`` (``"Exact match" →
    "exact_match"``); keys of the message tables are built from names with it."""
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")


def _languages() -> tuple[str, ...]:
    found = sorted(p.name for p in TEXTS_DIR.iterdir() if p.is_dir() and any(p.glob("*.json")))
    return tuple([DEFAULT_LANGUAGE] + [lang for lang in found if lang != DEFAULT_LANGUAGE])


LANGUAGES: tuple[str, ...] = _languages()
"""The languages with a table, English first."""


_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("lab_language", default=None)


@functools.cache
def table(language: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """The key → text table of one language: its folder's JSON files merged (``{}`` for a language without one).

    A key in two files of one language is a mistake that would silently pick one: ``ValueError`` names both."""
    merged: dict[str, str] = {}
    where: dict[str, str] = {}
    for path in sorted((TEXTS_DIR / language).glob("*.json")):
        for key, text in json.loads(path.read_text(encoding="utf-8")).items():
            if key in merged:
                raise ValueError(f"text key {key!r} is in both {where[key]} and {path.name} ({language})")
            merged[key], where[key] = text, path.name
    return merged


def current_language() -> str:
    """The language of the request being answered (:func:`speaking`), else English."""
    return _CURRENT.get() or DEFAULT_LANGUAGE


@contextlib.contextmanager
def speaking(language: str | None) -> Iterator[None]:
    """Within the block, :func:`t` without a language speaks ``language`` (threads started inside inherit it only
    when they copy the context, as anyio's worker threads do).

    >>> with speaking("xx"):
    ...     current_language()
    'xx'
    """
    token = _CURRENT.set(language)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def has_key(key: str) -> bool:
    """Whether ``key`` is in the English table (the reference every other table must match)."""
    return key in table(DEFAULT_LANGUAGE)


def counted(key: str, n: int, /, **values: Any) -> str:
    """:func:`t` for a text about ``n`` things: ``<key>_one`` when ``n`` is 1 and the table has it (English's
    singular: "1 more step"), else ``<key>`` ("{steps} more steps"; Chinese needs no second form).

    >>> counted("ui.continue.started", 1, run_id="b", parent="a", steps=1)
    'run b continues a for 1 more step'
    """
    return t(f"{key}_one" if n == 1 and has_key(f"{key}_one") else key, **values)


def t(key: str, language: str | None = None, /, **values: Any) -> str:
    """The text of ``key`` in ``language`` — by default the current visitor's (:func:`current_language`) —
    English where that language lacks it, its fields filled from ``values``.

    An unknown key is a bug, not a user error: ``KeyError`` names it.

    >>> t("plots.waiting", "xx")  # no table for "xx": English
    'waiting for the first step…'
    """
    text = table(language or current_language()).get(key)
    if text is None:
        text = table(DEFAULT_LANGUAGE).get(key)
    if text is None:
        raise KeyError(f"no text for key {key!r} in {TEXTS_DIR / DEFAULT_LANGUAGE}")
    return text.format(**values)


def duration(seconds: float | None) -> str:
    """A duration for people, in the current language: ``4 s``, ``1 min 05 s``, ``1 h 02 min``; ``–`` unknown.

    >>> duration(4.2), duration(65), duration(3720), duration(None)
    ('4 s', '1 min 05 s', '1 h 02 min', '–')
    """
    if seconds is None:
        return "–"
    seconds = max(0, round(float(seconds)))
    if seconds < 60:
        return t("ui.common.duration.s", s=seconds)
    if seconds < 3600:
        return t("ui.common.duration.min", m=seconds // 60, s=seconds % 60)
    return t("ui.common.duration.h", h=seconds // 3600, m=seconds % 3600 // 60)


def fields(text: str) -> set[str]:
    """The names of the ``str.format`` fields in a text.

    >>> sorted(fields("{run_id} under {folder!r}: {n:.2f}"))
    ['folder', 'n', 'run_id']
    """
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name}
