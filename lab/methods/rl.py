"""RL against a learned reward model: the second half of classic RLHF, with TRL ``GRPOTrainer`` or ``RLOOTrainer``.

1. For each training prompt the LoRA policy samples ``num_generations`` answers; the reward model scores each.
2. GRPO: advantage = (score − group mean) / group std; RLOO: score − mean of the *other* answers (leave-one-out).
   A clipped policy-gradient step makes the better-scored answers more likely.
3. A KL penalty (``beta`` > 0) against the base model (the same weights, LoRA switched off) keeps the policy from
   drifting into text that fools the reward model instead of pleasing the rater.

When the rater is a known persona, live evaluations also ask it to judge tuned against base greedy answers on
held-out prompts (the win rate), so a student sees reward-model score and the rater's verdict move, or not, together.
"""

from __future__ import annotations

import time
from pathlib import Path

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

from lab import evaluate, texts
from lab.feedback import personas
from lab.messages import as_messages, prompt_text
from lab.methods.common import RunCallback, group_samples, lora_config, setup_torch, trainer_kwargs
from lab.methods.rl_config import ALGORITHMS, Config

__all__ = ["ALGORITHMS", "Config", "fit", "trainer_config"]


def trainer_config(cfg: Config, output_dir: str):
    """Translate the knobs into TRL's GRPOConfig or RLOOConfig (the one place they meet)."""
    shared = dict(
        **trainer_kwargs(
            output_dir,
            cfg.steps,
            cfg.learning_rate,
            cfg.seed,
            report_to=cfg.report_to,
            run_name=Path(output_dir).parent.name,
        ),
        per_device_train_batch_size=cfg.num_generations * cfg.prompts_per_step,
        gradient_accumulation_steps=1,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        top_k=cfg.top_k,
        beta=cfg.beta,
        gradient_checkpointing=False,  # small models: recomputation costs more than the memory it saves
        shuffle_dataset=True,
    )
    return GRPOConfig(**shared) if cfg.algorithm == "grpo" else RLOOConfig(**shared)


def fit(
    cfg: Config, run, model, tokenizer, scorer, train_prompts: list, eval_prompts: list,
    base_answers: list[str] | None = None, base_complete: list[bool] | None = None, stage: str = "rl",
):  # fmt: skip
    """Train a LoRA policy on ``model`` against ``scorer``; return ``(peft_model, result)``.

    ``result`` has ``train_seconds`` (without evaluation time) and, when ``cfg.persona`` and ``cfg.eval_every``
    are set, the live ``win_rates`` ``[{step, win_rate, rm_score}]`` on ``eval_prompts[:eval_subset]`` every
    ``eval_every`` steps before the last (the caller judges the final model on all of them). ``base_answers`` (and
    ``base_complete``: which ended before the token limit) are the base model's greedy answers to ``eval_prompts``
    when the caller has them already.
    """
    setup_torch(cfg.seed)
    persona = personas.get(cfg.persona) if cfg.persona else None
    live = bool(persona and cfg.eval_every and cfg.eval_every < cfg.steps and eval_prompts)
    subset = [as_messages(p) for p in eval_prompts[: cfg.eval_subset]] if live else []
    subset_text = [prompt_text(p) for p in subset]
    win_rates: list[dict] = []
    eval_seconds = 0.0

    def live_eval(step: int, answers: list[str], complete: list[bool]) -> None:
        rate = personas.win_rate(persona, subset_text, answers, base, complete, base_done)
        rm = sum(scorer.score(subset, answers)) / len(answers)
        win_rates.append({"step": step, "win_rate": rate, "rm_score": round(rm, 4)})
        run.log_metrics({"stage": stage, "step": step, "win_rate": rate, "eval_rm_score": rm})

    if live:
        t = time.time()
        if base_answers is None:
            run.set_status(stage=texts.t("rl.status.base_answers", stage=stage))
            base, base_done = evaluate.generate(
                model, tokenizer, subset, cfg.answer_tokens, batch_size=64, adapter=False, return_complete=True
            )
        else:
            base = list(base_answers[: len(subset)])
            base_done = list(base_complete[: len(subset)]) if base_complete else [True] * len(subset)
        live_eval(0, base, base_done)
        eval_seconds += time.time() - t

    def after_step(step: int, m) -> None:
        if scorer.last is not None:
            prompts, completions, scores = scorer.last
            run.log_samples(group_samples(trainer, stage, step, prompts, completions, scores, cfg.num_generations))
            scorer.last = None
        if live and step % cfg.eval_every == 0 and step < cfg.steps:
            live_eval(step, *evaluate.generate(m, tokenizer, subset, cfg.answer_tokens, 64, return_complete=True))

    callback = RunCallback(run, stage, after_step)
    tokenizer.padding_side = "left"
    trainer_cls = GRPOTrainer if cfg.algorithm == "grpo" else RLOOTrainer
    trainer = trainer_cls(
        model=model,
        reward_funcs=[scorer],
        args=trainer_config(cfg, str(run.dir / "trainer")),
        train_dataset=Dataset.from_list([{"prompt": as_messages(p)} for p in train_prompts]),
        processing_class=tokenizer,
        peft_config=lora_config(cfg.lora_rank),
        callbacks=[callback],
    )
    t = time.time()
    trainer.train()
    seconds = time.time() - t - callback.hook_seconds
    eval_seconds += callback.hook_seconds
    result = {
        "algorithm": cfg.algorithm,
        "train_seconds": round(seconds, 2),
        "eval_seconds": round(eval_seconds, 2),
        "win_rates": win_rates,
    }
    return trainer.model, result
