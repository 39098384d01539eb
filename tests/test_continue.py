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


def test_continue_says_one_more_step_and_many_more_steps():
    assert continue_view.started_text("b", "a", 1) == "run b continues a for 1 more step"
    assert continue_view.started_text("b", "a", 3) == "run b continues a for 3 more steps"


def test_a_refused_continue_stays_on_the_page_and_the_api_still_raises(fresh_home, monkeypatch):
    """The page's button puts the refusal in its status line and leaves the box clean (an error would leave only
    an "Error" badge once the toast fades); the ``continue_run`` endpoint still raises for the refused caller."""
    import gradio as gr

    monkeypatch.setenv("LAB_ADMIN_TOKEN", "tok")  # public: a call without the teacher's identity is a visitor's
    parent = runs.create("rft", {**TINY, "steps": 1}, owner="v:alice")
    box, status = continue_view.continue_on_page(parent.id, 1, None)
    assert box == "" and status.startswith("⚠") and "started by someone else" in status
    box, status = continue_view.continue_on_page(None, 1, None)
    assert box == "" and "pick a run first" in status
    with pytest.raises(gr.Error, match="started by someone else"):
        continue_view.continue_run(parent.id, 1, None)
    assert [r.id for r in runs.list_runs()] == [parent.id]  # nothing started


def test_the_runs_tab_wires_continue_and_export_to_a_status_line_and_keeps_their_endpoints():
    import inspect

    import gradio as gr

    import lab.ui
    from lab.ui import export_view

    demo = lab.ui.build_demo()
    by_fn = {inspect.unwrap(fn.fn): fn for fn in demo.fns.values() if fn.fn}
    for page, api, name in ((continue_view.continue_on_page, continue_view.continue_run, "continue_run"),
                            (export_view.export_on_page, export_view.export_run, "export_run")):  # fmt: skip
        assert by_fn[inspect.unwrap(api)].api_name == name
        assert by_fn[inspect.unwrap(page)].api_visibility == "private"
        assert any(isinstance(block, gr.Markdown) for block in by_fn[inspect.unwrap(page)].outputs)  # the status line
