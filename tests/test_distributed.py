"""A run on TRL's distributed engine: two processes (gloo) on this CPU, one writer, the same global batch."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from lab import LabError, access, distributed, runs

TINY_TWO = {"model": "tiny", "task": "opposites", "steps": 3, "num_generations": 4, "prompts_per_step": 2,
            "max_completion_length": 8, "valid_size": 8, "eval_subset": 4, "eval_every": 0, "warmup": False,
            "num_processes": 2}  # fmt: skip


def test_the_global_batch_stays_whatever_the_process_count():
    for world in (1, 2, 4):
        per_device, accumulation = distributed.split_batch(2, 8, world)
        assert per_device * accumulation * world == 16
    with pytest.raises(LabError, match="3 processes cannot share evenly"):
        distributed.split_batch(2, 8, 3)


def test_launch_command():
    assert distributed.launch_prefix({}) == distributed.launch_prefix({"num_processes": 1})
    cmd = distributed.launch_prefix({"num_processes": 2})
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"] and cmd[cmd.index("--num_processes") + 1] == "2"
    cmd = distributed.launch_prefix({"num_processes": 8, "accelerate_config": "/tmp/zero3.yaml"})
    assert cmd[cmd.index("--config_file") + 1] == "/tmp/zero3.yaml" and "--multi_gpu" not in cmd


def test_two_processes_train_one_run_and_only_the_main_one_writes(fresh_home, tiny_model):
    run = runs.start("rft", TINY_TWO, owner="v:alice")
    status = runs.wait(run, timeout=300)
    assert status["state"] == "done", (status, run.log_tail())
    summary = run.summary()
    assert summary["world_size"] == 2 and status["world_size"] == 2
    grpo = [m for m in run.metrics() if m.get("stage") == "grpo" and "loss" in m]
    assert [m["step"] for m in grpo] == [1, 2, 3]  # one line per step: rank 1 wrote nothing
    assert all("rewards/partial_credit/mean" in m for m in grpo)  # TRL's metrics, gathered over both processes
    trainer_state = json.loads(next((run.dir / "trainer").glob("checkpoint-*/trainer_state.json")).read_text())
    # the global batch: 2 questions × 4 answers per step, split over the 2 processes (4 per device, no accumulation)
    assert trainer_state["train_batch_size"] == 4 and trainer_state["global_step"] == 3
    assert (run.adapter_dir / "adapter_config.json").exists()


def test_only_the_teacher_may_ask_for_more_processes_on_a_public_lab(fresh_home, monkeypatch):
    monkeypatch.setenv("LAB_ADMIN_TOKEN", "tok")
    assert access.public()
    before = len(runs.list_runs())
    with pytest.raises(LabError, match=r"only the teacher may set Processes \(num_processes\)"):
        runs.start("rft", TINY_TWO, owner="v:bob")
    with pytest.raises(LabError, match=r"Accelerate config file \(accelerate_config\)"):
        runs.start("rft", {"model": "tiny", "accelerate_config": "/tmp/x.yaml"}, owner="v:bob")
    assert len(runs.list_runs()) == before  # nothing created


def test_the_teacher_only_refusal_names_the_options_by_their_labels_in_the_visitors_language(fresh_home, monkeypatch):
    """A visitor reads the knob's label, in their language, with the name the CLI and the API use."""
    from lab.texts import speaking

    monkeypatch.setenv("LAB_ADMIN_TOKEN", "tok")
    with speaking("zh"), pytest.raises(LabError) as e:
        runs.start("rft", {"model": "tiny", "num_processes": 2, "accelerate_config": "/tmp/x.yaml"}, owner="v:bob")
    text = e.value.text("zh")
    assert "进程数（num_processes）、accelerate 配置文件（accelerate_config）" in text


def _rank_pids(launcher: int) -> dict[int, int]:
    """rank → pid of the worker processes accelerate's launcher started (its children, by their RANK variable)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = dict(
                kv.split("=", 1)
                for kv in (proc / "environ").read_bytes().decode(errors="replace").split("\0")
                if "=" in kv
            )
            parent = int((proc / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            if parent == launcher and "RANK" in env:
                found[int(env["RANK"])] = int(proc.name)
        except (OSError, ValueError):
            continue
    return found


def _training(run, deadline: float) -> None:
    while not any(m.get("stage") == "grpo" and "loss" in m for m in run.metrics()):
        assert time.time() < deadline, run.log_tail()
        time.sleep(0.2)


def test_stop_ends_every_process_and_a_dead_process_fails_the_run(fresh_home, tiny_model):
    long = {**TINY_TWO, "steps": 500}
    run = runs.start("rft", long, owner="v:alice")
    _training(run, time.time() + 180)
    launcher = run.status()["pgid"]
    assert len(_rank_pids(launcher)) == 2
    assert runs.stop(run.id)["state"] == "stopped"
    deadline = time.time() + 30
    while (_rank_pids(launcher) or runs._pid_alive(launcher)) and time.time() < deadline:
        time.sleep(0.2)
    assert not _rank_pids(launcher) and not runs._pid_alive(launcher)  # no process of the run is left
    assert list((run.dir / "trainer").glob("checkpoint-*"))  # and it kept a checkpoint at the step it stopped

    crashed = runs.start("rft", long, owner="v:alice")
    _training(crashed, time.time() + 180)
    ranks = _rank_pids(crashed.status()["pgid"])
    os.kill(ranks[1], signal.SIGKILL)  # the other process dies, as it would out of memory
    status = runs.wait(crashed, timeout=120)
    # the run fails with a message: the main process's own (gloo lost its peer) or, if it was stopped first, what
    # accelerate said about the dead one
    assert status["state"] == "failed", status
    assert "died" in status["error"] or "remote worker" in status["error"], status
    deadline = time.time() + 30
    while _rank_pids(crashed.status()["pgid"]) and time.time() < deadline:
        time.sleep(0.2)
    assert not _rank_pids(crashed.status()["pgid"])


def test_the_cli_runs_several_processes_in_the_foreground(fresh_home, tiny_model, tmp_path, capsys):
    from lab.__main__ import main

    sets = [a for k in ("num_generations=4", "warmup=false", "valid_size=4", "eval_every=0",
                        "max_completion_length=8") for a in ("--set", k)]  # fmt: skip
    out = tmp_path / "run"
    assert main(["rft", "--model", "tiny", "--steps", "2", "--num-processes", "2", "--out", str(out), *sets]) == 0
    assert json.loads((out / "summary.json").read_text())["world_size"] == 2


def test_generation_uses_trls_vllm_colocate_where_it_can_run_and_says_why_not(fresh_home, tiny_model, monkeypatch):
    """vLLM cannot run on this machine (no GPU, no vllm): ``auto`` samples with generate(), ``vllm`` is refused with
    the reason — at the run's start, before any model loads. With a GPU and vllm (faked here: the wiring, not vLLM)
    GRPO gets TRL's colocate mode; a ZeroGPU Space keeps generate()."""
    import importlib.util

    import torch
    from trl import GRPOConfig

    from lab import gpu
    from lab.methods import common, rft
    from lab.methods.rft_config import Config

    assert common.generation_kwargs("auto") == common.generation_kwargs("transformers") == {}
    with pytest.raises(LabError, match="needs a CUDA GPU"):
        common.generation_kwargs("vllm")
    with pytest.raises(LabError, match="generation"):
        Config.from_dict({"generation": "sglang"})
    run = runs.create("rft", {**TINY_TWO, "num_processes": 1, "generation": "vllm"})
    with pytest.raises(LabError, match="needs a CUDA GPU"):
        runs.execute(run)
    assert run.status()["state"] == "failed" and run.status().get("stage") == "data" and not run.metrics()

    find_spec = importlib.util.find_spec
    with monkeypatch.context() as m:  # a GPU without vllm, then with it
        m.setattr(torch.cuda, "is_available", lambda: True)
        m.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else find_spec(name, *a))
        with pytest.raises(LabError, match="vllm package"):
            common.generation_kwargs("vllm")
        m.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "vllm" else find_spec(name, *a))
        colocate = common.generation_kwargs("auto")
        assert colocate == common.generation_kwargs("vllm") == {"use_vllm": True, "vllm_mode": "colocate"}
        m.setattr(gpu, "zero_gpu", lambda: True)
        assert common.generation_kwargs("auto") == {}
        with pytest.raises(LabError, match="ZeroGPU"):
            common.generation_kwargs("vllm")
    # the run's GRPOConfig takes them (TRL's own field names and values; built on this CPU, so not faked here)
    monkeypatch.setattr(rft, "generation_kwargs", lambda choice: colocate if choice != "transformers" else {})
    args = rft.grpo_config(Config(model="tiny"), str(fresh_home / "trainer"))
    assert isinstance(args, GRPOConfig) and args.use_vllm and args.vllm_mode == "colocate"
    assert not rft.grpo_config(Config(model="tiny", generation="transformers"), str(fresh_home / "t2")).use_vllm
