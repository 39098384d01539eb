"""User-facing text as keys with values: one table per language, one function that fills a key in.

Every message the lab builds in Python — errors, status lines, plot titles, table headers — is a key in
``assets/i18n/<language>.json`` with ``str.format`` fields (``"runs.no_run": "no run '{run_id}' under {folder}"``),
filled by :func:`t`. A second language is one more JSON file with the same keys (``tests/test_texts.py`` fails
when a key or a field is missing in any of them), not a rewrite. Gradio's ``gr.I18n`` translates only the page's
static labels; text made at run time comes from here, in the language the caller asks for.

A :class:`lab.LabError` raised with a key (``LabError("runs.no_run", run_id=..., folder=...)``) keeps the key and
its values, so a page can show it in the visitor's language (:meth:`lab.LabError.text`); its ``str`` is English,
which the CLI prints.

>>> t("plots.waiting")
'waiting for the first step…'
>>> t("runs.no_run", run_id="abc", folder="/tmp/runs")
"no run 'abc' under /tmp/runs"
"""

from __future__ import annotations

import functools
import json
import string
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "TEXTS_DIR", "fields", "has_key", "t", "table"]

TEXTS_DIR = Path(__file__).resolve().parents[1] / "assets" / "i18n"
DEFAULT_LANGUAGE = "en"


def _languages() -> tuple[str, ...]:
    found = sorted(p.stem for p in TEXTS_DIR.glob("*.json"))
    return tuple([DEFAULT_LANGUAGE] + [lang for lang in found if lang != DEFAULT_LANGUAGE])


LANGUAGES: tuple[str, ...] = _languages()
"""The languages with a table, English first."""


@functools.cache
def table(language: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """The key → text table of one language (``{}`` for a language without a file)."""
    path = TEXTS_DIR / f"{language}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def has_key(key: str) -> bool:
    """Whether ``key`` is in the English table (the reference every other table must match)."""
    return key in table(DEFAULT_LANGUAGE)


def t(key: str, language: str | None = None, /, **values: Any) -> str:
    """The text of ``key`` in ``language`` (English where that language lacks it), its fields filled from ``values``.

    An unknown key is a bug, not a user error: ``KeyError`` names it.

    >>> t("plots.waiting", "xx")  # no table for "xx": English
    'waiting for the first step…'
    """
    text = table(language or DEFAULT_LANGUAGE).get(key)
    if text is None:
        text = table(DEFAULT_LANGUAGE).get(key)
    if text is None:
        raise KeyError(f"no text for key {key!r} in {TEXTS_DIR / (DEFAULT_LANGUAGE + '.json')}")
    return text.format(**values)


def fields(text: str) -> set[str]:
    """The names of the ``str.format`` fields in a text.

    >>> sorted(fields("{run_id} under {folder!r}: {n:.2f}"))
    ['folder', 'n', 'run_id']
    """
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(text) if name}
