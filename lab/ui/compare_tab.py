"""The Compare tab: RLHF against RFT side by side — the same prompts answered by the base model and two runs.

Pick two finished runs (say an RFT run and an RLHF run) and some prompts (their held-out prompts, the class prompts
or your own); every model answers greedily, so the differences come from the weights alone. Generation goes
through ``lab.chat`` (its model cache is shared with the RLHF tab's chat). Labels are page labels (``L``); the
table's headers, the cards and every message are made in the visitor's language (``t``) when they are shown (the
empty cards and table at page load).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import gradio as gr
import pandas as pd

from lab import LabError, results, runs, texts
from lab.feedback import personas
from lab.texts import t
from lab.ui import curves_view, learn_tab
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
from lab.ui.lang import L

MAX_PROMPTS = 12


def heldout_prompts(run_ids: list[str | None], per_run: int = 4) -> list[str]:
    """The first held-out prompts (RLHF) or questions (RFT) of each run's results, without repeats."""
    known = {r.id: r for r in runs.list_runs()}  # ids only: an API caller cannot make the lab read another folder
    out: list[str] = []
    for run_id in run_ids:
        if not run_id:
            continue
        if run_id not in known:
            raise LabError("ui.compare.unknown_run", run_id=repr(run_id))
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
        raise LabError("ui.compare.no_prompts")
    if len(prompts) > limit:
        raise LabError("ui.compare.too_many", n=len(prompts), limit=limit)
    return prompts


def sides(run_a: str | None, run_b: str | None) -> list[tuple[str, str, str | None]]:
    """``(column title, base model, adapter)`` for each base model involved, then run A and run B (the base
    models' titles in the visitor's language)."""
    picked = [(name, run_id) for name, run_id in (("A", run_a), ("B", run_b)) if run_id]
    if not picked:
        raise LabError("ui.compare.pick_run")
    resolved = [(name, run_id, *resolve_model(run_id)[:2]) for name, run_id in picked]
    bases = list(dict.fromkeys(base for _, _, base, _ in resolved))
    columns = [(t("ui.compare.base_column", base=base), base, None) for base in bases]
    return columns + [(f"{name}: {run_id}", base, adapter) for name, run_id, base, adapter in resolved]


def compare(
    prompts_text: str, run_a: str | None, run_b: str | None, max_tokens: int = 64,
    progress: Callable[[float, str], None] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """A table: prompt | base | A | B, greedy answers of each model to each prompt."""
    from lab import chat  # torch side

    prompts = parse_prompts(prompts_text)
    columns = sides(run_a, run_b)
    table = {t("ui.compare.col.prompt"): prompts}
    for i, (title, base, adapter) in enumerate(columns):
        if progress:
            progress(i / len(columns), t("ui.compare.progress", title=title, n=len(prompts)))
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
        answers = [Answer(title, _answer_text(row[title]), compare=not _is_base(title)) for title in titles]
        cards.append(Card(str(row[frame.columns[0]]), answers))
    legend = t("ui.cards.compare_legend")
    return cards_html(cards, t("ui.cards.compare_waiting"), legend=legend, open_cards=MAX_PROMPTS)


def _is_base(title: str) -> bool:
    """Whether a column of :func:`compare` is a base model's (its title as :func:`sides` writes it, in the visitor's
    language or in English).

    >>> _is_base("base (tiny)"), _is_base("A: r1")
    (True, False)
    """
    for language in dict.fromkeys((texts.current_language(), texts.DEFAULT_LANGUAGE)):
        head, _, tail = t("ui.compare.base_column", language, base="\0").partition("\0")
        if len(title) > len(head) + len(tail) and title.startswith(head) and title.endswith(tail):
            return True
    return False


def _answer_text(value) -> str:
    """A table cell back to the answer (the table writes a blank answer as ``(empty)``)."""
    text = "" if value is None else str(value)
    return "" if text == answer_with_score("", None) else text


def empty_table() -> pd.DataFrame:
    """The answers table before a comparison: its headers in the visitor's language."""
    return empty_frame([t("ui.compare.col.prompt"), t("ui.compare.col.base"), "A", "B"])


def build_compare_tab() -> None:
    """Build the tab inside the current ``gr.Blocks``/``gr.Tab`` context."""
    gr.Markdown(L("ui.compare.intro"))
    with gr.Row(equal_height=True):
        # the lists fill when the page loads; any value is checked (resolve_model) before use
        run_a = gr.Dropdown([], value=None, label=L("ui.compare.run_a"), info=L("ui.compare.run_a_info"), scale=3,
                            allow_custom_value=True)  # fmt: skip
        run_b = gr.Dropdown([], value=None, label=L("ui.compare.run_b"), info=L("ui.compare.run_b_info"), scale=3,
                            allow_custom_value=True)  # fmt: skip
        refresh = gr.Button(L("ui.compare.refresh"), scale=1, min_width=120)
    prompts = gr.Textbox(label=L("ui.compare.prompts"), lines=5, max_lines=14,
                         placeholder=L("ui.compare.prompts_placeholder"))  # fmt: skip
    with gr.Row():
        fill_heldout = gr.Button(L("ui.compare.fill_heldout"))
        fill_random = gr.Button(L("ui.compare.fill_random"))
        max_tokens = gr.Slider(16, 256, 64, step=16, label=L("ui.compare.max_tokens"))
    go = gr.Button(L("ui.compare.go"), variant="primary")
    progress = progress_slot()  # "base answers 4 prompts" shows here, not over the answers
    # the empty cards and table are English until the page's load event fills them in the visitor's language
    cards = gr.HTML(compare_cards(None), label=L("ui.compare.answers"),
                    elem_id="compare-answers", elem_classes=["answer-cards-block"])  # fmt: skip
    with gr.Accordion(L("ui.cards.table"), open=False):
        table = gr.Dataframe(empty_table(), label=L("ui.compare.answers"),
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
            raise LabError("ui.compare.no_heldout")
        return "\n".join(found[:MAX_PROMPTS])

    @user_errors
    def run(text: str, a: str | None, b: str | None, tokens: float, progress=gr.Progress()):
        frame = compare(text, a, b, int(tokens), lambda f, desc: progress(f, desc=desc))
        return frame, compare_cards(frame)

    def on_load(a: str | None, b: str | None):
        return *list_finished(a, b), empty_table(), compare_cards(None)

    refresh.click(list_finished, [run_a, run_b], [run_a, run_b], api_name="compare_run_list")
    gr.on(None, on_load, [run_a, run_b], [run_a, run_b, table, cards], api_visibility="private")  # page load
    fill_heldout.click(heldout, [run_a, run_b], prompts, api_name="compare_prompts", show_progress="hidden")
    fill_random.click(lambda: "\n".join(random.sample(personas.load_prompts(), 4)), None, prompts,
                      api_visibility="private")  # fmt: skip
    go.click(run, [prompts, run_a, run_b, max_tokens], [table, cards], api_name="compare_runs", concurrency_limit=1,
             show_progress_on=progress)  # fmt: skip
    curves_view.build_curves_section("compare")
    _class_results()


def _class_results() -> None:
    """Every finished run of the class on one line each, and the same as a CSV file to download."""
    with gr.Accordion(L("learn.class.title"), open=False):
        frame = gr.Dataframe(results.class_frame([]), label=L("learn.class.table"), wrap=True, interactive=False,
                             max_height=420)  # fmt: skip
        with gr.Row():
            refresh = gr.Button(L("curves.refresh_class"), scale=0, min_width=160)
            csv_file = gr.File(label=L("learn.class.csv"), interactive=False, height=80)
    refresh.click(learn_tab.class_results, None, [frame, csv_file], api_name="class_results")
    gr.on(None, learn_tab.class_results, None, [frame, csv_file], api_visibility="private")  # page load
