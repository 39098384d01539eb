"""An RFT run on screen: its pipeline, its four curves, accuracy before → after SFT → after RL, and the held-out
questions with each answer's reward.

One of the per-method views that ``lab.ui.runs_view`` picks from its ``VIEWS`` table (beside ``lab.ui.rlhf_view``);
each defines the same names. Pure formatting: a summary dict in, HTML or a DataFrame out (see ``lab.methods.rft``
for what the summary holds), in the visitor's language (``lab.texts.t``). The words ``runs_view`` places are keys:
``PLOT_LABELS`` and ``EXAMPLES_LABEL`` are static labels (``L(...)``, translated by the page), the ``STAGES``
labels, ``WAITING`` and ``SCORER`` are text keys (``t(key)`` where the text is made).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lab import plots
from lab.grading import is_exact
from lab.methods.rft_config import DEFAULT_TASK
from lab.texts import t
from lab.ui.answer_cards import Answer, Card, cards_html
from lab.ui.common import answer_with_score, empty_frame, esc, format_seconds, num, pct
from lab.ui.lang import L

__all__ = [
    "EXAMPLES_LABEL", "FIGURES", "PLOT_LABELS", "POLICY_STAGE", "SCORER", "STAGES", "TRAINING_STAGES", "WAITING",
    "data_text", "examples_cards", "examples_frame", "result_text", "results_html", "reward_model_scores",
]  # fmt: skip

STAGES = [(("data",), "ui.rft.chip.data"), (("sft",), "ui.rft.chip.sft"), (("grpo",), "ui.rft.chip.grpo"),
          (("evaluating",), "ui.rft.chip.evaluating"), (("done",), "ui.rft.chip.done")]  # fmt: skip
"""``(stage prefixes in status.json, label key)``: the pipeline the status card draws (``t(key)``: its words)."""
TRAINING_STAGES = ("sft", "grpo")
"""Stages that count steps (the status card shows step/max, a bar and an ETA)."""
POLICY_STAGE = "grpo"
"""The stage whose samples are the policy's answers with their reward."""
PLOT_LABELS = (L("ui.rft.plot.reward"), L("ui.rft.plot.grader"), L("ui.rft.plot.length"), L("ui.rft.plot.sft_loss"))
FIGURES = (plots.reward_figure, plots.grader_figure, plots.completion_length_figure, plots.sft_loss_figure)
"""The four live curves, in the order of ``RunView.plots``."""
WAITING = "ui.rft.waiting"
"""The key of what the results show once the run finishes."""
SCORER = "ui.rft.scorer"
"""The key of who scores the policy's samples (the samples table's label)."""
EXAMPLES_LABEL = L("ui.rft.examples_label")


def results_html(summary: dict) -> str:
    """Exact-match accuracy (and mean reward) on the held-out questions: before → after SFT → after RL."""
    cards = []
    for key, label in (("before", "ui.cards.before"), ("after_sft", "ui.rft.results.after_sft"),
                       ("after", "rft.results.after_rl")):  # fmt: skip
        if summary.get(key):
            s = summary[key]
            reward = esc(t("ui.rft.results.mean_reward", reward=num(s.get("valid_reward"))))
            cards.append(
                f'<div class="big"><div class="label">{esc(t(label))}</div>'
                f'<div class="value">{pct(s.get("accuracy"))}</div><div class="sub">{reward}</div></div>'
            )
    if summary.get("partial") and not summary.get("after"):
        cards.append(f'<div class="big"><div class="label">{esc(t("rft.results.after_rl"))}</div>'
                     f'<div class="value">–</div><div class="sub">{esc(t("rft.results.stopped"))}</div></div>')
    arrows = '<div class="arrow">→</div>'.join(cards)
    seconds = {k: format_seconds(summary.get(f"{k}_seconds")) for k in ("train", "sft", "grpo", "eval")}
    note = t(
        "ui.rft.results.note", model=summary.get("model"), task=Path(str(summary.get("task", ""))).name,
        valid_size=summary.get("valid_size", "?"), train=seconds["train"], sft=seconds["sft"], rl=seconds["grpo"],
        eval=seconds["eval"],
    )  # fmt: skip
    return f'<div class="bigs">{arrows}</div><div class="results-note">{esc(note)}</div>'


def examples_frame(summary: dict | None, limit: int = 200) -> pd.DataFrame:
    """question | reference | before | (after SFT) | after RL, each answer followed by its reward in brackets (the
    headers in the visitor's language)."""
    examples = (summary or {}).get("examples") or []
    with_sft = any("after_sft" in e for e in examples)
    keys = ["ui.rft.column.question", "ui.rft.column.reference", "rft.moment.before",
            *(["rft.moment.after_sft"] if with_sft else []), "rft.moment.after_rl"]  # fmt: skip
    columns = [t(key) for key in keys]
    if not examples:
        return empty_frame(columns)
    rows = []
    for e in examples[:limit]:
        row = [e.get("question"), e.get("reference"), answer_with_score(e.get("before"), e.get("before_reward"))]
        if with_sft:
            row.append(answer_with_score(e.get("after_sft"), e.get("after_sft_reward")))
        row.append(answer_with_score(e.get("after"), e.get("after_reward")))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def examples_cards(summary: dict | None, limit: int = 200) -> str:
    """One card per held-out question: the reference on top, then before | (after SFT) | after RL side by side,
    each with its reward and whether it is an exact match; what changed against the base model is highlighted."""
    examples = (summary or {}).get("examples") or []
    cards = []
    for e in examples[:limit]:
        reference = "" if e.get("reference") is None else str(e.get("reference"))
        answers = [_answer(t("ui.cards.before"), e.get("before"), e.get("before_reward"), reference)]
        if "after_sft" in e:
            answers.append(_answer(t("ui.cards.after_sft"), e.get("after_sft"), e.get("after_sft_reward"), reference))
        answers.append(_answer(t("ui.cards.after_rl"), e.get("after"), e.get("after_reward"), reference))
        cards.append(Card(str(e.get("question") or ""), answers, reference=reference))
    return cards_html(cards, t("ui.cards.waiting", what=t(WAITING)))


def _answer(title: str, text, reward, reference: str) -> Answer:
    exact = is_exact(str(text or ""), reference)
    score = t("ui.cards.reward", score=num(reward)) if reward is not None else None
    verdict = t("ui.cards.exact") if exact else t("ui.cards.not_exact")
    return Answer(title, text, score=score, verdict=verdict, verdict_kind="good" if exact else "bad")


def reward_model_scores(samples: list[dict], summary: dict | None = None) -> None:
    """An RFT run trains no reward model: nothing for the held-out pairs plot (``None`` hides it)."""
    return None


def data_text(cfg: dict) -> str:
    """What the run learned from, for the runs table: its task set's file name.

    >>> data_text({"task": "/up/ab12_x.csv"})
    'ab12_x.csv'
    """
    return Path(str(cfg.get("task") or DEFAULT_TASK)).name


def result_text(summary: dict) -> str:
    """A run in a few words, for the runs table: accuracy at every stage it measured (before → after SFT → after
    RL); a stopped run shows what it reached.

    >>> result_text({"before": {"accuracy": 0.0}, "after_sft": {"accuracy": 0.775}, "after": {"accuracy": 0.825}})
    'accuracy 0.0 % → 77.5 % (SFT) → 82.5 % (RL)'
    >>> result_text({"before": {"accuracy": 0.25}, "after": {"accuracy": 0.5}})
    'accuracy 25.0 % → 50.0 % (RL)'
    >>> result_text({"partial": True, "before": {"accuracy": 0.0}, "after_sft": {"accuracy": 0.5}})
    'accuracy 0.0 % → 50.0 % (SFT) → not measured after RL'
    """
    before = summary.get("before") or {}
    if not before:
        return ""
    parts = [pct(before.get("accuracy"))]
    if summary.get("after_sft"):
        parts.append(t("rft.result.after_sft", accuracy=pct(summary["after_sft"].get("accuracy"))))
    if summary.get("after"):
        parts.append(t("rft.result.after_rl", accuracy=pct(summary["after"].get("accuracy"))))
    elif summary.get("partial"):
        parts.append(t("rft.result.stopped"))
    return t("rft.result.accuracy", stages=" → ".join(parts))
