"""Small pieces every tab shares: turning ``LabError`` into a message the user reads, formatting helpers, and the
models a picker offers (base models and finished runs' adapters), and a method's knobs: components built from its
Config's fields (``knob_components``) and form values read back through that Config (``form_config``).

The helpers here are pure functions (text in, text or DataFrame out) so they are tested without a browser.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import html
import inspect
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import gradio as gr
import pandas as pd

from lab import LabError, access, runs, texts
from lab.methods.rlhf_config import route_of
from lab.methods.schema import field_key, field_type, knob_names
from lab.texts import has_key, slug, t
from lab.ui.lang import L

__all__ = [
    "BASE_MODELS", "adapter_runs", "answer_with_score", "default_chat_model", "esc", "empty_frame", "field_help",
    "field_key", "form_config", "format_seconds", "format_time", "knob", "knob_components", "model_choices", "num",
    "pct", "progress_slot", "resolve_model", "run_label", "steps_html", "user_errors",
]  # fmt: skip


def user_errors(fn: Callable) -> Callable:
    """Wrap an event handler so that any failure reaches the user as a ``gr.Error`` toast, never a traceback.

    A ``LabError`` keeps its message (it is written for the user), in the visitor's language (``e.text()``);
    anything else is named with its type so that a bug report can quote it. Generator handlers (streamed outputs)
    are wrapped as generators.
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
        raise gr.Error(e.text(), print_exception=False) from None
    except Exception as e:  # a bug: still a message, not a stack trace in the page
        raise gr.Error(t("ui.common.unexpected", kind=type(e).__name__, error=e), print_exception=True) from None


def starter(request: Any) -> dict[str, Any]:
    """Who starts a run, from the server's view of ``request``: ``owner`` (their visitor id) and ``teacher`` (may
    they set the teacher's options: more processes, an accelerate config)."""
    who = access.identify(request)
    return {"owner": who.visitor, "teacher": who.teacher}


def esc(value: Any) -> str:
    """HTML-escape any value (``None`` → empty)."""
    return "" if value is None else html.escape(str(value))


format_seconds = texts.duration  # a duration for people, in the visitor's language ("1 min 05 s")


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


def answer_with_score(text: Any, score: Any) -> str:
    """An answer followed by its score in brackets (``(empty)``, in the visitor's language, for a blank answer).

    >>> answer_with_score("Paris", 1.0), answer_with_score(" ", None)
    ('Paris [1.00]', '(empty)')
    """
    text = "" if text is None else str(text)
    text = text if text.strip() else t("ui.common.empty")
    return f"{text} [{num(score)}]" if score is not None else text


def empty_frame(columns: list[str]) -> pd.DataFrame:
    """A table with headers and no rows (what a Dataframe shows before there is data)."""
    return pd.DataFrame({c: [] for c in columns}, columns=columns)


def progress_slot() -> gr.HTML:
    """An empty strip where a long action's progress text shows (``show_progress_on=``), so that the text never
    lies over other text; it takes room only while the action runs (``assets/style.css``)."""
    return gr.HTML("", elem_classes=["progress-slot"], padding=False)


def steps_html(steps: list[tuple[str, str, str]]) -> str:
    """A method's steps ``(number, title, one line)`` as a row of cards."""
    cards = "".join(
        f'<div class="step-card"><div class="num">{esc(n)}</div><div><b>{esc(title)}</b><br><span>{esc(text)}</span>'
        "</div></div>"
        for n, title, text in steps
    )
    return f'<div class="step-cards">{cards}</div>'


# ------------------------------------------------------------------------------------------- models to pick

BASE_MODELS = {"embedded": "ui.common.model.embedded", "tiny": "ui.common.model.tiny"}
"""The base models a picker offers: name → the text key of how the picker names it."""


def default_chat_model() -> str:
    """The chat's starting model: ``$LAB_CHAT_MODEL`` (tests use ``tiny``) or the embedded base."""
    return os.environ.get("LAB_CHAT_MODEL") or "embedded"


def adapter_runs() -> list[runs.Run]:
    """Finished runs with a LoRA adapter, newest first: the tuned models one can chat with and compare."""
    return [
        r for r in runs.list_runs()
        if r.status().get("state") == "done" and (r.adapter_dir / "adapter_config.json").exists()
    ]  # fmt: skip


def run_label(run: runs.Run) -> str:
    """How a picker names a run: id, method (and RLHF route), base model."""
    config = run.config()
    cfg = config.get("config", {})
    method = config.get("method", "?")
    route = f" {route_of(cfg)}" if method == "rlhf" else ""
    return f"{run.id} · {method}{route} · {cfg.get('model', 'embedded')}"


def model_choices(items: list[runs.Run] | None = None) -> list[tuple[str, str]]:
    """``(label, value)`` for the model picker: the base models (named in the visitor's language), then every
    finished run (value = run id)."""
    items = adapter_runs() if items is None else items
    return [(t(key), name) for name, key in BASE_MODELS.items()] + [(run_label(r), r.id) for r in items]


def resolve_model(choice: str | None) -> tuple[str, str | None, str]:
    """``(base model name, adapter folder or None, label stored with a rating)`` for a picker value.

    Only base models and finished runs are accepted: an API caller cannot point the lab at another folder.
    """
    choice = (choice or default_chat_model()).strip()
    if choice in BASE_MODELS:
        return choice, None, choice
    run = next((r for r in adapter_runs() if r.id == choice), None)
    if run is None:
        raise LabError("ui.common.unknown_model", model=repr(choice), names=", ".join(BASE_MODELS))
    base = run.config().get("config", {}).get("model", "embedded")
    return base, str(run.adapter_dir), f"{base}+{run.id}"[:200]


# ------------------------------------------------------------------ method configs: knobs and form values


def field_help(config_cls: type, name: str) -> str:
    """A config field's help (TRL-style ``metadata={"help": …}``), in the visitor's language where it has a key."""
    key = field_key(config_cls, name, "help")
    if has_key(key):
        return t(key)
    return {f.name: f for f in dataclasses.fields(config_cls)}[name].metadata.get("help", "")


def knob_components(config_cls: type, advanced: Any = None, per_row: int = 4) -> dict[str, gr.components.Component]:
    """A Config's knobs as components, name → component: the fields whose metadata has a ``level``
    (``lab.methods.schema``), teaching ones in rows of ``per_row``, advanced ones in a closed accordion titled
    ``advanced`` (default: "Advanced options"), each at its field's default. Wire them with ``inputs_kwargs=`` this
    dict: the handler and the API then name every value as the Config does, and a new field with a ``level`` is a
    new knob, nothing else. Labels and hints are the fields' keys (:func:`field_key`) where they have one."""
    defaults = config_cls()
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    knobs: dict[str, gr.components.Component] = {}

    def place(level: str, **row: Any) -> None:
        for line in _rows([fields[name] for name in knob_names(config_cls, level)], per_row):
            with gr.Row(**row):
                for f in line:
                    knobs[f.name] = knob(f, getattr(defaults, f.name), config_cls)

    place("teaching", equal_height=True)
    with gr.Accordion(L("ui.common.advanced") if advanced is None else advanced, open=False):
        place("advanced")
    return knobs


def knob(f: dataclasses.Field, value: Any, config_cls: type | None = None) -> gr.components.Component:
    """One Config field as the component its metadata describes: a checkbox (bool), a radio or dropdown
    (``choices``, ``options``), a slider (``slider``), a text box (other text) or a number box (bounded by
    ``min``/``max``). With
    ``config_cls``, its label and hint (``info``, else ``help``) and the display names of ``(name, value)`` options
    are page labels (``L``) of the field's keys where the table has them, else the metadata's text."""
    m = f.metadata

    def shown_text(part: str, fallback: Any) -> Any:
        key = field_key(config_cls, f.name, part) if config_cls is not None else ""
        return L(key) if key and has_key(key) else fallback

    hint = shown_text("info", m["info"]) if "info" in m else shown_text("help", m.get("help", ""))
    shown = {"label": shown_text("label", m.get("label", f.name)), "info": hint}
    kind = field_type(f)[0]
    if kind == "bool":
        return gr.Checkbox(value, **shown)
    if "choices" in m:
        widget = gr.Radio if m.get("widget") == "radio" else gr.Dropdown
        return widget(list(m["choices"]), value=value, **shown)
    if "options" in m:
        options = [(shown_text(f"option.{_option_key(o[0])}", o[0]), o[1]) if isinstance(o, tuple) else o
                   for o in m["options"]]  # fmt: skip
        return gr.Dropdown(options, value=value, allow_custom_value=m.get("custom", False), **shown)
    if "slider" in m:
        low, high, step = m["slider"]
        return gr.Slider(low, high, value, step=step, **shown)
    if kind == "str":  # free text (a file of the server's, e.g. an accelerate config: a teacher's option)
        return gr.Textbox(value, **shown)
    extra = {"step": m["step"]} if "step" in m else {}
    if kind == "int":
        extra["precision"] = 0
    return gr.Number(value, minimum=m.get("min"), maximum=m.get("max"), **extra, **shown)


def _option_key(name: Any) -> str:
    return slug(name) or "none"


def _rows(fields: list[dataclasses.Field], per_row: int) -> list[list[dataclasses.Field]]:
    """Fields in rows of at most ``per_row``; a field with ``new_row`` metadata starts a row."""
    rows: list[list[dataclasses.Field]] = []
    for f in fields:
        if not rows or len(rows[-1]) == per_row or f.metadata.get("new_row"):
            rows.append([])
        rows[-1].append(f)
    return rows


def form_config(config_cls: type, values: dict[str, Any], keep: tuple[str, ...] = ("model",)) -> dict[str, Any]:
    """A run config from form values, checked by the Config itself (names, types, ranges and rules: a ``LabError``
    says what is wrong, as it would for the CLI or the worker). A value is kept only where it differs from the
    default (so ``config.json`` reads as "what this run changed") or is named in ``keep``."""
    options = config_cls.normalize(values)
    base = config_cls()
    config = {name: value for name, value in options.items() if name in keep or value != getattr(base, name)}
    for name in keep:
        config.setdefault(name, getattr(base, name))
    return config
