"""The options of a DPO or KTO stage (``lab.methods.preference``); an RLHF run fills them from its own options.

No torch here: the UI imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab import LabError
from lab.methods import run_options
from lab.methods.schema import MODEL_HELP, Schema

__all__ = ["ALGORITHMS", "Config"]

ALGORITHMS = ("dpo", "kto")


@dataclass
class Config(Schema):
    """The teaching knobs of a DPO or KTO run (``lab.methods.rlhf`` fills them from its own Config)."""

    NAME = "preference"

    algorithm: str = field(default="dpo", metadata={
        "help": "'dpo' (from pairs) or 'kto' (from thumbs).", "choices": ALGORITHMS,
    })  # fmt: skip
    model: str = field(default="embedded", metadata={"help": MODEL_HELP})
    steps: int = field(default=16, metadata={"help": "Optimizer steps.", "min": 1})
    learning_rate: float = field(default=5e-4, metadata={"help": "Learning rate (LoRA)."})
    batch_size: int = field(default=8, metadata={"help": "Pairs (DPO) or ratings (KTO) per step."})
    beta: float = field(default=0.1, metadata={"help": "β: how strongly the policy is held to the base model."})
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank.", "min": 1})
    max_length: int = field(
        default=512, metadata={"help": "Longest prompt + answer in tokens (longer: truncated).", "min": 1}
    )
    seed: int = field(default=0, metadata={"help": "Seed for the order of examples and the LoRA init."})
    report_to: str = run_options.report_to()  # the RLHF run's tracker, passed on to this stage

    @property
    def prefix(self) -> str:
        return self.algorithm if self.algorithm in ALGORITHMS else self.NAME

    def check(self) -> None:
        if self.algorithm not in ALGORITHMS:
            choices = ", ".join(ALGORITHMS)
            raise LabError("config.preference.algorithm", owner=self.NAME, choices=choices, value=self.algorithm)
        super().check()
        if self.batch_size < 2:
            raise LabError("config.preference.batch_size", owner=self.algorithm)
        if self.beta <= 0 or not (0 < self.learning_rate < 1):
            raise LabError("config.preference.beta_lr", owner=self.algorithm)
