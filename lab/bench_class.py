"""``python -m lab bench --what class,share``: a class on one app, measured through its HTTP API (``gradio_client``).

Both parts start the app (``python app.py``) on a fresh ``LAB_HOME`` as a *public* deployment (``LAB_ADMIN_TOKEN``
set: visitor ids, ownership and the queue's caps apply), loopback only, and drive it with one ``gradio_client``
client per student — each client is its own visitor (the app's cookie), exactly as separate browsers are. The page's
defaults are used throughout (chat temperature 0.7 and 128-token replies, RFT Train with its default config).

``class`` (:func:`bench_class`):

1. **bursts** — ``n`` students (10, then 30) send one chat message at the same moment: seconds to the first
   token (the first streamed update with text from the model) and to the whole reply, p50/p95;
2. **the lesson's rush** — ``students`` clients at once, each chats ``turns`` turns and rates every answer (thumb up
   or down through ``/rate``); one in three also presses Train (RFT, the page's defaults), and the first of them
   presses it three times (one runs or waits; the per-visitor cap of 1 waiting run must refuse a later press with its
   message). At the end every trainer stops its own run, and the queue must be empty. Checked: every rating stored
   exactly once (per student, ``turns`` rows), no unexpected error, every Train started, queued or refused by a cap.
   p50/p95 per endpoint.

``share`` (:func:`bench_share`): chat and training on the same cores — chat first token and token rate idle and
during the default RFT run, and that run's training seconds alone and with 5 chatters (each sends a message with a
48-token reply every 20 s), for each policy of :data:`POLICIES`: ``share`` (the default, :mod:`lab.cpu`: the worker
leaves the app a core while it generates), ``spin`` (no sharing; OpenMP threads spin while they wait, the default
of PyTorch's OpenMP), ``passive`` (no sharing; ``OMP_WAIT_POLICY=PASSIVE``: waiting threads sleep) and
``share_passive`` (both).

Benchmarks print and return numbers; they never fail a build. ``tests/test_class.py`` runs a small ``class``
(10 students, the tiny model) and asserts its checks.
"""

from __future__ import annotations

import random
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab import browser, runs
from lab.feedback import FeedbackStore

__all__ = ["bench_class", "bench_share", "burst", "chat_once"]

TOKEN = "bench-teacher-token"
PLACEHOLDER = "…"  # what the chat shows until the model's first token
CHAT_TOKENS, CHAT_TEMPERATURE = 128, 0.7  # the page's defaults
POLICIES = {
    "share": {},
    "spin": {"LAB_SHARE_CORES": "0"},
    "passive": {"LAB_SHARE_CORES": "0", "OMP_WAIT_POLICY": "PASSIVE"},
    "share_passive": {"OMP_WAIT_POLICY": "PASSIVE"},
}
CAPPED = re.compile(r"the queue is full|per visitor")  # the queue caps' refusals (lab.texts runs.queue_full*)


def _quantiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    xs = sorted(values)
    at = lambda q: xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]  # noqa: E731
    return {"n": len(xs), "p50": round(statistics.median(xs), 2), "p95": round(at(0.95), 2), "max": round(xs[-1], 2)}


def _text(history: list) -> str:
    """The last message's text of a chat history as the API returns it."""
    if not history:
        return ""
    content = history[-1].get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def chat_once(client, text: str, history: list, model: str, tokens: int = CHAT_TOKENS,
              temperature: float = CHAT_TEMPERATURE) -> tuple[float | None, float, list]:  # fmt: skip
    """One chat turn through ``/chat``: ``(seconds to the first token, seconds to the whole reply, history)``."""
    started, first = time.monotonic(), None
    job = client.submit(text, history, model, temperature, tokens, api_name="/chat")
    for _, shown in job:
        if first is None and _text(shown) not in ("", PLACEHOLDER):
            first = time.monotonic() - started
    _, history = job.result()
    return first, time.monotonic() - started, history


def _clients(url: str, n: int) -> list:
    from gradio_client import Client

    return [Client(url, verbose=False) for _ in range(n)]


def _together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` for ``i < n`` in threads released at the same moment; their results (or exceptions)."""
    barrier, results = threading.Barrier(n), [None] * n

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # reported, not raised: the other students go on
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def burst(url: str, n: int, model: str, prompts: list[str], tokens: int = CHAT_TOKENS) -> dict[str, Any]:
    """``n`` students send one message at the same moment (see the module docstring)."""
    clients = _clients(url, n)
    results = _together(n, lambda i: chat_once(clients[i], prompts[i % len(prompts)], [], model, tokens))
    ok = [r for r in results if isinstance(r, tuple) and r[0] is not None]
    errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, Exception)]
    return {"students": n, "first_token_s": _quantiles([r[0] for r in ok]), "reply_s": _quantiles([r[1] for r in ok]),
            "errors": errors}  # fmt: skip


def _run_id(shown: Any) -> str | None:
    found = re.search(r"<code>([0-9]{8}-[0-9]{6}-[a-z]+-[0-9a-f]{4})</code>", str(shown))
    return found.group(1) if found else None


def _student(url: str, i: int, turns: int, prompts: list[str], model: str, train: dict | None,
             deadline: float, tokens: int = CHAT_TOKENS) -> dict:  # fmt: skip
    """One student of the rush: chats and rates ``turns`` turns; a trainer presses Train after the first turn."""
    from gradio_client import Client

    client, rng = Client(url, verbose=False), random.Random(i)
    out: dict[str, Any] = {"first": [], "reply": [], "rate": [], "train": [], "stored": 0, "errors": [], "runs": []}
    history: list = []
    for turn in range(turns):
        if time.monotonic() > deadline:
            out["errors"].append("time limit")
            break
        try:
            text = prompts[(i * turns + turn) % len(prompts)]
            first, reply, history = chat_once(client, text, history, model, tokens)
            out["first"].append(first if first is not None else reply)
            out["reply"].append(reply)
            t = time.monotonic()
            client.predict(history, len(history) - 1, rng.random() < 0.5, api_name="/rate")
            out["rate"].append(time.monotonic() - t)
            out["stored"] += 1
        except Exception as exc:
            out["errors"].append(f"chat/rate: {type(exc).__name__}: {exc}")
        if turn == 0 and train is not None:
            for press in range(train["presses"]):
                t = time.monotonic()
                try:
                    shown = client.predict(**train["config"], api_name="/train")
                    state = re.search(r'class="badge"[^>]*>(\w+)<', str(shown))
                    out["runs"].append({"id": _run_id(shown), "state": state.group(1) if state else "?"})
                except Exception as exc:  # a cap's refusal is a message, not an error page
                    out["runs"].append({"refused": str(exc)})
                out["train"].append(time.monotonic() - t)
                del press
    out["client"] = client
    return out


def bench_class(students: int = 30, turns: int = 3, chat_model: str = "embedded", train_model: str = "embedded",
                bursts: tuple[int, ...] = (10, 30), home: Path | None = None, time_limit_s: float = 900,
                tokens: int = CHAT_TOKENS) -> dict[str, Any]:  # fmt: skip
    """A class at once; see the module docstring. ``home`` reuses a prepared LAB_HOME (tests); ``tokens`` is the
    reply length (the page's default)."""
    from lab.bench_lesson import prepare
    from lab.feedback import personas

    home = Path(home) if home else Path(tempfile.mkdtemp(prefix="lab-class-"))
    out: dict[str, Any] = {"lab_home": str(home), "students": students, "turns": turns}
    if not (home / "models").exists():
        out["prepare_s"] = prepare(home)
    prompts = personas.load_prompts()
    env = {"LAB_ADMIN_TOKEN": TOKEN, "LAB_CHAT_MODEL": "" if chat_model == "embedded" else chat_model}
    with browser.serve_app(home, env) as url:
        chat_once(_clients(url, 1)[0], "Hello!", [], chat_model, tokens=16)  # the model loads once, untimed
        out["bursts"] = [burst(url, n, chat_model, prompts, tokens) for n in bursts]
        deadline = time.monotonic() + time_limit_s
        trainer = lambda i: {"presses": 3 if i == 0 else 1, "config": {"model": train_model}}  # noqa: E731
        started = time.monotonic()
        one = lambda i: _student(url, i, turns, prompts, chat_model, trainer(i) if i % 3 == 0 else None,  # noqa: E731
                                 deadline, tokens)  # fmt: skip
        results = _together(students, one)
        out["rush_s"] = round(time.monotonic() - started, 1)
        done = [r for r in results if isinstance(r, dict)]
        out["errors"] = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, Exception)]
        out["errors"] += [e for r in done for e in r["errors"]]
        for key in ("first", "reply", "rate", "train"):
            out[f"{key}_s"] = _quantiles([x for r in done for x in r[key]])
        presses = [p for r in done for p in r["runs"]]
        out["train_presses"] = {
            "started_or_queued": sum(1 for p in presses if p.get("state") in ("queued", "waiting", "running")),
            "refused_by_a_cap": sum(1 for p in presses if CAPPED.search(p.get("refused", ""))),
            "other": [p for p in presses if p.get("state") not in ("queued", "waiting", "running")
                      and not CAPPED.search(p.get("refused", ""))],
        }  # fmt: skip
        out["refusals"] = sorted({p["refused"] for p in presses if "refused" in p})
        for r in done:  # every trainer stops what it started (a waiting run is cancelled)
            for p in r["runs"]:
                if p.get("id"):
                    r["client"].predict(p["id"], api_name="/stop_run_id")
        out["queue_cleared"] = _queue_clears(home)
    ratings = FeedbackStore(home / "feedback.sqlite").ratings()
    per_owner = ratings.groupby("owner").size() if len(ratings) else ratings
    out["ratings"] = {"stored": len(ratings), "sent": sum(r["stored"] for r in done),
                      "per_student": sorted({int(n) for n in per_owner}), "students_with_ratings": len(per_owner),
                      "distinct": len(ratings[["owner", "prompt", "completion"]].drop_duplicates())}  # fmt: skip
    return out


def _queue_clears(home: Path, within_s: float = 60) -> bool:
    """Does every run under ``home`` reach a final state within ``within_s`` seconds?"""
    deadline = time.monotonic() + within_s
    try:
        for config in (home / "runs").glob("*/config.json"):
            runs.wait(runs.Run(config.parent), timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        return False
    return True


def bench_share(chatters: int = 5, every_s: float = 20.0, tokens: int = 48,
                policies: tuple[str, ...] = tuple(POLICIES)) -> dict[str, Any]:  # fmt: skip
    """Chat while training, for each policy (see the module docstring)."""
    from lab.bench_lesson import prepare
    from lab.feedback import personas

    prompts, out = personas.load_prompts(), {}
    for policy in policies:
        home = Path(tempfile.mkdtemp(prefix=f"lab-share-{policy}-"))
        prepare(home)
        env = {"LAB_ADMIN_TOKEN": TOKEN, "LAB_CHAT_MODEL": "", **POLICIES[policy]}
        with browser.serve_app(home, env) as url:
            (client,) = _clients(url, 1)
            chat_once(client, "Hello!", [], "embedded", tokens=16)  # load the model, untimed
            idle = [_timed_reply(client, prompts[i], tokens) for i in range(5)]
            alone = _train(url, home)
            stop = threading.Event()
            during: list[tuple[float, float]] = []
            threads = [threading.Thread(target=_chatter, args=(url, i, prompts, tokens, every_s, stop, during))
                       for i in range(chatters)]  # fmt: skip
            for thread in threads:
                thread.start()
            shared = _train(url, home)
            stop.set()
            for thread in threads:
                thread.join()
        out[policy] = {
            "idle_chat": {"first_token_s": _quantiles([f for f, _ in idle]),
                          "tokens_per_s": _quantiles([r for _, r in idle])},
            "chat_during_training": {"first_token_s": _quantiles([f for f, _ in during]),
                                     "tokens_per_s": _quantiles([r for _, r in during])},
            "train_s_alone": alone, "train_s_with_chatters": shared,
            "slowdown": round(shared / alone, 2) if alone and shared else None,
        }  # fmt: skip
        idle_rate = out[policy]["idle_chat"]["tokens_per_s"].get("p50")
        busy_rate = out[policy]["chat_during_training"]["tokens_per_s"].get("p50")
        out[policy]["token_rate_kept"] = round(busy_rate / idle_rate, 2) if idle_rate and busy_rate else None
    return out


def _timed_reply(client, prompt: str, tokens: int) -> tuple[float, float]:
    """``(first token seconds, tokens per second after it)`` of one message with a ``tokens``-token reply."""
    from lab import models

    first, total, history = chat_once(client, prompt, [], "embedded", tokens=tokens)
    made = len(models.load_tokenizer("embedded")(_text(history), add_special_tokens=False)["input_ids"])
    first = first if first is not None else total
    return first, made / max(total - first, 1e-3)


def _chatter(url: str, i: int, prompts: list[str], tokens: int, every_s: float, stop: threading.Event,
             into: list) -> None:  # fmt: skip
    (client,) = _clients(url, 1)
    time.sleep(i * every_s / 5)  # spread over the period, as people are
    while not stop.is_set():
        started = time.monotonic()
        into.append(_timed_reply(client, prompts[(i * 7 + len(into)) % len(prompts)], tokens))
        stop.wait(max(0.0, every_s - (time.monotonic() - started)))


def _train(url: str, home: Path) -> float | None:
    """Press Train (RFT, defaults) as a teacher and wait for the run: its ``train_seconds``."""
    (client,) = _clients(url, 1)
    run_id = _run_id(client.predict(api_name="/train"))
    if run_id is None:
        return None
    run = runs.Run(home / "runs" / run_id)
    runs.wait(run, poll=1.0)
    return (run.summary() or {}).get("train_seconds")

