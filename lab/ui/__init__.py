"""The web UI: ``build_demo()`` makes the Gradio app, one tab per builder in ``TABS``.

Each tab lives in its own module with a ``build_<tab>_tab()`` that places components inside the current
``gr.Tab``; adding a tab is one line in ``TABS``. The UI imports ``lab`` only — never torch, TRL or
PEFT — so the page starts fast and training always happens in a worker process (see ``lab.runs``).

Gradio 6 takes the theme, the CSS and the language table at launch: pass ``**launch_options()`` to
``demo.launch``. Every text of the page comes in Chinese and English (``lab.ui.lang``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from lab import chat_batch_size
from lab.access import VisitorCookie
from lab.ui.compare_tab import build_compare_tab
from lab.ui.lang import I18N, L, LabBlocks, PageLanguage, language_switch
from lab.ui.rft_tab import build_rft_tab
from lab.ui.rlhf_tab import build_rlhf_tab
from lab.ui.runs_tab import build_runs_tab

__all__ = ["TABS", "TITLE", "build_demo", "launch_options"]

TITLE = "RLHF vs RFT lab"  # the browser tab's title (English: it is not translated by Gradio)
TABS: list[tuple[str, str, Callable[[], Any]]] = [
    ("rft", "app.tab.rft", build_rft_tab),
    ("rlhf", "app.tab.rlhf", build_rlhf_tab),
    ("runs", "app.tab.runs", build_runs_tab),
    ("compare", "app.tab.compare", build_compare_tab),
]
"""``(tab id, label key, builder)`` in display order; the id is the tab's ``id`` (``gr.Tabs(selected=id)``)."""
CSS_PATH = Path(__file__).resolve().parents[2] / "assets" / "style.css"


def build_demo(tabs: list[tuple[str, str, Callable[[], Any]]] | None = None) -> gr.Blocks:
    """The whole app: a title with the language switch, a two-line intro, and one tab per ``(id, label, builder)``."""
    with LabBlocks(title=TITLE) as demo:
        with gr.Row(elem_classes=["lab-header"]):
            with gr.Column(scale=8):
                gr.Markdown(L("app.header"))
            with gr.Column(scale=1, min_width=160):
                language_switch(demo)
        with gr.Tabs(elem_id="lab-tabs"):
            for tab_id, label, builder in tabs or TABS:
                with gr.Tab(L(label), id=tab_id):
                    builder()
    return demo


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
