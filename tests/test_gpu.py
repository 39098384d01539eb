"""ZeroGPU wiring (``lab.gpu``), tested off ZeroGPU with ``spaces`` installed.

Off ZeroGPU ``spaces.GPU`` returns the function itself, so nothing changes: runs get worker processes and chat is
the plain function. With ZeroGPU reported (the check and the decorator replaced by recording stand-ins), a run
trains in this process inside one decorated call sized from the method's finished runs, writes the same run
folder, Stop reaches it through ``status.json``, the queue moves on, and a run too long for one call is refused
with its estimate before anything is created.
"""

from __future__ import annotations

import time

import pytest

from lab import LabError, chat, gpu, runs

SHORT_TINY = {"model": "tiny", "steps": 2, "warmup": False, "valid_size": 4, "eval_every": 0, "num_generations": 4,
              "max_completion_length": 8}  # fmt: skip


def test_off_zero_gpu_the_decorator_changes_nothing():
    pytest.importorskip("spaces")
    assert not gpu.zero_gpu()

    def generate():
        return "text"

    assert gpu.on_gpu(generate) is generate and gpu.on_gpu(generate, duration=30) is generate
    assert not hasattr(chat.stream_reply, "zerogpu")  # the plain function, not a ZeroGPU wrapper


@pytest.fixture
def zero_gpu(monkeypatch):
    """Pretend to be a ZeroGPU Space: ``zero_gpu()`` is true and ``on_gpu`` records each call's duration."""
    calls: list[dict] = []

    def on_gpu(fn, duration=None):
        def decorated(*args, **kwargs):
            seconds = duration(*args, **kwargs) if callable(duration) else duration
            calls.append({"fn": fn.__name__, "duration": seconds, "running": True})
            try:
                return fn(*args, **kwargs)
            finally:
                calls[-1]["running"] = False

        return decorated

    monkeypatch.setattr(gpu, "zero_gpu", lambda: True)
    monkeypatch.setattr(gpu, "on_gpu", on_gpu)
    return calls


def test_a_run_trains_in_process_inside_one_gpu_call_and_stops(fresh_home, tiny_model, zero_gpu, monkeypatch):
    run = runs.start("rft", SHORT_TINY, owner="v:alice")
    status = runs.wait(run, timeout=120)
    assert status["state"] == "done" and status["in_process"] and status["gpu_seconds"] == gpu.FIRST_RUN_SECONDS
    assert zero_gpu[0]["fn"] == "_train_in_call" and zero_gpu[0]["duration"] == gpu.FIRST_RUN_SECONDS
    assert run.metrics() and (run.dir / "summary.json").exists()

    second = runs.start("rft", {**SHORT_TINY, "steps": 500}, owner="v:alice")  # sized from the finished run now
    typical = status["ended"] - status["started"]
    deadline = time.time() + 60
    while len(zero_gpu) < 2 and time.time() < deadline:  # its thread enters the call
        time.sleep(0.05)
    assert zero_gpu[1]["duration"] == gpu.run_seconds(typical)
    while not any(m.get("stage") == "grpo" for m in second.metrics()) and time.time() < deadline:
        time.sleep(0.2)
    assert runs.stop(second.id)["state"] == "stopped"  # cooperative: no signal to this process
    while zero_gpu[1]["running"] and time.time() < deadline:  # the run writes "stopped", then its call returns
        time.sleep(0.05)
    assert not zero_gpu[1]["running"]

    monkeypatch.setenv("LAB_ZEROGPU_MAX_SECONDS", "1")
    before = len(runs.list_runs())
    with pytest.raises(LabError, match=r"about \d+ s of GPU in one ZeroGPU call, more than the 1 s"):
        runs.start("rft", SHORT_TINY, owner="v:bob")
    assert len(runs.list_runs()) == before  # refused before anything was created
