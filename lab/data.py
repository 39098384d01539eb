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
Up to ``MAX_PROBLEMS`` problems are reported together so that one round of edits fixes most of them.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pandas as pd

from lab import LabError

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
"""Names accepted for the question column (any case), in order of preference when a row has several."""
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
"""Names accepted for the reference-answer column (any case), in order of preference."""
SYSTEM_COLUMN = "system"
MAX_QUESTION_CHARS = 2000
MAX_ANSWER_CHARS = 500
MAX_ROWS = 20_000
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_PROBLEMS = 5
TASKS_DIR = Path(__file__).parent.parent / "assets" / "tasks"

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
_RESERVED = {"prompt", "question", "answer"}  # output columns; a source field with one of these names is renamed
_WRAPPER_KEYS = ("data", "rows", "examples")
_MAGIC = {  # binary formats people upload by mistake → what to do instead
    b"PK\x03\x04": "a ZIP archive (an Excel .xlsx workbook is one): export the sheet as 'CSV UTF-8'",
    b"PAR1": "a Parquet file: convert it to JSONL, e.g. pandas.read_parquet(p).to_json(out, orient='records', "
    "lines=True)",
    b"\x1f\x8b": "a gzip archive: decompress it first",
    b"%PDF": "a PDF document: put the questions in a CSV or JSONL file",
}


@dataclass
class _Row:
    """One source row: the file line it starts on and its fields as read."""

    line: int
    fields: dict[str, Any]


@dataclass
class _Problems:
    """The problems found in one file: the first ``MAX_PROBLEMS`` are kept, the rest only counted."""

    name: str
    shown: list[str] = field(default_factory=list)
    total: int = 0

    def add(self, where: str, what: str) -> None:
        self.total += 1
        if len(self.shown) < MAX_PROBLEMS:
            self.shown.append(f"{where}: {what}")

    def raise_if_any(self) -> None:
        if not self.total:
            return
        if self.total == 1:
            raise LabError(f"Cannot load {self.name}: {self.shown[0]}")
        more = f" (showing the first {len(self.shown)})" if self.total > len(self.shown) else ""
        lines = "\n".join(f"  - {p}" for p in self.shown)
        raise LabError(f"Cannot load {self.name}: {self.total} problems{more}; nothing was loaded.\n{lines}")


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
        raise LabError(
            f"Cannot load {name}: unexpected {type(e).__name__} while reading it ({e}). Check that it is a UTF-8 "
            "CSV, JSONL or JSON file of question/answer rows."
        ) from e


def load_task(name_or_path: str) -> datasets.Dataset:
    """Load a bundled task set by name (see ``bundled_tasks()``) or any task file by path."""
    name_or_path = str(name_or_path).strip()
    bundled = bundled_tasks()
    if name_or_path in bundled:
        return load_tasks(bundled[name_or_path])
    path = Path(name_or_path).expanduser()
    if not path.exists() and not path.suffix and "/" not in name_or_path and "\\" not in name_or_path:
        known = ", ".join(bundled) or "none installed"
        raise LabError(
            f"No bundled task set named {name_or_path!r} and no such file. Bundled task sets: {known}; "
            "or give the path to a .csv, .jsonl or .json file."
        )
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
        raise LabError(f"need at least 2 rows to split into training and validation rows; the task set has {n}.")
    if isinstance(valid_size, bool) or not isinstance(valid_size, int | float):
        raise LabError(f"valid_size must be a row count or a fraction, got {valid_size!r}.")
    if isinstance(valid_size, float):
        if not 0 < valid_size < 1:
            raise LabError(f"valid_size {valid_size} must be a fraction between 0 and 1 (e.g. 0.3) or a row count.")
        n_valid = round(n * valid_size)
    else:
        if valid_size < 0:
            raise LabError(f"valid_size {valid_size} must not be negative.")
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
    rows = f"{len(ds)} row{'' if len(ds) == 1 else 's'}"
    text = f"{rows} · fields: {', '.join(['question', 'answer', *_extra_columns(ds)])}"
    if len(ds) and any(m[0]["role"] == "system" for m in ds["prompt"] if m):
        text += " · with system prompt"
    return text


def _extra_columns(ds: datasets.Dataset) -> list[str]:
    return [c for c in ds.column_names if c not in _RESERVED]


# ---------------------------------------------------------------------------------------------- bytes → text


def _read_text(path: Path, name: str) -> str:
    """The file's text, or a ``LabError`` if it is missing, too big, empty, binary or not UTF-8."""
    if not path.exists():
        hint = "" if path.is_absolute() else f" (relative paths start at {Path.cwd()})"
        raise LabError(f"Task file not found: {name}. Check the path{hint}.")
    if not path.is_file():
        raise LabError(
            f"Cannot load {name}: it is a folder, not a file. Give the path of a .csv, .jsonl or .json file."
        )
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise LabError(
            f"Cannot load {name}: it is {size / 2**20:.1f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB. "
            f"Use a smaller sample (at most {MAX_ROWS:,} rows)."
        )
    data = path.read_bytes()
    if not data.strip():
        raise LabError(f"Cannot load {name}: the file is empty. Add a header and question/answer rows.")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise LabError(f"Cannot load {name}: it is UTF-16 encoded. Save it as UTF-8 (in Excel: 'CSV UTF-8').")
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise LabError(f"Cannot load {name}: this is {what}.")
    nul = data.find(b"\x00")
    if nul >= 0 or _looks_binary(data[:8192]):
        where = f" (a NUL byte at byte offset {nul})" if nul >= 0 else ""
        raise LabError(
            f"Cannot load {name}: it looks like a binary file{where}, not text. Give a UTF-8 CSV, JSONL or JSON file."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = len(data[data.rfind(b"\n", 0, e.start) + 1 : e.start].decode("utf-8", "replace")) + 1
        raise LabError(
            f"Cannot load {name}: it is not UTF-8 — byte 0x{data[e.start]:02X} at byte offset {e.start} "
            f"(line {line}, column {column}) cannot be decoded. Save the file as UTF-8 (in Excel: 'CSV UTF-8'; in "
            "an editor: 'Save with encoding → UTF-8')."
        ) from None
    return text.removeprefix("\ufeff")


def _looks_binary(sample: bytes) -> bool:
    """True when a sample is mostly control characters or undecodable bytes (so not a text file at all)."""
    decoded = sample.decode("utf-8", "replace")
    bad = sum(1 for c in decoded if c == "\ufffd" or (ord(c) < 32 and c not in "\t\n\r\f\v\b") or c == "\x7f")
    return bad > 0.3 * max(len(decoded), 1)


# ------------------------------------------------------------------------------------------------- text → rows


def _parse(path: Path, text: str, name: str) -> tuple[list[_Row], list[str], int | None]:
    """Dispatch on the format; return the rows, the column names seen (first-seen order) and a CSV's header line."""
    suffix = path.suffix.lower()
    first = text.lstrip()[:1]
    if suffix in (".csv", ".tsv"):
        fmt = "csv"
    elif suffix in (".jsonl", ".ndjson"):
        fmt = "json" if first == "[" else "jsonl"  # a JSON array saved under a .jsonl name
    elif suffix == ".json" or first in "[{":
        fmt = "json"
        if first == "{" and _has_extra_data(text):
            fmt = "jsonl"  # one object per line, saved under a .json name
    else:
        fmt = "csv"
    if fmt == "csv":
        return _parse_csv(text, name, delimiter="\t" if suffix == ".tsv" else _guess_delimiter(text))
    rows = _parse_jsonl(text, name) if fmt == "jsonl" else _parse_json(text, name)
    columns = list(dict.fromkeys(k for row in rows for k in row.fields))
    return rows, columns, None


def _has_extra_data(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        return e.msg == "Extra data"
    return False


def _guess_delimiter(text: str) -> str:
    """Comma, unless the header line has none and has tabs or semicolons (common European Excel exports)."""
    header = text.lstrip("\r\n").split("\n", 1)[0]
    if "," not in header:
        for delimiter in ("\t", ";"):
            if delimiter in header:
                return delimiter
    return ","


def _parse_csv(text: str, name: str, delimiter: str) -> tuple[list[_Row], list[str], int]:
    problems = _Problems(name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[_Row] = []
    last_line = 0
    while True:
        start = last_line + 1  # a quoted field may span lines: report the line the row starts on
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if "end of data" in str(e):
                problems.add(f"line {start}", 'a quoted field opened on this line is never closed. Add the closing "')
            else:
                problems.add(
                    f"line {reader.line_num}",
                    f'bad CSV quoting ({e}). Inside a quoted field write "" for a quote character',
                )
            break
        last_line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank line, or an Excel row of empty cells
        if header is None:
            header = [h.strip() or f"column_{i + 1}" for i, h in enumerate(record)]
            header_line = start
            continue
        if len(record) != len(header):
            problems.add(
                f"line {start}",
                f"{len(record)} fields, but the header (line {header_line}) has {len(header)}. Quote fields that "
                f"contain a '{delimiter}' (\"like, this\") or fix the number of separators",
            )
            continue
        rows.append(_Row(start, dict(zip(header, record, strict=True))))
        if len(rows) > MAX_ROWS:
            _too_many_rows(name, start)
    problems.raise_if_any()
    if header is None:
        raise LabError(f"Cannot load {name}: the file is empty. Add a header and question/answer rows.")
    if not rows:
        raise LabError(f"Cannot load {name}: it has a header (line {header_line}) but no data rows below it.")
    return rows, header, header_line


def _parse_jsonl(text: str, name: str) -> list[_Row]:
    problems = _Problems(name)
    rows: list[_Row] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            problems.add(
                f"line {number}, column {e.colno}",
                f"broken JSON ({e.msg}). Each line must be one "
                'complete JSON object, e.g. {"question": "2+2?", "answer": "4"}',
            )
            continue
        if not isinstance(value, dict):
            problems.add(
                f"line {number}",
                f"a JSON {_json_type(value)}, not an object. Each line must be one "
                'object such as {"question": "…", "answer": "…"}',
            )
            continue
        rows.append(_Row(number, value))
        if len(rows) > MAX_ROWS:
            _too_many_rows(name, number)
    problems.raise_if_any()
    if not rows:
        raise LabError(f"Cannot load {name}: it has no rows. Add one JSON object per line.")
    return rows


def _parse_json(text: str, name: str) -> list[_Row]:
    try:
        top = json.loads(text)
    except json.JSONDecodeError as e:
        raise LabError(
            f"Cannot load {name}: line {e.lineno}, column {e.colno}: broken JSON ({e.msg}). Look for a missing "
            "comma, quote or bracket at or just before that spot."
        ) from None
    start = len(text) - len(text.lstrip())
    if isinstance(top, dict):
        key = next((k for k in top if k.lower() in _WRAPPER_KEYS and isinstance(top[k], list)), None)
        if key is None:
            if _find_key(top, QUESTION_COLUMNS) or "messages" in top:
                return [_Row(text.count("\n", 0, start) + 1, top)]  # a single task
            raise LabError(
                f"Cannot load {name}: the JSON object has keys {', '.join(map(repr, top)) or '(none)'}. Expected "
                'an array of rows, or an object with a "data", "rows" or "examples" array of rows.'
            )
        start = _member_offset(text, start, key)
    elif not isinstance(top, list):
        raise LabError(f"Cannot load {name}: the file holds a JSON {_json_type(top)}; expected an array of rows.")
    problems = _Problems(name)
    rows: list[_Row] = []
    for index, (line, value) in enumerate(_array_items(text, start)):
        if len(rows) >= MAX_ROWS:
            _too_many_rows(name, line)
        if isinstance(value, dict):
            rows.append(_Row(line, value))
        else:
            problems.add(
                f"line {line} (item {index + 1})",
                f"a JSON {_json_type(value)}, not an object. Every "
                'item must be an object such as {"question": "…", "answer": "…"}',
            )
    problems.raise_if_any()
    if not rows:
        raise LabError(f"Cannot load {name}: the array of rows is empty.")
    return rows


_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def _array_items(text: str, i: int) -> list[tuple[int, Any]]:
    """``(line, item)`` for each item of the (already validated) JSON array starting at ``text[i]``."""
    items: list[tuple[int, Any]] = []
    line, seen = 1, 0
    i = _WS.match(text, i + 1).end()
    while text[i] != "]":
        line += text.count("\n", seen, i)
        seen = i
        value, end = _DECODER.raw_decode(text, i)
        items.append((line, value))
        i = _WS.match(text, end).end()
        if text[i] == ",":
            i = _WS.match(text, i + 1).end()
    return items


def _member_offset(text: str, i: int, key: str) -> int:
    """Offset of the value of the last top-level ``key`` in the (already validated) JSON object at ``text[i]``."""
    found = -1
    i = _WS.match(text, i + 1).end()
    while text[i] != "}":
        member, end = _DECODER.raw_decode(text, i)
        i = _WS.match(text, _WS.match(text, end).end() + 1).end()  # past the ':'
        if member == key:
            found = i
        _, end = _DECODER.raw_decode(text, i)
        i = _WS.match(text, end).end()
        if text[i] == ",":
            i = _WS.match(text, i + 1).end()
    return found


def _json_type(value: Any) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", dict: "object"}
    return kinds.get(type(value), "null")


def _too_many_rows(name: str, line: int) -> None:
    raise LabError(
        f"Cannot load {name}: more than {MAX_ROWS:,} rows (line {line} is row {MAX_ROWS + 1:,}). "
        "Use a sample of the task set: a few hundred rows are plenty for a teaching run."
    )


# ------------------------------------------------------------------------------------------- rows → dataset


def _find_key(fields: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """The row's key for the first of ``names`` it has, ignoring case."""
    by_lower = {}
    for key in fields:
        by_lower.setdefault(key.strip().lower(), key)
    return next((by_lower[n] for n in names if n in by_lower), None)


def _to_dataset(rows: list[_Row], columns: list[str], name: str, header_line: int | None) -> datasets.Dataset:
    """Validate every row and build the dataset, or raise with the problems found."""
    has_messages = any(c.strip().lower() == "messages" for c in columns)
    at = f"line {header_line} (the header): " if header_line else ""
    for kind, names in (("question", QUESTION_COLUMNS), ("answer", ANSWER_COLUMNS)):
        if kind == "question" and has_messages:
            continue
        if not any(_find_key(r.fields, names) for r in rows):
            found = ", ".join(map(repr, columns)) or "(none)"
            extra = " (or, OpenAI style, a 'messages' list)" if kind == "question" else ""
            raise LabError(
                f"Cannot load {name}: {at}no {kind} column. Columns found: {found}. Name the {kind} column one of "
                f"{', '.join(names)}{extra} (any case)."
            )
    problems = _Problems(name)
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


def _convert_row(row: _Row, problems: _Problems) -> dict[str, Any] | None:
    """``{prompt, question, answer, **extras}`` for one row, or ``None`` after recording its problems."""
    fields = row.fields
    at = f"line {row.line}"
    before = problems.total
    used: set[str] = set()
    system_key = _find_key(fields, (SYSTEM_COLUMN,))
    system = _text(fields[system_key]).strip() if system_key else ""
    messages_key = _find_key(fields, ("messages",))
    question_key = None if messages_key else _find_key(fields, QUESTION_COLUMNS)
    answer_key = _find_key(fields, ANSWER_COLUMNS)
    prompt: list[dict[str, str]] = []
    question = ""
    source = messages_key or question_key
    if source is None:
        problems.add(at, f"no question field (fields: {', '.join(fields)}). Add one named {QUESTION_COLUMNS[0]!r}")
    elif isinstance(fields[source], list):  # OpenAI `messages`, or a TRL conversational `prompt`
        prompt = _messages(fields[source], f"{at}, field '{source}'", problems)
        question = prompt[-1]["content"] if prompt else ""
        if prompt and not question.strip():
            problems.add(f"{at}, field '{source}'", "the last user message is empty. Write the question there")
    elif isinstance(fields[source], dict):
        problems.add(f"{at}, field '{source}'", "is a JSON object; the question must be text")
    else:
        question = _text(fields[source]).strip()
        prompt = [{"role": "user", "content": question}]
        if not question:
            problems.add(f"{at}, field '{source}'", "the question is empty. Write the question, or delete the row")
    if question and len(question) > MAX_QUESTION_CHARS:
        problems.add(
            f"{at}, field '{source}'",
            f"the question is {len(question):,} characters; the limit is "
            f"{MAX_QUESTION_CHARS:,}. Shorten it (small models do best with short prompts)",
        )
    if system_key and not any(m["role"] == "system" for m in prompt):
        used.add(system_key)  # an empty cell means "no system prompt" for this row
        if system:
            prompt.insert(0, {"role": "system", "content": system})
    answer = ""
    if answer_key is None:
        problems.add(at, f"no answer field (fields: {', '.join(fields)}). Add one named {ANSWER_COLUMNS[0]!r}")
    else:
        value = fields[answer_key]
        answer = (value if isinstance(value, str) else "" if value is None else _text(value)).strip()
        if not answer:
            problems.add(f"{at}, field '{answer_key}'", "the reference answer is empty. Write it, or delete the row")
        elif len(answer) > MAX_ANSWER_CHARS:
            problems.add(
                f"{at}, field '{answer_key}'",
                f"the reference answer is {len(answer):,} characters; the "
                f"limit is {MAX_ANSWER_CHARS}. Keep just the final answer (put worked solutions in "
                "another field)",
            )
    if problems.total > before:
        return None
    used.update(k for k in (source, answer_key) if k)
    if messages_key and answer_key and answer_key.lower() != "answer":
        used.discard(answer_key)  # OpenAI graders read e.g. {{item.reference_answer}}: keep its own name too
    result: dict[str, Any] = {"prompt": prompt, "question": question, "answer": answer}
    for key, value in fields.items():
        if key not in used:
            result[f"source_{key}" if key.strip().lower() in _RESERVED else key] = value
    return result


def _messages(value: list[Any], at: str, problems: _Problems) -> list[dict[str, str]]:
    """Validate an OpenAI/TRL message list; roles map to system/user/assistant; it must end with the user."""
    out: list[dict[str, str]] = []
    before = problems.total
    if not value:
        problems.add(at, "the message list is empty. Add at least a user message with the question")
        return []
    for i, message in enumerate(value):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            problems.add(at, f"message {i + 1} must be an object with 'role' and 'content'")
            continue
        role = _ROLES.get(str(message["role"]).lower())
        if role is None:
            problems.add(at, f"message {i + 1} has role {message['role']!r}; use system, developer, user or assistant")
            continue
        content = message["content"]
        if isinstance(content, list):  # OpenAI content parts: [{"type": "text", "text": "…"}]
            texts = [p.get("text") for p in content if isinstance(p, dict)]
            if len(texts) != len(content) or not all(isinstance(t, str) for t in texts):
                problems.add(at, f"message {i + 1}: only text content is supported")
                continue
            content = "".join(texts)
        out.append({"role": role, "content": _text(content)})
    if problems.total == before and out[-1]["role"] != "user":
        problems.add(
            at,
            f"the last message has role {value[-1]['role']!r}; it must be 'user'. An RFT prompt ends "
            "with the user's question: the model writes the answer, and the reference goes in "
            "'reference_answer'",
        )
    return out if problems.total == before else []


def _text(value: Any) -> str:
    """Text of a scalar (numbers as JSON writes them: 4 → "4"); nested values as JSON text; None → ""."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _uniform(values: list[Any]) -> list[Any]:
    """Make one extra column Arrow-friendly: nested values → JSON text; mixed scalar types → text; None stays."""
    values = [_text(v) if isinstance(v, list | dict) else v for v in values]
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) <= 1 or kinds == {int, float}:
        if kinds != {int} or all(-(2**63) <= v < 2**63 for v in values if v is not None):
            return values
    return [None if v is None else _text(v) for v in values]
