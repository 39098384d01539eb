"""An RLHF run on screen: its pipeline, its four curves, win rate and reward-model scores before → after, and the
held-out answers side by side.

One of the per-method views that ``lab.ui.runs_view`` picks from its ``VIEWS`` table (beside ``lab.ui.rft_view``);
each defines the same names. Pure formatting: a summary dict in, HTML or a DataFrame out (see ``lab.methods.rlhf``
for what the summary holds), in the visitor's language (``lab.texts.t``). The words ``runs_view`` places are keys:
``PLOT_LABELS`` and ``EXAMPLES_LABEL`` are static labels (``L(...)``, translated by the page), the ``STAGES``
labels, ``WAITING`` and ``SCORER`` are text keys (``t(key)`` where the text is made).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from lab import plots
from lab.methods.rlhf_config import route_of
from lab.methods.rlhf_feedback import DEMO, RM_HELDOUT_PAIRS
from lab.texts import t
from lab.ui.answer_cards import Answer, Card, cards_html
from lab.ui.common import answer_with_score, empty_frame, esc, format_seconds, num, pct
from lab.ui.lang import L

__all__ = [
    "EXAMPLES_LABEL", "FIGURES", "PLOT_LABELS", "POLICY_STAGE", "SCORER", "STAGES", "TRAINING_STAGES", "WAITING",
    "data_text", "examples_cards", "examples_frame", "result_text", "results_html", "reward_model_scores",
]  # fmt: skip

STAGES = [(("simulate",), "ui.rlhf.chip.simulate"), (("reward_model",), "ui.rlhf.chip.reward_model"),
          (("rl", "kto", "dpo"), "ui.rlhf.chip.rl"), (("evaluate", "base answers"), "ui.rlhf.chip.evaluate"),
          (("done",), "ui.rlhf.chip.done")]  # fmt: skip
"""``(stage prefixes in status.json, label key)``: the pipeline the status card draws (``t(key)``: its words)."""
TRAINING_STAGES = ("simulate", "reward_model", "rl", "kto", "dpo")
"""Stages that count steps (the status card shows step/max, a bar and an ETA)."""
POLICY_STAGE = "rl"
"""The stage whose samples are the policy's answers with their reward-model score."""
PLOT_LABELS = (L("ui.rlhf.plot.rm_score"), L("ui.rlhf.plot.kl"), L("ui.rlhf.plot.length"), L("ui.rlhf.plot.win_rate"))


def policy_or_reward_model_figure(rows) -> go.Figure:
    """The first curve: the policy's reward-model score (or its KTO/DPO loss) once the policy trains; before that,
    while the reward model trains, the reward model's own loss and accuracy (not an empty frame)."""
    df = plots.metrics_frame(rows)
    if df["stage"].isin(["rl", "kto", "dpo"]).any() or not (df["stage"] == "reward_model").any():
        return plots.rm_score_figure(rows)
    return plots.rm_training_figure(rows)


FIGURES = (policy_or_reward_model_figure, plots.kl_figure,
           functools.partial(plots.completion_length_figure, stage="rl"), plots.win_rate_figure)  # fmt: skip
"""The four live curves, in the order of ``RunView.plots``."""
WAITING = "ui.rlhf.waiting"
"""The key of what the results show once the run finishes."""
SCORER = "ui.rlhf.scorer"
"""The key of who scores the policy's samples (the samples table's label)."""
EXAMPLES_LABEL = L("ui.rlhf.examples_label")


def results_html(summary: dict) -> str:
    """An RLHF run's verdict as big numbers: reward-model score before → after, the persona's win rate, the reward
    model's held-out accuracy (on how many held-out pairs) and the feedback it learned from; then the benchmarked
    default demo's numbers to read them against, and a line with the model, route and times."""
    before, after = summary.get("before") or {}, summary.get("after") or {}
    rm = summary.get("reward_model") or {}
    persona = summary.get("persona")
    counts = summary.get("verdicts") or {}

    def card(label: str, value: str, sub: str) -> str:
        return (f'<div class="big"><div class="label">{esc(label)}</div><div class="value">{value}</div>'
                f'<div class="sub">{sub}</div></div>')  # fmt: skip

    score = card(t("ui.rlhf.result.rm_score"), f"{num(before.get('rm_score'))} → {num(after.get('rm_score'))}",
                 esc(t("ui.rlhf.result.rm_score_sub")))  # fmt: skip
    cards = [score]
    if summary.get("win_rate") is not None:
        sub = t("ui.rlhf.result.win_rate_sub", persona=persona, tuned=counts.get("tuned", 0),
                base=counts.get("base", 0), tie=counts.get("tie", 0))  # fmt: skip
        cards.append(card(t("ui.rlhf.result.win_rate"), pct(summary["win_rate"]), esc(sub)))
    if rm.get("accuracy") is not None:
        use = t("ui.rlhf.result.scoring_only" if rm.get("scoring_only") else "ui.rlhf.result.optimised")
        n_held = rm.get("n_heldout_pairs")
        sub = esc(t("ui.rlhf.result.accuracy_sub", n=n_held if n_held is not None else "?", use=use))
        if isinstance(n_held, int) and 0 < n_held < RM_HELDOUT_PAIRS:
            sub += f"<br>{esc(t('ui.rlhf.result.few_heldout', step=pct(1 / n_held)))}"
        cards.append(card(t("ui.rlhf.result.accuracy"), pct(rm["accuracy"]), sub))
    used = summary.get("feedback") or {}
    if used.get("pairs_used") is not None:
        cards.append(card(t("ui.rlhf.result.feedback_label"), t("ui.rlhf.result.feedback_value", n=used["pairs_used"]),
                          _feedback_sub(used, rm, persona)))  # fmt: skip
    algorithm = str(summary.get("rl_algorithm") or "grpo").upper()
    route = {"rm-rl": t("ui.rlhf.result.route_rm", algorithm=algorithm), "kto": "KTO",
             "dpo": "DPO"}.get(summary.get("algorithm"), summary.get("algorithm"))  # fmt: skip
    note = t(
        "ui.rlhf.result.note", model=summary.get("model"), route=route, prompts=summary.get("heldout_prompts", "?"),
        pairs=used.get("pairs_used", "?"), ratings=used.get("ratings_used", "?"),
        words_before=num(before.get("mean_words")), words_after=num(after.get("mean_words")),
        train=format_seconds(summary.get("train_seconds")), eval=format_seconds(summary.get("eval_seconds")),
    )  # fmt: skip
    benchmark = t(
        "ui.rlhf.result.benchmark",
        ratings=DEMO["ratings"],
        pairs=DEMO["pairs"],
        accuracy=pct(DEMO["rm_accuracy"]),
        heldout=DEMO["rm_heldout_pairs"],
        win_rate=pct(DEMO["win_rate"]),
    )
    return (f'<div class="bigs">{"".join(cards)}</div><div class="results-note">{esc(note)}</div>'
            f'<div class="results-note benchmark">{esc(benchmark)}</div>')  # fmt: skip


def _feedback_sub(used: dict, rm: dict, persona: str | None) -> str:
    """The "feedback used" card's small print: where the feedback came from, ratings, the reward model's train /
    held-out pairs, and who made it (the pairs used by origin when the summary has them, else the store's rows).

    >>> _feedback_sub({"given": "store", "ratings_used": 9, "stats": {"human": 3, "simulated": 6}}, {}, None)
    'from the shared feedback store · 9 ratings · reward model: ? pairs to train on, ? held out<br>the store then: \
people 3 · simulated 6 · imported 0 rows'
    """
    given = used.get("given")
    if given == "store":
        where = t("ui.rlhf.result.from_store")
    elif given:
        where = t("ui.rlhf.result.from_file", file=Path(str(given)).name)
    else:
        where = t("ui.rlhf.result.from_simulated", persona=persona or "?")
    line = t("ui.rlhf.result.feedback_sub", ratings=used.get("ratings_used", "?"),
             train=rm.get("n_train_pairs", "?"), heldout=rm.get("n_heldout_pairs", "?"))  # fmt: skip
    lines = [f"{esc(where)} · {esc(line)}"]
    groups, stats = used.get("groups"), used.get("stats")
    if groups:
        pairs = {g: (groups.get(g) or {}).get("pairs", 0) for g in ("people", "simulated", "imported")}
        lines.append(esc(t("ui.rlhf.result.used_by", **pairs)))
    elif stats:
        rows = {"people": stats.get("human", 0), "simulated": stats.get("simulated", 0),
                "imported": stats.get("imported", 0)}  # fmt: skip
        lines.append(esc(t("ui.rlhf.result.store_by", **rows)))
    return "<br>".join(lines)


def examples_frame(summary: dict | None, limit: int = 200) -> pd.DataFrame:
    """prompt | base | tuned | verdict: the held-out answers side by side, each with its reward-model score (the
    headers and verdicts in the visitor's language)."""
    columns = [t("ui.rlhf.column.prompt"), t("ui.rlhf.column.base"), t("ui.rlhf.column.tuned"),
               t("ui.rlhf.column.verdict")]  # fmt: skip
    examples = (summary or {}).get("examples") or []
    if not examples:
        return empty_frame(columns)
    persona = (summary or {}).get("persona")
    verdicts = {"tuned": t("ui.rlhf.verdict.tuned", persona=persona),
                "base": t("ui.rlhf.verdict.base", persona=persona), "tie": t("ui.rlhf.verdict.tie")}  # fmt: skip
    rows = [
        [e.get("prompt"), answer_with_score(e.get("base"), e.get("base_rm")),
         answer_with_score(e.get("tuned"), e.get("tuned_rm")), verdicts.get(e.get("verdict"), "–")]
        for e in examples[:limit]
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def examples_cards(summary: dict | None, limit: int = 200) -> str:
    """One card per held-out prompt: base | tuned side by side, each with its reward-model score and the persona's
    verdict (the preferred answer outlined); what the tuning changed is highlighted."""
    summary = summary or {}
    persona = summary.get("persona")
    cards = []
    for e in (summary.get("examples") or [])[:limit]:
        verdict = e.get("verdict")
        answers = []
        for side, title in (("base", t("ui.cards.base")), ("tuned", t("ui.cards.tuned"))):
            score = e.get(f"{side}_rm")
            if verdict == side:
                shown, kind = t("ui.cards.prefers", persona=persona), "good"
            elif verdict == "tie":
                shown, kind = t("ui.cards.tie", persona=persona), ""
            else:
                shown, kind = None, ""
            cut = e.get(f"{side}_complete") is False
            answers.append(Answer(
                title, e.get(side), score=t("ui.cards.rm_score", score=num(score)) if score is not None else None,
                verdict=shown, verdict_kind=kind, preferred=verdict == side,
                note=t("ui.cards.cut") if cut else None,
            ))  # fmt: skip
        cards.append(Card(str(e.get("prompt") or ""), answers))
    return cards_html(cards, t("ui.cards.waiting", what=t(WAITING)))


def reward_model_scores(samples: list[dict], summary: dict | None = None) -> tuple[list[float], list[float]]:
    """The reward model's scores of its held-out pairs, ``(chosen, rejected)``: from the run's samples (written as
    soon as the reward model is trained) or, failing those, its summary."""
    held = [s for s in samples if s.get("stage") == "reward_model" and "chosen_score" in s]
    if held:
        return [s["chosen_score"] for s in held], [s.get("rejected_score") for s in held]
    rm = (summary or {}).get("reward_model") or {}
    return list(rm.get("chosen_scores") or []), list(rm.get("rejected_scores") or [])


def data_text(cfg: dict) -> str:
    """What the run learned from, for the runs table: its route and feedback (``method`` in old run folders).

    >>> data_text({"route": "kto", "feedback": "store"}), data_text({"method": "dpo", "feedback": "store"})
    ('kto on the feedback store', 'dpo on the feedback store')
    >>> data_text({"method": "dpo", "feedback": "store"}), data_text({"persona": "polite"})
    ('dpo on the feedback store', 'rm-rl on simulated polite ratings')
    """
    feedback = cfg.get("feedback")
    if feedback == "store":
        return t("ui.rlhf.data.store", route=route_of(cfg))
    if feedback:
        return t("ui.rlhf.data.file", route=route_of(cfg), file=Path(str(feedback)).name)
    return t("ui.rlhf.data.simulated", route=route_of(cfg), persona=cfg.get("persona", "concise"))


def result_text(summary: dict) -> str:
    """A finished run in a few words, for the runs table: the persona's win rate and the reward-model score.

    >>> result_text({"win_rate": 0.625, "before": {"rm_score": -1.0}, "after": {"rm_score": 0.5}})
    'win rate 62.5 % · RM score -1.00 → 0.50'
    """
    before, after = summary.get("before") or {}, summary.get("after") or {}
    parts = []
    if summary.get("win_rate") is not None:
        parts.append(t("ui.rlhf.result.win_rate_short", win_rate=pct(summary["win_rate"])))
    if before.get("rm_score") is not None:
        parts.append(t("ui.rlhf.result.rm_score_short", before=num(before["rm_score"]),
                       after=num(after.get("rm_score"))))  # fmt: skip
    return " · ".join(parts)
