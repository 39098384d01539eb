"""Stop keeps a checkpoint; Continue goes on from it: same adapter, optimizer and step count, curves that go on,
and a class table that counts the pair once."""

from __future__ import annotations

import time

import pytest

from lab import LabError, access, export, results, runs
from lab.ui import continue_view

TINY = {"model": "tiny", "task": "opposites", "num_generations": 4, "prompts_per_step": 1, "max_completion_length": 8,
        "valid_size": 8, "eval_subset": 4, "eval_every": 0, "warmup": False, "checkpoint_every": 2}  # fmt: skip


def test_a_stopped_run_keeps_a_checkpoint_and_a_continued_run_goes_on_from_it(fresh_home, tiny_model, tmp_path):
    parent = runs.start("rft", {**TINY, "steps": 400}, owner="v:alice")
    deadline = time.time() + 120
    while not any(m.get("stage") == "grpo" and m.get("step", 0) >= 3 for m in parent.metrics()):
        assert time.time() < deadline, parent.log_tail()
        time.sleep(0.2)
    assert runs.stop(parent.id)["state"] == "stopped"
    checkpoints = list((parent.dir / "trainer").glob("checkpoint-*"))
    assert len(checkpoints) == 1  # the latest only, saved at the step where Stop was seen
    stopped_at = int(checkpoints[0].name.rpartition("-")[2])
    assert stopped_at >= 3 and (checkpoints[0] / "optimizer.pt").exists()
    assert max(m["step"] for m in parent.metrics() if m.get("stage") == "grpo") == stopped_at
    kept = export.export(parent, "adapter", tmp_path / "kept") / "adapter"  # a stopped run's adapter can be kept
    assert (kept / "adapter_model.safetensors").exists() and not (kept / "optimizer.pt").exists()

    with pytest.raises(LabError, match="started by someone else"):  # the page's Continue: the owner or the teacher
        continue_view.continue_as(parent.id, 2, access.Identity("v:bob", "bob"))
    child = continue_view.continue_as(parent.id, 2, access.Identity("v:alice", "alice"))
    assert child.config()["config"]["parent"] == parent.id and child.owner == "v:alice"
    status = runs.wait(child, timeout=180)
    assert status["state"] == "done", child.log_tail()
    steps = [m["step"] for m in child.metrics() if m.get("stage") == "grpo" and "loss" in m]
    assert steps == [stopped_at + 1, stopped_at + 2]  # the curve goes on where the parent's ended
    summary = child.summary()
    assert summary["parent"] == parent.id and summary["start_step"] == stopped_at
    # the parent stopped, so it is no result of its own; a finished parent would count once with its child
    assert [r.id for r in results.finished()] == [child.id]


def test_continue_needs_a_checkpoint_of_the_same_model(fresh_home, tiny_model):
    parent = runs.create("rft", {**TINY, "steps": 1})
    with pytest.raises(LabError, match="kept no GRPO checkpoint"):
        runs.execute(runs.create("rft", {**TINY, "steps": 1, "parent": parent.id}))
    with pytest.raises(LabError, match="cannot be continued as an RFT run of embedded"):
        runs.execute(runs.create("rft", {**TINY, "model": "embedded", "steps": 1, "parent": parent.id}))
