"""The RFT dry run: before minutes of GRPO, does the model it would start from give graders anything to learn from?

GRPO learns only from differences *within* a group (the answers to one question): its advantage is a score minus
the group's mean. If the graders give every answer of a group the same score — all 0 because the model never
hits the reference format, or all 1 because the task is too easy — the curve stays flat and the run teaches
nothing. The dry run measures that first:

1. the run's data and graders, as training would use them; the SFT warm-up when the run has one (GRPO starts from
   the warmed-up model);
2. ``num_generations`` answers sampled (at the run's temperature and length) for each of a few training questions;
3. every answer graded; the score distribution, each group's spread, and the share of groups whose answers all
   scored the same (what TRL logs as ``frac_reward_zero_std``).

Its verdict says plainly when (nearly) every answer scores the same, with fixes: a grader that gives partial
credit, the SFT warm-up, more answers per question, a higher temperature. It keeps no adapter and trains no RL.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict

from lab import evaluate

__all__ = ["FLAT_SHARE", "QUESTIONS", "advice", "dry_run", "verdict"]

QUESTIONS = 4
"""Training questions the dry run samples (each ``num_generations`` times)."""
FLAT_SHARE = 0.75
"""A share of same-score groups at or above this is "flat": GRPO would learn from too few groups."""


def verdict(zero_std_share: float, spread: float) -> str:
    """``flat`` (nearly every group is one score: little or nothing to learn), ``some`` (some groups teach), or
    ``ok`` (most groups have different scores).

    >>> verdict(1.0, 0.0), verdict(0.5, 0.2), verdict(0.0, 0.3)
    ('flat', 'some', 'ok')
    """
    if zero_std_share >= FLAT_SHARE or spread < 1e-6:
        return "flat"
    return "some" if zero_std_share >= 0.25 else "ok"


def advice(cfg, rewards: list[float]) -> list[str]:
    """Text keys of the fixes worth trying for a flat distribution (most effective first).

    >>> from types import SimpleNamespace as C
    >>> advice(C(warmup=False, num_generations=4, temperature=0.7), [0.0, 1.0, 0.0])
    ['dry.advice.partial', 'dry.advice.warmup', 'dry.advice.more_answers', 'dry.advice.temperature']
    >>> advice(C(warmup=True, num_generations=16, temperature=1.0), [0.0, 0.5])
    []
    """
    keys = []
    if all(r in (0.0, 1.0) for r in rewards):
        keys.append("dry.advice.partial")  # all-or-nothing graders: one near miss scores like nonsense
    if not cfg.warmup:
        keys.append("dry.advice.warmup")
    if cfg.num_generations < 16:
        keys.append("dry.advice.more_answers")
    if cfg.temperature < 1.0:
        keys.append("dry.advice.temperature")
    return keys


def dry_run(cfg, run, model, tokenizer, train_ds, graders, warm_up, t_start: float) -> dict:
    """Warm up (when ``cfg.warmup``), sample and grade; write and return the dry run's summary."""
    sft_seconds = 0.0
    if cfg.warmup:
        from lab.methods.common import lora_config

        model, sft_seconds = warm_up(cfg, model, tokenizer, train_ds, run, lora_config(cfg.lora_rank))
    k = min(QUESTIONS, len(train_ds))
    rows = [dict(r) for r in train_ds.select(range(k))]
    run.set_status(stage="dry_run", step=0, max_steps=k)
    t = time.time()
    model.eval()
    answers, _ = evaluate.batched_answers(
        model, tokenizer, [r["prompt"] for r in rows], batch_size=k, do_sample=True, temperature=cfg.temperature,
        top_p=1.0, top_k=0, max_new_tokens=cfg.max_completion_length, num_return_sequences=cfg.num_generations,
    )  # fmt: skip
    sample_seconds = time.time() - t
    repeated = [r for r in rows for _ in range(cfg.num_generations)]  # answers of one question are adjacent
    columns = {c: [r.get(c) for r in repeated] for c in repeated[0] if c != "prompt"}
    completions = [[{"role": "assistant", "content": a}] for a in answers]  # as TRL passes a chat task's answers
    prompts = [r["prompt"] for r in repeated]
    scores = {g.__name__: list(g(prompts=prompts, completions=completions, **columns)) for g in graders}
    groups, rewards = [], []
    for q, row in enumerate(rows):
        members = []
        for i in range(q * cfg.num_generations, (q + 1) * cfg.num_generations):
            s = {name: vals[i] for name, vals in scores.items()}
            reward = sum(v for v in s.values() if v is not None)
            rewards.append(reward)
            members.append({"completion": answers[i], "scores": s, "reward": reward})
        spread = statistics.pstdev([m["reward"] for m in members])
        groups.append({"prompt": row.get("question", ""), "reference": row.get("answer", ""), "std": spread,
                       "answers": members})  # fmt: skip
    zero = sum(1 for g in groups if g["std"] < 1e-6) / len(groups)
    spread = statistics.pstdev(rewards) if rewards else 0.0
    summary = {
        "method": "rft", "dry_run": True, "model": cfg.model, "task": cfg.task, "warmup": cfg.warmup,
        "questions": k, "num_generations": cfg.num_generations, "graders": list(scores),
        "rewards": [round(r, 4) for r in rewards], "mean": round(statistics.fmean(rewards), 4),
        "std": round(spread, 4), "zero_std_share": round(zero, 4), "verdict": verdict(zero, spread),
        "advice": advice(cfg, rewards) if verdict(zero, spread) != "ok" else [], "groups": groups,
        "sft_seconds": round(sft_seconds, 2), "sample_seconds": round(sample_seconds, 2),
        "total_seconds": round(time.time() - t_start, 2), "config": asdict(cfg),
    }  # fmt: skip
    run.write_summary(summary)
    return summary
