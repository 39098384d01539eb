"""An RLHF run's results on screen: win rate, reward-model scores before → after, held-out answers side by side.

Pure formatting (summary dict in, HTML or DataFrame out), used by ``lab.ui.runs_view`` for runs whose
``summary["method"]`` is ``"rlhf"`` (see ``lab.methods.rlhf`` for what the summary holds).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lab.ui.common import empty_frame, esc, format_seconds, num, pct

__all__ = ["answer_with_score", "reward_model_scores", "rlhf_examples_frame", "rlhf_results_html"]


def rlhf_results_html(summary: dict) -> str:
    """An RLHF run's verdict as big numbers: reward-model score before → after, the persona's win rate, and the
    reward model's held-out accuracy; a line with the model, route and times below."""
    before, after = summary.get("before") or {}, summary.get("after") or {}
    rm = summary.get("reward_model") or {}
    persona = summary.get("persona")
    counts = summary.get("verdicts") or {}

    def card(label: str, value: str, sub: str) -> str:
        return (f'<div class="big"><div class="label">{esc(label)}</div><div class="value">{value}</div>'
                f'<div class="sub">{sub}</div></div>')  # fmt: skip

    score = card("reward-model score", f"{num(before.get('rm_score'))} → {num(after.get('rm_score'))}",
                 "mean on held-out prompts: base → tuned")  # fmt: skip
    cards = [score]
    if summary.get("win_rate") is not None:
        sub = (f"{esc(persona)} prefers tuned {counts.get('tuned', 0)} · base {counts.get('base', 0)} · "
               f"tie {counts.get('tie', 0)} (0.5 = no change)")  # fmt: skip
        cards.append(card("win rate vs base", pct(summary["win_rate"]), sub))
    if rm.get("accuracy") is not None:
        use = "used only to score answers" if rm.get("scoring_only") else "the reward RL optimised"
        cards.append(card("reward model accuracy", pct(rm["accuracy"]),
                          f"{rm.get('n_heldout_pairs', '?')} held-out pairs · {use}"))  # fmt: skip
    route = {"rm-rl": f"reward model + {str(summary.get('rl_algorithm') or 'grpo').upper()}", "kto": "KTO",
             "dpo": "DPO"}.get(summary.get("algorithm"), esc(summary.get("algorithm")))  # fmt: skip
    used = summary.get("feedback") or {}
    words = f"answer length {num(before.get('mean_words'))} → {num(after.get('mean_words'))} words"
    note = (
        f"{esc(summary.get('model'))} · {route} · {summary.get('heldout_prompts', '?')} held-out prompts · "
        f"{used.get('pairs_used', '?')} pairs, {used.get('ratings_used', '?')} ratings used · {words} · training "
        f"{format_seconds(summary.get('train_seconds'))}, evaluation {format_seconds(summary.get('eval_seconds'))}"
    )
    return f'<div class="bigs">{"".join(cards)}</div><div class="results-note">{note}</div>'


def rlhf_examples_frame(summary: dict | None, limit: int = 200) -> pd.DataFrame:
    """prompt | base | tuned | verdict: the held-out answers side by side, each with its reward-model score."""
    columns = ["prompt", "base", "tuned", "verdict"]
    examples = (summary or {}).get("examples") or []
    if not examples:
        return empty_frame(columns)
    persona = (summary or {}).get("persona")
    verdicts = {"tuned": f"{persona} prefers tuned", "base": f"{persona} prefers base", "tie": "tie"}
    rows = [
        {"prompt": e.get("prompt"), "base": answer_with_score(e.get("base"), e.get("base_rm")),
         "tuned": answer_with_score(e.get("tuned"), e.get("tuned_rm")), "verdict": verdicts.get(e.get("verdict"), "–")}
        for e in examples[:limit]
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def reward_model_scores(samples: list[dict], summary: dict | None = None) -> tuple[list[float], list[float]]:
    """The reward model's scores of its held-out pairs, ``(chosen, rejected)``: from the run's samples (written as
    soon as the reward model is trained) or, failing those, its summary."""
    held = [s for s in samples if s.get("stage") == "reward_model" and "chosen_score" in s]
    if held:
        return [s["chosen_score"] for s in held], [s.get("rejected_score") for s in held]
    rm = (summary or {}).get("reward_model") or {}
    return list(rm.get("chosen_scores") or []), list(rm.get("rejected_scores") or [])


def answer_with_score(text: Any, score: Any) -> str:
    """An answer followed by its score in brackets (``(empty)`` for a blank answer).

    >>> answer_with_score("Paris", 1.0), answer_with_score(" ", None)
    ('Paris [1.00]', '(empty)')
    """
    text = "" if text is None else str(text)
    text = text if text.strip() else "(empty)"
    return f"{text} [{num(score)}]" if score is not None else text
