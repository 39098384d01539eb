"""Small pieces every tab shares: turning ``LabError`` into a message the user reads, and formatting helpers.

The helpers here are pure functions (text in, text or DataFrame out) so they are tested without a browser.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import html
import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr
import pandas as pd

from lab import LabError

__all__ = [
    "esc", "empty_frame", "field_help", "form_config", "format_seconds", "format_time", "num", "pct", "steps_html",
    "user_errors",
]  # fmt: skip


def user_errors(fn: Callable) -> Callable:
    """Wrap an event handler so that any failure reaches the user as a ``gr.Error`` toast, never a traceback.

    A ``LabError`` keeps its message (it is written for the user); anything else is named with its type so that
    a bug report can quote it. Generator handlers (streamed outputs) are wrapped as generators.
    """

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def streaming(*args: Any, **kwargs: Any) -> Any:
            with _as_user_error():
                yield from fn(*args, **kwargs)

        return streaming

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _as_user_error():
            return fn(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def _as_user_error() -> Iterator[None]:
    try:
        yield
    except gr.Error:
        raise
    except LabError as e:
        raise gr.Error(str(e), print_exception=False) from None
    except Exception as e:  # a bug: still a message, not a stack trace in the page
        raise gr.Error(f"Unexpected {type(e).__name__}: {e}", print_exception=True) from None


def esc(value: Any) -> str:
    """HTML-escape any value (``None`` → empty)."""
    return "" if value is None else html.escape(str(value))


def format_seconds(seconds: float | None) -> str:
    """A duration for people.

    >>> format_seconds(4.2), format_seconds(65), format_seconds(3720), format_seconds(None)
    ('4 s', '1 min 05 s', '1 h 02 min', '–')
    """
    if seconds is None:
        return "–"
    seconds = max(0, round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_time(timestamp: float | None) -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM`` (empty when unknown)."""
    if not timestamp:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(float(timestamp)))


def pct(value: float | None) -> str:
    """A fraction as a percentage.

    >>> pct(0.125), pct(None)
    ('12.5 %', '–')
    """
    return "–" if value is None else f"{100 * float(value):.1f} %"


def num(value: Any) -> str:
    """A score with two decimals (``–`` when missing or not a finite number).

    >>> num(0.125), num(None), num(float("nan"))
    ('0.12', '–', '–')
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or abs(value) == float("inf"):
        return "–"
    return f"{value:.2f}"


def empty_frame(columns: list[str]) -> pd.DataFrame:
    """A table with headers and no rows (what a Dataframe shows before there is data)."""
    return pd.DataFrame({c: [] for c in columns}, columns=columns)


def steps_html(steps: list[tuple[str, str, str]]) -> str:
    """A method's steps ``(number, title, one line)`` as a row of cards."""
    cards = "".join(
        f'<div class="step-card"><div class="num">{esc(n)}</div><div><b>{esc(title)}</b><br><span>{esc(text)}</span>'
        "</div></div>"
        for n, title, text in steps
    )
    return f'<div class="step-cards">{cards}</div>'


# ---------------------------------------------------------------------------------- method configs from a form


def field_help(config_cls: type, name: str) -> str:
    """A config field's help (TRL-style ``metadata={"help": …}``)."""
    return {f.name: f for f in dataclasses.fields(config_cls)}[name].metadata.get("help", "")


def form_config(
    config_cls: type, values: dict[str, Any], keep: tuple[str, ...] = ("model",), optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A run config from form values: each cast to its field's type, kept only where it differs from the default
    (so ``config.json`` reads as "what this run changed") or named in ``keep``. Text may be empty only for the
    fields named in ``optional``. Unknown names are a ``LabError``."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    base = config_cls()
    config: dict[str, Any] = {}
    for name, value in values.items():
        if name not in fields:
            raise LabError(f"unknown option {name!r}")
        value = _cast(str(fields[name].type), value, name, fields[name].metadata.get("help", ""), name in optional)
        if name in keep or value != getattr(base, name):
            config[name] = value
    for name in keep:
        config.setdefault(name, getattr(base, name))
    return config


def _cast(kind: str, value: Any, name: str, help_text: str, optional: bool = False) -> Any:
    try:
        if kind == "bool":
            return bool(value)
        if kind == "int":
            return int(round(float(value)))
        if kind == "float":
            return float(value)
    except (TypeError, ValueError):
        raise LabError(f"{name}: {value!r} is not a number ({help_text})") from None
    value = str(value or "").strip()
    if not value and not optional:
        raise LabError(f"{name}: must not be empty ({help_text})")
    return value
