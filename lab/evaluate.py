"""Answers of a model on fixed prompts, scored: the before/after numbers every run ends with.

Greedy decoding (no sampling) so "before" and "after" differ only by the weights. A PEFT model can be evaluated
with its adapter on, or off (``with model.disable_adapter()``) — the base model's answers — without loading twice.
:func:`batched_answers` is the batched generation under :func:`generate`, and under the sampled answers of
:func:`lab.methods.rlhf.sample_answers`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch

from lab.grading import is_exact


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: Sequence[list[dict]],
    max_new_tokens: int = 32,
    batch_size: int = 16,
    adapter: bool = True,
    return_complete: bool = False,
) -> list[str] | tuple[list[str], list[bool]]:
    """Greedy answers to conversational prompts, batched with left padding.

    ``adapter=False`` turns a PEFT model's LoRA off for the call, which gives the base model's answers.
    ``return_complete=True`` also returns, per answer, whether it ended (end-of-sequence) before ``max_new_tokens``.
    """
    was_training = model.training
    model.eval()
    off = model.disable_adapter() if (not adapter and hasattr(model, "disable_adapter")) else contextlib.nullcontext()
    with off:
        answers, complete = batched_answers(
            model, tokenizer, prompts, batch_size, max_new_tokens=max_new_tokens, do_sample=False
        )
    if was_training:
        model.train()
    return (answers, complete) if return_complete else answers


@torch.no_grad()
def batched_answers(
    model,
    tokenizer,
    prompts: Sequence[list[dict]],
    batch_size: int,
    progress: Callable[[int, int], None] | None = None,
    **generate_kwargs,
) -> tuple[list[str], list[bool]]:
    """Answers to conversational prompts (stripped) and, per answer, whether it ended (end-of-sequence).

    Prompts go through the chat template in left-padded batches of ``batch_size``; ``generate_kwargs`` go to
    ``model.generate`` as they are (greedy or sampling; with ``num_return_sequences=k`` each prompt's ``k`` answers
    are next to each other). ``progress(done, total)`` is called after each batch with the prompts done so far.
    """
    tokenizer.padding_side = "left"
    answers: list[str] = []
    complete: list[bool] = []
    for i in range(0, len(prompts), batch_size):
        texts = [
            tokenizer.apply_chat_template(list(p), tokenize=False, add_generation_prompt=True)
            for p in prompts[i : i + batch_size]
        ]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        out = model.generate(**enc, **generate_kwargs, pad_token_id=tokenizer.pad_token_id)
        new = out[:, enc["input_ids"].shape[1] :]
        answers += tokenizer.batch_decode(new, skip_special_tokens=True)
        complete += (new == tokenizer.eos_token_id).any(dim=1).tolist()
        if progress is not None:
            progress(min(i + batch_size, len(prompts)), len(prompts))
    return [a.strip() for a in answers], complete


def score(answers: list[str], rows: list[dict], graders: Sequence[Callable]) -> dict:
    """Grade answers against their rows: mean reward (sum of graders, as GRPO sees it), per grader, exact match.

    Returns ``{"valid_reward", "accuracy", "graders": {name: mean}, "rows": [{..., "answer_given", scores}]}``.
    """
    n = len(answers)
    columns = {k: [r.get(k) for r in rows] for k in rows[0]} if rows else {}
    columns.pop("prompt", None)
    per_grader: dict[str, list[float | None]] = {}
    for g in graders:
        per_grader[g.__name__] = list(g(completions=answers, **columns))
    table = []
    for i in range(n):
        scores = {name: vals[i] for name, vals in per_grader.items()}
        reward = sum(v for v in scores.values() if v is not None)
        table.append(
            {
                "question": rows[i].get("question", ""),
                "reference": rows[i].get("answer", ""),
                "output": answers[i],
                "reward": reward,
                "exact": is_exact(answers[i], str(rows[i].get("answer", ""))),
                **scores,
            }
        )
    mean = lambda xs: float(sum(xs) / len(xs)) if xs else 0.0  # noqa: E731
    return {
        "valid_reward": mean([t["reward"] for t in table]),
        "accuracy": mean([1.0 if t["exact"] else 0.0 for t in table]),
        "graders": {k: mean([v for v in vals if v is not None]) for k, vals in per_grader.items()},
        "rows": table,
    }
