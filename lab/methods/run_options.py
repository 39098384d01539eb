"""The options every method's run has beside its teaching knobs: where it trains, what it keeps, where it logs.

Each method's Config (``rft_config``, ``rlhf_config``) declares these fields with the functions below, so their
help, range and UI place are written once; their words are the shared keys ``config.run.<field>.*``
(``ui_knobs.json``), whatever the method. ``teacher`` in the metadata: on a public deployment only the teacher may
change the field from its default (``lab.runs.start`` refuses a visitor) — more processes or an accelerate config
take the machine, or several.

- ``num_processes`` / ``accelerate_config``: train under ``accelerate launch`` (:mod:`lab.distributed`);
- ``checkpoint_every``: TRL checkpoints (adapter, optimizer, scheduler, trainer state) every K steps and on Stop,
  so that a run can be continued;
- ``parent``: the run this one continues (set by *Continue*, not typed);
- ``report_to``: also log to trackio, Hugging Face's local-first tracker (its dashboard: ``trackio show``);
- ``generation``: how GRPO samples its answers — transformers' ``generate``, or TRL's vLLM integration in colocate
  mode (vLLM inside each training process, on its GPU; ``lab.methods.common.generation_kwargs``).

No torch here: the UI imports it.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

__all__ = ["GENERATION", "REPORT_TO", "TEXTS", "accelerate_config", "checkpoint_every", "generation", "num_processes",
           "parent", "report_to"]

TEXTS = "run"
"""The ``config.<owner>`` of these fields' words: shared by every method."""
REPORT_TO = ("none", "trackio")
GENERATION = ("auto", "transformers", "vllm")


def num_processes() -> Any:
    return field(default=1, metadata={
        "help": "Processes to train on (accelerate launch, DDP; gloo on a CPU): the same global batch, split.",
        "label": "Processes", "level": "advanced", "min": 1, "max": 64, "teacher": True, "texts": TEXTS,
        "new_row": True,
    })  # fmt: skip


def accelerate_config() -> Any:
    return field(default="", metadata={
        "help": "An accelerate config file (accelerate config: FSDP, DeepSpeed ZeRO, several machines); the run "
                "starts under accelerate launch with it.",
        "label": "Accelerate config file", "level": "advanced", "optional": True, "teacher": True, "texts": TEXTS,
    })  # fmt: skip


def checkpoint_every(default: int = 5) -> Any:
    return field(default=default, metadata={
        "help": "Save a TRL checkpoint (adapter, optimizer, trainer state) every N steps and on Stop (0 = only on "
                "Stop), so the run can be continued.",
        "label": "Checkpoint every N steps", "level": "advanced", "min": 0, "texts": TEXTS,
    })  # fmt: skip


def parent() -> Any:
    return field(default="", metadata={
        "help": "The run this one continues from its last checkpoint (set by Continue).", "optional": True,
        "texts": TEXTS,
    })  # fmt: skip


def report_to() -> Any:
    return field(default="none", metadata={
        "help": "Also log to a tracker: trackio (local dashboard; trackio show --project rlhf-rft-lab).",
        "label": "Tracker", "level": "advanced", "choices": REPORT_TO, "options": REPORT_TO, "texts": TEXTS,
    })  # fmt: skip


def generation() -> Any:
    return field(default="auto", metadata={
        "help": "How GRPO samples its answers: 'vllm' = TRL's vLLM integration, colocated in the training process "
                "on its GPU; 'transformers' = generate(); 'auto' = vLLM where a CUDA GPU and vllm are there (not on "
                "ZeroGPU), else generate().",
        "label": "Generation", "level": "advanced", "choices": GENERATION, "options": GENERATION, "texts": TEXTS,
    })  # fmt: skip
