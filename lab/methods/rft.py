"""Reinforcement fine-tuning (RFT): reference answers + graders + GRPO, with an optional SFT warm-up.

The source text's four RFT steps, each a stage of this run:

1. **Task data** with reference answers (``lab.data``), split into train and held-out valid questions.
2. **Initial SFT** (optional warm-up): TRL ``SFTTrainer`` + LoRA on (question → reference answer), loss on the
   answer only. It teaches the *form* of the answer fast; too much of it overwrites what the model knew.
3. **Grading**: each sampled answer is scored against its reference by the chosen graders (``lab.grading``).
4. **RL**: TRL ``GRPOTrainer`` on the same LoRA adapter. For each question it samples ``num_generations``
   answers, turns their grades into advantages relative to the group's mean (no value network), and takes a
   clipped policy-gradient step that makes the better-graded answers more likely.

Before, after SFT and after RL, greedy answers on the valid split are graded: that is what a student compares.
The options (the tab's knobs, ``--set``, the API's parameters): ``lab.methods.rft_config``.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

from lab import data, evaluate, models, texts
from lab.grading import build_grader, validate_spec
from lab.messages import completion_text
from lab.methods.common import RunCallback, lora_config, setup_torch, trainer_kwargs, trl_advantages
from lab.methods.rft_config import DEFAULT_TASK, Config

__all__ = ["DEFAULT_TASK", "Config", "GradeRecorder", "grpo_config", "make_grpo_trainer", "sft_config", "train"]


def grpo_config(cfg: Config, output_dir: str):
    """Translate the teaching knobs into TRL's GRPOConfig (the one place they meet)."""
    return GRPOConfig(
        **trainer_kwargs(output_dir, cfg.steps, cfg.learning_rate, cfg.seed),
        # one group per micro-batch: the step still sees prompts_per_step groups (generated together), but the
        # logits of only one group are alive at a time, which keeps a default run under 3 GB on a CPU
        per_device_train_batch_size=cfg.num_generations,
        gradient_accumulation_steps=cfg.prompts_per_step,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        beta=cfg.beta,
        gradient_checkpointing=False,  # tiny models: recomputation costs more than the memory it saves
        shuffle_dataset=True,
    )


def sft_config(cfg: Config, output_dir: str, n_rows: int):
    steps = max(1, round(cfg.warmup_epochs * n_rows / cfg.warmup_batch_size))
    return SFTConfig(
        **trainer_kwargs(output_dir, steps, cfg.warmup_learning_rate, cfg.seed),
        per_device_train_batch_size=cfg.warmup_batch_size,
        gradient_checkpointing=False,
        max_length=256,
        completion_only_loss=True,
    )


def make_grpo_trainer(cfg: Config, model, tokenizer, train_ds, reward_funcs, run, lora, callbacks):
    """The lab's GRPO trainer: TRL's GRPOTrainer, our config translation, graders as reward functions.

    ``lora`` is a LoraConfig for a fresh adapter, or None when ``model`` already carries one (after SFT).
    ``lab bench`` times this against a plain GRPOTrainer built the same way without the lab's callbacks.
    """
    tokenizer.padding_side = "left"
    return GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=grpo_config(cfg, str(run.dir / "trainer")),
        train_dataset=train_ds,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=callbacks,
    )


class GradeRecorder:
    """Wraps graders so the answers GRPO sampled at a step, and their grades, can be written to samples.jsonl.

    Each row says which group it is in (the ``num_generations`` answers to one question, consecutive in TRL's
    batch) and the advantage TRL gave it (``trl_advantages``), so the page can show one group and why one answer
    was pushed up and another down."""

    def __init__(self, graders, num_generations: int = 1):
        self.graders = graders
        self.num_generations = max(1, num_generations)
        self.trainer = None  # set once the GRPOTrainer exists: its advantages are read after each step
        self.calls: dict[str, tuple[list, list, list]] = {}
        self.wrapped = [self._wrap(g) for g in graders]

    def _wrap(self, grader):
        def recorded(prompts, completions, **kwargs):
            scores = grader(completions=completions, prompts=prompts, **kwargs)
            self.calls[grader.__name__] = (prompts, completions, scores)
            return scores

        recorded.__name__ = grader.__name__  # TRL logs rewards/<__name__>/mean
        return recorded

    def flush(self, step: int, run, limit: int = 64) -> None:
        if not self.calls:
            return
        names = list(self.calls)
        prompts, completions, _ = self.calls[names[0]]
        advantages = trl_advantages(self.trainer, len(completions)) if self.trainer is not None else None
        rows = []
        limit -= limit % self.num_generations  # whole groups only: a cut group's mean is not TRL's
        for i in range(min(limit, len(completions))):
            scores = {n: self.calls[n][2][i] for n in names}
            prompt = prompts[i][-1]["content"] if isinstance(prompts[i], list) else str(prompts[i])
            rows.append(
                {
                    "stage": "grpo",
                    "step": step,
                    "prompt": prompt,
                    "completion": completion_text(completions[i]),
                    "reward": sum(v for v in scores.values() if v is not None),
                    "scores": scores,
                    "group": i // self.num_generations,
                    "advantage": None if advantages is None else round(advantages[i], 4),
                }
            )
        run.log_samples(rows)
        self.calls.clear()


def _rows(ds) -> list[dict]:
    return [dict(r) for r in ds]


def warm_up(cfg: Config, model, tokenizer, train_ds, run, lora) -> tuple[object, float]:
    """Step 2, the SFT warm-up: TRL ``SFTTrainer`` on question → reference answer, training a fresh LoRA adapter
    (``lora``). Returns the model with the adapter (a PeftModel: GRPO keeps training it) and the seconds taken."""
    sft_ds = train_ds.map(
        lambda r: {"completion": [{"role": "assistant", "content": r["answer"]}]},
        remove_columns=[c for c in train_ds.column_names if c != "prompt"],
    )
    trainer = SFTTrainer(
        model=model,
        args=sft_config(cfg, str(run.dir / "trainer"), len(sft_ds)),
        train_dataset=sft_ds,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[RunCallback(run, "sft")],
    )
    t = time.time()
    trainer.train()
    return trainer.model, time.time() - t


def train(cfg: Config, run) -> dict:
    """Run the four RFT stages on ``run``'s folder and return the summary (also written to summary.json)."""
    setup_torch(cfg.seed)
    t_start = time.time()

    # 1. Task data --------------------------------------------------------------------------------------------------
    run.set_status(stage="data")
    ds = data.load_task(cfg.task)
    for spec in cfg.graders:
        validate_spec(spec, item_fields=set(ds.column_names))
    graders = [build_grader(spec) for spec in cfg.graders]
    # a small upload keeps at least half for training; GRPO needs at least prompts_per_step training questions
    n_train, n_valid, split_note = cfg.split_sizes(len(ds))
    train_ds, valid_ds = data.split(ds, n_valid, cfg.seed)
    if split_note:
        print(split_note, flush=True)
    if cfg.max_train_rows:
        train_ds = train_ds.select(range(min(cfg.max_train_rows, len(train_ds))))
    cfg.prompts_per_step = min(cfg.prompts_per_step, len(train_ds))
    valid_rows = _rows(valid_ds)
    print(texts.t("rft.note.task", task=cfg.task, n_train=len(train_ds), n_valid=len(valid_ds)), flush=True)

    # Base model, and its answers before any training -----------------------------------------------------------
    run.set_status(stage=texts.t("rft.status.loading_model"))
    model, tokenizer = models.load_causal_lm(cfg.model)
    answer_tokens = max(cfg.max_completion_length, 16)
    eval_seconds = 0.0
    if cfg.dry_run:  # what GRPO would start from, sampled and graded; no RL
        from lab.methods import dry_run

        return dry_run.dry_run(cfg, run, model, tokenizer, train_ds, graders, warm_up, t_start)

    def evaluate_now(m, moment: str, adapter: bool = True) -> dict:
        nonlocal eval_seconds
        t = time.time()
        run.set_status(stage=texts.t("rft.status.evaluating", moment=moment))
        answers = evaluate.generate(m, tokenizer, valid_ds["prompt"], answer_tokens, adapter=adapter)
        result = evaluate.score(answers, valid_rows, graders)
        eval_seconds += time.time() - t
        print(texts.t("rft.note.evaluated", moment=moment, valid_reward=result["valid_reward"],
                      accuracy=result["accuracy"]), flush=True)  # fmt: skip
        return result

    before = evaluate_now(model, texts.t("rft.moment.before"))
    k = min(cfg.eval_subset, len(valid_rows))
    subset_prompts, subset_rows = valid_ds["prompt"][:k], valid_rows[:k]

    def subset_metrics(rows: list[dict]) -> dict:
        return {
            "valid_reward": sum(r["reward"] for r in rows) / len(rows),
            "valid_accuracy": sum(r["exact"] for r in rows) / len(rows),
        }

    # The base model's score on the live-curve subset. GRPO's step 0 is the model RL starts from: the base without a
    # warm-up, else the model after SFT (logged below), so the curve never credits RL with what SFT did.
    run.log_metrics({"stage": "base", "step": 0, **subset_metrics(before["rows"][:k])})
    if not cfg.warmup:
        run.log_metrics({"stage": "grpo", "step": 0, **subset_metrics(before["rows"][:k])})

    def brief(result: dict | None) -> dict | None:
        return None if result is None else {k: v for k, v in result.items() if k != "rows"}

    def measured_so_far(stage: str, **numbers) -> None:
        """A summary of what is measured so far, so a stopped run still shows its before / after-SFT numbers."""
        run.write_summary({"method": "rft", "model": cfg.model, "task": cfg.task, "partial": True,
                           "reached": stage, "train_size": len(train_ds), "valid_size": len(valid_ds),
                           "before": brief(before), **numbers})  # fmt: skip

    measured_so_far("before")

    # 2. Optional SFT warm-up on the reference answers -----------------------------------------------------------
    sft_seconds, after_sft = 0.0, None
    lora = lora_config(cfg.lora_rank)
    if cfg.warmup:
        model, sft_seconds = warm_up(cfg, model, tokenizer, train_ds, run, lora)
        after_sft = evaluate_now(model, texts.t("rft.moment.after_sft"))
        run.log_metrics({"stage": "grpo", "step": 0, **subset_metrics(after_sft["rows"][:k])})
        measured_so_far("after_sft", after_sft=brief(after_sft), sft_seconds=round(sft_seconds, 2))
        lora = None

    # 3 + 4. Grading and GRPO -------------------------------------------------------------------------------------
    recorder = GradeRecorder(graders, cfg.num_generations)

    def after_step(step: int, m) -> None:
        recorder.flush(step, run)
        if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
            answers = evaluate.generate(m, tokenizer, subset_prompts, answer_tokens)
            scored = evaluate.score(answers, subset_rows, graders)
            run.log_metrics({"stage": "grpo", "step": step, **subset_metrics(scored["rows"])})

    callback = RunCallback(run, "grpo", after_step)
    trainer = make_grpo_trainer(cfg, model, tokenizer, train_ds, recorder.wrapped, run, lora, [callback])
    recorder.trainer = trainer
    t = time.time()
    trainer.train()
    grpo_seconds = time.time() - t - callback.hook_seconds
    eval_seconds += callback.hook_seconds
    model = trainer.model
    after = evaluate_now(model, texts.t("rft.moment.after_rl"))

    model.save_pretrained(run.adapter_dir)
    tokenizer.save_pretrained(run.adapter_dir)

    examples = []
    for i, row in enumerate(valid_rows):
        ex = {
            "question": row["question"],
            "reference": row["answer"],
            "before": before["rows"][i]["output"],
            "before_reward": before["rows"][i]["reward"],
            "after": after["rows"][i]["output"],
            "after_reward": after["rows"][i]["reward"],
        }
        if after_sft:
            ex["after_sft"] = after_sft["rows"][i]["output"]
            ex["after_sft_reward"] = after_sft["rows"][i]["reward"]
        examples.append(ex)
    summary = {
        "method": "rft",
        "model": cfg.model,
        "task": cfg.task,
        "steps": cfg.steps,
        "train_size": len(train_ds),
        "valid_size": len(valid_ds),
        "split_note": split_note,
        "train_seconds": round(sft_seconds + grpo_seconds, 2),
        "sft_seconds": round(sft_seconds, 2),
        "grpo_seconds": round(grpo_seconds, 2),
        "eval_seconds": round(eval_seconds, 2),
        "total_seconds": round(time.time() - t_start, 2),
        "before": brief(before),
        "after": brief(after),
        "config": asdict(cfg),
        "examples": examples,
    }
    if after_sft is not None:
        summary["after_sft"] = brief(after_sft)
    run.write_summary(summary)
    return summary
