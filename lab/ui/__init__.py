"""The web UI: ``build_demo()`` makes the Gradio app, one tab per builder in ``TABS``.

Each tab lives in its own module with a ``build_<tab>_tab()`` that places components inside the current
``gr.Tab``; adding a tab is one line in ``TABS``. The UI imports ``lab`` only — never torch, TRL or
PEFT — so the page starts fast and training always happens in a worker process (see ``lab.runs``).

Gradio 6 takes the theme, the CSS and the language table at launch: pass ``**launch_options()`` to
``demo.launch``. Every text of the page comes in Chinese and English (``lab.ui.lang``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from lab import chat_batch_size
from lab.access import VisitorCookie
from lab.ui.compare_tab import build_compare_tab
from lab.ui.lang import I18N, L, LabBlocks, PageLanguage, language_switch
from lab.ui.learn_tab import build_learn_tab
from lab.ui.rft_tab import build_rft_tab
from lab.ui.rlhf_tab import build_rlhf_tab
from lab.ui.runs_tab import build_runs_tab

__all__ = ["TABS", "TITLE", "build_demo", "launch_options"]

TITLE = "RLHF vs RFT lab"  # the browser tab's title (English: it is not translated by Gradio)
TABS: list[tuple[str, str, Callable[..., Any]]] = [
    ("learn", "app.tab.learn", build_learn_tab),
    ("rft", "app.tab.rft", build_rft_tab),
    ("rlhf", "app.tab.rlhf", build_rlhf_tab),
    ("runs", "app.tab.runs", build_runs_tab),
    ("compare", "app.tab.compare", build_compare_tab),
]
"""``(tab id, label key, builder)`` in display order; the id is the tab's ``id`` (``gr.Tabs(selected=id)``). A
builder with a ``tabs`` parameter gets the page's ``gr.Tabs`` (the Learn tab's buttons switch tabs with it)."""
CSS_PATH = Path(__file__).resolve().parents[2] / "assets" / "style.css"


def build_demo(tabs: list[tuple[str, str, Callable[..., Any]]] | None = None) -> gr.Blocks:
    """The whole app: a title with the language switch, a two-line intro, and one tab per ``(id, label, builder)``."""
    with LabBlocks(title=TITLE) as demo:
        with gr.Row(elem_classes=["lab-header"]):
            with gr.Column(scale=8):
                gr.Markdown(L("app.header"))
            with gr.Column(scale=1, min_width=160):
                language_switch(demo)
        with gr.Tabs(elem_id="lab-tabs") as page_tabs:
            for tab_id, label, builder in tabs or TABS:
                with gr.Tab(L(label), id=tab_id):
                    builder(tabs=page_tabs) if "tabs" in inspect.signature(builder).parameters else builder()
    _private_page_loads(demo)
    return demo


def _private_page_loads(demo: gr.Blocks) -> None:
    """A component whose value is a function (text made in the visitor's language at page load) gets a load event
    named after that function (``attach_load_events``); such events only fill the page and are no endpoints: make
    them private, as the page's own load events are. Load events an API client calls (``/whoami``) stay public."""
    ids = {c.load_event["id"] for c in demo.blocks.values() if isinstance(getattr(c, "load_event", None), dict)}
    for fn_id, fn in demo.fns.items():
        if fn_id in ids or getattr(fn, "_id", None) in ids:
            fn.api_visibility = "private"


def launch_options() -> dict[str, Any]:
    """Theme and CSS for ``demo.launch(**launch_options())`` (Gradio 6 no longer takes them in ``gr.Blocks``), and
    the middleware that gives every browser its visitor id (``lab.access``: who may stop or delete what) and its
    chosen language (``lab.ui.lang``), the language table for the page's labels, and
    enough worker threads for a class's streamed chats (each holds one while it waits for its batch's next token)."""
    theme = gr.themes.Soft(primary_hue="indigo", secondary_hue="orange", neutral_hue="slate")
    return {
        "theme": theme,
        "css_paths": [CSS_PATH] if CSS_PATH.exists() else [],
        "app_kwargs": {"middleware": [Middleware(VisitorCookie), Middleware(PageLanguage)]},
        "i18n": I18N,
        "max_threads": 40 + chat_batch_size(),  # Gradio's default 40, plus one per chat answered at once
    }
