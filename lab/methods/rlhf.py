"""RLHF from ratings: human (or simulated) feedback → a tuned model, by three routes a student can compare.

The stages of one run (each a ``stage`` in status.json and metrics.jsonl):

1. **simulate** (only when no feedback is given): the base model answers each training prompt (``assets/prompts.txt``,
   or ``prompts_zh.txt`` with ``prompts="zh"``) four times at T≈1;
   a persona (``lab.feedback.personas``) gives each answer a thumb and ranks the four: every two it can tell apart
   make a preference pair.
2. **reward_model**: TRL ``RewardTrainer`` learns r(prompt, answer) from the pairs (``lab.methods.reward_model``).
   For ``kto``/``dpo`` it is trained too, but only to score answers before/after (not counted in train_seconds).
3. **rl** (``rm-rl``: GRPO/RLOO against the reward model with a KL leash to the base, ``lab.methods.rl``), or
   **kto** / **dpo** straight from the thumbs / pairs, no reward model (``lab.methods.preference``).
4. **evaluate**: greedy answers of the base (LoRA off) and the tuned model to held-out prompts, each scored by the
   reward model and judged by the persona: the win rate (ties count half) says whether the rater's taste was learned.

The options (``route`` among them) and their translation into each stage's options: ``lab.methods.rlhf_config``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import asdict

import torch

from lab import LabError, evaluate, models, texts
from lab.feedback import personas
from lab.messages import as_messages, prompt_key
from lab.methods import preference, reward_model, rl
from lab.methods.common import open_feedback, setup_torch
from lab.methods.rlhf_config import ROUTES, Config
from lab.methods.rlhf_feedback import training_feedback, usable_feedback

__all__ = ["ROUTES", "Config", "sample_answers", "simulate_feedback", "train"]


# --- simulated feedback --------------------------------------------------------------------------------------------
def sample_answers(
    model, tokenizer, prompts: list, per_prompt: int = 2, max_new_tokens: int = 48, temperature: float = 1.0,
    top_k: int = 50, batch_size: int = 32, progress: Callable[[int, int], None] | None = None,
) -> list[list[tuple[str, bool]]]:  # fmt: skip
    """``per_prompt`` sampled ``(answer, complete)`` to each prompt (a string or message list), left-padded batches.

    ``complete`` is False when the answer was cut off at ``max_new_tokens``. ``top_k`` = 50 as in ``generate``'s
    default: sampling the whole vocabulary at T=1 makes a 135M model babble. Batching is
    :func:`lab.evaluate.batched_answers`, as for the greedy answers that are judged.
    """
    model.eval()
    answers, complete = evaluate.batched_answers(
        model, tokenizer, [as_messages(p) for p in prompts], batch_size, progress,
        do_sample=True, temperature=temperature, top_k=top_k, top_p=1.0, max_new_tokens=max_new_tokens,
        num_return_sequences=per_prompt,
    )  # fmt: skip
    rows = list(zip(answers, complete, strict=True))
    return [rows[j : j + per_prompt] for j in range(0, len(rows), per_prompt)]


def simulate_feedback(
    persona, model_name: str, store, n: int, prompts: list[str], *, model=None, tokenizer=None,
    answers_per_prompt: int = 4, max_new_tokens: int = 48, temperature: float = 1.0, seed: int = 0,
    batch_size: int = 32, progress: Callable[[int, int], None] | None = None, owner: str = "",
) -> dict:  # fmt: skip
    """Let a persona rate ``n`` fresh answers of the base model, ``answers_per_prompt`` to each prompt, and rank them.

    The prompts are visited in order (cycling when needed). Every answer gets the persona's thumb; every two answers
    to the same prompt that the persona can tell apart form a preference pair — as InstructGPT's labellers ranked
    K = 4 to 9 answers and each ranking gave K·(K−1)/2 pairs, so a few ratings give many pairs. An answer cut off at
    ``max_new_tokens`` is marked so: a length persona (``Persona.judges_length``) never likes it, and pairs it only
    with a finished answer that is visibly shorter (so the reward model is never taught to prefer the longer text of
    a pair, nor "fewer words per token" from two cut-off answers). Everything is stored in ``store`` with source
    ``"simulated:<persona>"`` and ``owner`` (the visitor who asked). Pass ``model``/``tokenizer`` to reuse a loaded
    model. Returns the counts and seconds.
    """
    persona = personas.get(persona)
    k = answers_per_prompt
    if not 2 <= k <= 16:
        raise LabError("rlhf.simulate.answers_per_prompt", k=k)
    if n < k or not prompts:
        raise LabError("rlhf.simulate.too_few", k=k, n=n, n_prompts=len(prompts))
    t = time.time()
    if model is None:
        model, tokenizer = models.load_causal_lm(model_name)
    visits = [prompts[i % len(prompts)] for i in range(n // k)]
    torch.manual_seed(seed)
    answers = sample_answers(
        model, tokenizer, visits, k, max_new_tokens, temperature, batch_size=batch_size, progress=progress
    )
    all_cut_off = not any(done for group in answers for _, done in group)
    if all_cut_off:  # e.g. the random tiny model, which never ends an answer: judge what is visible, or learn nothing
        print(texts.t("rlhf.simulate.all_cut_off", n=n, max_new_tokens=max_new_tokens))
        answers = [[(text, True) for text, _ in group] for group in answers]
    source, session = f"simulated:{persona.name}", f"simulate-seed{seed}"
    meta = {"model": model_name[:200], "session": session, "source": source, "owner": owner}
    ratings, pairs, ties = [], [], 0
    for prompt, group in zip(visits, answers, strict=True):
        group = [(text, done) for text, done in group if text]
        for text, done in group:
            ratings.append({"prompt": prompt, "completion": text, "label": persona.likes(prompt, text, done), **meta})
        for (a, a_done), (b, b_done) in itertools.combinations(group, 2):
            pair = personas.pair_up(persona, prompt, a, b, a_done, b_done)
            if pair is None or pair[0].strip() == pair[1].strip():
                ties += 1
            else:
                pairs.append({"prompt": prompt, "chosen": pair[0], "rejected": pair[1], **meta})
    store.add_many(ratings, pairs)
    return {
        "ratings": len(ratings),
        "liked": sum(r["label"] for r in ratings),
        "complete": 0 if all_cut_off else sum(done for group in answers for _, done in group),
        "pairs": len(pairs),
        "ties": ties,
        "seconds": round(time.time() - t, 2),
    }


# --- the run -------------------------------------------------------------------------------------------------------
def _mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def train(cfg: Config, run) -> dict:
    """Run the RLHF stages on ``run``'s folder and return the summary (also written to summary.json)."""
    setup_torch(cfg.seed)
    t_start = time.time()
    persona = personas.get(cfg.persona) if cfg.persona else None
    all_prompts = personas.load_prompts(cfg.prompts)
    train_prompts, heldout = personas.split_prompts(all_prompts, cfg.heldout, cfg.seed)

    run.set_status(stage=texts.t("rlhf.status.loading_model"))
    store, imported = open_feedback(cfg.feedback, run.dir)
    model, tokenizer = models.load_causal_lm(cfg.model)

    # 1. Feedback: given, or simulated by the persona -----------------------------------------------------------------
    simulated = None
    if not cfg.feedback:
        run.set_status(stage="simulate", step=0, max_steps=cfg.simulate // cfg.simulate_answers)

        def progress(done: int, total: int) -> None:
            run.set_status(stage="simulate", step=done, max_steps=total)

        simulated = simulate_feedback(
            persona, cfg.model, store, cfg.simulate, train_prompts, model=model, tokenizer=tokenizer,
            answers_per_prompt=cfg.simulate_answers, max_new_tokens=cfg.simulate_tokens, seed=cfg.seed,
            progress=progress,
        )  # fmt: skip
        run.log_metrics({"stage": "simulate", "step": 0, **simulated})
        print(texts.t("rlhf.note.simulated", persona=persona.name, counts=json.dumps(simulated)), flush=True)
    stats = store.stats()
    pairs, ratings = training_feedback(store, cfg)  # what the page showed above Train: held-out prompts left out
    usable = usable_feedback(store, cfg)

    # 2. Reward model (trained for rm-rl; for kto/dpo only to score before/after) ---------------------------------
    scorer, rm_result = None, None
    try:
        scorer, rm_result = reward_model.fit(cfg.rm_config(), run, pairs)
    except LabError as exc:
        if cfg.route == "rm-rl":
            raise
        print(texts.t("rlhf.note.no_reward_model", error=exc), flush=True)

    # The base model's greedy answers to the held-out prompts (before LoRA exists, so exactly the base) ------------
    t_eval = time.time()
    run.set_status(stage=texts.t("rlhf.status.base_answers"), step=0, max_steps=1)
    messages = [as_messages(p) for p in heldout]
    base, base_done = evaluate.generate(model, tokenizer, messages, cfg.answer_tokens, batch_size=64,
                                        return_complete=True)  # fmt: skip
    eval_seconds = time.time() - t_eval

    # 3. The policy: RL against the reward model, or KTO / DPO from the feedback directly --------------------------
    if cfg.route == "rm-rl":
        candidates = [as_messages(p) for p in [*train_prompts, *(x["prompt"] for x in pairs)]]
        rl_prompts = list({prompt_key(p): p for p in candidates}.values())
        policy, policy_result = rl.fit(
            cfg.rl_config(), run, model, tokenizer, scorer, rl_prompts, heldout, base, base_done
        )
        train_seconds = rm_result["train_seconds"] + policy_result["train_seconds"]
    else:
        data = pairs if cfg.route == "dpo" else ratings
        policy, policy_result = preference.fit(cfg.preference_config(), run, model, tokenizer, data)
        train_seconds = policy_result["train_seconds"]
    policy.save_pretrained(run.adapter_dir)
    tokenizer.save_pretrained(run.adapter_dir)

    # 4. Evaluate: tuned vs base, greedy, on the held-out prompts --------------------------------------------------
    t_eval = time.time()
    run.set_status(stage="evaluate")  # the policy's step N/N stays: the Runs table shows it when done
    tuned_model = policy.merge_and_unload()  # saved above; merged, the same answers come ~15 % faster on a CPU
    tuned, tuned_done = evaluate.generate(tuned_model, tokenizer, messages, cfg.answer_tokens, batch_size=64,
                                          return_complete=True)  # fmt: skip
    base_rm = scorer.score(messages, base) if scorer else [None] * len(heldout)
    tuned_rm = scorer.score(messages, tuned) if scorer else [None] * len(heldout)
    judged = (heldout, tuned, base, tuned_done, base_done)
    verdicts = personas.verdicts(persona, *judged) if persona else [None] * len(heldout)
    win_rate = personas.win_rate(persona, *judged) if persona else None
    eval_seconds += time.time() - t_eval

    def side(answers: list[str], done: list[bool], scores: list) -> dict:
        return {
            "rm_score": _mean(scores) if scorer else None,
            "mean_words": _mean([personas.words(a) for a in answers]),
            "complete": _mean([float(d) for d in done]),
            "liked": _mean([float(persona.likes(*x)) for x in zip(heldout, answers, done, strict=True)])
            if persona
            else None,
        }

    before, after = side(base, base_done, base_rm), side(tuned, tuned_done, tuned_rm)
    run.log_metrics(
        {"stage": "evaluate", "step": cfg.policy_steps, "win_rate": win_rate, "before_rm_score": before["rm_score"],
         "after_rm_score": after["rm_score"], "before_words": before["mean_words"], "after_words": after["mean_words"]}
    )  # fmt: skip
    examples = [
        {"prompt": p, "base": b, "tuned": t, "base_rm": br, "tuned_rm": tr, "verdict": v, "base_complete": bd,
         "tuned_complete": td}
        for p, b, t, br, tr, v, bd, td in zip(heldout, base, tuned, base_rm, tuned_rm, verdicts, base_done, tuned_done,
                                              strict=True)
    ]
    summary = {
        "method": "rlhf",
        "algorithm": cfg.route,
        "rl_algorithm": cfg.algorithm if cfg.route == "rm-rl" else None,
        "model": cfg.model,
        "persona": persona.name if persona else None,
        "steps": cfg.policy_steps,
        "train_seconds": round(train_seconds, 2),
        "reward_model_seconds": rm_result["train_seconds"] if rm_result else None,
        "policy_seconds": policy_result["train_seconds"],
        "simulate_seconds": simulated["seconds"] if simulated else None,
        "eval_seconds": round(eval_seconds + policy_result.get("eval_seconds", 0.0), 2),
        "total_seconds": round(time.time() - t_start, 2),
        "win_rate": win_rate,
        "verdicts": {k: verdicts.count(k) for k in ("tuned", "base", "tie")} if persona else None,
        "heldout_prompts": len(heldout),
        "before": before,
        "after": after,
        "feedback": {
            "given": cfg.feedback,
            "imported": imported,
            "simulated": simulated,
            "stats": stats,
            "pairs_used": len(pairs),
            "ratings_used": len(ratings),
            "groups": usable["groups"],
            "by_source": usable["by_source"],
        },
        "reward_model": rm_result and {**rm_result, "scoring_only": cfg.route != "rm-rl"},
        "live_win_rates": policy_result.get("win_rates", []),
        "config": asdict(cfg),
        "examples": examples,
    }
    run.write_summary(summary)
    if win_rate is not None:
        note = texts.t("rlhf.note.win_rate", persona=persona.name, n_prompts=len(heldout), win_rate=win_rate)
        print(note, flush=True)
    return summary
