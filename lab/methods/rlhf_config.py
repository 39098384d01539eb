"""The options of an RLHF run (``lab.methods.rlhf``), and their translation into each stage's own options.

``route`` picks how the feedback teaches the policy: ``rm-rl`` (reward model, then RL against it), ``kto`` (from the
thumbs) or ``dpo`` (from the pairs). Run folders and command lines from before the rename call it ``method``
(``ALIASES``): they keep working. No torch here: the UI imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lab import LabError
from lab.feedback import personas
from lab.methods import run_options
from lab.methods.preference_config import Config as PreferenceConfig
from lab.methods.reward_model_config import Config as RewardModelConfig
from lab.methods.rl_config import ALGORITHMS as RL_ALGORITHMS
from lab.methods.rl_config import Config as RLConfig
from lab.methods.schema import MODEL_CHOICES, MODEL_HELP, TINY_NOTE, Schema

__all__ = ["DEFAULT_LR", "DEFAULT_STEPS", "ROUTES", "Config", "route_of"]

ROUTES = ("rm-rl", "kto", "dpo")
DEFAULT_LR = {"rm-rl": 1e-3, "kto": 5e-4, "dpo": 5e-4}
DEFAULT_STEPS = {"rm-rl": 12, "kto": 24, "dpo": 12}  # RL: 8 sampled answers a step; KTO/DPO: 8 rows


def route_of(config: dict[str, Any]) -> str:
    """The route of an RLHF run's ``config.json`` config (``method`` in folders written before the rename).

    >>> route_of({"route": "kto"}), route_of({"method": "dpo"}), route_of({})
    ('kto', 'dpo', 'rm-rl')
    """
    return config.get("route") or config.get("method") or Config.route


@dataclass
class Config(Schema):
    """The teaching knobs of an RLHF run. Defaults: the concise persona's demo, under four minutes on 2 cores."""

    NAME = "rlhf"
    ALIASES = {"method": "route"}

    route: str = field(default="rm-rl", metadata={
        "help": "'rm-rl' (reward model + RL), 'kto' or 'dpo'.", "choices": ROUTES,
    })  # fmt: skip
    feedback: str | None = field(default=None, metadata={
        "help": "Feedback file to import into the run's own store, 'store' for LAB_HOME's, or none.", "optional": True,
    })  # fmt: skip
    simulate: int = field(default=256, metadata={
        "help": "Simulated ratings when no feedback is given (simulate_answers per prompt).",
    })  # fmt: skip
    simulate_answers: int = field(default=4, metadata={
        "help": "Simulated answers per prompt that the persona ranks (pairs: K·(K−1)/2 at most).", "min": 2, "max": 16,
    })  # fmt: skip
    simulate_tokens: int = field(default=48, metadata={"help": "Max new tokens of each simulated answer.", "min": 1})
    # --- the train step's knobs, in the order they are shown
    steps: int = field(default=0, metadata={
        "help": "Optimizer steps of the policy (0 = the route's default: RL 12, KTO 24, DPO 12).",
        "label": "Policy steps", "level": "teaching", "min": 0, "slider": (0, 200, 1),
    })  # fmt: skip
    learning_rate: float = field(default=0.0, metadata={
        "help": "Policy learning rate (0 = the route's default: RL 1e-3, KTO/DPO 5e-4).", "label": "Learning rate",
        "level": "teaching", "min": 0, "max": 0.5, "step": 1e-4,
    })  # fmt: skip
    beta: float = field(default=0.02, metadata={
        "help": "KL penalty against the base (RL, > 0); β of KTO/DPO is 0.1.", "label": "KL beta (RL)",
        "level": "teaching", "slider": (0.001, 0.5, 0.001),
    })  # fmt: skip
    num_generations: int = field(default=8, metadata={
        "help": "RL: answers sampled per prompt (the group).", "label": "Answers per prompt (RL)",
        "level": "teaching", "slider": (2, 16, 1),
    })  # fmt: skip
    max_completion_length: int = field(default=24, metadata={
        "help": "RL: max new tokens per sampled answer.", "label": "Max answer length (RL, tokens)",
        "level": "teaching", "slider": (4, 256, 4),
    })  # fmt: skip
    lora_rank: int = field(default=16, metadata={
        "help": "LoRA rank of the policy and the reward model.", "label": "LoRA rank", "level": "teaching",
        "min": 1, "options": (1, 2, 4, 8, 16, 32, 64),
    })  # fmt: skip
    persona: str = field(default="concise", metadata={
        "help": "Simulated rater: simulates feedback, judges the win rate ('' = none).",
        "label": "Persona that judges", "level": "teaching", "optional": True,
        "options": (("none", ""), *((p, p) for p in personas.PERSONAS)),
        "info": "Judges base vs tuned on held-out prompts (the win rate); 'none' for human feedback without a judge.",
    })  # fmt: skip
    # --- the "More knobs" accordion
    model: str = field(default="embedded", metadata={
        "help": MODEL_HELP, "label": "Base model to tune", "level": "advanced", "options": MODEL_CHOICES,
        "custom": True, "info": MODEL_HELP + TINY_NOTE,
    })  # fmt: skip
    algorithm: str = field(default="grpo", metadata={
        "help": "RL algorithm of rm-rl: 'grpo' or 'rloo'.", "label": "RL algorithm", "level": "advanced",
        "choices": RL_ALGORITHMS, "widget": "radio",
    })  # fmt: skip
    prompts_per_step: int = field(default=1, metadata={
        "help": "RL: prompts per step.", "label": "Prompts per step (RL)", "level": "advanced", "slider": (1, 8, 1),
    })  # fmt: skip
    pref_beta: float = field(default=0.1, metadata={
        "help": "KTO/DPO β: how strongly the policy is held to the base.", "label": "β of KTO/DPO",
        "level": "advanced", "slider": (0.01, 1.0, 0.01),
    })  # fmt: skip
    batch_size: int = field(default=8, metadata={
        "help": "KTO/DPO: examples per step.", "label": "Batch size (KTO/DPO)", "level": "advanced", "min": 1,
    })  # fmt: skip
    rm_epochs: float = field(default=1.5, metadata={
        "help": "Reward model: passes over the training pairs.", "label": "Reward model epochs", "level": "advanced",
        "min": 0.1,
    })  # fmt: skip
    rm_learning_rate: float = field(default=1e-3, metadata={
        "help": "Reward model learning rate.", "label": "Reward model learning rate", "level": "advanced",
        "min": 1e-7,
    })  # fmt: skip
    rm_heldout_share: float = field(default=0.3, metadata={
        "help": "Reward model: share of the pairs (by prompt) held out to measure its accuracy; 0.3 of the default "
        "demo's ~69 pairs is ~22 held-out pairs.", "label": "Reward model: held-out share of pairs",
        "level": "advanced", "min": 0.05, "max": 0.9,
    })  # fmt: skip
    prompts: str = field(default="en", metadata={
        "help": "The class prompts: 'en' (assets/prompts.txt) or 'zh' (assets/prompts_zh.txt, the same prompts in "
        "Chinese).", "label": "Prompts", "level": "advanced",
        "options": (("English", "en"), ("Chinese", "zh")),
    })  # fmt: skip
    heldout: int = field(default=40, metadata={
        "help": "Held-out prompts for the final judgement (at least 40).", "label": "Held-out prompts",
        "level": "advanced", "min": 1,
    })  # fmt: skip
    eval_every: int = field(default=0, metadata={
        "help": "RL: live win rate every N steps (0 = off, the default: each costs ~20 s of a 6-minute lesson).",
        "label": "Win rate every N steps", "level": "advanced",
        "min": 0,
    })  # fmt: skip
    eval_subset: int = field(default=16, metadata={
        "help": "RL: held-out prompts used for the live win rate.", "label": "Prompts per live win rate",
        "level": "advanced", "min": 1,
    })  # fmt: skip
    answer_tokens: int = field(default=64, metadata={
        "help": "Max new tokens of the greedy answers that are judged.", "label": "Judged answer length (tokens)",
        "level": "advanced", "min": 1,
    })  # fmt: skip
    seed: int = field(default=0, metadata={
        "help": "Seed for the prompt split, simulation, LoRA init, sampling.", "label": "Seed", "level": "advanced",
    })  # fmt: skip
    # --- where it trains, what it keeps, where it logs (shared by every method: lab.methods.run_options)
    num_processes: int = run_options.num_processes()
    accelerate_config: str = run_options.accelerate_config()
    checkpoint_every: int = run_options.checkpoint_every()
    report_to: str = run_options.report_to()
    parent: str = run_options.parent()

    def check(self) -> None:
        if self.route not in ROUTES:
            raise LabError("config.rlhf.route", owner=self.NAME, choices=", ".join(ROUTES), value=self.route)
        if self.persona:
            personas.get(self.persona)
        elif not self.feedback:
            raise LabError("config.rlhf.no_feedback", owner=self.NAME)
        if not self.feedback and self.simulate < self.simulate_answers:
            raise LabError("config.rlhf.simulate", owner=self.NAME, min=self.simulate_answers, value=self.simulate)
        if self.prompts not in personas.PROMPT_SETS:
            choices = ", ".join(personas.PROMPT_SETS)
            raise LabError("config.not_choice", owner=self.NAME, name="prompts", choices=choices, value=self.prompts)
        if self.heldout < 1:
            raise LabError("config.rlhf.heldout", owner=self.NAME, value=self.heldout)
        if self.route == "rm-rl" and self.beta <= 0:
            raise LabError("config.rlhf.beta", owner=self.NAME, value=self.beta)
        if self.steps < 0:
            raise LabError("config.rlhf.steps", owner=self.NAME, value=self.steps)
        if self.num_processes > 1 or self.accelerate_config or self.parent:
            # its simulated raters, feedback store and judge are not shared out among processes yet
            raise LabError("config.rlhf.single_process", owner=self.NAME)
        super().check()
        self.rm_config()  # each stage's Config checks itself too
        if self.route == "rm-rl":
            self.rl_config()
        else:
            self.preference_config()

    @property
    def policy_steps(self) -> int:
        """The policy's optimizer steps: ``steps``, or the route's default when it is 0."""
        return self.steps or DEFAULT_STEPS[self.route]

    # --- one translation per stage -------------------------------------------------------------------------------
    def rm_config(self) -> RewardModelConfig:
        return RewardModelConfig(
            model=self.model,
            epochs=self.rm_epochs,
            learning_rate=self.rm_learning_rate,
            heldout_share=self.rm_heldout_share,
            lora_rank=self.lora_rank,
            seed=self.seed,
            report_to=self.report_to,
        )

    def rl_config(self) -> RLConfig:
        return RLConfig(
            model=self.model,
            algorithm=self.algorithm,
            steps=self.policy_steps,
            learning_rate=self.learning_rate or DEFAULT_LR["rm-rl"],
            num_generations=self.num_generations,
            prompts_per_step=self.prompts_per_step,
            max_completion_length=self.max_completion_length,
            beta=self.beta,
            lora_rank=self.lora_rank,
            persona=self.persona,
            eval_every=self.eval_every,
            eval_subset=self.eval_subset,
            answer_tokens=self.answer_tokens,
            seed=self.seed,
            report_to=self.report_to,
        )

    def preference_config(self) -> PreferenceConfig:
        return PreferenceConfig(
            algorithm=self.route,
            model=self.model,
            steps=self.policy_steps,
            learning_rate=self.learning_rate or DEFAULT_LR[self.route],
            batch_size=self.batch_size,
            beta=self.pref_beta,
            lora_rank=self.lora_rank,
            seed=self.seed,
            report_to=self.report_to,
        )
