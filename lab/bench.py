"""``python -m lab bench``: the numbers in the README, measured against plain TRL / plain ``generate`` in one run.

Benchmarks are not tests: they print and save numbers, they never fail a build. Each part:

- ``rft``:  the default RFT demo (``python -m lab rft``) in a subprocess: accuracy before → after SFT → after RL on
  the held-out split, training seconds, and the worker's peak memory (ru_maxrss of the child).
- ``rlhf``: the default RLHF demo (``python -m lab rlhf --persona concise``: the persona simulates feedback, a reward
  model learns it, GRPO optimises against it), then KTO and DPO in their own subprocesses on *that same* feedback
  (exported from the first run's store): reward-model held-out accuracy, persona win rate on the held-out prompts,
  mean reward-model score and words before → after, training seconds (reward model + policy) and peak memory.
- ``rlhf_plain``: the peer recipe of the RLHF issue written with plain TRL/PEFT calls only (48 prompts × 2 sampled
  answers, the one with fewer words chosen; ``RewardTrainer`` + LoRA 2 epochs at lr 1e-3; ``GRPOTrainer`` + LoRA
  against the merged reward model, 10 steps of 16 completions × 48 tokens, beta 0.02, lr 1e-3), judged exactly like
  the lab's runs (same persona, same 40 held-out prompts, same greedy decoding), so that ``rlhf`` can be read
  against it.
- ``step``: seconds per GRPO step of the lab's trainer (``rft.make_grpo_trainer`` with the run callback and the
  grade recorder) against a plain ``trl.GRPOTrainer`` with the same config, LoRA and reward function, alternated
  (plain, lab, plain, lab) so that drift on a shared machine hits both.
- ``app``:  seconds from ``python app.py`` to the first HTTP 200, with the model already cached.
- ``lesson``: the default lesson driven in headless Chromium as a teacher would (:mod:`lab.bench_lesson`); alone
  (``--what lesson``) its numbers are the top level of the JSON (``rft.after``, ``wall_seconds.rlhf``, ``layout``…).
- ``class`` and ``share``: a class on one app through its API (:mod:`lab.bench_class`): simultaneous messages,
  a rush of students chatting, rating and training; chat beside a training run, both directions.
- ``chat``: time to the first streamed piece of ``lab.chat.stream_reply`` against a plain ``model.generate`` of one
  token on the same prompt (chat template and tokenizing included in both), median of 5 each after a warm-up,
  alternated; the lab aims at a ratio of at most 1.1.
- ``sandbox``: python graders in the kernel sandbox against the same function in-process (:mod:`lab.bench_sandbox`).
- ``engine``: the default RFT run at 1 and 2 processes (``accelerate launch``) and as its exported ``train.py``
  (:mod:`lab.bench_engine`).
- ``judge``: a GRPO step with a ``score_model`` judge against one with a string grader (:mod:`lab.bench_judge`).
"""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer, RewardConfig, RewardTrainer

from lab import chat, data, evaluate, models, runs
from lab.bench_class import bench_class, bench_share
from lab.bench_engine import bench_engine
from lab.bench_guided import bench_guided
from lab.bench_judge import bench_judge
from lab.bench_lesson import bench_lesson
from lab.bench_sandbox import bench_sandbox
from lab.feedback import FeedbackStore, personas
from lab.feedback.files import write_rows
from lab.grading import contains_answer
from lab.methods.common import RunCallback, lora_config, setup_torch
from lab.methods.rft import Config, GradeRecorder, grpo_config, make_grpo_trainer
from lab.methods.rlhf_config import ROUTES

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


def bench_rlhf(model: str = "embedded", persona: str = "concise") -> dict:
    """rm-rl with simulated feedback, then kto and dpo on the same feedback; one summary row per route."""
    root = Path(tempfile.mkdtemp(prefix="bench_rlhf_"))
    feedback = root / "feedback.jsonl"
    results: dict = {"run_root": str(root)}
    for route in ROUTES:  # rm-rl first: its persona simulates the feedback the other two reuse
        args = [sys.executable, "-m", "lab", "rlhf", "--persona", persona, "--route", route, "--model", model]
        args += ["--out", str(root / route)] + (["--feedback", str(feedback)] if route != "rm-rl" else [])
        code, wall, peak_gb = _run_child(args)
        if code != 0:
            results[route] = {"error": f"lab rlhf --route {route} exited {code}"}
            if route == "rm-rl":
                break
            continue
        s = json.loads((root / route / "summary.json").read_text())
        rm = s["reward_model"] or {}
        results[route] = {
            "rm_heldout_accuracy": rm.get("accuracy"),
            "rm_heldout_pairs": rm.get("n_heldout_pairs"),
            "win_rate": s["win_rate"],
            "verdicts": s["verdicts"],
            "rm_score": [s["before"]["rm_score"], s["after"]["rm_score"]],
            "mean_words": [s["before"]["mean_words"], s["after"]["mean_words"]],
            "heldout_prompts": s["heldout_prompts"],
            "train_seconds": s["train_seconds"],
            "reward_model_seconds": s["reward_model_seconds"],
            "policy_seconds": s["policy_seconds"],
            "wall_seconds": round(wall, 1),
            "peak_rss_gb": round(peak_gb, 2),
        }
        if route == "rm-rl":
            results["feedback"] = s["feedback"]["simulated"]
            store = FeedbackStore(root / route / "feedback.sqlite")
            rows = store.unpaired() + store.preference_pairs(include_derived=False)
            write_rows(feedback, rows, ["prompt", "completion", "label", "chosen", "rejected"])
    return results


def bench_rlhf_plain(model: str = "embedded", persona: str = "concise") -> dict:
    """The RLHF issue's plain-TRL recipe, on the lab's prompts and judged by the lab's persona (see the docstring)."""
    torch.manual_seed(0)
    path, out = models.resolve(model), Path(tempfile.mkdtemp(prefix="bench_rlhf_plain_"))
    tok, rm_tok = AutoTokenizer.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    tok.padding_side, rm_tok.padding_side = "left", "right"
    policy = AutoModelForCausalLM.from_pretrained(path, dtype=models.dtype())  # fp32 on a CPU: bf16 is slow there
    train_prompts, heldout = personas.split_prompts(personas.load_prompts(), 40, 0)
    user = lambda p: [{"role": "user", "content": p}]  # noqa: E731
    # TRL's configs default to bf16 autocast and (RewardConfig) gradient checkpointing: both make a CPU crawl.
    gpu = torch.cuda.is_available()
    common = dict(report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True, seed=0, use_cpu=not gpu,
                  bf16=gpu and torch.cuda.is_bf16_supported(), gradient_checkpointing=False)  # fmt: skip

    # 1. Feedback: 48 prompts × 2 sampled answers; the answer with fewer words is chosen.
    t = time.time()
    prompts, answers = train_prompts[:48], []
    for i in range(0, len(prompts), 16):
        chunk = prompts[i : i + 16]
        texts = [tok.apply_chat_template(user(p), tokenize=False, add_generation_prompt=True) for p in chunk]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            gen = policy.generate(**enc, do_sample=True, temperature=1.0, top_k=50, max_new_tokens=48,
                                  num_return_sequences=2, pad_token_id=tok.pad_token_id)  # fmt: skip
        answers += [a.strip() for a in tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)]
    pairs = []
    for j, p in enumerate(prompts):
        a, b = answers[2 * j], answers[2 * j + 1]
        if a and b and personas.words(a) != personas.words(b):
            short, long = (a, b) if personas.words(a) < personas.words(b) else (b, a)
            pairs.append({"prompt": user(p), "chosen": [{"role": "assistant", "content": short}],
                          "rejected": [{"role": "assistant", "content": long}]})  # fmt: skip
    sample_seconds = time.time() - t
    random.Random(0).shuffle(pairs)
    held, train = pairs[: max(1, len(pairs) // 5)], pairs[max(1, len(pairs) // 5) :]  # one pair per prompt

    # 2. Reward model: RewardTrainer + LoRA (SEQ_CLS), 2 epochs at lr 1e-3, then merged for scoring.
    rm = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=models.dtype())
    rm.config.pad_token_id = rm_tok.pad_token_id
    lora = dict(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear")
    rm_trainer = RewardTrainer(
        model=rm, train_dataset=Dataset.from_list(train), processing_class=rm_tok,
        args=RewardConfig(output_dir=str(out / "rm"), num_train_epochs=2, learning_rate=1e-3,
                          per_device_train_batch_size=8, **common),
        peft_config=LoraConfig(task_type="SEQ_CLS", **lora),
    )  # fmt: skip
    t = time.time()
    rm_trainer.train()
    rm_seconds = time.time() - t
    scorer = rm_trainer.model.merge_and_unload().eval()

    def reward_model(prompts, completions, **kwargs) -> list[float]:
        texts = [rm_tok.apply_chat_template(p + c, tokenize=False) for p, c in zip(prompts, completions, strict=True)]
        enc = rm_tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(scorer.device)
        with torch.no_grad():
            return scorer(**enc).logits[:, 0].float().tolist()

    chosen = reward_model([x["prompt"] for x in held], [x["chosen"] for x in held])
    rejected = reward_model([x["prompt"] for x in held], [x["rejected"] for x in held])
    accuracy = sum(c > r for c, r in zip(chosen, rejected, strict=True)) / len(held)

    # 3. GRPO + LoRA against the reward model: 10 steps of 2 prompts × 8 completions of ≤ 48 tokens, beta 0.02.
    grpo = GRPOTrainer(
        model=policy, reward_funcs=[reward_model], processing_class=tok,
        train_dataset=Dataset.from_list([{"prompt": user(p)} for p in prompts]),
        args=GRPOConfig(output_dir=str(out / "grpo"), max_steps=10, learning_rate=1e-3, per_device_train_batch_size=16,
                        num_generations=8, max_completion_length=48, temperature=1.0, top_k=50, beta=0.02, **common),
        peft_config=LoraConfig(task_type="CAUSAL_LM", **lora),
    )  # fmt: skip
    t = time.time()
    grpo.train()
    grpo_seconds = time.time() - t

    # 4. Judged like the lab's runs: greedy answers (64 tokens) to the 40 held-out prompts, base (LoRA off) vs tuned.
    messages = [user(p) for p in heldout]
    base, base_done = evaluate.generate(grpo.model, tok, messages, 64, 64, adapter=False, return_complete=True)
    tuned, tuned_done = evaluate.generate(grpo.model, tok, messages, 64, 64, return_complete=True)
    return {
        "pairs": len(pairs),
        "rm_heldout_accuracy": round(accuracy, 4),
        "rm_heldout_pairs": len(held),
        "win_rate": personas.win_rate(persona, heldout, tuned, base, tuned_done, base_done),
        "mean_words": [statistics.mean(map(personas.words, base)), statistics.mean(map(personas.words, tuned))],
        "heldout_prompts": len(heldout),
        "sample_seconds": round(sample_seconds, 1),
        "reward_model_seconds": round(rm_seconds, 1),
        "policy_seconds": round(grpo_seconds, 1),
        "train_seconds": round(rm_seconds + grpo_seconds, 1),
    }


def bench_step(model: str = "embedded", steps: int = 4, rounds: int = 2) -> dict:
    """Per-step seconds: plain TRL GRPOTrainer vs the lab's, same config; alternated ``rounds`` times."""
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


PARTS = {
    "rft": bench_rft,
    "rlhf": bench_rlhf,
    "rlhf_plain": bench_rlhf_plain,
    "step": bench_step,
    "app": bench_app,
    "chat": bench_chat,
    "lesson": bench_lesson,
    "class": bench_class,
    "share": bench_share,
    "guided": bench_guided,
    "sandbox": bench_sandbox,
    "engine": bench_engine,
    "judge": bench_judge,
}


def main(args) -> int:
    models.resolve(args.model)  # materialize the model once, outside every timing
    wanted = list(PARTS) if args.what == "all" else args.what.split(",")
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    results["machine"]["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    for name in wanted:
        print(f"== bench {name}", flush=True)
        fn = PARTS[name]
        if name == "lesson":
            results[name] = fn(args.model, args.out)
        elif name == "guided":  # the page's defaults, in a Chinese browser
            results[name] = fn(args.out)
        elif name in ("class", "share"):  # the page's models and defaults
            results[name] = fn()
        else:
            results[name] = fn() if name == "app" else fn(args.model)
        print(json.dumps(results[name], indent=2), flush=True)
    if wanted == ["lesson"]:
        results = {"machine": results["machine"], **results["lesson"]}
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
        print(f"saved {args.out}")
    return 0
