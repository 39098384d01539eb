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

import dataclasses
import json
import time
from dataclasses import asdict
from pathlib import Path

from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

from lab import LabError, data, distributed, evaluate, models, texts
from lab.grading import build_grader, validate_spec
from lab.methods.common import (
    RunCallback,
    generation_kwargs,
    group_samples,
    lora_config,
    setup_torch,
    trainer_kwargs,
)
from lab.methods.rft_config import DEFAULT_TASK, Config

__all__ = [
    "DEFAULT_TASK", "Config", "GradeRecorder", "grpo_config", "grpo_kwargs", "held_out_file", "make_grpo_trainer",
    "sft_config", "sft_kwargs", "train",
]  # fmt: skip


def grpo_config(cfg: Config, output_dir: str):
    """Translate the teaching knobs into TRL's GRPOConfig (the one place they meet), with this machine's way of
    sampling (``generation_kwargs``: vLLM or generate)."""
    return GRPOConfig(**grpo_kwargs(cfg, output_dir), **generation_kwargs(cfg.generation))


def grpo_kwargs(cfg: Config, output_dir: str, world: int | None = None) -> dict:
    """The GRPOConfig arguments of :func:`grpo_config` as a dict (``lab.export`` writes them into a recipe), for
    ``world`` processes (this run's, :mod:`lab.distributed`, when not given)."""
    # one group per micro-batch: the step still sees prompts_per_step groups (generated together), but the logits of
    # only one group are alive at a time, which keeps a default run under 3 GB on a CPU; several processes share
    # the step's groups, so the global batch stays prompts_per_step × num_generations
    per_device, accumulation = distributed.split_batch(
        cfg.prompts_per_step, cfg.num_generations, world or distributed.world_size()
    )
    return dict(
        **trainer_kwargs(
            output_dir,
            cfg.steps,
            cfg.learning_rate,
            cfg.seed,
            checkpoint_every=cfg.checkpoint_every,
            report_to=cfg.report_to,
            run_name=Path(output_dir).parent.name,
        ),  # fmt: skip
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        beta=cfg.beta,
        gradient_checkpointing=False,  # tiny models: recomputation costs more than the memory it saves
        shuffle_dataset=True,
    )


def sft_config(cfg: Config, output_dir: str, n_rows: int):
    return SFTConfig(**sft_kwargs(cfg, output_dir, n_rows))


def sft_kwargs(cfg: Config, output_dir: str, n_rows: int) -> dict:
    """The SFTConfig arguments of the warm-up on ``n_rows`` rows as a dict (``lab.export`` writes them too)."""
    steps = max(1, round(cfg.warmup_epochs * n_rows / cfg.warmup_batch_size))
    return dict(
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
    was pushed up and another down. A model grader (``score_model``/``label_model``) also leaves its explanation,
    with the judge's reply, under ``why``."""

    def __init__(self, graders, num_generations: int = 1):
        self.graders = graders
        self.num_generations = max(1, num_generations)
        self.trainer = None  # set once the GRPOTrainer exists: its advantages are read after each step
        self.calls: dict[str, tuple[list, list, list]] = {}
        self.whys: dict[str, list[str]] = {}  # a judge's explanations (lab.grading.judge.judged_call)
        self.wrapped = [self._wrap(g) for g in graders]

    def _wrap(self, grader):
        def recorded(prompts, completions, **kwargs):
            scores = grader(completions=completions, prompts=prompts, **kwargs)
            self.calls[grader.__name__] = (prompts, completions, scores)
            if getattr(grader, "last_whys", None) is not None:
                self.whys[grader.__name__] = grader.last_whys
            return scores

        recorded.__name__ = grader.__name__  # TRL logs rewards/<__name__>/mean
        return recorded

    def flush(self, step: int, run, limit: int = 64) -> None:
        if not self.calls:
            return
        names = list(self.calls)
        prompts, completions, _ = self.calls[names[0]]
        scores = [{n: self.calls[n][2][i] for n in names} for i in range(len(completions))]
        rewards = [sum(v for v in s.values() if v is not None) for s in scores]
        rows = group_samples(self.trainer, "grpo", step, prompts, completions, rewards, self.num_generations, limit)
        for i, row in enumerate(rows):
            row["scores"] = scores[i]
            why = {n: w[i] for n, w in self.whys.items() if i < len(w)}
            if why:
                row["why"] = why
        run.log_samples(rows)
        self.calls.clear()
        self.whys.clear()


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
        args=sft_config(cfg, str(run.dir / "trainer-sft"), len(sft_ds)),
        train_dataset=sft_ds,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[RunCallback(run, "sft")],
    )
    t = time.time()
    trainer.train()
    return trainer.model, time.time() - t


def held_out_file(cfg: Config):
    """The held-out questions from ``cfg.valid_task`` (a validation file, as OpenAI's ``validation_file``): read and
    checked like the task, the graders' fields included, errors naming that file; ``None`` when the task is split."""
    if not cfg.valid_task:
        return None
    valid = data.load_task(cfg.valid_task)
    for spec in cfg.graders:
        try:
            validate_spec(spec, item_fields=set(valid.column_names))
        except LabError as e:
            raise LabError("rft.valid.grader", name=cfg.valid_task, error=e.text()) from None
    print(texts.t("rft.valid.used", name=cfg.valid_task, n=len(valid)), flush=True)
    return valid


def continued_from(cfg: Config) -> tuple[object, Path, int]:
    """``(parent run, its last GRPO checkpoint, the step it reached)`` for a run that continues ``cfg.parent``;
    ``LabError`` when the parent is not an RFT run of the same model or kept no GRPO checkpoint (it stopped before
    RL, or ran before checkpoints)."""
    from lab import runs

    parent = runs.get(cfg.parent)
    spec = parent.config()
    if spec.get("method") != "rft" or spec.get("config", {}).get("model", "embedded") != cfg.model:
        raise LabError("rft.continue.mismatch", run_id=cfg.parent, model=cfg.model)
    found = sorted((parent.dir / "trainer").glob("checkpoint-*"), key=lambda p: int(p.name.rpartition("-")[2]))
    if not found or not (found[-1] / "trainer_state.json").exists():
        raise LabError("rft.continue.no_checkpoint", run_id=cfg.parent)
    step = json.loads((found[-1] / "trainer_state.json").read_text())["global_step"]
    return parent, found[-1], step


def continuation(parent: tuple, start_step: int) -> dict:
    """What a continued run's summary says of its parent: its id, the step it went on from, and ``chain_before``
    — the first run's before numbers, so a class table counts the pair once with the whole gain."""
    summary = parent[0].summary() or {}
    return {"parent": parent[0].id, "start_step": start_step,
            "chain_before": summary.get("chain_before") or summary.get("before")}  # fmt: skip


def train(cfg: Config, run) -> dict:
    """Run the four RFT stages on ``run``'s folder and return the summary (also written to summary.json)."""
    setup_torch(cfg.seed)
    t_start = time.time()

    # 1. Task data --------------------------------------------------------------------------------------------------
    run.set_status(stage="data")
    generation = generation_kwargs(cfg.generation)  # vLLM asked for where it cannot run: said now, not after SFT
    ds = data.load_task(cfg.task)
    for spec in cfg.graders:
        validate_spec(spec, item_fields=set(ds.column_names))
    own_valid = held_out_file(cfg)  # a separate validation file, checked as the task is; None: split the task
    graders = [build_grader(spec) for spec in cfg.graders]
    # a small upload keeps at least half for training; GRPO needs at least prompts_per_step training questions
    if own_valid is None:
        n_train, n_valid, split_note = cfg.split_sizes(len(ds))
        train_ds, valid_ds = data.split(ds, n_valid, cfg.seed)
    else:
        train_ds, valid_ds, split_note = ds, own_valid, None
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
    parent = continued_from(cfg) if cfg.parent else None  # (parent run, its last GRPO checkpoint, its step)
    start_step = 0
    if parent is not None:  # the policy where the parent stopped: its adapter, trainable again; no warm-up
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(parent[1]), is_trainable=True)
        start_step, cfg.warmup = parent[2], False
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
    if parent is None:
        run.log_metrics({"stage": "base", "step": 0, **subset_metrics(before["rows"][:k])})
    if not cfg.warmup:  # (a continued run's curve goes on from the parent's last step)
        run.log_metrics({"stage": "grpo", "step": start_step, **subset_metrics(before["rows"][:k])})

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
    lora = None if parent is not None else lora_config(cfg.lora_rank)
    if cfg.warmup:
        model, sft_seconds = warm_up(cfg, model, tokenizer, train_ds, run, lora)
        after_sft = evaluate_now(model, texts.t("rft.moment.after_sft"))
        run.log_metrics({"stage": "grpo", "step": 0, **subset_metrics(after_sft["rows"][:k])})
        measured_so_far("after_sft", after_sft=brief(after_sft), sft_seconds=round(sft_seconds, 2))
        lora = None

    # 3 + 4. Grading and GRPO -------------------------------------------------------------------------------------
    recorder = GradeRecorder(graders, cfg.num_generations)

    last_step = start_step + cfg.steps  # TRL counts on from a checkpoint's step

    def after_step(step: int, m) -> None:
        recorder.flush(step, run)
        if cfg.eval_every and (step % cfg.eval_every == 0 or step == last_step):
            answers = evaluate.generate(m, tokenizer, subset_prompts, answer_tokens)
            scored = evaluate.score(answers, subset_rows, graders)
            run.log_metrics({"stage": "grpo", "step": step, **subset_metrics(scored["rows"])})

    callback = RunCallback(run, "grpo", after_step)
    grpo_cfg = dataclasses.replace(cfg, steps=last_step)
    trainer = make_grpo_trainer(grpo_cfg, model, tokenizer, train_ds, recorder.wrapped, run, lora, [callback])
    recorder.trainer = trainer
    t = time.time()
    trainer.train(resume_from_checkpoint=str(parent[1]) if parent else None)  # optimizer, scheduler, step, RNG
    grpo_seconds = time.time() - t - callback.hook_seconds
    eval_seconds += callback.hook_seconds
    model = trainer.model
    after = evaluate_now(model, texts.t("rft.moment.after_rl"))

    if run.main:  # the one writer of a distributed run (lab.distributed)
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
        "world_size": distributed.world_size(),
        "generation": "vllm" if generation.get("use_vllm") else "transformers",
        **(continuation(parent, start_step) if parent else {}),
        "examples": examples,
    }
    if after_sft is not None:
        summary["after_sft"] = brief(after_sft)
    run.write_summary(summary)
    return summary
