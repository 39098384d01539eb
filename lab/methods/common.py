"""What every method shares: LoRA built in one place, the callback that writes a run folder, timing helpers."""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from peft import LoraConfig
from transformers import TrainerCallback

from lab import LabError, cpu, distributed
from lab.feedback import FeedbackStore
from lab.messages import completion_text, prompt_text

TRACKIO_PROJECT = "rlhf-rft-lab"


def lora_config(rank: int = 16, task_type: str = "CAUSAL_LM", alpha: int | None = None) -> LoraConfig:
    """LoRA on every linear layer of the attention and MLP blocks (``CAUSAL_LM`` policies, ``SEQ_CLS`` rewards)."""
    return LoraConfig(
        r=rank,
        lora_alpha=alpha or 2 * rank,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type=task_type,
    )


def setup_torch(seed: int = 0) -> None:
    """Deterministic seeds; on a CPU use every core the machine gives us (divided among the processes of a
    distributed run), less one while the app generates."""
    torch.manual_seed(seed)
    if not torch.cuda.is_available():
        threads = distributed.threads_per_process(cpu.cores())
        torch.set_num_threads(threads)
        cpu.share_with_generation(threads)


def trainer_kwargs(
    output_dir: str,
    steps: int,
    learning_rate: float,
    seed: int = 0,
    checkpoint_every: int | None = None,
    report_to: str = "none",
    run_name: str | None = None,
) -> dict:
    """The TrainingArguments every method's TRL config shares: quiet, log every step. ``checkpoint_every``: a TRL
    checkpoint (adapter, optimizer, scheduler, trainer state; the latest one kept) every K steps, at the end and on
    Stop (0: only at the end and on Stop, see :class:`RunCallback`; ``None``: none). ``report_to="trackio"`` also
    logs to trackio, locally (``LAB_HOME/trackio``, project ``rlhf-rft-lab``, the run's id as its name; no Space)."""
    tracking = {}
    if report_to == "trackio":  # (its folder: TRACKIO_DIR, which lab.runs.execute sets before TRL imports trackio)
        tracking = dict(project=TRACKIO_PROJECT, run_name=run_name, trackio_static_space_id=False)
    return dict(
        output_dir=output_dir,
        max_steps=steps,
        learning_rate=learning_rate,
        logging_steps=1,
        save_strategy="no" if checkpoint_every is None else "steps",  # and whenever the callback asks (Stop)
        save_steps=checkpoint_every or 10**9,
        save_total_limit=1,
        report_to=report_to,
        **tracking,
        seed=seed,
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=True,
        lr_scheduler_type="constant",
        warmup_steps=0,
        dataloader_num_workers=0,
    )


def trl_advantages(trainer, n: int) -> list[float] | None:
    """The advantages GRPO/RLOO gave the last ``n`` answers it scored, as TRL computed them (``None`` if unknown).

    TRL keeps the latest generation batch's prompts, completions, rewards and advantages in ``trainer._logs`` for
    its completions table (``log_completions``); reading them there shows the advantage each answer really got —
    (reward − group mean) / group std for GRPO, reward − mean of the others for RLOO — instead of recomputing it.
    """
    logged = getattr(trainer, "_logs", None)
    if not isinstance(logged, dict) or len(logged.get("advantages") or ()) < n or n <= 0:
        return None
    return [float(a) for a in list(logged["advantages"])[-n:]]


def generation_kwargs(choice: str) -> dict:
    """GRPOConfig's generation arguments for the run option ``generation`` (``lab.methods.run_options``).

    ``"vllm"``: TRL's vLLM integration in *colocate* mode — each training process starts a vLLM engine on its own
    GPU (``vllm_gpu_memory_utilization`` of it, TRL's default 0.3), samples the step's answers there, and TRL loads
    the new (LoRA-merged) weights into it after each optimizer step; no server to start. ``"transformers"``:
    ``model.generate``. ``"auto"``: vLLM where it can run — a CUDA GPU, ``vllm`` installed, not a ZeroGPU Space
    (whose GPU is lent per call, where a resident engine cannot live) — else ``generate``. Asking for vLLM where it
    cannot run is a ``LabError`` that says why.
    """
    if choice == "transformers":
        return {}
    import importlib.util

    from lab import gpu

    if not torch.cuda.is_available():
        missing = "no_gpu"
    elif importlib.util.find_spec("vllm") is None:
        missing = "no_vllm"
    elif gpu.zero_gpu():
        missing = "zero_gpu"
    else:
        return {"use_vllm": True, "vllm_mode": "colocate"}
    if choice == "vllm":
        raise LabError(f"config.run.generation.{missing}")
    return {}


def group_samples(trainer, stage: str, step: int, prompts: list, completions: list, rewards: list,
                  num_generations: int, limit: int = 64) -> list[dict]:
    """The rows ``samples.jsonl`` keeps of one RL step: up to ``limit`` answers in whole groups (a cut group's mean
    is not TRL's), each with its prompt's words, its reward, its group (``num_generations`` consecutive answers to
    one prompt) and the advantage TRL gave it (:func:`trl_advantages`; ``None`` when unknown)."""
    advantages = trl_advantages(trainer, len(completions)) or [None] * len(completions)  # (no trainer: unknown)
    keep = min(limit - limit % num_generations, len(completions))
    return [
        {"stage": stage, "step": step, "prompt": prompt_text(prompts[i]),
         "completion": completion_text(completions[i]), "reward": rewards[i], "group": i // num_generations,
         "advantage": None if advantages[i] is None else round(advantages[i], 4)}
        for i in range(keep)
    ]  # fmt: skip


class RunCallback(TrainerCallback):
    """Writes every ``on_log`` to ``metrics.jsonl`` and progress (step, ETA) to ``status.json``.

    ``on_step_end_hook(step, model)`` runs after each optimizer step (samples, live validation); time spent in it is
    kept in ``self.hook_seconds`` so that training time can be reported without evaluation time.

    At each stage's start it looks for the run's ``stop`` file and raises ``RunStopped``. After each step it looks
    again (all processes of a distributed run agree: the flag is all-reduced), and when Stop was pressed it asks
    the trainer to save a checkpoint and end the loop; ``on_train_end`` then raises ``RunStopped``. So a stopped run
    keeps a checkpoint it can be continued from, and Stop reaches a run trained inside the app's own process
    (ZeroGPU, :mod:`lab.gpu`), where no signal can be sent. (A worker that does not come to a step end in time gets
    a signal: ``lab.runs.stop``.)
    """

    def __init__(self, run, stage: str, on_step_end_hook=None):
        self.run, self.stage, self.hook = run, stage, on_step_end_hook
        self.t0 = time.time()
        self.hook_seconds = 0.0
        self.stopping = False

    def on_train_begin(self, args, state, control, **kwargs):
        self._stop_if_asked()
        self.t0 = time.time()
        self.run.set_status(stage=self.stage, step=0, max_steps=state.max_steps, eta_seconds=None)

    def on_log(self, args, state, control, logs=None, **kwargs):
        row = {"stage": self.stage, "step": state.global_step, "time": round(time.time() - self.t0, 2)}
        for key, value in (logs or {}).items():
            if isinstance(value, int | float) and math.isfinite(value):
                row[key] = value
        self.run.log_metrics(row)

    def _stop_if_asked(self) -> None:
        if self.run.stop_requested():
            from lab.runs import RunStopped

            raise RunStopped()

    def _stop_everywhere(self) -> bool:
        """Was Stop pressed? One answer for every process of a distributed run (they must stop at the same step)."""
        asked = self.run.stop_requested()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            flag = torch.tensor([int(asked)])
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            asked = bool(flag.item())
        return asked

    def on_train_end(self, args, state, control, **kwargs):
        if self.stopping:
            from lab.runs import RunStopped

            raise RunStopped()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self._stop_everywhere():  # keep a checkpoint, then end the loop (on_train_end raises RunStopped)
            self.stopping = control.should_save = control.should_training_stop = True
            return control
        if self.hook is not None:
            t = time.time()
            self.hook(state.global_step, model)
            self.hook_seconds += time.time() - t
        elapsed = time.time() - self.t0
        per_step = elapsed / max(state.global_step, 1)
        self.run.set_status(
            stage=self.stage,
            step=state.global_step,
            max_steps=state.max_steps,
            eta_seconds=round(per_step * (state.max_steps - state.global_step), 1),
        )


def open_feedback(feedback: str | None, folder) -> tuple:
    """The feedback a run trains on: ``(store, imported)``.

    ``"store"`` is LAB_HOME's shared store (what the chat tab collected); a file path is imported into a store of
    the run's own (``<folder>/feedback.sqlite``, all or nothing, errors name file and line); ``None`` or ``""``
    gives that run-local store empty, for simulated feedback. ``imported`` is the import's counts (or ``None``).
    """
    if feedback == "store":
        return FeedbackStore(), None
    store = FeedbackStore(Path(folder) / "feedback.sqlite")
    imported = store.import_file(feedback) if feedback else None
    return store, imported
