"""Task data: files of questions with reference answers → a validated ``datasets.Dataset``.

- :mod:`lab.data.tasks` — the row rules (question, reference, system, OpenAI ``messages``) and the public API
  re-exported here: :func:`load_tasks`, :func:`load_task`, :func:`bundled_tasks`, :func:`split`,
  :func:`preview`, :func:`describe`;
- :mod:`lab.data.formats` — bytes → rows for every accepted file format (CSV, JSONL, JSON, OpenAI RFT JSONL), with
  line numbers for errors; :mod:`lab.feedback.files` reads feedback files through it too.

Importing this package does not import torch.
"""

from lab.data.tasks import (
    ANSWER_COLUMNS,
    MAX_ANSWER_CHARS,
    MAX_FILE_BYTES,
    MAX_QUESTION_CHARS,
    MAX_ROWS,
    QUESTION_COLUMNS,
    TASKS_DIR,
    bundled_tasks,
    describe,
    load_task,
    load_tasks,
    preview,
    split,
)

__all__ = [
    "ANSWER_COLUMNS", "MAX_ANSWER_CHARS", "MAX_FILE_BYTES", "MAX_QUESTION_CHARS", "MAX_ROWS", "QUESTION_COLUMNS",
    "TASKS_DIR", "bundled_tasks", "describe", "load_task", "load_tasks", "preview", "split",
]  # fmt: skip
