"""The run engine: worker processes, Stop within 5 s, crashes that fail one run, the queue, interrupted runs."""

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


def test_stop_within_five_seconds_keeps_metrics_and_a_second_train_waits(fresh_home, tiny_model):
    run = runs.start("rft", LONG_TINY)
    try:
        _wait_for(lambda: any("reward" in m for m in run.metrics()), 120, "the first GRPO step")
        queued = runs.start("rft", LONG_TINY)  # the lab is training: it waits instead of being refused
        assert queued.status()["state"] == runs.WAITING and runs.queue_position(queued) == 1
        runs.stop(queued.id)  # Stop takes it out of the queue
        assert queued.status()["state"] == "stopped" and runs.queue_position(queued) is None
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


def test_queue_caps_order_and_the_next_run_starts_by_itself(fresh_home, tiny_model, monkeypatch):
    monkeypatch.setenv("LAB_MAX_WAITING", "2")
    first = runs.start("rft", LONG_TINY, owner="v:alice")
    started = []
    try:
        alice = runs.start("rft", LONG_TINY, owner="v:alice")
        with pytest.raises(LabError, match=f"you have a run waiting already \\(run {alice.id}; the cap is 1"):
            runs.start("rft", LONG_TINY, owner="v:alice")
        bob = runs.start("rft", {**LONG_TINY, "steps": 1}, owner="v:bob")
        with pytest.raises(LabError, match="the queue is full \\(2 runs waiting\\)"):
            runs.start("rft", LONG_TINY, owner="v:carol")
        assert [r.id for r in runs.waiting_runs()] == [alice.id, bob.id]
        assert runs.expected_wait_seconds(bob) > runs.expected_wait_seconds(alice) > 0
        assert runs.move_to_front(bob.id) == 1  # the teacher's reorder
        assert [r.id for r in runs.waiting_runs()] == [bob.id, alice.id]
        with pytest.raises(LabError, match="is not in the queue"):
            runs.move_to_front(first.id)
        runs.stop(first.id)  # its worker ends: the app that reaped it starts the next in line
        started.append(_wait_for(lambda: bob.status()["state"] in ("queued", "running", "done") and bob, 30,
                                 "the next run to start"))  # fmt: skip
        assert alice.status()["state"] == runs.WAITING and runs.queue_position(alice) == 1
        assert runs.wait(bob, timeout=120)["state"] == "done"
        _wait_for(lambda: alice.status()["state"] in ("queued", "running"), 30, "the last run to start")
    finally:
        for r in runs.list_runs():
            runs.stop(r.id)


def test_time_cap_stops_a_run_with_its_reason(fresh_home, tiny_model, monkeypatch):
    monkeypatch.setenv("LAB_MAX_RUN_SECONDS", "3")
    run = runs.start("rft", LONG_TINY)
    status = runs.wait(run, timeout=120)
    assert status["state"] == "stopped" and "time cap of 3 s" in status["error"]
