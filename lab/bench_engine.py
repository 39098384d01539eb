"""Benchmark: the same RFT run on TRL's distributed engine and as an exported plain TRL script.

``python -m lab bench --what engine`` — the default RFT config (the page's, on the embedded model), its GRPO step
time measured three ways, one after the other, on one idle machine:

1. **lab, 1 process** — a run of the lab's queue (``lab.runs.start``), as the page's Train starts it;
2. **lab, 2 processes** — the same config with ``num_processes=2`` (``accelerate launch``, DDP over gloo on a CPU;
   the same global batch, the cores divided between the processes);
3. **exported train.py** — run 1 exported as a recipe (``lab.export``) and run with ``python train.py`` in a fresh
   interpreter from its folder, the same steps.

The step time is the median of TRL's ``step_time`` over the GRPO steps (generation, grading, backward and update;
no evaluation), so the lab's extras (samples, live validation every few steps) do not count for either side; the
wall time of each is reported too. Numbers, never pass/fail. Expect no gain from 2 processes on 2 CPU cores: the
point is that the same run scales where there are devices.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lab import runs

__all__ = ["bench_engine"]


def _step_times(rows: list[dict]) -> list[float]:
    return [float(r["step_time"]) for r in rows if r.get("step_time") is not None]


def _lab_run(config: dict) -> dict[str, Any]:
    start = time.perf_counter()
    run = runs.start("rft", config)
    status = runs.wait(run, timeout=3600)
    wall = time.perf_counter() - start
    grpo = [m for m in run.metrics() if m.get("stage") == "grpo"]
    times = _step_times(grpo)
    summary = run.summary() or {}
    return {"run": run.id, "state": status["state"], "wall_seconds": round(wall, 1),
            "grpo_seconds": summary.get("grpo_seconds"), "world_size": summary.get("world_size"),
            "step_seconds_median": round(statistics.median(times), 3) if times else None,
            "steps": len(times), "accuracy_after": (summary.get("after") or {}).get("accuracy")}  # fmt: skip


def _exported_run(run_id: str, steps: int) -> dict[str, Any]:
    from lab import export

    folder = Path(tempfile.mkdtemp(prefix="bench-engine-")) / "recipe-export"
    recipe = export.export(run_id, "recipe", folder) / "recipe"
    out = folder / "out"
    start = time.perf_counter()
    from lab import models

    base = str(models.resolve(runs.get(run_id).config().get("config", {}).get("model", "embedded")))
    command = [sys.executable, "train.py", "--max_steps", str(steps), "--output_dir", str(out),
               "--model_name_or_path", base]  # the lab's own copy of the model: no hub here  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(command, cwd=recipe, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode:
        return {"error": proc.stderr[-2000:]}
    states = sorted(out.rglob("trainer_state.json"))
    grpo = [p for p in states if "sft" not in p.relative_to(out).parts]
    history = json.loads(grpo[-1].read_text())["log_history"] if grpo else []
    times = _step_times(history)
    return {"wall_seconds": round(wall, 1), "steps": len(times),
            "step_seconds_median": round(statistics.median(times), 3) if times else None}  # fmt: skip


def bench_engine(model: str | None = None) -> dict[str, Any]:
    from lab import lab_home

    models = lab_home() / "models"
    home = Path(tempfile.mkdtemp(prefix="bench-engine-home-"))
    (home / "models").symlink_to(models)  # the prepared model, not prepared again
    os.environ["LAB_HOME"] = str(home)  # the runs of the benchmark stay out of the user's list
    config = {"model": model or "embedded"}  # the page's defaults otherwise
    steps = 10
    one = _lab_run(config)
    two = _lab_run({**config, "num_processes": 2})
    script = _exported_run(one["run"], steps)
    result: dict[str, Any] = {"lab_1_process": one, "lab_2_processes": two, "exported_train_py": script}
    if one["step_seconds_median"] and two["step_seconds_median"]:
        result["step_time_2_over_1"] = round(two["step_seconds_median"] / one["step_seconds_median"], 3)
    if one["step_seconds_median"] and script.get("step_seconds_median"):
        # throughput of the lab relative to the plain script: >= 0.95 means no lab overhead to speak of
        result["lab_throughput_over_script"] = round(script["step_seconds_median"] / one["step_seconds_median"], 3)
    return result
