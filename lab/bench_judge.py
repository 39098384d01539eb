"""Benchmark: what a model judge costs in a GRPO step, against a string grader.

``python -m lab bench --what judge`` — the default RFT run (embedded model, the page's defaults, 6 GRPO steps, no
warm-up so that both start from the same policy) twice, one after the other, each in a fresh process:

- with the string grader ``string_check`` (OpenAI's ``ilike``), and
- with ``score_model`` (the preset *judge: score_model (embedded)*: the embedded model judges every answer,
  batched, beside the policy in the same worker).

Per run: the median of TRL's ``step_time`` over the GRPO steps (the judge runs inside the reward call, so its
time is in the step), the judge's share of replies without a number (``judge_errors/<name>``), and the worker's
peak resident memory (``ru_maxrss`` of that one process). Numbers, never pass/fail.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from lab.grading import PRESETS

__all__ = ["bench_judge"]

_MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print("MAXRSS_KB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


def _one(spec: dict, model: str, steps: int) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix="bench-judge-")) / "run"
    command = [sys.executable, "-m", "lab", "rft", "--model", model, "--steps", str(steps), "--no-warmup",
               "--grader", json.dumps(spec), "--out", str(out)]  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", _MEASURE, *command], capture_output=True, text=True)
    last = [ln for ln in proc.stdout.splitlines() if ln.startswith("MAXRSS_KB")]
    if not last or last[-1].split()[2] != "0":
        return {"error": (proc.stdout + proc.stderr)[-2000:]}
    rows = [json.loads(ln) for ln in (out / "metrics.jsonl").read_text().splitlines()]
    grpo = [r for r in rows if r.get("stage") == "grpo" and r.get("step_time") is not None]
    errors = [v for r in grpo for k, v in r.items() if k.startswith("judge_errors/")]
    answers = 16 * len(grpo)  # 2 questions × 8 answers per step (the defaults)
    return {
        "grader": spec["type"],
        "step_seconds_median": round(statistics.median(r["step_time"] for r in grpo), 3),
        "steps": len(grpo),
        "peak_memory_mb": round(int(last[-1].split()[1]) / 1024),
        **({"judge_error_share": round(sum(errors) / answers, 3)} if errors else {}),
    }


def bench_judge(model: str | None = None) -> dict[str, Any]:
    model = model or "embedded"
    string = _one({"type": "string_check", "name": "string", "operation": "ilike"}, model, 6)
    judge = _one(dict(PRESETS["judge: score_model (embedded)"]), model, 6)
    result: dict[str, Any] = {"string_check": string, "score_model": judge}
    if "error" not in string and "error" not in judge:
        result["judge_step_over_string"] = round(judge["step_seconds_median"] / string["step_seconds_median"], 2)
        result["judge_extra_memory_mb"] = judge["peak_memory_mb"] - string["peak_memory_mb"]
    return result
