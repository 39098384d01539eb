"""Direct preference optimisation: learn from feedback without a reward model (TRL ``DPOTrainer``, ``KTOTrainer``).

1. DPO reads pairs (prompt, chosen, rejected); KTO reads single thumbs (prompt, completion, liked?) — no pairing.
2. The implicit reward of an answer is β·log(π(answer)/π_ref(answer)): how much more likely the LoRA policy makes
   it than the base model (the same weights with LoRA off). No sampling, no reward model, no RL loop.
3. DPO pushes r(chosen) − r(rejected) up (−log σ); KTO pushes liked answers' reward above, and disliked below, a
   reference point (a batch estimate of the KL to the base): a prospect-theory value function.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field

from lab import LabError

ALGORITHMS = ("dpo", "kto")
MIN_RATINGS = 8


@dataclass
class Config:
    """The teaching knobs of a DPO or KTO run (``lab.methods.rlhf`` fills them from its own Config)."""

    algorithm: str = field(default="dpo", metadata={"help": "'dpo' (from pairs) or 'kto' (from thumbs)."})
    feedback: str = field(default="store", metadata={"help": "'store' (LAB_HOME's feedback) or a feedback file."})
    model: str = field(default="embedded", metadata={"help": "'embedded', 'tiny', a local folder or a hub id."})
    steps: int = field(default=16, metadata={"help": "Optimizer steps."})
    learning_rate: float = field(default=5e-4, metadata={"help": "Learning rate (LoRA)."})
    batch_size: int = field(default=8, metadata={"help": "Pairs (DPO) or ratings (KTO) per step."})
    beta: float = field(default=0.1, metadata={"help": "β: how strongly the policy is held to the base model."})
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank."})
    max_length: int = field(default=512, metadata={"help": "Longest prompt + answer in tokens (longer: truncated)."})
    seed: int = field(default=0, metadata={"help": "Seed for the order of examples and the LoRA init."})

    def check(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise LabError(f"preference: algorithm must be one of {', '.join(ALGORITHMS)} (got '{self.algorithm}')")
        for name in ("steps", "lora_rank", "max_length"):
            if getattr(self, name) < 1:
                raise LabError(f"{self.algorithm}: {name} must be at least 1 (got {getattr(self, name)})")
        if self.batch_size < 2:
            raise LabError(f"{self.algorithm}: batch_size must be at least 2 (KTO estimates its KL within a batch)")
        if self.beta <= 0 or not (0 < self.learning_rate < 1):
            raise LabError(f"{self.algorithm}: beta must be > 0 and learning_rate in (0, 1)")


def kto_rows(ratings: list[dict], seed: int = 0) -> list[dict]:
    """Thumbs in TRL's conversational unpaired format, shuffled with ``seed`` (KTO reads them in order).

    Refuses too few ratings, or ratings that are all up or all down (KTO needs both to contrast).
    """
    from lab.grading import completion_text
    from lab.methods.reward_model import as_messages

    liked = sum(bool(r["label"]) for r in ratings)
    if len(ratings) < MIN_RATINGS or liked == 0 or liked == len(ratings):
        more = max(0, MIN_RATINGS - len(ratings))
        raise LabError(
            f"kto: {len(ratings)} rating(s), {liked} 👍 and {len(ratings) - liked} 👎; KTO needs at least "
            f"{MIN_RATINGS} with both kinds" + (f" — {more} more." if more else ".") + " Rate answers in the "
            "Feedback tab, import a ratings file, or let a persona simulate feedback."
        )
    rows = [
        {
            "prompt": as_messages(r["prompt"]),
            "completion": [{"role": "assistant", "content": completion_text(r["completion"])}],
            "label": bool(r["label"]),
        }
        for r in ratings
    ]
    random.Random(seed).shuffle(rows)
    return rows


def trainer_config(cfg: Config, output_dir: str, n_liked: int = 1, n_disliked: int = 1):
    """Translate the knobs into TRL's DPOConfig or KTOConfig (the one place they meet)."""
    from trl import DPOConfig, KTOConfig

    from lab.methods.common import trainer_kwargs

    shared = dict(
        **trainer_kwargs(output_dir, cfg.steps, cfg.learning_rate, cfg.seed),
        per_device_train_batch_size=cfg.batch_size,
        gradient_checkpointing=False,
        max_length=cfg.max_length,
        beta=cfg.beta,
    )
    if cfg.algorithm == "dpo":
        return DPOConfig(**shared)
    # KTO's advice: weigh the rarer kind up so that liked and disliked examples pull equally (its Eq. 8).
    ratio = n_disliked / max(n_liked, 1)
    weights = {"desirable_weight": ratio} if ratio >= 1 else {"undesirable_weight": 1 / ratio}
    return KTOConfig(**shared, **weights)


def fit(cfg: Config, run, model, tokenizer, data: list[dict], stage: str | None = None):
    """Train a LoRA policy on ``model`` from pairs (DPO) or ratings (KTO); return ``(peft_model, result)``."""
    cfg.check()
    from datasets import Dataset
    from trl import DPOTrainer, KTOTrainer

    from lab.methods.common import RunCallback, lora_config, setup_torch
    from lab.methods.reward_model import check_pairs, dedupe_pairs, trl_rows

    stage = stage or cfg.algorithm
    setup_torch(cfg.seed)
    if cfg.algorithm == "dpo":
        pairs = dedupe_pairs(data)
        check_pairs(pairs)
        rows = trl_rows(pairs)
        random.Random(cfg.seed).shuffle(rows)
        n_liked = n_disliked = len(rows)
    else:
        rows = kto_rows(data, cfg.seed)
        n_liked = sum(r["label"] for r in rows)
        n_disliked = len(rows) - n_liked
    print(f"{cfg.algorithm}: {len(rows)} training examples", flush=True)
    run.set_status(stage=stage)
    tokenizer.padding_side = "left"
    trainer_cls = DPOTrainer if cfg.algorithm == "dpo" else KTOTrainer
    trainer = trainer_cls(
        model=model,
        args=trainer_config(cfg, str(run.dir / "trainer"), n_liked, n_disliked),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=lora_config(cfg.lora_rank),
        callbacks=[RunCallback(run, stage)],
    )
    t = time.time()
    trainer.train()
    seconds = time.time() - t
    result = {"algorithm": cfg.algorithm, "n_examples": len(rows), "train_seconds": round(seconds, 2)}
    return trainer.model, result


def train(cfg: Config, run) -> dict:
    """Standalone DPO/KTO on ``cfg.feedback``: the adapter goes to ``<run>/adapter``."""
    from lab import models
    from lab.methods.common import open_feedback

    store, _ = open_feedback(cfg.feedback, run.dir)
    data = store.preference_pairs(include_derived=True) if cfg.algorithm == "dpo" else store.unpaired()
    run.set_status(stage="loading model")
    model, tokenizer = models.load_causal_lm(cfg.model)
    peft_model, result = fit(cfg, run, model, tokenizer, data)
    peft_model.save_pretrained(run.adapter_dir)
    tokenizer.save_pretrained(run.adapter_dir)
    summary = {"method": cfg.algorithm, "model": cfg.model, **result, "config": asdict(cfg)}
    run.write_summary(summary)
    return summary
