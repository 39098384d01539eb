"""``python -m lab bench``: the numbers in the README, measured against plain TRL / plain ``generate`` in one run.

Benchmarks are not tests: they print and save numbers, they never fail a build. Each part:

- ``rft``:  the default RFT demo (``python -m lab rft``) in a subprocess: accuracy before → after SFT → after RL on
  the held-out split, training seconds, and the worker's peak memory (ru_maxrss of the child).
- ``step``: seconds per GRPO step of the lab's trainer (``rft.make_grpo_trainer`` with the run callback and the
  grade recorder) against a plain ``trl.GRPOTrainer`` with the same config, LoRA and reward function, alternated
  (plain, lab, plain, lab) so that drift on a shared machine hits both.
- ``app``:  seconds from ``python app.py`` to the first HTTP 200, with the model already cached.
- ``chat``: time to the first streamed piece of ``lab.chat.stream_reply`` against a plain ``model.generate`` of one
  token on the same prompt (chat template and tokenizing included in both), median of 5 each after a warm-up,
  alternated; the lab aims at a ratio of at most 1.1.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run_child(args: list[str]) -> tuple[int, float, float]:
    """Run a command; return (exit code, wall seconds, peak RSS in GB of the child)."""
    t = time.time()
    proc = subprocess.Popen(args, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), time.time() - t, usage.ru_maxrss / 1024**2


def bench_rft(model: str = "embedded", extra: list[str] | None = None) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench_rft_")) / "run"
    code, wall, peak_gb = _run_child(
        [sys.executable, "-m", "lab", "rft", "--model", model, "--out", str(out)] + (extra or [])
    )
    if code != 0:
        return {"error": f"lab rft exited {code}"}
    s = json.loads((out / "summary.json").read_text())
    acc = {k: s[k]["accuracy"] for k in ("before", "after_sft", "after") if s.get(k)}
    return {
        "task": s["task"],
        "valid_size": s["valid_size"],
        "accuracy": acc,
        "gain_points": round(100 * (acc["after"] - acc["before"]), 1),
        "train_seconds": s["train_seconds"],
        "sft_seconds": s["sft_seconds"],
        "grpo_seconds": s["grpo_seconds"],
        "eval_seconds": s["eval_seconds"],
        "wall_seconds": round(wall, 1),
        "peak_rss_gb": round(peak_gb, 2),
        "run_folder": str(out),
    }


def bench_step(model: str = "embedded", steps: int = 4, rounds: int = 2) -> dict:
    """Per-step seconds: plain TRL GRPOTrainer vs the lab's, same config; alternated ``rounds`` times."""
    from trl import GRPOTrainer

    from lab import data, models, runs
    from lab.graders import contains_answer
    from lab.methods.common import RunCallback, lora_config, setup_torch
    from lab.methods.rft import Config, GradeRecorder, grpo_config, make_grpo_trainer

    cfg = Config(model=model, steps=steps, warmup=False)
    train_ds, _ = data.split(data.load_task(cfg.task), cfg.valid_size, cfg.seed)
    times: dict[str, list[float]] = {"plain_trl": [], "lab": []}
    for _ in range(rounds):
        for kind in ("plain_trl", "lab"):
            setup_torch(cfg.seed)
            policy, tokenizer = models.load_causal_lm(model)
            run = runs.create("rft", {"bench": kind}, Path(tempfile.mkdtemp(prefix="bench_step_")) / "run")
            if kind == "plain_trl":
                tokenizer.padding_side = "left"
                trainer = GRPOTrainer(
                    model=policy,
                    reward_funcs=[contains_answer],
                    args=grpo_config(cfg, str(run.dir / "trainer")),
                    train_dataset=train_ds,
                    processing_class=tokenizer,
                    peft_config=lora_config(cfg.lora_rank),
                )
            else:
                recorder = GradeRecorder([contains_answer])
                callback = RunCallback(run, "grpo", lambda step, m, rec=recorder, r=run: rec.flush(step, r))
                trainer = make_grpo_trainer(
                    cfg, policy, tokenizer, train_ds, recorder.wrapped, run, lora_config(cfg.lora_rank), [callback]
                )
            t = time.time()
            trainer.train()
            times[kind].append((time.time() - t) / steps)
            del trainer, policy
    plain, lab = statistics.median(times["plain_trl"]), statistics.median(times["lab"])
    return {
        "steps_per_round": steps,
        "rounds": rounds,
        "completions_per_step": cfg.num_generations * cfg.prompts_per_step,
        "plain_trl_s_per_step": round(plain, 3),
        "lab_s_per_step": round(lab, 3),
        "lab_over_plain": round(lab / plain, 3),
        "all": {k: [round(x, 3) for x in v] for k, v in times.items()},
    }


def bench_app(timeout: float = 120) -> dict:
    """Seconds from starting ``python app.py`` until it answers HTTP 200 (model cache already warm)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    t = time.time()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while time.time() - t < timeout:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        return {"seconds_to_first_response": round(time.time() - t, 2)}
            except OSError:
                time.sleep(0.2)
        return {"error": f"no answer within {timeout} s"}
    finally:
        proc.terminate()
        proc.wait(10)


def bench_chat(model: str = "embedded", repeats: int = 5) -> dict:
    """Seconds to the first streamed piece of ``chat.stream_reply`` vs a plain ``generate(max_new_tokens=1)``."""
    import torch

    from lab import chat

    history = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
    entry = chat.load(model)

    def streamed() -> float:
        t = time.perf_counter()
        pieces = chat.stream_reply(history, model, max_new_tokens=32, temperature=0)
        first = next(pieces)
        seconds = time.perf_counter() - t
        pieces.close()  # stops the generation and waits for its thread
        assert first
        return seconds

    def plain() -> float:
        t = time.perf_counter()
        text = entry.tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
        enc = entry.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(entry.model.device)
        with torch.no_grad():
            entry.model.generate(**enc, max_new_tokens=1, do_sample=False, pad_token_id=entry.tokenizer.pad_token_id)
        return time.perf_counter() - t

    times: dict[str, list[float]] = {"plain_generate": [], "stream_reply": []}

    def measure() -> None:
        streamed(), plain()  # warm-up
        for _ in range(repeats):
            times["plain_generate"].append(plain())
            times["stream_reply"].append(streamed())

    # Measured from a worker thread, where the app's (Gradio's) handlers run: torch's OpenMP team in the main thread
    # behaves differently when the cores are busy, and that is not what a user of the app waits for.
    worker = threading.Thread(target=measure)
    worker.start()
    worker.join()
    plain_s, stream_s = statistics.median(times["plain_generate"]), statistics.median(times["stream_reply"])
    return {
        "model": model,
        "plain_generate_first_token_ms": round(1000 * plain_s, 1),
        "stream_reply_first_piece_ms": round(1000 * stream_s, 1),
        "stream_over_plain": round(stream_s / plain_s, 3),
        "target": "<= 1.1",
        "all_ms": {k: [round(1000 * x, 1) for x in v] for k, v in times.items()},
    }


PARTS = {"rft": bench_rft, "step": bench_step, "app": bench_app, "chat": bench_chat}


def main(args) -> int:
    from lab import models

    models.resolve(args.model)  # materialize the model once, outside every timing
    wanted = list(PARTS) if args.what == "all" else args.what.split(",")
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    try:
        import torch

        results["machine"]["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except ImportError:
        pass
    for name in wanted:
        print(f"== bench {name}", flush=True)
        fn = PARTS[name]
        results[name] = fn() if name == "app" else fn(args.model)
        print(json.dumps(results[name], indent=2), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
        print(f"saved {args.out}")
    return 0
