"""Runs on TRL's distributed engine: ``accelerate launch`` for a run with several processes, and who writes.

A run's config may ask for ``num_processes`` > 1 or name an ``accelerate_config`` file (DDP, FSDP or DeepSpeed
ZeRO, as ``accelerate config`` writes it). Its worker is then not ``python -m lab worker RUN`` but

    python -m accelerate.commands.launch --num_processes N [--config_file FILE] -m lab worker RUN

so every process runs the same method code and TRL's trainers (GRPO, RLOO, SFT, DPO, KTO, the reward model's
``RewardTrainer``) shard their batches, all-reduce their gradients and gather their rewards through accelerate —
TRL's own engine, nothing of the lab's. On a CPU accelerate picks ``gloo``; on GPUs ``nccl``.

What the lab adds, and no more:

- **one writer**: only the main process (``RANK`` 0) writes the run folder (status, metrics, samples, summary,
  adapter); the others' :class:`lab.runs.Run` is read-only (``main=False``) — except that a process that crashes
  marks the run failed with its message;
- **the same global batch** whatever the count: ``prompts_per_step × num_generations`` answers per GRPO step,
  split over the processes (:func:`split_batch`);
- **threads**: the machine's cores divided among the processes (:func:`threads_per_process`);
- the run's ``summary.json`` records ``world_size``.

No torch here: the run queue (``lab.runs``) builds the command in the app's process.
"""

from __future__ import annotations

import os
import socket
import sys

from lab import LabError

__all__ = ["is_main", "launch_prefix", "processes", "rank", "split_batch", "threads_per_process", "world_size"]


def processes(config: dict) -> int:
    """How many processes a run's config asks for (1 unless ``num_processes`` says more)."""
    try:
        return max(1, int(config.get("num_processes") or 1))
    except (TypeError, ValueError):
        return 1


def launch_prefix(config: dict) -> list[str]:
    """The command that starts a run's worker: ``[python]`` for one process, else ``accelerate launch`` with the
    process count, a free port for the processes to meet on and the config file, if any."""
    n, config_file = processes(config), str(config.get("accelerate_config") or "")
    if n == 1 and not config_file:
        return [sys.executable]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n), "--main_process_port",
           str(port)]  # fmt: skip
    if config_file:
        cmd += ["--config_file", config_file]
    else:  # no file: DDP over every process of this machine (gloo on a CPU, nccl on GPUs)
        cmd += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return cmd


def rank() -> int:
    """This process's global rank (0 outside a distributed launch)."""
    return int(os.environ.get("RANK", "0") or 0)


def world_size() -> int:
    """How many processes train this run (accelerate's total process count; 1 outside a distributed launch)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def is_main() -> bool:
    """Is this the process that writes the run folder?"""
    return rank() == 0


def threads_per_process(cores: int) -> int:
    """The cores divided among the run's processes (at least one each)."""
    return max(1, cores // world_size())


def split_batch(prompts_per_step: int, num_generations: int, world: int) -> tuple[int, int]:
    """``(per-device batch, gradient accumulation)`` so that one GRPO step still sees ``prompts_per_step ×
    num_generations`` answers whatever the process count: per device × accumulation × processes = that total.

    One process keeps the lab's usual split (a group per micro-batch). Several processes share the groups; a total
    that the processes cannot share evenly is refused.

    >>> split_batch(2, 8, 1), split_batch(2, 8, 2), split_batch(1, 8, 2)
    ((8, 2), (8, 1), (4, 1))
    """
    total = prompts_per_step * num_generations
    if total % world:
        raise LabError("distributed.uneven_batch", total=total, world=world, prompts=prompts_per_step,
                       generations=num_generations)  # fmt: skip
    if prompts_per_step % world == 0:
        return num_generations, prompts_per_step // world
    return total // world, 1
