"""Task and feedback files, bytes → rows: the low-level reading under :mod:`lab.data` and :mod:`lab.feedback.files`.

:func:`read_text` refuses what is not a readable UTF-8 text file (missing, a folder, too big, empty, UTF-16, a
ZIP/Parquet/gzip/PDF upload, binary, not UTF-8) and says where decoding failed. :func:`parse` sniffs the format
(CSV/TSV with its delimiter, JSONL, a JSON array or an object wrapping one) and returns :class:`Row` objects, each
with the 1-based file line it starts on, so that every later message can say "line N". :class:`Problems` collects up
to :data:`MAX_PROBLEMS` messages before refusing a file. Nothing here knows what a row must hold; the caller passes
its limits (``max_bytes``, ``max_rows``) and the question column names that mark a lone JSON object as one row;
``feedback=True`` makes the hints show feedback rows instead of task rows. Every message is a key of :mod:`lab.texts`.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import LabError
from lab.texts import t

__all__ = [
    "JSON_ERRORS", "MAX_PROBLEMS", "Problems", "Row", "duplicate_keys", "find_key", "json_error", "json_members",
    "json_type", "parse", "read_text",
]  # fmt: skip

MAX_PROBLEMS = 5
"""How many problems one refusal lists; the rest are only counted."""

_WRAPPER_KEYS = ("data", "rows", "examples")
_MAGIC = {  # binary formats people upload by mistake → the text key that says what to do instead
    b"PK\x03\x04": "data.file.zip",
    b"PAR1": "data.file.parquet",
    b"\x1f\x8b": "data.file.gzip",
    b"%PDF": "data.file.pdf",
}
# the example rows of the hints, task rows or (feedback=True) feedback rows: JSON, the same in every language
_EXAMPLE = {
    False: '{"question": "2+2?", "answer": "4"}',
    True: '{"prompt": "Hi?", "completion": "Hello!", "label": true}',
}
_SHAPE = {False: '{"question": "…", "answer": "…"}', True: '{"prompt": "…", "chosen": "…", "rejected": "…"}'}


@dataclass
class Row:
    """One source row: the file line it starts on and its fields as read."""

    line: int
    fields: dict[str, Any]


@dataclass
class Problems:
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
            raise LabError("data.cannot_load", name=self.name, problem=self.shown[0])
        lines = "\n".join(f"  - {p}" for p in self.shown)
        if self.total > len(self.shown):
            raise LabError("data.problems_some", name=self.name, total=self.total, shown=len(self.shown), lines=lines)
        raise LabError("data.problems", name=self.name, total=self.total, lines=lines)


def find_key(fields: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """The row's key for the first of ``names`` it has, ignoring case."""
    by_lower = {}
    for key in fields:
        by_lower.setdefault(key.strip().lower(), key)
    return next((by_lower[n] for n in names if n in by_lower), None)


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages.

    >>> json_type([1]), json_type(True), json_type(None)
    ('array', 'boolean', 'null')
    """
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number", dict: "object"}
    return kinds.get(type(value), "null")


JSON_ERRORS = {
    "Expecting value": "expecting_value",
    "Expecting property name enclosed in double quotes": "expecting_name",
    "Expecting ',' delimiter": "expecting_comma",
    "Expecting ':' delimiter": "expecting_colon",
    "Unterminated string starting at": "unterminated_string",
    "Invalid control character": "control_character",
    "Invalid \\uXXXX escape": "bad_unicode_escape",
    "Invalid \\escape": "bad_escape",
    "Extra data": "extra_data",
    "Illegal trailing comma before end of object": "trailing_comma_object",
    "Illegal trailing comma before end of array": "trailing_comma_array",
}
"""Python's JSON error messages (``json/decoder.py`` and its C scanner) → ``data.json_error.<key>``."""


def json_error(e: json.JSONDecodeError | str) -> str:
    """A broken JSON's ``e.msg`` in the visitor's language: Python words its few messages in English only. A
    message with a detail after it (``Invalid \\escape: 'x'``, ``Invalid control character '\\n' at``) counts as
    its start; an unknown one (a later Python's) stays as Python wrote it. Every JSON error the lab reports goes
    through here.

    >>> json_error("Expecting value"), json_error("Something new")
    ('Expecting value', 'Something new')
    """
    msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
    for start, key in JSON_ERRORS.items():
        if msg == start or msg.startswith((start + " ", start + ":")):
            return t("data.json_error." + key)
    return msg


# ---------------------------------------------------------------------------------------------- bytes → text


def read_text(path: Path, name: str, *, max_bytes: int, max_rows: int, feedback: bool = False) -> str:
    """The file's text, or a ``LabError`` if it is missing, over ``max_bytes``, empty, binary or not UTF-8.

    ``max_rows`` only goes into the "too big" message; ``feedback`` makes the hints name feedback rows.
    """
    if not path.exists():
        if path.is_absolute():
            raise LabError("data.file.not_found", name=name)
        raise LabError("data.file.not_found_relative", name=name, cwd=Path.cwd())
    if not path.is_file():
        raise LabError("data.file.folder", name=name)
    size = path.stat().st_size
    if size > max_bytes:
        raise LabError(
            "data.file.too_big", name=name, size_mb=size / 2**20, limit_mb=max_bytes // 2**20, max_rows=max_rows
        )
    data = path.read_bytes()
    if not data.strip():
        _raise_empty(name, feedback)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise LabError("data.file.utf16", name=name)
    for magic, key in _MAGIC.items():
        if data.startswith(magic):
            if feedback and key == "data.file.pdf":
                raise LabError("feedback.file.pdf", name=name)
            raise LabError(key, name=name)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise LabError("data.file.binary_nul", name=name, offset=nul)
    if _looks_binary(data[:8192]):
        raise LabError("data.file.binary", name=name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = len(data[data.rfind(b"\n", 0, e.start) + 1 : e.start].decode("utf-8", "replace")) + 1
        raise LabError(
            "data.file.not_utf8", name=name, byte=data[e.start], offset=e.start, line=line, column=column
        ) from None
    return text.removeprefix("\ufeff")


def _raise_empty(name: str, feedback: bool) -> None:
    if feedback:
        raise LabError("feedback.file.empty_header", name=name)
    raise LabError("data.file.empty", name=name)


def _looks_binary(sample: bytes) -> bool:
    """True when a sample is mostly control characters or undecodable bytes (so not a text file at all)."""
    decoded = sample.decode("utf-8", "replace")
    bad = sum(1 for c in decoded if c == "\ufffd" or (ord(c) < 32 and c not in "\t\n\r\f\v\b") or c == "\x7f")
    return bad > 0.3 * max(len(decoded), 1)


# ------------------------------------------------------------------------------------------------- text → rows


def parse(
    path: Path, text: str, name: str, *, max_rows: int, question_columns: tuple[str, ...], feedback: bool = False
) -> tuple[list[Row], list[str], int | None]:
    """Dispatch on the format; return the rows, the column names seen (first-seen order) and a CSV's header line.

    More than ``max_rows`` rows is an error. A lone JSON object (not an array) is one row when it has one of
    ``question_columns`` (any case) or ``messages``. ``feedback`` makes the hints show feedback rows.
    """
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
        delimiter = "\t" if suffix == ".tsv" else _guess_delimiter(text)
        return _parse_csv(text, name, delimiter, max_rows, feedback)
    if fmt == "jsonl":
        rows = _parse_jsonl(text, name, max_rows, feedback)
    else:
        rows = _parse_json(text, name, max_rows, question_columns, feedback)
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


def _parse_csv(
    text: str, name: str, delimiter: str, max_rows: int, feedback: bool = False
) -> tuple[list[Row], list[str], int]:
    problems = Problems(name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[Row] = []
    last_line = 0
    while True:
        start = last_line + 1  # a quoted field may span lines: report the line the row starts on
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            if "end of data" in str(e):
                problems.add(t("data.at.line", line=start), t("data.csv.unclosed_quote"))
            else:
                problems.add(t("data.at.line", line=reader.line_num), t("data.csv.bad_quoting", error=e))
            break
        last_line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank line, or an Excel row of empty cells
        if header is None:
            header = [h.strip() or f"column_{i + 1}" for i, h in enumerate(record)]
            header_line = start
            seen: dict[str, str] = {}
            for column in header:  # "answer,answer" or "Answer,answer": which one is meant would be a guess
                if column.lower() in seen:
                    twice = t("data.row.same_name", a=seen[column.lower()], b=column)
                    problems.add(t("data.at.line", line=start), twice)
                seen.setdefault(column.lower(), column)
            continue
        if len(record) != len(header):
            problems.add(
                t("data.at.line", line=start),
                t("data.csv.field_count", fields=len(record), header_line=header_line, columns=len(header),
                  delimiter=delimiter),
            )  # fmt: skip
            continue
        rows.append(Row(start, dict(zip(header, record, strict=True))))
        if len(rows) > max_rows:
            _too_many_rows(name, start, max_rows)
    problems.raise_if_any()
    if header is None:
        _raise_empty(name, feedback)
    if not rows:
        raise LabError("data.csv.no_rows", name=name, header_line=header_line)
    return rows, header, header_line


class _DuplicateKey(Exception):
    """A JSON object with one key twice (``json.loads`` would keep the last one silently)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that refuses a key given twice, or twice in different case, in one object.

    >>> _unique_keys([("a", 1), ("b", 2)])
    {'a': 1, 'b': 2}
    >>> _unique_keys([("answer", 1), ("Answer", 2)])
    Traceback (most recent call last):
    lab.data.formats._DuplicateKey: ('answer', 'Answer')
    """
    seen: dict[str, str] = {}
    for key, _ in pairs:
        if key.strip().lower() in seen:
            raise _DuplicateKey(seen[key.strip().lower()], key)
        seen[key.strip().lower()] = key
    return dict(pairs)


def _parse_jsonl(text: str, name: str, max_rows: int, feedback: bool = False) -> list[Row]:
    problems = Problems(name)
    rows: list[Row] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        try:
            value = json.loads(line, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as e:
            problems.add(
                t("data.at.line_column", line=number, column=e.colno),
                t("data.jsonl.broken", error=json_error(e), example=_EXAMPLE[feedback]),
            )
            continue
        except _DuplicateKey as e:
            problems.add(t("data.at.line", line=number), t("data.row.same_name", a=e.args[0], b=e.args[1]))
            continue
        if not isinstance(value, dict):
            problems.add(
                t("data.at.line", line=number),
                t("data.jsonl.not_object", type=json_type(value), example=_SHAPE[feedback]),
            )
            continue
        rows.append(Row(number, value))
        if len(rows) > max_rows:
            _too_many_rows(name, number, max_rows)
    problems.raise_if_any()
    if not rows:
        raise LabError("data.jsonl.no_rows", name=name)
    return rows


def _parse_json(
    text: str, name: str, max_rows: int, question_columns: tuple[str, ...], feedback: bool = False
) -> list[Row]:
    try:
        top = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise LabError("data.json.broken", name=name, line=e.lineno, column=e.colno, error=json_error(e)) from None
    except _DuplicateKey:  # as in JSONL: a key twice in one object is refused, each with its line and field
        problems = Problems(name)
        for _, first, second, line in duplicate_keys(text):
            problems.add(t("data.at.line_field", line=line, field=second), t("data.row.same_name", a=first, b=second))
        problems.raise_if_any()
        raise
    start = len(text) - len(text.lstrip())
    if isinstance(top, dict):
        key = next((k for k in top if k.lower() in _WRAPPER_KEYS and isinstance(top[k], list)), None)
        if key is None:
            if find_key(top, question_columns) or "messages" in top:
                return [Row(text.count("\n", 0, start) + 1, top)]  # a single task
            raise LabError("data.json.object_keys", name=name, keys=", ".join(map(repr, top)) or t("data.none"))
        start = _member_offset(text, start, key)
    elif not isinstance(top, list):
        raise LabError("data.json.not_array", name=name, type=json_type(top))
    problems = Problems(name)
    rows: list[Row] = []
    for index, (line, value) in enumerate(_array_items(text, start)):
        if len(rows) >= max_rows:
            _too_many_rows(name, line, max_rows)
        if isinstance(value, dict):
            rows.append(Row(line, value))
        else:
            problems.add(
                t("data.at.line_item", line=line, item=index + 1),
                t("data.json.item_not_object", type=json_type(value), example=_SHAPE[feedback]),
            )
    problems.raise_if_any()
    if not rows:
        raise LabError("data.json.empty_array", name=name)
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


def json_members(text: str) -> list[tuple[tuple[str | int, ...], str, int]]:
    """Every object member of a valid JSON text, in file order: ``(path of its object, key, line of the key)``.
    A path is the keys and array indexes from the top (``()`` for the top object), so two members with one path
    are in one object. Used where a message needs the line of a field: :func:`duplicate_keys`, job files.

    >>> json_members('{"a": [1, {"b": 2}],\\n "c": 3}')
    [((), 'a', 1), (('a', 1), 'b', 1), ((), 'c', 2)]
    """
    newlines = [m.start() for m in re.finditer("\n", text)]
    out: list[tuple[tuple[str | int, ...], str, int]] = []

    def walk(i: int, path: tuple[str | int, ...]) -> int:  # the end of the value at text[i]
        i = _WS.match(text, i).end()
        if text[i] not in "{[":
            return _DECODER.raw_decode(text, i)[1]
        close, index = "}" if text[i] == "{" else "]", 0
        i = _WS.match(text, i + 1).end()
        while text[i] != close:
            if close == "}":
                key, end = _DECODER.raw_decode(text, i)
                out.append((path, key, bisect.bisect(newlines, i) + 1))
                i = walk(_WS.match(text, end).end() + 1, (*path, key))  # past the ':'
            else:
                i = walk(i, (*path, index))
                index += 1
            i = _WS.match(text, i).end()
            if text[i] == ",":
                i = _WS.match(text, i + 1).end()
        return i + 1

    walk(0, ())
    return out


def duplicate_keys(text: str) -> list[tuple[tuple[str | int, ...], str, str, int]]:
    """The keys given twice in one object of a valid JSON text, the same or in another case (``json.loads`` would
    keep the last silently): ``(path of the object, first key, second key, line of the second)``.

    >>> duplicate_keys('[{"q": 1},\\n {"answer": 1,\\n  "Answer": 2}]')
    [((1,), 'answer', 'Answer', 3)]
    """
    seen: dict[tuple, str] = {}
    found = []
    for path, key, line in json_members(text):
        folded = (path, key.strip().lower())
        if folded in seen:
            found.append((path, seen[folded], key, line))
        seen.setdefault(folded, key)
    return found


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


def _too_many_rows(name: str, line: int, max_rows: int) -> None:
    raise LabError("data.too_many_rows", name=name, max_rows=max_rows, line=line, row=max_rows + 1)
