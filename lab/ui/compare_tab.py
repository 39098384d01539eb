"""The Compare tab: RLHF against RFT side by side — the same prompts answered by the base model and two runs.

Pick two finished runs (say an RFT run and an RLHF run) and some prompts (their held-out prompts, the class prompts
or your own); every model answers greedily, so the differences come from the weights alone. Generation goes
through ``lab.chat`` (its model cache is shared with the RLHF tab's chat).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import gradio as gr
import pandas as pd

from lab import LabError, runs
from lab.feedback import personas
from lab.texts import t
from lab.ui.answer_cards import Answer, Card, cards_html
from lab.ui.common import (
    adapter_runs,
    answer_with_score,
    empty_frame,
    progress_slot,
    resolve_model,
    run_label,
    user_errors,
)

MAX_PROMPTS = 12


def heldout_prompts(run_ids: list[str | None], per_run: int = 4) -> list[str]:
    """The first held-out prompts (RLHF) or questions (RFT) of each run's results, without repeats."""
    known = {r.id: r for r in runs.list_runs()}  # ids only: an API caller cannot make the lab read another folder
    out: list[str] = []
    for run_id in run_ids:
        if not run_id:
            continue
        if run_id not in known:
            raise LabError(f"unknown run {run_id!r}: pick one from the list.")
        for example in (known[run_id].summary() or {}).get("examples", [])[:per_run]:
            prompt = example.get("prompt") or example.get("question")
            if prompt and prompt not in out:
                out.append(str(prompt))
    return out


def parse_prompts(text: str, limit: int = MAX_PROMPTS) -> list[str]:
    """One prompt per non-blank line, repeats dropped.

    >>> parse_prompts("Hi\\n\\n  Hi \\nWhy?")
    ['Hi', 'Why?']
    """
    prompts = list(dict.fromkeys(line.strip() for line in (text or "").splitlines() if line.strip()))
    if not prompts:
        raise LabError("type some prompts (one per line), or fill in the held-out ones.")
    if len(prompts) > limit:
        raise LabError(f"{len(prompts)} prompts: compare at most {limit} at a time (every model answers each).")
    return prompts


def sides(run_a: str | None, run_b: str | None) -> list[tuple[str, str, str | None]]:
    """``(column title, base model, adapter)`` for each base model involved, then run A and run B."""
    picked = [(name, run_id) for name, run_id in (("A", run_a), ("B", run_b)) if run_id]
    if not picked:
        raise LabError("pick at least one finished run (run A or run B).")
    resolved = [(name, run_id, *resolve_model(run_id)[:2]) for name, run_id in picked]
    bases = list(dict.fromkeys(base for _, _, base, _ in resolved))
    columns = [(f"base ({base})", base, None) for base in bases]
    return columns + [(f"{name}: {run_id}", base, adapter) for name, run_id, base, adapter in resolved]


def compare(
    prompts_text: str, run_a: str | None, run_b: str | None, max_tokens: int = 64,
    progress: Callable[[float, str], None] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """A table: prompt | base | A | B, greedy answers of each model to each prompt."""
    from lab import chat  # torch side

    prompts = parse_prompts(prompts_text)
    columns = sides(run_a, run_b)
    table = {"prompt": prompts}
    for i, (title, base, adapter) in enumerate(columns):
        if progress:
            progress(i / len(columns), f"{title} answers {len(prompts)} prompts")
        table[title] = [
            answer_with_score(a, None) for a in chat.greedy_answers(prompts, base, adapter, int(max_tokens))
        ]
    return pd.DataFrame(table)


def compare_cards(frame: pd.DataFrame | None) -> str:
    """The table of :func:`compare` as cards: one per prompt, the base model's answer first and each run's answer
    beside it, the words a run changed highlighted."""
    if frame is None or frame.empty or len(frame.columns) < 2:
        return cards_html([], t("ui.cards.compare_waiting"))
    titles = [str(c) for c in frame.columns[1:]]
    cards = []
    for _, row in frame.iterrows():
        answers = [Answer(title, _answer_text(row[title]), compare=not title.startswith("base (")) for title in titles]
        cards.append(Card(str(row[frame.columns[0]]), answers))
    legend = t("ui.cards.compare_legend")
    return cards_html(cards, t("ui.cards.compare_waiting"), legend=legend, open_cards=MAX_PROMPTS)


def _answer_text(value) -> str:
    """A table cell back to the answer (the table writes a blank answer as ``(empty)``)."""
    text = "" if value is None else str(value)
    return "" if text == answer_with_score("", None) else text


def build_compare_tab() -> None:
    """Build the tab inside the current ``gr.Blocks``/``gr.Tab`` context."""
    gr.Markdown(
        "## Compare runs side by side\nThe same prompts, answered greedily by the base model and two finished runs "
        "(for instance an RFT run and an RLHF run): what did each kind of fine-tuning change?"
    )
    with gr.Row(equal_height=True):
        # the lists fill when the page loads; any value is checked (resolve_model) before use
        run_a = gr.Dropdown([], value=None, label="Run A", info="A finished run (RFT or RLHF).", scale=3,
                            allow_custom_value=True)  # fmt: skip
        run_b = gr.Dropdown([], value=None, label="Run B", info="Another finished run.", scale=3,
                            allow_custom_value=True)  # fmt: skip
        refresh = gr.Button("Refresh runs", scale=1, min_width=120)
    prompts = gr.Textbox(label="Prompts (one per line)", lines=5, max_lines=14,
                         placeholder="Type prompts, or fill in the runs' held-out prompts below.")  # fmt: skip
    with gr.Row():
        fill_heldout = gr.Button("Held-out prompts of A and B")
        fill_random = gr.Button("4 random class prompts")
        max_tokens = gr.Slider(16, 256, 64, step=16, label="Max answer length (tokens)")
    go = gr.Button("Compare", variant="primary")
    progress = progress_slot()  # "base answers 4 prompts" shows here, not over the answers
    cards = gr.HTML(compare_cards(None), label="Answers side by side (greedy)",
                    elem_id="compare-answers", elem_classes=["answer-cards-block"])  # fmt: skip
    with gr.Accordion(t("ui.cards.table"), open=False):
        table = gr.Dataframe(empty_frame(["prompt", "base", "A", "B"]), label="Answers side by side (greedy)",
                             wrap=True, interactive=False, max_height=600)  # fmt: skip

    def list_finished(a: str | None, b: str | None):
        items = adapter_runs()
        choices = [(run_label(r), r.id) for r in items]
        ids = [r.id for r in items]
        a = a if a in ids else (ids[0] if ids else None)
        b = b if b in ids else next((i for i in ids if i != a), None)
        return gr.Dropdown(choices=choices, value=a), gr.Dropdown(choices=choices, value=b)

    @user_errors
    def heldout(a: str | None, b: str | None) -> str:
        found = heldout_prompts([a, b])
        if not found:
            raise LabError("pick a finished run first: its results list the held-out prompts.")
        return "\n".join(found[:MAX_PROMPTS])

    @user_errors
    def run(text: str, a: str | None, b: str | None, tokens: float, progress=gr.Progress()):
        frame = compare(text, a, b, int(tokens), lambda f, desc: progress(f, desc=desc))
        return frame, compare_cards(frame)

    refresh.click(list_finished, [run_a, run_b], [run_a, run_b], api_name="compare_run_list")
    gr.on(None, list_finished, [run_a, run_b], [run_a, run_b], api_visibility="private")  # page load
    fill_heldout.click(heldout, [run_a, run_b], prompts, api_name="compare_prompts", show_progress="hidden")
    fill_random.click(lambda: "\n".join(random.sample(personas.load_prompts(), 4)), None, prompts,
                      api_visibility="private")  # fmt: skip
    go.click(run, [prompts, run_a, run_b, max_tokens], [table, cards], api_name="compare_runs", concurrency_limit=1,
             show_progress_on=progress)  # fmt: skip
