"""The web UI: ``build_demo()`` makes the Gradio app, one tab per builder in ``TABS``.

Each tab lives in its own module with a ``build_<tab>_tab()`` that places components inside the current
``gr.Tab``; adding a tab is one line in ``TABS``. The UI imports ``lab`` only — never torch, TRL or
PEFT — so the page starts fast and training always happens in a worker process (see ``lab.runs``).

Gradio 6 takes the theme and CSS at launch: pass ``**launch_options()`` to ``demo.launch``.
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
from lab.ui.rft_tab import build_rft_tab
from lab.ui.rlhf_tab import build_rlhf_tab
from lab.ui.runs_tab import build_runs_tab

__all__ = ["TABS", "TITLE", "build_demo", "launch_options"]

TITLE = "RLHF vs RFT lab"
INTRO = (
    "See how a small language model changes under reinforcement fine-tuning, on your own laptop-sized data.  \n"
    "**RFT** learns from reference answers and graders; **RLHF** learns from people's ratings (chat, thumbs, pick "
    "the better answer). Every run trains a LoRA adapter in a separate process: watch the curves, then compare "
    "answers before and after, and RLHF against RFT side by side."
)
TABS: list[tuple[str, Callable[[], Any]]] = [
    ("RFT: reference answers + graders", build_rft_tab),
    ("RLHF: human ratings → reward model → RL", build_rlhf_tab),
    ("Runs", build_runs_tab),
    ("Compare: RLHF vs RFT", build_compare_tab),
]
"""``(tab label, builder)`` in display order."""
CSS_PATH = Path(__file__).resolve().parents[2] / "assets" / "style.css"


def build_demo(tabs: list[tuple[str, Callable[[], Any]]] | None = None) -> gr.Blocks:
    """The whole app: a title, a two-line intro, and one tab per ``(label, builder)``."""
    with gr.Blocks(title=TITLE) as demo:
        with gr.Column(elem_classes=["lab-header"]):
            gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Tabs():
            for label, builder in tabs or TABS:
                with gr.Tab(label):
                    builder()
    return demo


def launch_options() -> dict[str, Any]:
    """Theme and CSS for ``demo.launch(**launch_options())`` (Gradio 6 no longer takes them in ``gr.Blocks``), and
    the middleware that gives every browser its visitor id (``lab.access``: who may stop or delete what), and
    enough worker threads for a class's streamed chats (each holds one while it waits for its batch's next token)."""
    theme = gr.themes.Soft(primary_hue="indigo", secondary_hue="orange", neutral_hue="slate")
    return {
        "theme": theme,
        "css_paths": [CSS_PATH] if CSS_PATH.exists() else [],
        "app_kwargs": {"middleware": [Middleware(VisitorCookie)]},
        "max_threads": 40 + chat_batch_size(),  # Gradio's default 40, plus one per chat answered at once
    }
