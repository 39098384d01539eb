"""Benchmark: python graders in the kernel sandbox against the same function called in-process.

``python -m lab bench --what sandbox`` — OpenAI's guide's rapidfuzz grader (``fuzz.WRatio`` / 100) on answers like
a GRPO step's, graded

- **in-process**: the function itself, compiled here and called once per answer (no isolation at all);
- **sandboxed**: :func:`lab.grading.sandbox.run_python_grader` — one child per batch under Landlock, seccomp and
  rlimits (:mod:`lab.grading.sandbox`), as a run grades each step.

For batch sizes 1 (the start-up cost per batch: process, Python, isolation, the grader's imports), 16 (the default
RFT step: 2 questions × 8 answers) and 1024 (throughput once started), the median of several repeats. Also the
start-up with numpy + pandas imported, and the one-time probe of :func:`~lab.grading.sandbox.isolation`. Numbers,
never pass/fail.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from lab.grading import sandbox

__all__ = ["bench_sandbox"]

SOURCE = (
    "from rapidfuzz import fuzz, utils\n\n"
    "def grade(sample, item) -> float:\n"
    "    return fuzz.WRatio(sample['output_text'], item['reference_answer'], processor=utils.default_process) / 100\n"
)
HEAVY = "import numpy, pandas\n" + SOURCE


def _batch(n: int) -> tuple[list[dict], list[dict]]:
    words = ["Paris", "It is Paris.", "Lyon", "The capital of France is Paris", "paris!", "Marseille, I think"]
    return [{"output_text": words[i % len(words)]} for i in range(n)], [{"reference_answer": "Paris"}] * n


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_sandbox(model: str | None = None) -> dict[str, Any]:
    os.environ["LAB_PYTHON_GRADER"] = "1"
    sandbox.isolation.cache_clear()
    start = time.perf_counter()
    found = sandbox.isolation()
    probe_s = time.perf_counter() - start
    if not found.ok:
        return {"isolation": found.reason}
    namespace: dict = {}
    exec(compile(SOURCE, "<grader>", "exec"), namespace)
    grade = namespace["grade"]
    result: dict[str, Any] = {"layers": list(found.layers), "probe_seconds": round(probe_s, 3), "batches": {}}
    for n, repeats in ((1, 9), (16, 9), (1024, 5)):
        samples, items = _batch(n)
        scores = sandbox.run_python_grader(SOURCE, samples, items)
        assert scores == [grade(s, i) for s, i in zip(samples, items, strict=True)]  # same scores both ways
        boxed = _median_seconds(lambda s=samples, i=items: sandbox.run_python_grader(SOURCE, s, i), repeats)
        plain = _median_seconds(lambda s=samples, i=items: [grade(a, b) for a, b in zip(s, i, strict=True)], repeats)
        result["batches"][str(n)] = {
            "sandbox_ms": round(1000 * boxed, 2), "in_process_ms": round(1000 * plain, 3),
            "sandbox_answers_per_s": round(n / boxed), "in_process_answers_per_s": round(n / plain),
            "sandbox_over_in_process": round(boxed / plain, 1),
        }  # fmt: skip
    samples, items = _batch(16)
    heavy = _median_seconds(lambda: sandbox.run_python_grader(HEAVY, samples, items, timeout=60), 5)
    result["startup_ms_per_batch"] = result["batches"]["1"]["sandbox_ms"]
    result["batch16_with_numpy_pandas_ms"] = round(1000 * heavy, 1)
    big = result["batches"]["1024"]
    result["throughput_answers_per_s"] = {"sandbox": big["sandbox_answers_per_s"],
                                          "in_process": big["in_process_answers_per_s"]}  # fmt: skip
    return result
