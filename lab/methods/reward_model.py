"""Reward model: a scalar score r(prompt, answer) learned from preference pairs, the first half of classic RLHF.

1. Pairs (prompt, chosen, rejected) come from "which answer is better" clicks, imported files, and a liked and a
   disliked answer to the same prompt; the model is the base LM with a one-output head (``SEQ_CLS`` LoRA).
2. TRL ``RewardTrainer`` minimises −log σ(r(chosen) − r(rejected)) (Bradley–Terry): better answers score higher.
3. Pairs of a seeded share of *prompts* are held out: accuracy = how often r(chosen) > r(rejected) on them.

``load(folder)`` (or the scorer ``fit`` returns) merges base + adapter for speed and scores ``(prompt, answer)``
lists; called as ``scorer(prompts, completions)`` it is a TRL reward function for GRPO/RLOO (``lab.methods.rl``).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict
from pathlib import Path

import torch
from datasets import Dataset
from peft import PeftModel
from transformers import AutoModelForSequenceClassification
from transformers.utils import logging as hf_logging
from trl import RewardConfig, RewardTrainer

from lab import LabError, models, texts
from lab.messages import as_messages, completion_text, prompt_key, prompt_text
from lab.methods.common import RunCallback, lora_config, setup_torch, trainer_kwargs
from lab.methods.reward_model_config import MIN_PAIRS, Config

META_FILE = "lab_reward_model.json"


# --- pairs ---------------------------------------------------------------------------------------------------------
def rm_messages(prompt) -> list[dict]:
    """The reward model's view of a prompt: its messages, with an empty system turn unless it has its own.

    The chat template would otherwise add its default system prompt (16 tokens of SmolLM2's) to every pair the
    reward model reads; the same rendering is used to train and to score, so nothing is lost and a step is ~25 %
    cheaper.
    """
    messages = as_messages(prompt)
    return messages if messages and messages[0]["role"] == "system" else [{"role": "system", "content": ""}, *messages]


def dedupe_pairs(pairs: list[dict]) -> list[dict]:
    """Drop repeated (prompt, chosen, rejected) pairs (an explicit pair and the same pair derived from thumbs).

    >>> len(dedupe_pairs([{"prompt": "p", "chosen": "a", "rejected": "b"}] * 2))
    1
    """
    seen, out = set(), []
    for p in pairs:
        key = (prompt_key(p["prompt"]), completion_text(p["chosen"]).strip(), completion_text(p["rejected"]).strip())
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def check_pairs(pairs: list[dict], minimum: int = MIN_PAIRS) -> None:
    """Refuse too little data, saying how many more pairs are needed and how to get them."""
    if len(pairs) < minimum:
        raise LabError("reward_model.too_few_pairs", n=len(pairs), minimum=minimum, more=minimum - len(pairs))


def split_pairs(pairs: list[dict], heldout_share: float = 0.2, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Seeded split by prompt (a held-out pair's prompt is never seen in training): ``(train, heldout)``.

    >>> pairs = [{"prompt": f"p{i}", "chosen": "a", "rejected": "b"} for i in range(10)]
    >>> [len(x) for x in split_pairs(pairs, 0.2)]
    [8, 2]
    """
    groups: dict[str, list[dict]] = {}
    for p in pairs:
        groups.setdefault(prompt_key(p["prompt"]), []).append(p)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    want = max(1, round(heldout_share * len(pairs)))
    heldout: list[dict] = []
    for k in keys:
        if len(heldout) >= want or len(heldout) + len(groups[k]) >= len(pairs):
            continue
        heldout += groups[k]
    held = {prompt_key(p["prompt"]) for p in heldout}
    train = [p for p in pairs if prompt_key(p["prompt"]) not in held]
    return train, heldout


def trl_rows(pairs: list[dict], view=as_messages) -> list[dict]:
    """Pairs in TRL's conversational preference format (RewardTrainer reads ``view=rm_messages``, DPOTrainer the
    policy's own view)."""
    return [
        {
            "prompt": view(p["prompt"]),
            "chosen": [{"role": "assistant", "content": completion_text(p["chosen"])}],
            "rejected": [{"role": "assistant", "content": completion_text(p["rejected"])}],
        }
        for p in pairs
    ]


# --- the model -----------------------------------------------------------------------------------------------------
def load_seq_cls(name: str):
    """The base LM with a fresh one-output score head (``AutoModelForSequenceClassification``, ``num_labels=1``)."""
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "score.weight newly initialized": expected, it is what we train
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            models.resolve(name), num_labels=1, dtype=models.dtype()
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    tokenizer = models.load_tokenizer(name)
    tokenizer.padding_side = "right"
    model.config.pad_token_id = tokenizer.pad_token_id  # the head reads the last non-pad token
    return model.to(models.device()), tokenizer


class RewardScorer:
    """A trained (merged) reward model that scores answers; also a TRL reward function.

    ``score(prompts, answers)`` takes prompts as strings or message lists and answers as strings. Calling the
    scorer with TRL's signature ``(prompts, completions, **kwargs)`` does the same and remembers the call, so that
    the RL stage can write what was sampled and how it scored to ``samples.jsonl``. The text is rendered exactly as
    ``RewardTrainer`` rendered the training pairs: the chat template over ``rm_messages(prompt)`` + answer.
    """

    __name__ = "reward_model"  # TRL logs rewards/reward_model/mean

    def __init__(self, model, tokenizer, batch_size: int = 16, max_length: int = 512):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.batch_size, self.max_length = batch_size, max_length
        self.last: tuple[list, list, list] | None = None

    def texts(self, prompts, answers) -> list[str]:
        return [
            self.tokenizer.apply_chat_template(
                rm_messages(p) + [{"role": "assistant", "content": completion_text(a)}], tokenize=False
            )
            for p, a in zip(prompts, answers, strict=True)
        ]

    def score(self, prompts, answers) -> list[float]:
        rendered = self.texts(prompts, answers)
        order = sorted(range(len(rendered)), key=lambda i: len(rendered[i]))  # similar lengths share a batch
        scores = [0.0] * len(rendered)
        tok = self.tokenizer
        tok.padding_side, tok.truncation_side = "right", "left"  # keep the end: the head reads the last token
        with torch.inference_mode():
            for i in range(0, len(order), self.batch_size):
                idx = order[i : i + self.batch_size]
                enc = tok(
                    [rendered[j] for j in idx],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    add_special_tokens=False,
                ).to(self.model.device)
                logits = self.model(**enc).logits[:, 0].float().tolist()
                for j, s in zip(idx, logits, strict=True):
                    scores[j] = s
        return scores

    def __call__(self, prompts, completions, **kwargs) -> list[float]:
        scores = self.score(prompts, completions)
        self.last = (list(prompts), [completion_text(c) for c in completions], scores)
        return scores


def load(folder: str | Path) -> RewardScorer:
    """A reward model saved by ``fit`` (``<run>/reward_model/``): base + LoRA merged, ready to score."""
    folder = Path(folder)
    meta_path = folder / META_FILE
    if not meta_path.exists():
        raise LabError("reward_model.not_a_folder", folder=str(folder), meta_file=META_FILE)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    base, tokenizer = load_seq_cls(meta["model"])
    model = PeftModel.from_pretrained(base, folder).merge_and_unload()
    return RewardScorer(model, tokenizer, max_length=meta.get("max_length", 512))


# --- training ------------------------------------------------------------------------------------------------------
def reward_config(cfg: Config, output_dir: str, n_train: int):
    """Translate the knobs into TRL's RewardConfig (the one place they meet)."""
    steps = max(1, math.ceil(cfg.epochs * n_train / cfg.batch_size))
    return RewardConfig(
        **trainer_kwargs(
            output_dir,
            steps,
            cfg.learning_rate,
            cfg.seed,
            report_to=cfg.report_to,
            run_name=Path(output_dir).parent.name,
        ),
        per_device_train_batch_size=cfg.batch_size,
        gradient_checkpointing=False,
        max_length=cfg.max_length,
        center_rewards_coefficient=0.01,  # keeps scores near 0, so GRPO's reward curve reads as "better/worse"
    )


def fit(cfg: Config, run, pairs: list[dict], stage: str = "reward_model", folder: Path | None = None):
    """Train on ``pairs``, save the adapter to ``folder`` (default ``<run>/reward_model``), judge held-out pairs.

    Returns ``(scorer, result)``; ``result`` has accuracy, pair counts, held-out chosen/rejected scores, seconds.
    """
    pairs = dedupe_pairs(pairs)
    check_pairs(pairs, cfg.min_pairs)
    train_pairs, heldout = split_pairs(pairs, cfg.heldout_share, cfg.seed)
    folder = Path(folder or run.dir / "reward_model")
    print(texts.t("reward_model.note.pairs", n_train=len(train_pairs), n_heldout=len(heldout)), flush=True)

    setup_torch(cfg.seed)
    run.set_status(stage=stage)
    model, tokenizer = load_seq_cls(cfg.model)
    args = reward_config(cfg, str(run.dir / "trainer"), len(train_pairs))
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(trl_rows(train_pairs, view=rm_messages)),
        processing_class=tokenizer,
        peft_config=lora_config(cfg.lora_rank, task_type="SEQ_CLS"),
        callbacks=[RunCallback(run, stage)],
    )
    t = time.time()
    trainer.train()
    seconds = time.time() - t

    peft_model = trainer.model
    peft_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    meta = {"model": cfg.model, "max_length": cfg.max_length, "config": asdict(cfg)}
    (folder / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    scorer = RewardScorer(peft_model.merge_and_unload(), tokenizer, max_length=cfg.max_length)
    prompts = [p["prompt"] for p in heldout]
    chosen = scorer.score(prompts, [p["chosen"] for p in heldout])
    rejected = scorer.score(prompts, [p["rejected"] for p in heldout])
    accuracy = sum(c > r for c, r in zip(chosen, rejected, strict=True)) / len(heldout)
    result = {
        "accuracy": round(accuracy, 4),
        "n_train_pairs": len(train_pairs),
        "n_heldout_pairs": len(heldout),
        "chosen_scores": [round(s, 4) for s in chosen],
        "rejected_scores": [round(s, 4) for s in rejected],
        "margin": round(sum(chosen) / len(chosen) - sum(rejected) / len(rejected), 4),
        "steps": args.max_steps,
        "train_seconds": round(seconds, 2),
    }
    run.log_metrics(
        {
            "stage": stage,
            "step": args.max_steps,
            "heldout_accuracy": result["accuracy"],
            "heldout_margin": result["margin"],
        }
    )
    run.log_samples(
        [
            {
                "stage": stage,
                "prompt": prompt_text(p["prompt"]),
                "chosen": completion_text(p["chosen"]),
                "rejected": completion_text(p["rejected"]),
                "chosen_score": c,
                "rejected_score": r,
            }
            for p, c, r in zip(heldout, chosen, rejected, strict=True)
        ]
    )
    print(texts.t("reward_model.note.trained", accuracy=accuracy, seconds=seconds), flush=True)
    return scorer, result
