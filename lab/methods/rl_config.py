"""The options of the RL stage (``lab.methods.rl``); an RLHF run fills them from its own options.

No torch here: the UI imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab import LabError
from lab.methods import run_options
from lab.methods.schema import MODEL_HELP, Schema

__all__ = ["ALGORITHMS", "Config"]

ALGORITHMS = ("grpo", "rloo")


@dataclass
class Config(Schema):
    """The teaching knobs of the RL stage (``lab.methods.rlhf`` fills them from its own Config)."""

    NAME = "rl"

    model: str = field(default="embedded", metadata={"help": MODEL_HELP})
    algorithm: str = field(default="grpo", metadata={
        "help": "'grpo' (group-normalised) or 'rloo' (leave-one-out).", "choices": ALGORITHMS,
    })  # fmt: skip
    steps: int = field(default=16, metadata={"help": "Optimizer steps.", "min": 1})
    learning_rate: float = field(default=1e-3, metadata={"help": "Learning rate (LoRA)."})
    num_generations: int = field(default=8, metadata={"help": "Answers sampled per prompt (the group)."})
    prompts_per_step: int = field(default=2, metadata={"help": "Prompts per step.", "min": 1})
    max_completion_length: int = field(default=32, metadata={"help": "Max new tokens per sampled answer.", "min": 1})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    top_k: int = field(
        default=50, metadata={"help": "Sample among the k likeliest tokens (0 = all: a small model babbles)."}
    )
    beta: float = field(default=0.02, metadata={"help": "KL penalty against the base model (> 0)."})
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank.", "min": 1})
    persona: str = field(default="", metadata={
        "help": "Persona that judges win rates at evaluations ('' = none).", "optional": True,
    })  # fmt: skip
    eval_every: int = field(
        default=0, metadata={"help": "Persona win rate on held-out prompts every N steps (0 = off)."}
    )
    eval_subset: int = field(default=16, metadata={"help": "Held-out prompts used for the live win rate."})
    answer_tokens: int = field(
        default=64, metadata={"help": "Max new tokens of greedy answers at evaluations.", "min": 1}
    )
    seed: int = field(default=0, metadata={"help": "Seed for LoRA init and sampling."})
    report_to: str = run_options.report_to()  # the RLHF run's tracker, passed on to this stage

    def check(self) -> None:
        if self.num_generations < 2:
            raise LabError("config.rl.num_generations", owner=self.NAME)
        if self.beta <= 0:
            raise LabError("config.rl.beta", owner=self.NAME, value=self.beta)
        if not (0 < self.learning_rate < 1):
            raise LabError("config.learning_rate_out_of_range", owner=self.NAME, value=self.learning_rate)
        super().check()
