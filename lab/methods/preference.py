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
from pathlib import Path

from datasets import Dataset
from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

from lab import LabError, texts
from lab.messages import as_messages, completion_text
from lab.methods.common import RunCallback, lora_config, setup_torch, trainer_kwargs
from lab.methods.preference_config import ALGORITHMS, Config
from lab.methods.reward_model import check_pairs, dedupe_pairs, trl_rows

__all__ = ["ALGORITHMS", "MIN_RATINGS", "Config", "fit", "kto_rows", "trainer_config"]

MIN_RATINGS = 8


def kto_rows(ratings: list[dict], seed: int = 0) -> list[dict]:
    """Thumbs in TRL's conversational unpaired format, shuffled with ``seed`` (KTO reads them in order).

    Refuses too few ratings, or ratings that are all up or all down (KTO needs both to contrast).
    """
    liked = sum(bool(r["label"]) for r in ratings)
    if len(ratings) < MIN_RATINGS or liked == 0 or liked == len(ratings):
        more = max(0, MIN_RATINGS - len(ratings))
        counts = dict(n=len(ratings), liked=liked, disliked=len(ratings) - liked, minimum=MIN_RATINGS)
        if more:
            raise LabError("preference.kto_too_few", more=more, **counts)
        raise LabError("preference.kto_one_kind", **counts)
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
    shared = dict(
        **trainer_kwargs(
            output_dir,
            cfg.steps,
            cfg.learning_rate,
            cfg.seed,
            report_to=cfg.report_to,
            run_name=Path(output_dir).parent.name,
        ),
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
    print(texts.t("preference.note.examples", algorithm=cfg.algorithm, n=len(rows)), flush=True)
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
