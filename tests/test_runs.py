"""The run engine: worker processes, Stop within 5 s, crashes that fail one run, busy refusal, interrupted runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lab import LabError, runs

# a run that keeps training until stopped: tiny model, many GRPO steps, no warm-up, small evals
LONG_TINY = {
    "model": "tiny",
    "steps": 500,
    "warmup": False,
    "valid_size": 4,
    "eval_every": 0,
    "num_generations": 4,
    "max_completion_length": 8,
    "graders": [{"type": "text_similarity", "name": "fuzzy", "evaluation_metric": "fuzzy_match",
                 "input": "{{sample.output_text}}", "reference": "{{item.answer}}"}],
}  # fmt: skip


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_stop_within_five_seconds_keeps_metrics_and_lab_is_busy_meanwhile(fresh_home, tiny_model):
    run = runs.start("rft", LONG_TINY)
    try:
        _wait_for(lambda: any("reward" in m for m in run.metrics()), 120, "the first GRPO step")
        with pytest.raises(LabError, match=f"busy: run {run.id}"):
            runs.start("rft", LONG_TINY)
        logged = len(run.metrics())
        t = time.time()
        status = runs.stop(run.id)
        took = time.time() - t
    finally:
        runs.stop(run.id)
    assert status["state"] == "stopped", status
    assert took < 5.0, f"stop took {took:.1f} s"
    assert len(run.metrics()) >= logged  # what it logged stays
    assert run.status()["state"] == "stopped"
    assert runs.active_run() is None


def test_crashing_worker_fails_alone_with_a_message(fresh_home, tiny_model):
    bad = runs.start("rft", {**LONG_TINY, "task": str(fresh_home / "missing.jsonl")})
    status = runs.wait(bad, timeout=60)
    assert status["state"] == "failed"
    assert "missing.jsonl" in status["error"]
    # the lab is free again and a killed worker (e.g. out of memory) is reported as failed, not left "running"
    victim = runs.start("rft", LONG_TINY)
    _wait_for(lambda: victim.status().get("stage") not in (None, "loading"), 60, "the worker to start")
    os.kill(victim.status()["pid"], signal.SIGKILL)
    status = runs.wait(victim, timeout=15)
    assert status["state"] == "failed"
    assert "signal 9" in status["error"]


def test_run_of_a_dead_app_shows_as_interrupted(fresh_home):
    run = runs.create("rft", {"model": "tiny"})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run.set_status(state="running", pid=dead.pid, updated=time.time() - 60)
    # set_status stamps "updated" itself; age it so the start-up grace period is over
    status_file = run.dir / "status.json"
    data = json.loads(status_file.read_text())
    data["updated"] = time.time() - 60
    status_file.write_text(json.dumps(data))
    assert run.status()["state"] == "interrupted"
    assert runs.active_run() is None
    assert [r.id for r in runs.list_runs()] == [run.id]


def test_unknown_option_is_refused_before_training(fresh_home):
    from lab.methods import make_config

    with pytest.raises(LabError, match="unknown option.*stepz"):
        make_config("rft", {"stepz": 3})
