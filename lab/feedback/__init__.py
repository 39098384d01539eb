"""Feedback for RLHF: what people (or simulated raters) said about answers, stored durably and read back for TRL.

- :mod:`lab.feedback.store` — :class:`FeedbackStore` on SQLite (ratings and preference pairs, counts, import,
  export in TRL's formats), re-exported here;
- :mod:`lab.feedback.files` — reading and writing feedback files (CSV / JSONL / JSON, TRL's unpaired and paired
  formats, plain or conversational);
- :mod:`lab.feedback.personas` — simulated raters: a rule per persona for thumbs, pairs and win rates.

Importing this package does not import torch.
"""

from lab.feedback.store import PAIRS_PER_PROMPT, FeedbackStore, check_source

__all__ = ["PAIRS_PER_PROMPT", "FeedbackStore", "check_source"]
