"""Graders on a whole task file: every row's output scored, and per grader how the scores fall.

OpenAI's grader API has two calls: ``POST /v1/fine_tuning/alpha/graders/validate`` checks a grader and returns it,
and ``…/graders/run`` scores one model sample against one item and returns its ``reward``, a multi grader's
``sub_rewards`` and ``metadata`` (name, type, errors, execution_time). This module does both for a whole file, so
a grader can be tried on real data before a run trains on it:

- :func:`validate_graders` checks specs against the data's fields (a template ``{{item.x}}`` needs a field ``x``)
  and that each one can be built here (a python grader while python graders are off is refused), running nothing;
- the outputs to grade come from a JSONL file (:func:`read_outputs`: ``{"output_text": …}`` rows in the data's
  order, one per data row), from the rows' own reference answers (:func:`reference_outputs`: a grader that does
  not give the references about 1 is probably wrong), or from the model (:func:`sample_outputs`: the *first* N
  rows, in the file's order, answered greedily by the lab's batched generation, :func:`lab.chat.greedy_answers`);
- :func:`grade_rows` scores them with each grader as the reward function GRPO calls (:func:`lab.grading.build_grader`,
  fed the data's columns the way TRL feeds them), in batches of :data:`BATCH_ROWS` rows (a python grader's time
  limit is per batch), and each part of a multi grader on its own as well (OpenAI's ``sub_rewards``; the parts
  are graded a second time for that, so a multi costs about twice its parts);
- :func:`grade_stats` sums one grader's scores up: ``n`` rows, ``errors`` (rows scored ``None``: a missing value, a
  python grader's error or timeout), and over the rows that got a score their ``mean`` and the shares that got
  exactly 0 (``zero_share``) and exactly 1 (``one_share``) — ``None`` when no row got a score;
  :meth:`FileReport.table` is the readable table, :meth:`FileReport.summary` the JSON ``python -m lab grade
  --data`` prints last.

Importing this module imports neither torch nor the data reader; a model is loaded only by :func:`sample_outputs`.

>>> report = grade_rows([{"type": "exact_match", "name": "exact"}], [{"answer": "cold"}, {"answer": "dry"}],
...                     ["Cold.", "wet"])
>>> report.summary()
{'exact': {'n': 2, 'mean': 0.5, 'zero_share': 0.5, 'one_share': 0.5, 'errors': 0}}
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import LabError
from lab.grading.specs import build_grader, grader_name, validate_spec
from lab.texts import t

__all__ = [
    "BATCH_ROWS", "SAMPLE_BATCH_ROWS", "FileReport", "GraderResult", "default_max_tokens", "grade_rows", "grade_stats",
    "read_outputs", "reference_outputs", "sample_outputs", "validate_graders",
]  # fmt: skip

BATCH_ROWS = 64
"""Rows per call of a grader (a python grader's time limit holds for one call)."""
SAMPLE_BATCH_ROWS = 4
"""Prompts the model answers per batch in :func:`sample_outputs` (a progress step each; 8 by default: two)."""
MAX_OUTPUTS_BYTES = 64 * 1024 * 1024
"""The largest outputs file read."""
_ONE_OUTPUT = '{"output_text": "…"}'


# ------------------------------------------------------------------------------------------------------ checks


def _grader_error(index: int, spec: Any, e: LabError) -> LabError:
    """``e`` with the grader it is about: ``grader #2 (name): …`` (the inner message names the JSON path)."""
    name = f" ({spec['name']})" if isinstance(spec, dict) and isinstance(spec.get("name"), str) else ""
    return LabError("grade_file.grader", index=index, name=name, error=e.text())


def validate_graders(specs: Sequence[dict], fields: set[str] | None = None) -> list[str]:
    """Check every spec (against ``fields``, the data's field names, when given) and that it can be built here;
    run nothing. Returns the names the graders are logged under; raises ``LabError`` naming the grader and the
    JSON path of the first bad field.

    >>> validate_graders([{"type": "string_check", "name": "eq", "operation": "eq", "reference": "{{item.ref}}"}],
    ...                  {"answer"})
    Traceback (most recent call last):
    ...
    lab.LabError: grader #1 (eq): reference: {{item.ref}} names a field the data does not have (fields: answer).
    """
    if not specs:
        raise LabError("grade_file.no_graders")
    names = []
    for i, spec in enumerate(specs, start=1):
        try:
            validate_spec(spec, item_fields=fields)
            build_grader(spec)  # refuses what could not run here (a python grader while they are off)
        except LabError as e:
            raise _grader_error(i, spec, e) from None
        names.append(grader_name(spec))
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LabError("grade_file.duplicate_name", name=dupes[0])
    return names


# ----------------------------------------------------------------------------------------------------- outputs


def read_outputs(path: str | Path, n_rows: int, data_name: str = "") -> list[str]:
    """The ``output_text`` of each line of a JSONL file, which must hold one per data row (``n_rows``), in order.

    Blank lines are skipped. A line that is not a JSON object, lacks ``output_text`` or holds something other than
    text is refused with the file and line (all such lines together, up to a limit); then a file with more outputs
    than the data has rows (naming the line of the first extra one) or fewer (naming its last line). Nothing is
    graded then.
    """
    from lab.data import formats

    path = Path(path).expanduser()
    name = str(path)
    if not path.is_file():
        raise LabError("grade_file.outputs.folder" if path.is_dir() else "grade_file.outputs.not_found", name=name)
    if path.stat().st_size < 4096 and not path.read_bytes().strip():  # (a bigger blank file: read_text says so)
        raise LabError("grade_file.outputs.empty", name=name, example=_ONE_OUTPUT)
    text = formats.read_text(path, name, max_bytes=MAX_OUTPUTS_BYTES, max_rows=n_rows)
    problems = formats.Problems(name)
    outputs: list[str] = []
    lines: list[int] = []  # the file line of each output
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        lines.append(number)
        outputs.append("")
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            where = t("data.at.line_column", line=number, column=e.colno)
            problems.add(where, t("grade_file.outputs.bad_json", error=formats.json_error(e), example=_ONE_OUTPUT))
            continue
        where = t("data.at.line", line=number)
        if not isinstance(value, dict):
            problems.add(where, t("grade_file.outputs.not_object", kind=formats.json_type(value), example=_ONE_OUTPUT))
        elif "output_text" not in value:
            have = ", ".join(map(repr, value)) or t("data.none")
            problems.add(where, t("grade_file.outputs.no_output_text", fields=have, example=_ONE_OUTPUT))
        elif not isinstance(value["output_text"], str):
            problems.add(where, t("grade_file.outputs.not_text", kind=formats.json_type(value["output_text"])))
        else:
            outputs[-1] = value["output_text"]
    problems.raise_if_any()
    data = data_name or t("grade_file.the_data")
    if len(outputs) > n_rows:
        raise LabError("grade_file.outputs.too_many", name=name, line=lines[n_rows], index=n_rows + 1, rows=n_rows,
                       data=data)  # fmt: skip
    if len(outputs) < n_rows:
        raise LabError("grade_file.outputs.too_few", name=name, n=len(outputs), line=lines[-1], rows=n_rows,
                       next=len(outputs) + 1, data=data)  # fmt: skip
    return outputs


def reference_outputs(rows: Any) -> list[str]:
    """Each row's own reference answer as its output (``answer``): what a grader should score about 1."""
    return [str(a) for a in _column(rows, "answer")]


def default_max_tokens() -> int:
    """An RFT run's answer length (the default ``max_completion_length``, at least 16 as its before/after answers):
    the model's answers here are as long as in the run's tables."""
    from lab.methods.rft_config import Config

    return max(Config.__dataclass_fields__["max_completion_length"].default, 16)


def sample_outputs(
    ds: Any,
    n: int,
    model: str = "embedded",
    max_new_tokens: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Any, list[str]]:
    """The first ``n`` rows of a task dataset (in the file's order, not a random sample) and the model's greedy
    answers to their prompts: ``(rows, answers)``. The model comes from :func:`lab.chat.load` (cached, so the
    page's later calls reuse it) and answers through :func:`lab.chat.greedy_answers` — batched, on the model's
    lock, beside the chat's batches — :data:`SAMPLE_BATCH_ROWS` prompts at a time, so ``progress(answered,
    total)`` moves: once the model is loaded (``answered`` 0), then after each batch (on ZeroGPU all in one
    batch: one GPU call). This is the only function here that imports torch."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise LabError("grade_file.bad_sample", value=n)
    if max_new_tokens is not None and (isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int)
                                       or max_new_tokens < 1):  # fmt: skip
        raise LabError("grade_file.bad_max_tokens", value=max_new_tokens)
    from lab import chat, gpu

    rows = ds.select(range(min(n, len(ds))))
    prompts, answers = list(rows["prompt"]), []
    tell = progress or (lambda answered, total: None)
    chat.load(model)  # the slow part the first time (then cached): said before the first answer
    tell(0, len(prompts))
    step = len(prompts) if gpu.zero_gpu() else SAMPLE_BATCH_ROWS
    for i in range(0, len(prompts), step):
        answers += chat.greedy_answers(prompts[i : i + step], model, None, max_new_tokens or default_max_tokens())
        tell(len(answers), len(prompts))
    return rows, answers


# ----------------------------------------------------------------------------------------------------- grading


def grade_stats(scores: Sequence[float | None]) -> dict[str, Any]:
    """``n``, ``mean``, ``zero_share``, ``one_share`` (over the rows with a score) and ``errors`` (rows without).

    >>> grade_stats([1.0, 0.0, 0.5, None])
    {'n': 4, 'mean': 0.5, 'zero_share': 0.333333, 'one_share': 0.333333, 'errors': 1}
    >>> grade_stats([None])["mean"] is None
    True
    """
    scored = [float(s) for s in scores if s is not None]
    share = lambda value: round(sum(math.isclose(s, value, abs_tol=1e-9) for s in scored) / len(scored), 6)  # noqa: E731
    return {
        "n": len(scores),
        "mean": round(sum(scored) / len(scored), 6) if scored else None,
        "zero_share": share(0.0) if scored else None,
        "one_share": share(1.0) if scored else None,
        "errors": len(scores) - len(scored),
    }


@dataclass
class GraderResult:
    """One grader's scores on the file (``None`` where it gave none), its time, and a multi grader's parts."""

    name: str
    kind: str
    scores: list[float | None]
    seconds: float
    parts: list[GraderResult] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        return grade_stats(self.scores)


@dataclass
class FileReport:
    """What :func:`grade_rows` found: the graders' results, in the order given."""

    graders: list[GraderResult]
    rows: int

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per grader name: ``{"n", "mean", "zero_share", "one_share", "errors"}`` (the CLI's last line)."""
        return {g.name: g.stats() for g in self.graders}

    def table_rows(self) -> list[list[Any]]:
        """One list per grader, then its parts (named ``  └ part``): name, type, n, mean, zero share, one share,
        errors, seconds — the columns of :func:`table_columns`."""
        out = []
        for g in self.graders:
            for label, r in [(g.name, g), *((f"  └ {p.name}", p) for p in g.parts)]:
                s = r.stats()
                out.append([label, r.kind, s["n"], s["mean"], s["zero_share"], s["one_share"], s["errors"],
                            round(r.seconds, 2)])  # fmt: skip
        return out

    def row_table(self, rows: Any, outputs: Sequence[str], limit: int | None = None) -> list[list[Any]]:
        """One list per graded row (the first ``limit``): question, the answer graded, the reference, then each
        grader's score and its parts' (``None`` where it gave none) — the columns of :meth:`row_columns`, so a
        mean of 0 can be traced to the answers that got it."""
        count = len(outputs) if limit is None else min(limit, len(outputs))
        results = [r for g in self.graders for r in (g, *g.parts)]
        questions, references = _column(rows, "question"), _column(rows, "answer")
        return [[questions[i], str(outputs[i]), references[i],
                 *(None if r.scores[i] is None else round(float(r.scores[i]), 4) for r in results)]
                for i in range(count)]  # fmt: skip

    def row_columns(self) -> list[str]:
        """The headers of :meth:`row_table`: question | answer | reference | one per grader (a part as
        ``grader.part``), in the current language."""
        names = [n for g in self.graders for n in (g.name, *(f"{g.name}.{p.name}" for p in g.parts))]
        return [t("grade_file.row.question"), t("grade_file.row.output"), t("grade_file.row.reference"), *names]

    def table(self) -> str:
        """The stats as a plain-text table, numbers to 3 decimals ("–" where no row got a score)."""
        cells = [table_columns()]
        for row in self.table_rows():
            cells.append([str(v) if i in (0, 1, 2, 6) else "–" if v is None else f"{v:.3f}" if i < 7 else f"{v:.2f}"
                          for i, v in enumerate(row)])  # fmt: skip
        widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
        return "\n".join(
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
            for r in cells
        )


def table_columns() -> list[str]:
    """The table's headers, in the current language."""
    keys = ("grader", "type", "n", "mean", "zero_share", "one_share", "errors", "seconds")
    return [t(f"grade_file.column.{k}") for k in keys]


def _column(rows: Any, key: str) -> list[Any]:
    if isinstance(rows, list):
        return [r.get(key) for r in rows]
    return list(rows[key]) if key in rows.column_names else [None] * len(rows)


def _reward_columns(rows: Any) -> dict[str, list[Any]]:
    """The data's columns the way TRL hands them to a reward function: every column by name, the conversation
    as ``prompts`` (which the grader sees as ``item.prompt``)."""
    if isinstance(rows, list):
        names = list(dict.fromkeys(k for r in rows for k in r))
    else:
        names = list(rows.column_names)
    columns = {k: _column(rows, k) for k in names if k not in ("prompt", "completions", "trainer_state")}
    if "prompt" in names:
        columns["prompts"] = _column(rows, "prompt")
    return columns


def _score(spec: dict, outputs: list[str], columns: dict[str, list[Any]],
           tick: Callable[[int], None]) -> GraderResult:  # fmt: skip
    reward = build_grader(spec)
    scores: list[float | None] = []
    start = time.perf_counter()
    for i in range(0, len(outputs), BATCH_ROWS):
        part = {k: v[i : i + BATCH_ROWS] for k, v in columns.items()}
        scores += list(reward(completions=outputs[i : i + BATCH_ROWS], trainer_state=None, **part))
        tick(len(scores))
    return GraderResult(grader_name(spec), str(spec["type"]), scores, time.perf_counter() - start)


def grade_rows(
    specs: Sequence[dict],
    rows: Any,
    outputs: Sequence[str],
    progress: Callable[[float, str], None] | None = None,
) -> FileReport:
    """Score ``outputs[i]`` against row ``i`` (a task dataset or a list of dicts) with every grader, and every part
    of a multi grader. ``progress(fraction, grader name)`` is called after each batch."""
    outputs = [str(o) for o in outputs]
    if len(outputs) != len(rows):
        raise LabError("grade_file.count_mismatch", outputs=len(outputs), rows=len(rows))
    columns = _reward_columns(rows)
    validate_graders(specs, set(columns) | ({"prompt"} if "prompts" in columns else set()))
    jobs = [(s, [(name, sub) for name, sub in s["graders"].items()] if s["type"] == "multi" else []) for s in specs]
    total = max(1, sum(1 + len(parts) for _, parts in jobs) * len(outputs))
    done = [0]

    def ticker(name: str) -> Callable[[int], None]:
        base = done[0]

        def tick(n: int) -> None:
            done[0] = base + n
            if progress is not None:
                progress(done[0] / total, name)

        return tick

    results = []
    for spec, parts in jobs:
        result = _score(spec, outputs, columns, ticker(grader_name(spec)))
        for name, sub in parts:
            part = _score(sub, outputs, columns, ticker(f"{result.name}.{name}"))
            part.name = name
            result.parts.append(part)
        results.append(result)
    return FileReport(results, len(outputs))
