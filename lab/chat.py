"""Chat with the base model or any run's adapter: streamed replies, two sampled answers, greedy side-by-side answers.

The RLHF tab's first step (people chat with the model and rate its answers) and the comparison view use this
module; the UI reaches it through plain function calls, so the page itself never imports torch.

- :func:`load` keeps a small least-recently-used cache of loaded models keyed by ``(model name, adapter folder)``:
  the base model (``"embedded"``, ``"tiny"``, …) or a base with a run's LoRA adapter (``<run>/adapter``) merged in
  (merged: generation is as fast as the base's). ``LAB_CHAT_CACHE`` sets how many stay loaded (default 3).
- :func:`stream_reply` yields the reply token by token while ``generate`` runs in a thread; the first piece of
  text leaves as soon as the first token is decoded (no waiting for a whole word).
- Every loaded model has its own generation queue (:mod:`lab.batching`): chat messages and "two answers" sent at
  the same moment, or while others are being answered, are answered together in one batched ``generate``, so a
  class costs a few single replies and not one per student. A reader that stops early (a closed page) ends its row
  at the next token. The model's lock orders the batches with the comparison's and the simulated raters' batches.
- On a ZeroGPU Space the three generating functions run inside ``@spaces.GPU`` calls (:mod:`lab.gpu`).
- On a CPU, generation in this process uses every core while no run is training and one torch thread while a
  training worker is, and the worker leaves it a core meanwhile (:mod:`lab.cpu`). Two threads on two idle cores make
  a reply 1.4× faster (one 48-token reply 3.5 s instead of 5.0 s; ten in a batch 11.4 s instead of 19.3 s), but
  beside a worker that uses both cores the OpenMP threads wait for each other: sampling two answers took 42 s
  instead of 5 s.
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lab import LabError, batching, cpu, gpu, models
from lab.messages import chat_messages as messages  # chat.messages(history): the name callers and tests use

__all__ = ["Loaded", "greedy_answers", "load", "messages", "sample_two", "set_threads", "stream_reply"]

MAX_CONTEXT_TOKENS = 1024
"""Older turns of a long chat are dropped so that the prompt plus the reply fit in this many tokens."""


@dataclass
class Loaded:
    """A model ready to answer: the weights, the tokenizer and the lock its generations take turns on."""

    name: str
    adapter: str | None
    model: Any
    tokenizer: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    batcher: batching.Batcher = field(init=False)
    # requests are tokenized outside the model's lock, on a copy of the tokenizer with a lock of its own: a fast
    # tokenizer switched between padding and not by two threads at once fails with "Already borrowed"
    encoder: Any = field(init=False)
    encode_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.encoder = copy.deepcopy(self.tokenizer)
        self.batcher = batching.Batcher(self.model, self.tokenizer, self.lock,
                                        None if torch.cuda.is_available() else cpu.chat_threads)  # fmt: skip


_cache: OrderedDict[tuple[str, str | None], Loaded] = OrderedDict()
_cache_lock = threading.Lock()  # guards the dict (held for microseconds)
_load_lock = threading.Lock()  # one load at a time, so two users asking for the same model load it once


def _cache_size() -> int:
    with contextlib.suppress(ValueError):
        return max(1, int(os.environ.get("LAB_CHAT_CACHE", "3")))
    return 3


def set_threads() -> None:
    """Use :func:`lab.cpu.chat_threads` torch threads for generation in this process now (CPU only)."""
    if not torch.cuda.is_available():
        torch.set_num_threads(cpu.chat_threads())


def load(model: str = models.EMBEDDED, adapter: str | Path | None = None) -> Loaded:
    """The model ``model`` (with the LoRA adapter folder ``adapter`` merged in, if given), loaded once and cached."""
    if adapter is not None:
        adapter = Path(adapter).expanduser().resolve()
        if not (adapter / "adapter_config.json").exists():
            raise LabError("chat.no_adapter", folder=adapter)
    key = (model or models.EMBEDDED, str(adapter) if adapter else None)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    with _load_lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        set_threads()
        base, tokenizer = models.load_causal_lm(key[0])
        if adapter is not None:
            from peft import PeftModel

            base = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
        base.eval()
        entry = Loaded(key[0], key[1], base, tokenizer)
        with _cache_lock:
            _cache[key] = entry
            while len(_cache) > _cache_size():
                _cache.popitem(last=False)  # a generation still running keeps its own reference
        return entry


def _encode(entry: Loaded, history: str | Sequence[Any], max_new_tokens: int) -> dict:
    """Chat template + tokens, dropping the oldest turns until prompt and reply fit the context."""
    chat = messages(history)
    if not chat or chat[-1]["role"] != "user":
        raise LabError("chat.no_user_message")
    limit = min(MAX_CONTEXT_TOKENS, getattr(entry.model.config, "max_position_embeddings", MAX_CONTEXT_TOKENS))
    while True:
        with entry.encode_lock:
            text = entry.encoder.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
            enc = entry.encoder(text, return_tensors="pt", add_special_tokens=False)
        first = 1 if chat[0]["role"] == "system" else 0
        if enc["input_ids"].shape[1] + max_new_tokens <= limit or len(chat) - first <= 1:
            break
        del chat[first]  # the oldest turn goes first
    if enc["input_ids"].shape[1] + max_new_tokens > limit:
        raise LabError("chat.too_long", tokens=enc["input_ids"].shape[1])
    return enc.to(entry.model.device)


def _sampling(temperature: float) -> dict:
    if temperature and temperature > 0:
        return {"do_sample": True, "temperature": float(temperature), "top_p": 0.95, "top_k": 0}
    return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}


def stream_reply(
    history: str | Sequence[Any],
    model: str = models.EMBEDDED,
    adapter: str | Path | None = None,
    max_new_tokens: int = 128,
    temperature: float = 0.7,
    seed: int | None = None,
) -> Iterator[str]:
    """The model's reply to the chat ``history`` (ending with a user turn), yielded piece by piece as generated.

    The pieces concatenate to the whole reply. ``temperature=0`` is greedy; ``seed`` makes sampling repeatable.
    """
    entry = load(model, adapter)
    (request,) = _submit(entry, history, max_new_tokens, temperature, seed)
    try:
        while (piece := request.pieces.get()) is not None:
            yield piece
        if request.error is not None:
            raise request.error
    finally:
        entry.batcher.cancel(request)  # a reader that left early: its row ends at the next token


def _submit(entry: Loaded, history, max_new_tokens: int, temperature: float, seed: int | None,
            n: int = 1) -> list[batching.Request]:  # fmt: skip
    """Queue ``n`` replies to ``history`` on the model's batcher, to start in the same batch."""
    sampling = _sampling(temperature)
    ids = _encode(entry, history, max_new_tokens)["input_ids"][0].tolist()
    key = batching.group(sampling, seed)
    requests = [batching.Request(ids, max_new_tokens, sampling, key, seed) for _ in range(n)]
    entry.batcher.submit(*requests)
    return requests


def _collect(entry: Loaded, request: batching.Request) -> str:
    """The whole reply of a queued request."""
    try:
        text = "".join(iter(request.pieces.get, None))
        if request.error is not None:
            raise request.error
        return text
    finally:
        entry.batcher.cancel(request)


def sample_two(
    prompt: str | Sequence[Any],
    model: str = models.EMBEDDED,
    adapter: str | Path | None = None,
    max_new_tokens: int = 96,
    temperature: float = 1.0,
    seed: int | None = None,
) -> tuple[str, str]:
    """Two sampled answers to one prompt (or chat), for "which is better?": tries again once if they are equal."""
    entry = load(model, adapter)
    for _ in range(3):  # both answers in one batch (with a seed: a batch of their own)
        first, second = _submit(entry, prompt, max_new_tokens, temperature or 1.0, seed, n=2)
        try:
            a, b = _collect(entry, first).strip(), _collect(entry, second).strip()
        finally:
            entry.batcher.cancel(second)  # (when the first failed, nobody waits for the second)
        if a != b:
            break
        seed = None if seed is None else seed + 1
    return a, b


def greedy_answers(
    prompts: Sequence[str], model: str = models.EMBEDDED, adapter: str | Path | None = None, max_new_tokens: int = 64
) -> list[str]:
    """Greedy (repeatable) answers to single-turn prompts, batched: what the comparison view shows."""
    from lab import evaluate

    entry = load(model, adapter)
    with entry.lock, cpu.generating():
        set_threads()
        return evaluate.generate(entry.model, entry.tokenizer, [messages(p) for p in prompts], max_new_tokens)


if gpu.zero_gpu():  # a ZeroGPU Space: the GPU exists only inside @spaces.GPU calls (lab.gpu); nowhere else
    stream_reply = gpu.on_gpu(stream_reply)
    sample_two = gpu.on_gpu(sample_two)
    greedy_answers = gpu.on_gpu(greedy_answers)
