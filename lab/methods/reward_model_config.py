"""The options of a reward model (``lab.methods.reward_model``); an RLHF run fills them from its own options.

No torch here: the UI imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab import LabError
from lab.methods import run_options
from lab.methods.schema import MODEL_HELP, Schema

__all__ = ["MIN_PAIRS", "Config"]

MIN_PAIRS = 8


@dataclass
class Config(Schema):
    """The knobs of a reward model. Defaults train on ~100 pairs in about a minute on a 2-core CPU."""

    NAME = "reward model"

    model: str = field(default="embedded", metadata={"help": MODEL_HELP})
    epochs: float = field(default=2.0, metadata={"help": "Passes over the training pairs."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Learning rate (LoRA and the score head)."})
    batch_size: int = field(default=8, metadata={"help": "Pairs per optimizer step."})
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank."})
    heldout_share: float = field(default=0.2, metadata={"help": "Share of prompts whose pairs are held out."})
    min_pairs: int = field(default=MIN_PAIRS, metadata={"help": "Refuse to train on fewer pairs than this."})
    max_length: int = field(default=512, metadata={"help": "Longest prompt + answer in tokens (longer: dropped)."})
    seed: int = field(default=0, metadata={"help": "Seed for the held-out split, the head's init and the order."})
    report_to: str = run_options.report_to()  # the RLHF run's tracker, passed on to this stage

    def check(self) -> None:
        if self.epochs <= 0 or self.batch_size < 1 or self.lora_rank < 1:
            raise LabError("config.reward_model.not_positive", owner=self.NAME)
        if not (0 < self.learning_rate < 1):
            raise LabError("config.learning_rate_out_of_range", owner=self.NAME, value=self.learning_rate)
        if not (0 < self.heldout_share < 1):
            raise LabError(
                "config.out_of_range", owner=self.NAME, name="heldout_share", min=0, max=1, value=self.heldout_share
            )
        super().check()
