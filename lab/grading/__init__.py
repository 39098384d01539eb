"""Grading: everything that turns an answer and its reference into a score — the RFT reward and the evaluation.

- :mod:`lab.grading.functions` — plain grader functions with TRL's reward signature
  (``f(completions, answer, **kwargs) -> list[float | None]``), the text helpers under them and the similarity
  metrics (rapidfuzz, BLEU, ROUGE, MiniLM embeddings);
- :mod:`lab.grading.specs` — graders from JSON specs (OpenAI's grader schema where it overlaps): validate, build a
  reward function, explain a score, presets;
- :mod:`lab.grading.sandbox` — user-written python graders in a locked-down subprocess;
- :mod:`lab.grading.judge` — ``score_model`` and ``label_model`` graders answered by a local judge model (loaded
  on first use, kept per process), their replies parsed and judge errors counted;
- :mod:`lab.grading.batch` — graders on a whole task file (OpenAI's grader run/validate, for every row): per
  grader n, mean, zero and one shares, errors. Not re-exported (``from lab.grading import batch``): it can ask a
  model for the answers, and the model side imports this package.

The graders, metrics and spec functions of the first two are re-exported here: ``from lab.grading import
build_grader, exact_match`` (the lower-level scoring helpers stay in :mod:`lab.grading.functions`; the text of a
completion comes from :mod:`lab.messages`). Importing this package does not import torch.
"""

from lab.grading.functions import (
    GRADER_FUNCTIONS,
    SIMILARITY_METRICS,
    Scores,
    bleu,
    contains_answer,
    cosine_similarity,
    exact_match,
    fuzzy_match,
    is_exact,
    normalize,
    numeric_match,
    rouge_l,
    similarity,
)
from lab.grading.specs import DEFAULT_SPEC, PRESETS, build_grader, explain, grader_name, parse_spec, validate_spec

__all__ = [
    "DEFAULT_SPEC", "GRADER_FUNCTIONS", "PRESETS", "SIMILARITY_METRICS", "Scores", "bleu", "build_grader",
    "contains_answer", "cosine_similarity", "exact_match", "explain", "fuzzy_match", "grader_name", "is_exact",
    "normalize", "numeric_match", "parse_spec", "rouge_l", "similarity", "validate_spec",
]  # fmt: skip
