"""Feedback files in TRL's preference formats: read and validate one whole file, or write the store's rows out.

Each row of a CSV (header row), JSONL or JSON (array) file is one of:

- **unpaired** — ``prompt``, ``completion``, ``label`` (true/false, 1/0, yes/no, up/down, like/dislike, …);
- **paired** — ``prompt``, ``chosen``, ``rejected``.

Both kinds may be mixed in one file (a CSV leaves the other kind's cells empty). Each value is plain text or
*conversational*: a ``prompt`` list of messages keeps its system text and its last user message; a ``completion``
/ ``chosen`` / ``rejected`` list keeps its final assistant message(s). Without a ``prompt`` field, the messages
before the final assistant message of ``completion``/``chosen`` are the prompt (TRL's implicit-prompt form). In a
CSV cell a message list is written as JSON text. Field names are matched in any case; other fields are ignored.

Bytes → text and text → rows reuse :mod:`lab.data.formats` under the limits of task files (same size, encoding,
binary and JSON-line checks, their hints showing feedback rows); message lists, text and its limits are
:mod:`lab.messages`. Any problem refuses the whole file with file, line and field; up to
:data:`lab.data.formats.MAX_PROBLEMS` are listed at once. Every message is a key of :mod:`lab.texts`.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from lab import LabError
from lab.data import formats, tasks
from lab.data.formats import Problems, Row, find_key, json_type
from lab.messages import MAX_ANSWER_CHARS, MAX_PROMPT_CHARS, check_text, read_messages, value_text
from lab.texts import t

__all__ = ["parse_label", "read_feedback_file", "write_rows"]

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0", "up", "good", "like", "liked", "+1", "👍", "positive"})
FALSE_WORDS = frozenset(
    {"false", "f", "no", "n", "0", "0.0", "down", "bad", "dislike", "disliked", "-1", "👎", "negative"}
)


def parse_label(value: Any) -> bool | None:
    """A thumbs label from a file value, or ``None`` if it is not one.

    >>> parse_label("Yes"), parse_label(0), parse_label("down"), parse_label("maybe")
    (True, False, False, None)
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None
    return None


def read_feedback_file(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(ratings, pairs)`` from a feedback file, as keyword dicts for ``FeedbackStore.add_many``; or ``LabError``."""
    name = str(path)
    if not path.exists():
        if path.is_absolute():
            raise LabError("feedback.file.not_found", name=name)
        raise LabError("feedback.file.not_found_relative", name=name, cwd=Path.cwd())
    if path.is_file() and not path.read_bytes().strip():
        raise LabError("feedback.file.empty", name=name)
    text = formats.read_text(path, name, max_bytes=tasks.MAX_FILE_BYTES, max_rows=tasks.MAX_ROWS, feedback=True)
    rows, _, _ = formats.parse(
        path, text, name, max_rows=tasks.MAX_ROWS, question_columns=tasks.QUESTION_COLUMNS, feedback=True
    )
    problems = Problems(name)
    ratings: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    for row in rows:
        before = problems.total
        kind, converted = _convert(row, problems)
        if problems.total == before:
            (ratings if kind == "unpaired" else pairs).append(converted)
    problems.raise_if_any()
    return ratings, pairs


def _convert(row: Row, problems: Problems) -> tuple[str, dict[str, Any]]:
    """``(kind, fields)`` for one row; problems go to ``problems`` (the caller checks whether any were added)."""
    fields = {k: _decode_cell(v) for k, v in row.fields.items()}
    key = {n: find_key(fields, (n,)) for n in ("prompt", "system", "completion", "label", "chosen", "rejected")}
    filled = {n for n, k in key.items() if k and not _blank(fields[k])}  # a CSV leaves the other kind's cells empty
    at = t("data.at.line", line=row.line)

    def at_field(field: str) -> str:
        return t("data.at.line_field", line=row.line, field=field)

    unpaired, paired = filled & {"completion", "label"}, filled & {"chosen", "rejected"}
    if unpaired and paired:
        problems.add(at, t("feedback.row.both_kinds"))
        return "", {}
    if not unpaired and not paired:
        problems.add(at, t("feedback.row.no_kind", found=", ".join(map(repr, row.fields)) or t("data.none")))
        return "", {}
    kind = "unpaired" if unpaired else "paired"
    out: dict[str, Any] = {}
    implicit_prompt = None
    for name in ("completion",) if unpaired else ("chosen", "rejected"):
        if not key[name]:
            problems.add(
                at, t("feedback.row.no_rating_field" if unpaired else "feedback.row.no_pair_field", field=name)
            )
            continue
        text, before = _answer(fields[key[name]], at_field(key[name]), _what(name), problems)
        out[name] = text
        implicit_prompt = implicit_prompt or before
    if unpaired:
        if not key["label"]:
            problems.add(at, t("feedback.row.no_label"))
        elif (label := parse_label(fields[key["label"]])) is None:
            problems.add(at_field(key["label"]), t("feedback.row.bad_label", value=fields[key["label"]]))
        else:
            out["label"] = label
    elif out.get("chosen") and out.get("rejected") and out["chosen"].strip() == out["rejected"].strip():
        problems.add(at, t("feedback.row.same_answers"))
    if key["prompt"]:
        out["prompt"], out["system"] = _prompt(fields[key["prompt"]], at_field(key["prompt"]), problems)
    elif implicit_prompt:  # TRL's implicit-prompt form: the conversation before the answer
        where = at_field(key["chosen"] or key["completion"])
        out["prompt"], out["system"] = _prompt(implicit_prompt, where, problems)
    else:
        problems.add(at, t("feedback.row.no_prompt"))
    if key["system"] and not out.get("system") and not _blank(fields[key["system"]]):
        out["system"] = value_text(fields[key["system"]], json_scalars=True)
        _check(problems, at_field(key["system"]), t("feedback.what.system_text"), out["system"], MAX_PROMPT_CHARS)
    return kind, out


def _what(name: str) -> str:
    """The word for an answer field (completion, chosen, rejected) in a message."""
    words = {
        "completion": t("feedback.what.completion"),
        "chosen": t("feedback.what.chosen"),
        "rejected": t("feedback.what.rejected"),
    }
    return words[name]


def _answer(value: Any, where: str, what: str, problems: Problems) -> tuple[str, list[dict[str, str]] | None]:
    """An answer's text (a message list → its final assistant message(s)) and the messages before it, if any.

    ``what`` is the answer field's word in messages (:func:`_what`).
    """
    before = None
    if isinstance(value, list):
        messages = _messages(value, where, problems)
        if messages is None:
            return "", None
        cut = len(messages)
        while cut and messages[cut - 1]["role"] == "assistant":
            cut -= 1
        if cut == len(messages):
            problems.add(where, t("feedback.row.no_final_answer"))
            return "", None
        value, before = "\n".join(m["content"] for m in messages[cut:]), messages[:cut] or None
    elif not isinstance(value, str):
        problems.add(where, t("feedback.row.not_text", type=json_type(value), what=what))
        return "", None
    _check(problems, where, what, value, MAX_ANSWER_CHARS)
    return value, before


def _prompt(value: Any, where: str, problems: Problems) -> tuple[str, str]:
    """``(user text, system text)`` from a prompt: text, or messages (system kept, the last user message)."""
    if isinstance(value, list):
        messages = _messages(value, where, problems)
        if messages is None:
            return "", ""
        users = [m["content"] for m in messages if m["role"] == "user"]
        if not users:
            problems.add(where, t("feedback.row.no_user"))
            return "", ""
        system = "\n".join(m["content"] for m in messages if m["role"] == "system")
        if len(system) > MAX_PROMPT_CHARS:
            problems.add(where, t("feedback.row.system_too_long", length=len(system), limit=MAX_PROMPT_CHARS))
        value = users[-1]
    elif not isinstance(value, str):
        problems.add(where, t("feedback.row.not_text", type=json_type(value), what=t("feedback.what.prompt")))
        return "", ""
    else:
        system = ""
    _check(problems, where, t("feedback.what.prompt"), value, MAX_PROMPT_CHARS)
    return value, system


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check(problems: Problems, where: str, what: str, value: str, limit: int) -> None:
    problem = check_text(what, value, limit)
    if problem:
        problems.add(where, problem)


def _decode_cell(value: Any) -> Any:
    """A CSV cell holding a JSON message list becomes that list; anything else is returned as it is."""
    if isinstance(value, str) and value.lstrip().startswith("[") and value.rstrip().endswith("]"):
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            return value
        if isinstance(decoded, list) and decoded and all(isinstance(m, dict) and "role" in m for m in decoded):
            return decoded
    return value


def _messages(value: list[Any], where: str, problems: Problems) -> list[dict[str, str]] | None:
    """A validated message list (:func:`lab.messages.read_messages`), or ``None`` after recording its first problem."""
    if not value:
        problems.add(where, t("feedback.row.messages_empty"))
        return None
    out, found = read_messages(value)
    if found:
        problems.add(where, found[0])
        return None
    return out


def write_rows(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Write rows as .jsonl (one object a line), .json (an array) or .csv (message lists as JSON text in cells).

    The file is written next to its final name and renamed into place, so a reader never sees half of it.
    """
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".json", ".csv"):
        raise LabError("feedback.export.bad_suffix", path=path, suffix=suffix or t("feedback.export.no_suffix"))
    if path.is_dir():
        raise LabError("feedback.export.folder", path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            if suffix == ".jsonl":
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            elif suffix == ".json":
                json.dump(rows, f, ensure_ascii=False, indent=1)
                f.write("\n")
            else:
                writer = csv.DictWriter(f, fieldnames=columns)
                writer.writeheader()
                for r in rows:
                    writer.writerow({k: _cell(v) for k, v in r.items()})
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise LabError("feedback.export.failed", path=path, error=str(e.strerror or e)) from e


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
