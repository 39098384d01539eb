"""One generation queue per loaded model: a class's simultaneous chat messages become one left-padded batch.

Decoding a small model on a CPU is bound by the per-token pass over the weights, not by arithmetic: one 48-token
reply of the embedded model takes 3.6 s here, ten replies in one batch 7.3 s. Ten students who each got their own
``generate`` would take turns on the model (the tenth waits for nine replies); batched, they all see a first token
after one batched prompt pass.

How a request goes through (:class:`Batcher`, one per :class:`lab.chat.Loaded` model):

1. :meth:`Batcher.submit` queues a :class:`Request` (one prompt, its sampling settings, its own token limit).
2. The batcher thread takes the oldest request and every queued request with the *same sampling settings*, up to
   ``LAB_CHAT_BATCH`` (:func:`lab.chat_batch_size`, default 32), and runs **one** ``model.generate`` on them,
   left-padded, under the model's lock. Each new token is handed to its row's queue at once (:class:`_Rows`, a
   transformers ``BaseStreamer``).
3. A row ends on its own: at an end-of-turn token, at its own ``max_new_tokens``, or when its reader has gone (a
   closed page) — a per-row ``StoppingCriteria``; ``generate`` returns when every row has ended.
4. **Joining a running batch.** A request that arrives while a batch runs does not wait for the whole batch: once
   the batch has decoded for as long as its prompt pass took (so that a stream of arrivals cannot keep it
   re-reading prompts), the batcher stops ``generate`` after the next token (the same stopping criterion, for every
   row) and starts a new batch of the unfinished rows — each one's prompt *plus the tokens it has generated so far*
   — and the newcomers. The rows lose nothing (their next tokens are drawn from the same distribution, as a
   continuation of what they said); the cost is one batched prompt pass. This is recompute-style preemption, as
   vLLM does when it must; transformers' own continuous batching (``generate_batch``) runs on a CPU but took 24 s
   for the ten replies that one left-padded batch answers in 7.3 s.
5. On a CPU each batch asks ``threads()`` how many torch threads to use (:func:`lab.cpu.chat_threads`: every
   core while no run trains, one while a training worker needs the others) and raises :func:`lab.cpu.generating`'s
   flag, so that a training worker leaves it a core.

Requests with a ``seed`` run in a batch of their own, so that a seeded reply is the one a plain seeded ``generate``
draws. Requests with other sampling settings (a temperature of 1.0 for "two answers" while chats use 0.7) wait
for the running batch to end; once one of them has waited longest, the running batch takes no more newcomers.
The thread stops after a minute without requests, so an evicted model can be freed.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper
from transformers.generation.streamers import BaseStreamer

from lab import chat_batch_size, cpu

__all__ = ["Batcher", "NucleusTopP", "Request", "group"]

IDLE_SECONDS = 60.0
"""A batcher thread without requests for this long ends (the next request starts a new one)."""

GATHER_SECONDS = 0.02
"""After a request, wait this long for another one sent at the same moment before starting a batch ..."""

GATHER_MAX_SECONDS = 0.25
"""... but no longer than this in all (a class's messages reach the app spread over a few hundred ms)."""

_unique = itertools.count()


@dataclass(eq=False)
class Request:
    """One prompt to answer. Its reader takes text pieces from ``pieces`` until ``None`` (the end).

    ``input_ids`` is the tokenized prompt (a 1-D list); ``sampling`` the ``generate`` sampling keywords; ``group``
    (from :func:`group`) says which requests may share a batch.
    ``gone`` is set by the reader when it stops reading; ``finished`` by the batcher once this request holds no
    part of the model any more (its row ended, or the batch it was the last live row of has returned).
    """

    input_ids: list[int]
    max_new_tokens: int
    sampling: dict
    group: tuple
    seed: int | None = None
    pieces: queue.Queue = field(default_factory=queue.Queue)
    gone: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    generated: list[int] = field(default_factory=list)
    sent: int = 0  # characters of the decoded reply already handed to the reader
    error: BaseException | None = None
    done: bool = False


def group(sampling: dict, seed: int | None = None) -> tuple:
    """The batch key of requests with these settings: equal sampling settings share a batch; a seeded call (its
    rows) gets a key of its own, so that nothing else is drawn from its random numbers."""
    return (tuple(sorted(sampling.items())), next(_unique) if seed is not None else None)


class Batcher:
    """The generation queue of one loaded model (see the module's docstring)."""

    def __init__(self, model: Any, tokenizer: Any, lock: threading.Lock, threads: Callable[[], int] | None = None):
        self.model, self.tokenizer, self.lock = model, tokenizer, lock
        self.threads = threads  # torch threads for the next batch (CPU), asked before each batch
        self.eos = _eos_ids(model, tokenizer)
        self._cond = threading.Condition()
        self._pending: list[Request] = []
        self._thread: threading.Thread | None = None
        self.batches = 0  # generate calls so far (tests and the load benchmark read it)
        self.largest = 0  # the most rows one generate call had

    def submit(self, *requests: Request) -> None:
        """Queue requests (given together, they start in the same batch)."""
        with self._cond:
            self._pending.extend(requests)
            self._cond.notify_all()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="chat-batcher", daemon=True)
                self._thread.start()

    def cancel(self, request: Request) -> None:
        """The reader has gone: a request still queued leaves the queue at once; a running one ends at its next
        token. Returns once the request holds no part of the model any more."""
        request.gone.set()
        with self._cond:
            if request in self._pending:
                self._pending.remove(request)
                self._end(request)
                request.finished.set()
        if threading.current_thread() is not self._thread:  # (never wait for oneself)
            request.finished.wait()

    # ------------------------------------------------------------------ the batcher thread

    def _loop(self) -> None:
        rows: list[Request] = []  # rows carried over from a batch stopped so that new requests could join
        while True:
            with self._cond:
                if not rows:
                    if not self._cond.wait_for(lambda: self._pending, timeout=IDLE_SECONDS):
                        self._thread = None
                        return
                    self._gather()
                    if not self._pending:  # all cancelled while gathering
                        continue
                key = rows[0].group if rows else self._pending[0].group
                joining = [r for r in self._pending if r.group == key][: max(0, chat_batch_size() - len(rows))]
                if rows and self._pending and self._pending[0].group != key:
                    joining = []  # another group has waited longest: let this batch drain instead of growing
                for r in joining:
                    self._pending.remove(r)
            held = rows + joining
            try:
                rows = [r for r in held if not self._end_if_gone(r)]
                if rows:
                    rows = self._generate(rows)
            except BaseException as e:  # never leave a reader waiting: every row held hears of it
                for r in held:
                    if not r.done:
                        r.error = r.error or e
                    self._end(r)
                    r.finished.set()
                rows = []

    def _gather(self) -> None:
        """Wait (holding the condition) while requests keep arriving, up to ``GATHER_MAX_SECONDS``."""
        deadline, seen = time.monotonic() + GATHER_MAX_SECONDS, -1
        while len(self._pending) != seen and len(self._pending) < chat_batch_size():
            seen, left = len(self._pending), deadline - time.monotonic()
            if left <= 0:
                break
            self._cond.wait(min(GATHER_SECONDS, left))

    def _end_if_gone(self, request: Request) -> bool:
        gone = request.gone.is_set()  # read once: the reader may leave between two reads
        if gone:
            self._end(request)
            request.finished.set()
        return gone

    def _joinable(self, key: tuple, rows: int) -> bool:
        """Is the request that has waited longest of this group, and is there room for it?"""
        with self._cond:
            return rows < chat_batch_size() and bool(self._pending) and self._pending[0].group == key

    def _generate(self, rows: list[Request]) -> list[Request]:
        """One batched ``generate`` on ``rows``; returns the rows to carry into the next batch (empty when done)."""
        key = rows[0].group
        streamer = _Rows(self, rows)
        try:
            ids = [r.input_ids + r.generated for r in rows]
            width = max(len(x) for x in ids)
            pad = self.tokenizer.pad_token_id
            input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=self.model.device)
            mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=self.model.device)
            with self.lock, torch.no_grad(), cpu.generating() if self.threads else contextlib.nullcontext():
                if self.threads is not None:
                    torch.set_num_threads(self.threads())
                if rows[0].seed is not None:
                    torch.manual_seed(rows[0].seed)
                self.batches += 1
                self.largest = max(self.largest, len(rows))
                streamer.started = time.monotonic()  # the prompt pass starts now (not while waiting for the lock)
                self.model.generate(
                    input_ids=input_ids, attention_mask=mask, **_sampler(rows[0].sampling), streamer=streamer,
                    max_new_tokens=max(r.max_new_tokens - len(r.generated) for r in rows), pad_token_id=pad,
                    stopping_criteria=StoppingCriteriaList([_RowStop(streamer, lambda: self._joinable(
                        key, sum(not r.done for r in rows)))]),
                )  # fmt: skip
        except Exception as e:  # every live row's reader hears of it (its own copy); the batcher serves others
            for r in rows:
                if not r.done:
                    r.error = RuntimeError(f"generation failed: {type(e).__name__}: {e}")
                    r.error.__cause__ = e
                    self._end(r)
        carried = [r for r in rows if not r.done]
        for r in rows:
            if r.done:
                r.finished.set()
        return carried

    def _end(self, request: Request) -> None:
        if not request.done:
            request.done = True
            try:
                self._flush(request, final=True)
            finally:
                request.pieces.put(None)

    def _flush(self, request: Request, final: bool) -> None:
        """Hand the reader the newly decoded text (an incomplete UTF-8 character waits for its next token)."""
        text = self.tokenizer.decode(request.generated, skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):
            return
        if len(text) > request.sent:
            request.pieces.put(text[request.sent :])
            request.sent = len(text)


class _Rows(BaseStreamer):
    """Receives each batched step's tokens from ``generate`` and hands each row's text to that row's reader.

    It also times the batch's prompt pass: newcomers may stop the batch (to join it) only once it has decoded for
    at least as long as that pass took, so that a stream of arrivals cannot keep a class re-reading prompts.
    """

    def __init__(self, batcher: Batcher, rows: list[Request]):
        self.batcher, self.rows = batcher, rows
        self.prompt_seen = False
        self.started = time.monotonic()
        self.join_after: float | None = None  # monotonic time from which newcomers may join

    def may_join(self) -> bool:
        return self.join_after is not None and time.monotonic() >= self.join_after

    def put(self, value) -> None:
        if not self.prompt_seen:  # generate() first passes the prompt
            self.prompt_seen = True
            return
        if self.join_after is None:  # the first token: the prompt pass is done
            now = time.monotonic()
            self.join_after = now + (now - self.started)
        for request, token in zip(self.rows, value.reshape(-1).tolist(), strict=True):
            if request.done:
                continue
            if token in self.batcher.eos:
                self._retire(request)
                continue
            request.generated.append(token)
            self.batcher._flush(request, final=False)
            if len(request.generated) >= request.max_new_tokens or request.gone.is_set():
                self._retire(request)

    def _retire(self, request: Request) -> None:
        self.batcher._end(request)
        if any(not r.done for r in self.rows):  # the batch goes on without it: its reader may leave now
            request.finished.set()

    def end(self) -> None:
        pass


class _RowStop(StoppingCriteria):
    """Per row: has it ended (its end token, its length, its reader gone)? All rows at once: others want to join."""

    def __init__(self, streamer: _Rows, join_wanted):
        self.streamer, self.join_wanted = streamer, join_wanted

    def __call__(self, input_ids, scores, **kwargs):
        rows = self.streamer.rows
        for request in rows:  # a reader that left between two tokens ends its row now
            if request.gone.is_set() and not request.done:
                self.streamer._retire(request)
        ended = [r.done for r in rows]
        if self.streamer.may_join() and not all(ended) and self.join_wanted():
            ended = [True] * len(rows)  # stop here; the live rows go on in the next batch, with the newcomers
        return torch.tensor(ended, dtype=torch.bool, device=input_ids.device)


class NucleusTopP(LogitsProcessor):
    """Top-p (nucleus) filtering that keeps the tokens transformers' ``TopPLogitsWarper`` keeps (up to rounding at
    the nucleus' edge and the order of exactly tied logits), without sorting the whole vocabulary when it need not.

    The nucleus is the smallest set of most likely tokens whose probability reaches ``top_p``. transformers sorts all
    49 152 logits of every row at every step to find it: 65 ms for a batch of ten on one CPU thread, more than the
    embedded model's own step. A chat model's nucleus is usually a few dozen tokens, so this looks at the
    ``candidates`` most likely ones (``torch.topk``, 5 ms) and keeps a token when the probability of the tokens above
    it is below ``top_p``; a row whose candidates hold less than ``top_p`` in all (a flat distribution) goes through
    ``TopPLogitsWarper`` itself.

    >>> import torch
    >>> scores = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.25, 0.25]]))
    >>> kept = NucleusTopP(0.9, candidates=3)(None, scores).isfinite()
    >>> kept.tolist() == TopPLogitsWarper(0.9)(None, scores).isfinite().tolist()
    True
    """

    def __init__(self, top_p: float, candidates: int = 256):
        self.top_p, self.candidates, self.full = float(top_p), candidates, TopPLogitsWarper(top_p)

    def __call__(self, input_ids, scores):
        k = min(self.candidates, scores.shape[-1])
        top, index = scores.topk(k, dim=-1)
        probs = (top - scores.logsumexp(dim=-1, keepdim=True)).exp()
        above = probs.cumsum(dim=-1) - probs  # the probability of the candidates more likely than each
        keep = above < self.top_p
        keep[..., 0] = True
        out = torch.full_like(scores, self.full.filter_value).scatter(1, index, top.masked_fill(~keep, -float("inf")))
        wide = probs.sum(dim=-1) < self.top_p  # the nucleus may reach beyond the candidates
        if wide.any():
            out[wide] = self.full(input_ids if input_ids is None else input_ids[wide], scores[wide])
        return out


def _sampler(sampling: dict) -> dict:
    """``generate``'s sampling keywords, with top-p done by :class:`NucleusTopP`: temperature, then top-p, as
    ``generate`` orders its own warpers (a processor given to ``generate`` would otherwise run *before* its
    temperature; 1.0 keeps ``generate`` from adding either of its own)."""
    if not sampling.get("top_p"):
        return sampling
    steps = [TemperatureLogitsWarper(sampling["temperature"])] if sampling.get("temperature", 1.0) != 1.0 else []
    steps.append(NucleusTopP(sampling["top_p"]))
    return {**sampling, "temperature": 1.0, "top_p": 1.0, "logits_processor": LogitsProcessorList(steps)}


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = getattr(model.generation_config, "eos_token_id", None)
    ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids
