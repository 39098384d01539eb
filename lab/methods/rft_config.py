"""The options of an RFT run (``lab.methods.rft``): one field each, with its help, range and place in the UI.

The UI builds the RFT tab's knobs from these fields, ``python -m lab rft --set`` and the API accept their names, and
the Config checks itself when it is made (``lab.methods.schema``). No torch here: the UI imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab import LabError, texts
from lab.methods import run_options
from lab.methods.schema import MODEL_CHOICES, MODEL_HELP, TINY_NOTE, Schema

__all__ = ["DEFAULT_TASK", "Config"]

DEFAULT_TASK = "opposites"


def _default_graders() -> list[dict]:
    from lab.grading import DEFAULT_SPEC

    return [dict(DEFAULT_SPEC)]


@dataclass
class Config(Schema):
    """The teaching knobs of an RFT run. Defaults finish in about two minutes on a 2-core CPU."""

    NAME = "rft"

    task: str = field(default=DEFAULT_TASK, metadata={"help": "Bundled task name or path to a CSV/JSONL/JSON file."})
    valid_task: str = field(default="", metadata={
        "help": "A separate validation file (bundled task name or path): its rows are the held-out questions and "
                "the whole task is trained on (valid_size is not used). Empty: split the task.", "optional": True,
    })  # fmt: skip
    graders: list[dict] = field(default_factory=_default_graders, metadata={"help": "Grader specs (JSON)."})
    # --- the train step's knobs, in the order they are shown
    steps: int = field(default=10, metadata={
        "help": "GRPO optimizer steps.", "label": "GRPO steps", "level": "teaching", "min": 1,
        "slider": (1, 200, 1),
    })  # fmt: skip
    learning_rate: float = field(default=5e-5, metadata={
        "help": "GRPO learning rate (LoRA).", "label": "Learning rate", "level": "teaching", "min": 1e-7,
        "max": 0.5, "step": 1e-5,
    })  # fmt: skip
    num_generations: int = field(default=8, metadata={
        "help": "Answers sampled per question (the GRPO group).", "label": "Answers per question",
        "level": "teaching", "min": 2, "slider": (2, 16, 1),
    })  # fmt: skip
    max_completion_length: int = field(default=24, metadata={
        "help": "Max new tokens per sampled answer.", "label": "Max answer length (tokens)", "level": "teaching",
        "min": 1, "slider": (4, 256, 4),
    })  # fmt: skip
    lora_rank: int = field(default=16, metadata={
        "help": "LoRA rank.", "label": "LoRA rank", "level": "teaching", "min": 1, "options": (1, 2, 4, 8, 16, 32, 64),
    })  # fmt: skip
    beta: float = field(default=0.0, metadata={
        "help": "KL penalty against the base model (0 = none).", "label": "KL beta", "level": "teaching", "min": 0,
        "slider": (0.0, 0.5, 0.01),
    })  # fmt: skip
    warmup: bool = field(default=True, metadata={
        "help": "SFT warm-up on the reference answers before GRPO.", "label": "SFT warm-up first (step 2)",
        "level": "teaching",
    })  # fmt: skip
    # --- the "Advanced options" accordion
    model: str = field(default="embedded", metadata={
        "help": MODEL_HELP, "label": "Model", "level": "advanced", "options": MODEL_CHOICES, "custom": True,
        "info": MODEL_HELP + TINY_NOTE,
    })  # fmt: skip
    prompts_per_step: int = field(default=2, metadata={
        "help": "Questions per GRPO step.", "label": "Questions per step", "level": "advanced", "min": 1,
        "slider": (1, 8, 1),
    })  # fmt: skip
    temperature: float = field(default=1.0, metadata={
        "help": "Sampling temperature during GRPO.", "label": "Temperature", "level": "advanced",
        "slider": (0.1, 2.0, 0.05),
    })  # fmt: skip
    warmup_epochs: float = field(default=1.0, metadata={
        "help": "Epochs of SFT warm-up.", "label": "SFT epochs", "level": "advanced", "min": 0, "new_row": True,
    })  # fmt: skip
    warmup_learning_rate: float = field(default=3e-4, metadata={
        "help": "SFT warm-up learning rate.", "label": "SFT learning rate", "level": "advanced", "min": 1e-7,
    })  # fmt: skip
    warmup_batch_size: int = field(default=8, metadata={
        "help": "SFT batch size.", "label": "SFT batch size", "level": "advanced", "min": 1,
    })  # fmt: skip
    valid_size: int = field(default=40, metadata={
        "help": "Held-out questions for before/after.", "label": "Held-out questions", "level": "advanced",
        "min": 1,
    })  # fmt: skip
    eval_every: int = field(default=4, metadata={
        "help": "Validation reward every N GRPO steps (0 = off).", "label": "Validate every N steps",
        "level": "advanced", "min": 0,
    })  # fmt: skip
    eval_subset: int = field(default=16, metadata={
        "help": "Valid questions used for the live validation curve.", "label": "Questions per validation",
        "level": "advanced", "min": 1,
    })  # fmt: skip
    max_train_rows: int = field(default=0, metadata={
        "help": "Use at most this many training rows (0 = all).", "label": "Max training rows", "level": "advanced",
        "min": 0,
    })  # fmt: skip
    seed: int = field(default=0, metadata={
        "help": "Seed for the split, LoRA init and sampling.", "label": "Seed", "level": "advanced",
    })  # fmt: skip
    # --- where it trains, what it keeps, where it logs (shared by every method: lab.methods.run_options)
    num_processes: int = run_options.num_processes()
    accelerate_config: str = run_options.accelerate_config()
    checkpoint_every: int = run_options.checkpoint_every()
    report_to: str = run_options.report_to()
    generation: str = run_options.generation()
    parent: str = run_options.parent()
    dry_run: bool = field(default=False, metadata={
        "help": "Only sample the model GRPO would start from (after the warm-up) on a few training questions and "
                "grade the answers: is there reward variance to learn from? No RL, no adapter kept.",
    })  # fmt: skip

    def split_sizes(self, n_rows: int) -> tuple[int, int, str | None]:
        """``(train rows, held-out rows, note)`` for a task of ``n_rows``: ``valid_size`` held out, but never more
        than half of the file (training needs rows too). The note, when not ``None``, says in plain words what a
        small file can and cannot show; the run prints it and the upload shows it.

        >>> Config().split_sizes(103)
        (63, 40, None)
        >>> Config().split_sizes(16)[:2]
        (8, 8)
        """
        n_valid = min(self.valid_size, max(1, n_rows // 2))
        n_train = n_rows - n_valid
        note = None
        if n_valid < self.valid_size or n_train < 20:
            note = texts.t("rft.split.small", n_rows=n_rows, n_train=n_train, n_valid=n_valid, asked=self.valid_size,
                           point=100 / max(n_valid, 1))  # fmt: skip
        return n_train, n_valid, note

    def check(self) -> None:
        if self.num_generations < 2:
            raise LabError("config.rft.num_generations", owner=self.NAME)
        if not self.graders:
            raise LabError("config.rft.no_grader", owner=self.NAME)
        super().check()
