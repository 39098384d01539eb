"""Small pieces every tab shares: turning ``LabError`` into a message the user reads, and formatting helpers.

The helpers here are pure functions (text in, text or DataFrame out) so they are tested without a browser.
"""

from __future__ import annotations

import functools
import html
import time
from collections.abc import Callable
from typing import Any

import gradio as gr
import pandas as pd

from lab import LabError

__all__ = ["esc", "format_seconds", "format_time", "pct", "user_errors"]


def user_errors(fn: Callable) -> Callable:
    """Wrap an event handler so that any failure reaches the user as a ``gr.Error`` toast, never a traceback.

    A ``LabError`` keeps its message (it is written for the user); anything else is named with its type so that
    a bug report can quote it.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except LabError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:  # a bug: still a message, not a stack trace in the page
            raise gr.Error(f"Unexpected {type(e).__name__}: {e}", print_exception=True) from None

    return wrapper


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


def empty_frame(columns: list[str]) -> pd.DataFrame:
    """A table with headers and no rows (what a Dataframe shows before there is data)."""
    return pd.DataFrame({c: [] for c in columns}, columns=columns)
