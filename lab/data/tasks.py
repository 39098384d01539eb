"""Read and validate RFT task sets: a file of questions with reference answers → a ``datasets.Dataset``.

A task set is a file the user writes or uploads: CSV (header row), JSONL (one object per line), JSON (an array of
objects, or an object holding one under "data"/"rows"/"examples"), or OpenAI RFT JSONL (``messages`` plus
``reference_answer``). Every row becomes:

- ``prompt``: the conversation the policy sees, in TRL's conversational form — an optional system message, then
  the user's question (OpenAI rows keep their whole message list, ``developer`` becoming ``system``);
- ``question`` / ``answer``: the user's text and the reference answer, both ``str``;
- every other field of the row under its own name, so graders can read it as ``item.<name>`` (TRL passes dataset
  columns to reward functions as keyword arguments). Nested values are stored as JSON text so that all rows share
  one Arrow schema; a field missing from a row is ``None``.

Validation refuses the whole file on any problem — a partial task set would train on something the user did not
write — and says where: file, line (1-based file lines; a CSV header is line 1), column or field, and the fix.
Up to :data:`lab.data.formats.MAX_PROBLEMS` problems are reported together so that one round of edits fixes most
of them. The text rules and limits of questions and messages are :mod:`lab.messages`.

This module holds the row rules and the public API; reading bytes into rows (size, binary and encoding checks,
CSV/JSON/JSONL parsing with line numbers, format sniffing) is :mod:`lab.data.formats`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import datasets
import pandas as pd

from lab import LabError
from lab.data import formats as data_formats
from lab.data.formats import Problems, Row, find_key
from lab.messages import MAX_QUESTION_CHARS, MAX_REFERENCE_CHARS, read_messages, value_text
from lab.texts import t

__all__ = [
    "ANSWER_COLUMNS",
    "MAX_ANSWER_CHARS",
    "MAX_FILE_BYTES",
    "MAX_QUESTION_CHARS",
    "MAX_ROWS",
    "QUESTION_COLUMNS",
    "TASKS_DIR",
    "bundled_tasks",
    "describe",
    "load_task",
    "load_tasks",
    "preview",
    "split",
]

QUESTION_COLUMNS: tuple[str, ...] = ("question", "prompt", "input", "query", "instruction", "problem")
"""Names accepted for the question column (any case). A row with two of them (or one and ``messages``) is refused:
which one is the question would be a guess."""
ANSWER_COLUMNS: tuple[str, ...] = (
    "answer",
    "reference_answer",
    "reference",
    "target",
    "solution",
    "expected",
    "output",
    "ideal",
)
"""Names accepted for the reference-answer column (any case); a row with two of them is refused (a guess)."""
SYSTEM_COLUMN = "system"
MAX_ANSWER_CHARS = MAX_REFERENCE_CHARS  # lab.data's name for the reference-answer limit (MAX_QUESTION_CHARS beside)
MAX_ROWS = 20_000
MAX_FILE_BYTES = 20 * 1024 * 1024
TASKS_DIR = Path(__file__).resolve().parents[2] / "assets" / "tasks"

_RESERVED = {"prompt", "question", "answer"}  # the dataset's own columns (a row with a second field of one is refused)


# ---------------------------------------------------------------------------------------------------------- public


def load_tasks(path: str | Path) -> datasets.Dataset:
    """Read, validate and convert a task file; raise ``LabError`` naming file, line and fix on any problem.

    The format comes from the extension (.csv/.tsv, .jsonl/.ndjson, .json) or, for any other name, from the
    content. Either every row is valid and the whole file is returned, or nothing is.
    """
    path = Path(path).expanduser()
    name = str(path)
    text = _read_text(path, name)
    try:
        rows, columns, header_line = _parse(path, text, name)
        return _to_dataset(rows, columns, name, header_line)
    except LabError:
        raise
    except Exception as e:  # a parser corner we did not foresee: still a message, never a traceback
        raise LabError("data.unexpected", name=name, error_type=type(e).__name__, error=str(e)) from e


def load_task(name_or_path: str) -> datasets.Dataset:
    """Load a bundled task set by name (see ``bundled_tasks()``) or any task file by path."""
    name_or_path = str(name_or_path).strip()
    bundled = bundled_tasks()
    if name_or_path in bundled:
        return load_tasks(bundled[name_or_path])
    path = Path(name_or_path).expanduser()
    if not path.exists() and not path.suffix and "/" not in name_or_path and "\\" not in name_or_path:
        raise LabError("data.no_such_task", name=name_or_path, known=", ".join(bundled) or t("data.none_installed"))
    return load_tasks(path)


def bundled_tasks() -> dict[str, Path]:
    """The task sets shipped in ``assets/tasks/``: ``{stem: path}`` for every ``*.jsonl`` there, sorted by name."""
    if not TASKS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(TASKS_DIR.glob("*.jsonl")) if p.is_file()}


def split(
    ds: datasets.Dataset, valid_size: int | float = 0.3, seed: int = 0
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """Shuffle with ``seed`` and split into ``(train, valid)``; the same seed always gives the same split.

    ``valid_size`` is a row count (int) or a fraction in (0, 1) (float). Each side keeps at least one row.

    >>> train, valid = split(datasets.Dataset.from_dict({"question": list("abcdefghij")}), 0.3)
    >>> len(train), len(valid)
    (7, 3)
    """
    n = len(ds)
    if n < 2:
        raise LabError("data.split.too_few", n=n)
    if isinstance(valid_size, bool) or not isinstance(valid_size, int | float):
        raise LabError("data.split.bad_type", value=valid_size)
    if isinstance(valid_size, float):
        if not 0 < valid_size < 1:
            raise LabError("data.split.bad_fraction", value=valid_size)
        n_valid = round(n * valid_size)
    else:
        if valid_size < 0:
            raise LabError("data.split.negative", value=valid_size)
        n_valid = valid_size
    n_valid = min(max(n_valid, 1), n - 1)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return ds.select(order[n_valid:]), ds.select(order[:n_valid])


def preview(ds: datasets.Dataset, n: int = 20) -> pd.DataFrame:
    """The first ``n`` rows as a table for the UI: question, answer and up to 3 extra fields."""
    columns = ["question", "answer", *_extra_columns(ds)[:3]]
    rows = ds.select(range(min(n, len(ds)))).to_dict()
    return pd.DataFrame({c: rows.get(c, []) for c in columns}, columns=columns)


def describe(ds: datasets.Dataset) -> str:
    """One line about a task set, e.g. ``"24 rows · fields: question, answer, topic"``."""
    fields = ", ".join(["question", "answer", *_extra_columns(ds)])
    text = t("data.describe.row" if len(ds) == 1 else "data.describe.rows", n=len(ds), fields=fields)
    if len(ds) and any(m[0]["role"] == "system" for m in ds["prompt"] if m):
        text = t("data.describe.with_system", description=text)
    return text


def _extra_columns(ds: datasets.Dataset) -> list[str]:
    return [c for c in ds.column_names if c not in _RESERVED]


# ---------------------------------------------------------------------------------------------- file → rows
# lab.feedback.files reads feedback files under the same limits, through lab.data.formats.


def _read_text(path: Path, name: str) -> str:
    """The file's text under this module's limits (see :func:`lab.data.formats.read_text`)."""
    return data_formats.read_text(path, name, max_bytes=MAX_FILE_BYTES, max_rows=MAX_ROWS)


def _parse(path: Path, text: str, name: str) -> tuple[list[Row], list[str], int | None]:
    """Rows, column names and a CSV's header line (see :func:`lab.data.formats.parse`)."""
    return data_formats.parse(path, text, name, max_rows=MAX_ROWS, question_columns=QUESTION_COLUMNS)


# ------------------------------------------------------------------------------------------- rows → dataset


def _to_dataset(rows: list[Row], columns: list[str], name: str, header_line: int | None) -> datasets.Dataset:
    """Validate every row and build the dataset, or raise with the problems found."""
    has_messages = any(c.strip().lower() == "messages" for c in columns)
    at = t("data.at.header", line=header_line) if header_line else ""
    for kind, names in (("question", QUESTION_COLUMNS), ("answer", ANSWER_COLUMNS)):
        if kind == "question" and has_messages:
            continue
        if not any(find_key(r.fields, names) for r in rows):
            found = ", ".join(map(repr, columns)) or t("data.none")
            key = "data.no_column.question" if kind == "question" else "data.no_column.answer"
            raise LabError(key, name=name, at=at, found=found, names=", ".join(names))
    problems = Problems(name)
    out: list[dict[str, Any]] = []
    for row in rows:
        converted = _convert_row(row, problems)
        if converted is not None:
            out.append(converted)
    problems.raise_if_any()
    table: dict[str, list[Any]] = {"prompt": [], "question": [], "answer": []}
    for key in dict.fromkeys(k for r in out for k in r):
        table.setdefault(key, [])
    for r in out:
        for key, values in table.items():
            values.append(r.get(key))
    for key in list(table)[3:]:
        table[key] = _uniform(table[key])
    return datasets.Dataset.from_dict(table)


def _ambiguous(row: Row, problems: Problems) -> None:
    """Refuse what would otherwise be guessed: two columns whose names differ only in case (``Answer`` and
    ``answer``), two accepted names of one role in one row (``question`` and ``prompt``; ``messages`` and a
    question column; ``answer`` and ``reference``), ``messages`` that is not a list, a reference that is an object
    or a list. Each problem names the line and the fields."""
    fields = row.fields
    seen: dict[str, str] = {}
    for key in fields:
        folded = key.strip().lower()
        if folded in seen:
            problems.add(t("data.at.line", line=row.line), t("data.row.same_name", a=seen[folded], b=key))
        seen.setdefault(folded, key)
    for role, names in (("question", ("messages", *QUESTION_COLUMNS)), ("answer", ANSWER_COLUMNS)):
        present = [key for key in fields if key.strip().lower() in names]
        if len({k.strip().lower() for k in present}) > 1:
            problems.add(t("data.at.line", line=row.line), t(f"data.row.two_{role}s", fields=", ".join(present)))
    messages_key = find_key(fields, ("messages",))
    if messages_key and not isinstance(fields[messages_key], list):
        at = t("data.at.line_field", line=row.line, field=messages_key)
        problems.add(at, t("data.row.messages_not_list", kind=type(fields[messages_key]).__name__))
    answer_key = find_key(fields, ANSWER_COLUMNS)
    if answer_key and isinstance(fields[answer_key], dict | list):
        at = t("data.at.line_field", line=row.line, field=answer_key)
        problems.add(at, t("data.row.reference_not_text", kind=type(fields[answer_key]).__name__))


def _convert_row(row: Row, problems: Problems) -> dict[str, Any] | None:
    """``{prompt, question, answer, **extras}`` for one row, or ``None`` after recording its problems."""
    fields = row.fields
    at = t("data.at.line", line=row.line)
    before = problems.total
    _ambiguous(row, problems)
    if problems.total > before:
        return None
    used: set[str] = set()
    system_key = find_key(fields, (SYSTEM_COLUMN,))
    system = value_text(fields[system_key], json_scalars=True).strip() if system_key else ""
    messages_key = find_key(fields, ("messages",))
    question_key = None if messages_key else find_key(fields, QUESTION_COLUMNS)
    answer_key = find_key(fields, ANSWER_COLUMNS)
    prompt: list[dict[str, str]] = []
    question = ""
    source = messages_key or question_key
    at_source = t("data.at.line_field", line=row.line, field=source)
    if source is None:
        problems.add(at, t("data.row.no_question", fields=", ".join(fields), name=QUESTION_COLUMNS[0]))
    elif isinstance(fields[source], list):  # OpenAI `messages`, or a TRL conversational `prompt`
        prompt = _messages(fields[source], at_source, problems)
        question = prompt[-1]["content"] if prompt else ""
        if prompt and not question.strip():
            problems.add(at_source, t("data.row.last_user_empty"))
    elif isinstance(fields[source], dict):
        problems.add(at_source, t("data.row.question_object"))
    else:
        question = value_text(fields[source], json_scalars=True).strip()
        prompt = [{"role": "user", "content": question}]
        if not question:
            problems.add(at_source, t("data.row.question_empty"))
    if question and len(question) > MAX_QUESTION_CHARS:
        problems.add(at_source, t("data.row.question_too_long", length=len(question), limit=MAX_QUESTION_CHARS))
    if system_key and not any(m["role"] == "system" for m in prompt):
        used.add(system_key)  # an empty cell means "no system prompt" for this row
        if system:
            prompt.insert(0, {"role": "system", "content": system})
    answer = ""
    if answer_key is None:
        problems.add(at, t("data.row.no_answer", fields=", ".join(fields), name=ANSWER_COLUMNS[0]))
    else:
        value = fields[answer_key]
        answer = value_text(value, json_scalars=True).strip()
        at_answer = t("data.at.line_field", line=row.line, field=answer_key)
        if not answer:
            problems.add(at_answer, t("data.row.answer_empty"))
        elif len(answer) > MAX_ANSWER_CHARS:
            problems.add(at_answer, t("data.row.answer_too_long", length=len(answer), limit=MAX_ANSWER_CHARS))
    if problems.total > before:
        return None
    used.update(k for k in (source, answer_key) if k)
    if messages_key and answer_key and answer_key.lower() != "answer":
        used.discard(answer_key)  # OpenAI graders read e.g. {{item.reference_answer}}: keep its own name too
    result: dict[str, Any] = {"prompt": prompt, "question": question, "answer": answer}
    for key, value in fields.items():
        if key not in used:
            result[key] = value  # a field named like an output column never gets here: _ambiguous refused its row
    return result


def _messages(value: list[Any], at: str, problems: Problems) -> list[dict[str, str]]:
    """Validate an OpenAI/TRL message list (see :func:`lab.messages.read_messages`); it must end with the user."""
    if not value:
        problems.add(at, t("data.row.messages_empty"))
        return []
    out, found = read_messages(value)
    for problem in found:
        problems.add(at, problem)
    if found:
        return []
    if out[-1]["role"] != "user":
        problems.add(at, t("data.row.last_not_user", role=value[-1]["role"]))
        return []
    return out


def _uniform(values: list[Any]) -> list[Any]:
    """Make one extra column Arrow-friendly: nested values → JSON text; mixed scalar types → text; None stays."""
    values = [value_text(v) if isinstance(v, list | dict) else v for v in values]
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) <= 1 or kinds == {int, float}:
        if kinds != {int} or all(-(2**63) <= v < 2**63 for v in values if v is not None):
            return values
    return [None if v is None else value_text(v, json_scalars=True) for v in values]
