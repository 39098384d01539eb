"""lab.chat on the tiny model: streamed pieces add up to the plain ``generate`` reply, two sampled answers, greedy
batches, and an abandoned stream frees its model at once."""

from __future__ import annotations

import doctest
import threading

import pytest
import torch

from lab import LabError, chat

HISTORY = [{"role": "user", "content": "Name three colours."}]


def _plain_reply(entry: chat.Loaded, max_new_tokens: int, **sampling) -> str:
    """The reply of a plain, non-streamed ``model.generate`` on the same chat."""
    text = entry.tokenizer.apply_chat_template(HISTORY, tokenize=False, add_generation_prompt=True)
    enc = entry.tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = entry.model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=entry.tokenizer.pad_token_id,
                                   **sampling)  # fmt: skip
    return entry.tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def test_streamed_pieces_concatenate_to_the_plain_reply(tiny_model):
    entry = chat.load("tiny")
    pieces = list(chat.stream_reply(HISTORY, model="tiny", max_new_tokens=24, temperature=0))
    assert len(pieces) >= 3 and all(isinstance(p, str) and p for p in pieces)
    assert "".join(pieces) == _plain_reply(entry, 24, do_sample=False)  # greedy
    sampled = list(chat.stream_reply(HISTORY, model="tiny", max_new_tokens=24, temperature=1.0, seed=7))
    torch.manual_seed(7)
    plain = _plain_reply(entry, 24, do_sample=True, temperature=1.0, top_p=0.95, top_k=0)
    assert len(sampled) >= 3 and "".join(sampled) == plain and plain.strip()  # real words, not only newlines
    warmer = "".join(chat.stream_reply(HISTORY, model="tiny", max_new_tokens=24, temperature=0.7, seed=7))
    torch.manual_seed(7)
    assert warmer == _plain_reply(entry, 24, do_sample=True, temperature=0.7, top_p=0.95, top_k=0)  # T, then top-p
    assert chat.load("tiny") is entry  # cached


def test_abandoned_stream_frees_the_model(tiny_model):
    entry = chat.load("tiny")
    pieces = chat.stream_reply(HISTORY, model="tiny", max_new_tokens=400, temperature=1.0, seed=0)
    assert next(pieces)
    pieces.close()  # the page went away: generation stops at the next token
    assert not entry.lock.locked()


def test_sample_two_and_greedy_answers(tiny_model):
    a, b = chat.sample_two("Say something.", model="tiny", max_new_tokens=12, seed=1)
    assert isinstance(a, str) and isinstance(b, str) and a != b
    answers = chat.greedy_answers(["Hi", "Why is the sky blue?"], model="tiny", max_new_tokens=8)
    assert len(answers) == 2 and all(isinstance(x, str) for x in answers)


def test_messages_and_errors(tiny_model, tmp_path):
    assert doctest.testmod(chat).failed == 0
    gradio_history = [{"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                      {"role": "assistant", "content": "Hello!"}]  # fmt: skip
    assert chat.messages(gradio_history)[1] == {"role": "assistant", "content": "Hello!"}
    with pytest.raises(LabError, match="end with a user message"):
        list(chat.stream_reply(gradio_history, model="tiny", max_new_tokens=4))
    with pytest.raises(LabError, match="no LoRA adapter"):
        chat.load("tiny", tmp_path)


def test_chat_with_an_adapter(tiny_model, tmp_path):
    from peft import get_peft_model

    from lab import models
    from lab.methods.common import lora_config

    base, tokenizer = models.load_causal_lm("tiny")
    get_peft_model(base, lora_config(2)).save_pretrained(tmp_path / "adapter")  # what a run leaves in <run>/adapter
    tuned = chat.load("tiny", tmp_path / "adapter")
    assert tuned is not chat.load("tiny") and tuned.adapter == str((tmp_path / "adapter").resolve())
    assert not hasattr(tuned.model, "peft_config")  # merged: generation as fast as the base's
    assert list(chat.stream_reply("Hi", "tiny", tmp_path / "adapter", max_new_tokens=4, temperature=0))


def _question(i: int) -> list[dict]:
    return [{"role": "user", "content": f"Question {i}: " + "why? " * i}]


def test_simultaneous_and_late_requests_share_batches_and_get_their_own_replies(tiny_model):
    """Ten readers at once are answered by one batched generate; readers arriving while it runs join it; every
    reply equals the one the request gets alone (greedy), so batching changes the wait, not the answer."""
    entry = chat.load("tiny")
    alone = {i: "".join(chat.stream_reply(_question(i), "tiny", max_new_tokens=40, temperature=0)) for i in range(10)}
    together: dict[int, str] = {}

    def ask(i: int) -> None:
        together[i] = "".join(chat.stream_reply(_question(i), "tiny", max_new_tokens=40, temperature=0))

    barrier = threading.Barrier(10)
    batches = entry.batcher.batches
    threads = [threading.Thread(target=lambda i=i: (barrier.wait(), ask(i))) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert together == alone
    assert entry.batcher.largest == 10 and entry.batcher.batches - batches <= 2

    together.clear()
    batches, threads = entry.batcher.batches, []
    first = chat.stream_reply(_question(0), "tiny", max_new_tokens=40, temperature=0)
    head = next(first)  # a batch is running: the others arrive while it decodes
    for i in range(1, 6):
        threads.append(threading.Thread(target=ask, args=(i,)))
        threads[-1].start()
    together[0] = head + "".join(first)
    for thread in threads:
        thread.join()
    assert together == {i: alone[i] for i in range(6)}


def test_a_request_cancelled_in_the_queue_leaves_it_at_once(tiny_model):
    from lab import batching

    entry = chat.load("tiny")
    running = chat.stream_reply(HISTORY, model="tiny", max_new_tokens=400, temperature=1.0, seed=0)
    assert next(running)  # holds the model: a seeded batch nothing else joins
    sampling = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    queued = batching.Request([1, 2, 3], 8, sampling, batching.group(sampling))
    entry.batcher.submit(queued)
    entry.batcher.cancel(queued)  # its reader left before its batch began: it never holds the model
    assert queued.finished.is_set() and queued.pieces.get_nowait() is None and queued.generated == []
    assert queued not in entry.batcher._pending
    running.close()
    assert not entry.lock.locked()


def test_a_failed_generation_reaches_its_readers_and_the_queue_goes_on(tiny_model, monkeypatch):
    entry = chat.load("tiny")
    real = entry.model.generate

    def broken(*args, **kwargs):
        monkeypatch.setattr(entry.model, "generate", real)  # only the first batch fails
        raise ValueError("out of luck")

    monkeypatch.setattr(entry.model, "generate", broken)
    with pytest.raises(RuntimeError, match="generation failed: ValueError: out of luck"):
        list(chat.stream_reply(HISTORY, model="tiny", max_new_tokens=8, temperature=0))
    assert "".join(chat.stream_reply(HISTORY, model="tiny", max_new_tokens=8, temperature=0))
    assert not entry.lock.locked()
