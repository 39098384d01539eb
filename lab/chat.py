"""Chat with the base model or any run's adapter: streamed replies, two sampled answers, greedy side-by-side answers.

The RLHF tab's first step (people chat with the model and rate its answers) and the comparison view use this
module; the UI reaches it through plain function calls, so the page itself never imports torch.

- :func:`load` keeps a small least-recently-used cache of loaded models keyed by ``(model name, adapter folder)``:
  the base model (``"embedded"``, ``"tiny"``, …) or a base with a run's LoRA adapter (``<run>/adapter``) merged in
  (merged: generation is as fast as the base's). ``LAB_CHAT_CACHE`` sets how many stay loaded (default 3).
- :func:`stream_reply` yields the reply token by token while ``generate`` runs in a thread; the first piece of
  text leaves as soon as the first token is decoded (no waiting for a whole word).
- Every loaded model has its own lock: several people can chat at once, their generations take turns per model
  (on a CPU two at once would only share the same cores). A reader that stops early (a closed page) stops the
  generation at the next token, so the lock is freed at once.
- On a CPU, generation in this process uses ``LAB_CHAT_THREADS`` torch threads (default 1). Decoding a small model
  token by token gains little from a second core, and the cores are usually shared with a training worker: with
  two threads on two busy cores, sampling two answers took 42 s instead of 5 s (OpenMP threads wait for each other).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from lab import LabError, models
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


_cache: OrderedDict[tuple[str, str | None], Loaded] = OrderedDict()
_cache_lock = threading.Lock()  # guards the dict (held for microseconds)
_load_lock = threading.Lock()  # one load at a time, so two users asking for the same model load it once


def _cache_size() -> int:
    with contextlib.suppress(ValueError):
        return max(1, int(os.environ.get("LAB_CHAT_CACHE", "3")))
    return 3


def set_threads() -> None:
    """Use ``LAB_CHAT_THREADS`` torch threads (default 1) for generation in this process (CPU only)."""
    if not torch.cuda.is_available():
        with contextlib.suppress(ValueError):
            torch.set_num_threads(max(1, int(os.environ.get("LAB_CHAT_THREADS", "1"))))


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
        text = entry.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        enc = entry.tokenizer(text, return_tensors="pt", add_special_tokens=False)
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


class _Stop(StoppingCriteria):
    """Stops a generation at the next token once its reader has gone."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


class _TokenStreamer(BaseStreamer):
    """Hands each new piece of decoded text to a queue as soon as its token exists (``None`` marks the end).

    ``TextIteratorStreamer`` holds text back until a word is complete; for a fast first token this one only holds
    back an incomplete UTF-8 character (decoded as U+FFFD).
    """

    def __init__(self, tokenizer):
        self.tokenizer, self.queue = tokenizer, queue.Queue()
        self.ids: list[int] = []
        self.sent = 0
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:  # generate() first passes the prompt
            self.prompt_seen = True
            return
        self.ids.extend(value.reshape(-1).tolist())
        self._flush(final=False)

    def end(self) -> None:
        self._flush(final=True)
        self.queue.put(None)

    def _flush(self, final: bool) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):
            return
        if len(text) > self.sent:
            self.queue.put(text[self.sent :])
            self.sent = len(text)


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
    streamer = _TokenStreamer(entry.tokenizer)
    stop = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            with entry.lock, torch.no_grad():
                enc = _encode(entry, history, max_new_tokens)
                if seed is not None:
                    torch.manual_seed(seed)
                entry.model.generate(
                    **enc, **_sampling(temperature), max_new_tokens=max_new_tokens, streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_Stop(stop)]),
                    pad_token_id=entry.tokenizer.pad_token_id,
                )  # fmt: skip
        except BaseException as e:  # reported to the reader, not lost in the thread
            failure.append(e)
            streamer.queue.put(None)

    thread = threading.Thread(target=work, name="chat-generate", daemon=True)
    thread.start()
    try:
        while (piece := streamer.queue.get()) is not None:
            yield piece
        if failure:
            raise failure[0]
    finally:
        stop.set()
        thread.join()


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
    with entry.lock, torch.no_grad():
        enc = _encode(entry, prompt, max_new_tokens)
        if seed is not None:
            torch.manual_seed(seed)
        for _ in range(3):
            out = entry.model.generate(
                **enc, **_sampling(temperature or 1.0), max_new_tokens=max_new_tokens, num_return_sequences=2,
                pad_token_id=entry.tokenizer.pad_token_id,
            )  # fmt: skip
            new = out[:, enc["input_ids"].shape[1] :]
            a, b = (t.strip() for t in entry.tokenizer.batch_decode(new, skip_special_tokens=True))
            if a != b:
                break
    return a, b


def greedy_answers(
    prompts: Sequence[str], model: str = models.EMBEDDED, adapter: str | Path | None = None, max_new_tokens: int = 64
) -> list[str]:
    """Greedy (repeatable) answers to single-turn prompts, batched: what the comparison view shows."""
    from lab import evaluate

    entry = load(model, adapter)
    with entry.lock:
        return evaluate.generate(entry.model, entry.tokenizer, [messages(p) for p in prompts], max_new_tokens)
