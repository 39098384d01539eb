"""What the RFT tab's buttons do, as plain functions: load or upload a task set, edit graders, grade, train, stop.

Each function takes and returns plain values (strings, lists, DataFrames), raises ``LabError`` with a message for
the user, and knows nothing of the layout; ``lab.ui.rft_tab`` wires them to components. That keeps them testable
without a browser and callable from ``gradio_client`` with the same meaning.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from lab import LabError, data, grading, lab_home, runs
from lab.data.formats import json_error
from lab.grading import batch as file_grading
from lab.methods.rft_config import DEFAULT_TASK, Config
from lab.methods.schema import MODEL_CHOICES, knob_names
from lab.texts import counted, t
from lab.ui.common import field_help, form_config

TEACHING_KNOBS = knob_names(Config, "teaching")
"""The knobs shown on the Train step: the fields of ``lab.methods.rft_config.Config`` whose level is "teaching"."""
ADVANCED_KNOBS = knob_names(Config, "advanced")
"""The knobs in the closed "Advanced options" accordion (level "advanced")."""
KNOBS = TEACHING_KNOBS + ADVANCED_KNOBS
GRADE_COLUMNS = ("ui.rft.grade.column.grader", "ui.rft.grade.column.score", "ui.rft.grade.column.why")
"""The keys of the playground's score table's headers (``grade_columns()`` gives them in the visitor's language)."""


def grade_columns() -> list[str]:
    """The headers of the playground's score table (grader | score | why), in the visitor's language."""
    return [t(key) for key in GRADE_COLUMNS]


def defaults() -> dict[str, Any]:
    """Config's default for every knob (the values the UI starts with)."""
    cfg = Config()
    return {name: getattr(cfg, name) for name in KNOBS}


def help_text(name: str) -> str:
    """The field's help from ``Config`` (TRL-style ``metadata={"help": …}``)."""
    return field_help(Config, name)


def columns_help() -> str:
    """Markdown that documents the column names a task file may use."""
    q = ", ".join(f"`{c}`" for c in data.QUESTION_COLUMNS)
    a = ", ".join(f"`{c}`" for c in data.ANSWER_COLUMNS)
    return t("ui.rft.data.columns_help", questions=q, answers=a)


# --------------------------------------------------------------------------------------------------- 1. data


def task_label(task: str, plain: bool = False) -> str:
    """How the UI names a task: a bundled name, or an uploaded file's original name — in bold for the page's
    markdown, or ``plain`` for an error (a toast or a code block shows markdown as it is written)."""
    if task in data.bundled_tasks():
        label = t("ui.rft.task.bundled", name=task)
    else:
        label = t("ui.rft.task.uploaded", name=re.sub(r"^[0-9a-f]{12}_", "", Path(task).name))
    return label.replace("**", "") if plain else label


def task_view(task: str, n: int = 20, valid_task: str = "") -> tuple[str, pd.DataFrame, str, str]:
    """``(info markdown, preview table, playground item JSON, playground example output)`` for a task set (and the
    validation file loaded, if any: the summary says what is held out)."""
    ds = data.load_task(task)
    first = {k: v for k, v in ds[0].items() if k != "prompt" and v is not None}
    item = json.dumps(first, ensure_ascii=False, indent=2)
    return task_info(task, ds, valid_task), data.preview(ds, n), item, example_output(first.get("answer", ""))


def task_info(task: str, ds: Any = None, valid_task: str = "") -> str:
    """The task set's summary (markdown): what it is, its rows and fields, what is trained on and what is held out,
    and a note for a small one. With a validation file (``valid_task``) a run trains on the whole task and holds
    out that file's rows (``lab.methods.rft.train``): the summary says the same, its note counts that file's rows."""
    ds = data.load_task(task) if ds is None else ds
    asked = Config().valid_size
    if not valid_task:
        n_train, n_valid, note = Config().split_sizes(len(ds))
        split = t("rft.split.view", n_train=n_train, n_valid=n_valid, asked=asked)
    else:
        n_train, n_valid = len(ds), len(data.load_task(valid_task))
        split = t("ui.rft.split.valid_file", n_train=n_train, n_valid=n_valid, name=task_label(valid_task))
        notes = []
        if n_valid < asked:
            notes.append(t("ui.rft.split.valid_few", n_valid=n_valid, point=100 / max(n_valid, 1), asked=asked))
        if n_train < 20:
            notes.append(t("ui.rft.split.train_few", n_train=n_train))
        note = " ".join(notes)
    info = t("ui.rft.task.using", task=task_label(task), description=data.describe(ds), split=split)
    return info + (f"  \n⚠️ {note}" if note else "")


def example_output(answer: Any) -> str:
    """The playground's example model output for a row whose reference answer is ``answer``."""
    return t("ui.rft.playground.example", answer=answer)


def check_task(task: str) -> str:
    """Refuse a task that is neither bundled nor an upload (API callers cannot make the lab read other files)."""
    task = str(task or "").strip()
    if task in data.bundled_tasks():
        return task
    uploads = (lab_home() / "uploads").resolve()
    path = Path(task).expanduser().resolve()
    if task and path.parent == uploads and path.is_file():
        return str(path)
    raise LabError("ui.rft.error.unknown_task", task=task, known=", ".join(data.bundled_tasks()))


def save_upload(path: str | Path) -> tuple[str, str]:
    """Validate an uploaded task file and keep a copy under ``LAB_HOME/uploads/<hash>_<name>``.

    Returns ``(task path, original file name)``. Errors name the original file, not the server's temp path.
    """
    src = Path(path)
    name = re.sub(r"[^\w.\-]+", "_", src.name)[-80:] or "tasks.jsonl"
    try:
        data.load_tasks(src)
    except LabError as e:  # the same message (and key), naming the file as the user knows it
        if e.key is None:
            raise LabError(str(e).replace(str(src), src.name)) from None
        values = {k: v.replace(str(src), src.name) if isinstance(v, str) else v for k, v in e.values.items()}
        raise LabError(e.key, **values) from None
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:12]
    target = lab_home() / "uploads" / f"{digest}_{name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        shutil.copyfile(src, target)
    return str(target), src.name


# ------------------------------------------------------------------------------------------------ 2. graders


def specs_json(specs: list[dict]) -> str:
    """The grader list as the JSON the editor shows."""
    return json.dumps(specs, ensure_ascii=False, indent=2)


def parse_specs(text: str) -> list[dict]:
    """The grader list from the editor: a JSON array of specs (or one spec); errors say which grader and where.

    >>> parse_specs('{"type": "exact_match"}')
    [{'type': 'exact_match'}]
    """
    text = (text or "").strip()
    if not text:
        raise LabError("ui.rft.error.no_graders_text")
    value = _json(text, "ui.rft.json.graders")
    specs = value if isinstance(value, list) else [value]
    if not specs:
        raise LabError("ui.rft.error.no_graders")
    for i, spec in enumerate(specs, start=1):
        try:
            grading.validate_spec(spec)
        except LabError as e:
            raise _grader_error(i, spec, e) from None
    names = [_name(s) for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LabError("ui.rft.error.duplicate_name", name=dupes[0])
    return specs


def merge_presets(selected: list[str] | None, current: str) -> str:
    """The editor's JSON after the preset picker changed: the selected presets, then the user's own specs.

    >>> json.loads(merge_presets(["exact match"], '[{"type": "length", "max_words": 3}]'))[1]["type"]
    'length'
    """
    existing = _json(current or "[]", "ui.rft.json.graders")  # on an error the user's text stays: fix it, pick again
    existing = existing if isinstance(existing, list) else [existing]
    presets = list(grading.PRESETS.values())
    custom = [s for s in existing if s not in presets]
    return specs_json([grading.PRESETS[n] for n in (selected or []) if n in grading.PRESETS] + custom)


def presets_in(text: str) -> list[str] | None:
    """The presets the editor holds, in its order: what the preset picker shows once something else (a job, a
    hand edit) replaced the specs, so it never names a preset the editor no longer has. ``None`` while the text
    is not JSON (the picker stays as it is until it is).

    >>> presets_in('[{"type": "string_check", "name": "exact", "operation": "eq"}]')
    []
    """
    try:
        value = json.loads(text or "[]")
    except json.JSONDecodeError:
        return None
    specs = value if isinstance(value, list) else [value]
    return list(dict.fromkeys(name for spec in specs for name, p in grading.PRESETS.items() if p == spec))


def check_graders(text: str, task: str) -> str:
    """A one-line verdict on the grader list, checked against the task's fields."""
    specs = parse_specs(text)
    fields = set(data.load_task(check_task(task)).column_names)
    for i, spec in enumerate(specs, start=1):
        try:
            grading.validate_spec(spec, item_fields=fields)
            grading.build_grader(spec)  # a python grader while they are switched off fails here, not in the run
        except LabError as e:
            raise _grader_error(i, spec, e) from None
    names = ", ".join(f"`{_name(s)}`" for s in specs)
    return t("ui.rft.check.ready_many" if len(specs) > 1 else "ui.rft.check.ready_one", n=len(specs), names=names)


def grade(text: str, output: str, item_text: str) -> tuple[str, pd.DataFrame]:
    """Score one answer with every grader: ``(total reward markdown, table grader | score | why)``."""
    specs = parse_specs(text)
    item = _json(item_text or "{}", "ui.rft.json.item")
    if not isinstance(item, dict):
        raise LabError("ui.rft.error.item_not_object")
    rows, total = [], 0.0
    for i, spec in enumerate(specs, start=1):
        try:
            score, why = grading.explain(spec, output or "", item)
        except LabError as e:
            raise _grader_error(i, spec, e) from None
        total += score or 0.0
        rows.append([_name(spec), None if score is None else round(score, 4), why])
    verdict = t("ui.rft.grade.verdict_many" if len(specs) > 1 else "ui.rft.grade.verdict_one", total=total,
                n=len(specs))  # fmt: skip
    return verdict, pd.DataFrame(rows, columns=grade_columns())


GRADE_FILE_SOURCES = ("references", "samples")
"""What "Grade the task file" grades: every row's own reference answer, or the model's greedy answers to the first
N rows."""
GRADE_FILE_MODELS = MODEL_CHOICES
"""The models that may answer there: the built-in ones only (a visitor cannot make the server fetch a hub model)."""
MAX_GRADE_FILE_SAMPLES = 64
"""The most rows the model answers for "Grade the task file" (8 by default: about 7 s for the embedded model on 2
cores)."""
MAX_GRADED_ROWS_SHOWN = 200
"""The most graded rows "Grade the task file" lists (the stats count every row)."""


def grade_file_columns() -> list[str]:
    """The headers of the task-file stats table, in the visitor's language."""
    return file_grading.table_columns()


def grade_task_file(
    text: str,
    task: str,
    source: str = "references",
    n: Any = 8,
    model: str = "embedded",
    progress: Callable[[float, str], None] | None = None,
) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """The playground on the whole task (what ``python -m lab grade --data`` does): every grader, and each part of
    a multi grader, on every row's reference answer (``source="references"``) or on the greedy answers of
    ``model`` to the first ``n`` rows (``"samples"``). Returns ``(what was graded, markdown; table grader | type |
    n | mean | zero share | one share | errors | seconds; the graded rows — question | answer | reference | each
    grader's score — the first :data:`MAX_GRADED_ROWS_SHOWN`)``. ``progress(fraction, text)`` follows the work:
    loading the model, each batch of answers, each batch graded."""
    specs = parse_specs(text)
    task = check_task(task)
    ds = data.load_task(task)
    file_grading.validate_graders(specs, set(ds.column_names))
    tell = progress or (lambda fraction, text: None)
    graded = (0.0, 1.0)  # where grading starts on the bar, and its share: all of it for the references
    if source == "samples":
        if model not in GRADE_FILE_MODELS:
            raise LabError("grade_file.ui.bad_model", model=model, choices=", ".join(GRADE_FILE_MODELS))
        try:
            count = int(n)
        except (TypeError, ValueError):
            count = 0
        if count != n or not 1 <= count <= MAX_GRADE_FILE_SAMPLES:
            raise LabError("grade_file.ui.bad_n", value=n, most=MAX_GRADE_FILE_SAMPLES)

        def answered(done: int, total: int) -> None:  # 5 % once the model is loaded, then to 90 % answering
            key = "grade_file.ui.progress.answered" if done else "grade_file.ui.progress.sampling"
            tell(0.05 + 0.85 * done / max(total, 1), t(key, model=model, done=done, n=total))

        tell(0.0, t("grade_file.ui.progress.loading", model=model))
        start = time.perf_counter()
        rows, outputs = file_grading.sample_outputs(ds, count, model, progress=answered)
        what = t("grade_file.ui.what.samples", n=len(rows), model=model, seconds=time.perf_counter() - start)
        graded = (0.9, 0.1)
    elif source == "references":
        rows, outputs = ds, file_grading.reference_outputs(ds)
        what = t("grade_file.ui.what.references", n=len(ds))
    else:
        raise LabError("grade_file.ui.bad_source", value=source, choices=", ".join(GRADE_FILE_SOURCES))
    report = file_grading.grade_rows(specs, rows, outputs, lambda fraction, name: tell(
        graded[0] + graded[1] * fraction, t("grade_file.ui.progress.grading", grader=name)
    ))  # fmt: skip
    summary = t("grade_file.ui.summary", task=task_label(task), what=what)
    if len(outputs) > MAX_GRADED_ROWS_SHOWN:
        summary = t("grade_file.ui.rows_cut", summary=summary, shown=MAX_GRADED_ROWS_SHOWN, n=len(outputs))
    stats = pd.DataFrame(report.table_rows(), columns=grade_file_columns())
    graded_rows = pd.DataFrame(report.row_table(rows, outputs, MAX_GRADED_ROWS_SHOWN), columns=report.row_columns())
    return summary, stats, graded_rows


# -------------------------------------------------------------------------------------------------- 3. train


def run_config(task: str, specs_text: str, values: dict[str, Any]) -> dict[str, Any]:
    """The run's options (``config.json``'s ``config``) from the form, checked by ``Config``: task, model and
    graders always; other knobs only where they differ from the defaults (so ``config.json`` reads as "what this
    run changed"). Values are cast to the field's type."""
    config = {"task": check_task(task), "graders": parse_specs(specs_text), **values}
    if config.get("valid_task"):  # a validation file: an upload too (API callers cannot make the lab read others)
        config["valid_task"] = check_task(config["valid_task"])
    return form_config(Config, config, keep=("task", "graders", "model"))


def start_run(task: str, specs_text: str, values: dict[str, Any], owner: str = "", teacher: bool = False) -> str:
    """Validate the form, check graders against the task's fields and start a run for ``owner`` (a visitor id);
    return its id."""
    config = run_config(task, specs_text, values)
    check_graders(specs_text, config["task"])
    if config.get("valid_task"):
        try:
            check_graders(specs_text, config["valid_task"])
        except LabError as e:
            name = task_label(config["valid_task"], plain=True)
            raise LabError("rft.valid.grader", name=name, error=e.text()) from None
    return runs.start("rft", config, owner=owner, teacher=teacher).id


# ------------------------------------------------------------------------- a validation file, an OpenAI job


def save_valid_upload(path: str | Path) -> tuple[str, str]:
    """A validation file uploaded: checked and kept like a task upload (:func:`save_upload`); returns ``(its path,
    a note for the page)``. Its rows become the held-out questions of the next run instead of a split."""
    task, name = save_upload(path)
    return task, t("openai_job.ui.valid_loaded", name=name, n=len(data.load_task(task)))


def job_columns() -> list[str]:
    """The headers of the job report (OpenAI field | value | lab setting | why), in the visitor's language."""
    return [t(f"openai_job.ui.column.{c}") for c in ("field", "value", "setting", "why")]


def load_job(path: str | Path, task: str, valid_task: str = "") -> tuple[str, dict[str, Any], pd.DataFrame, str]:
    """An uploaded OpenAI fine-tuning job (``lab.data.openai_job``) on the page's data — the task set of step ①
    (an upload, when the job names a training file) and the validation file loaded, if any: ``(grader specs JSON,
    knob values, report table, note)``. A value beyond a knob's slider is set to the slider's end, said in the
    note (the command line runs the job's own value). Nothing changes on an error."""
    from lab.data import openai_job

    src = Path(path)
    task, valid = check_task(task), (check_task(valid_task) if valid_task else None)
    job, text = openai_job.read_job(src, name=src.name)
    named = job.get("training_file")
    if task in data.bundled_tasks() and named and named != task:
        raise LabError("openai_job.ui.upload_train_first", name=src.name, value=named,
                       task=task_label(task, plain=True))  # fmt: skip
    result = openai_job.import_job(job, text, src.name, train=task, valid=valid, local_files=False)
    values, notes = {}, []
    fields = {f.name: f for f in dataclasses.fields(Config)}
    for name in KNOBS:
        if name in result.config:
            value, high = result.config[name], fields[name].metadata.get("slider", (None, None, None))[1]
            if high is not None and value > high:
                notes.append(t("openai_job.ui.clamped", setting=name, value=value, high=high))
                value = high
            values[name] = value
    used = sum(1 for m in result.report if m.setting)
    ignored = len(result.report) - used
    note = t("openai_job.ui.loaded", name=src.name, used=counted("openai_job.ui.loaded.used", used, n=used),
             ignored=counted("openai_job.ui.loaded.ignored", ignored, n=ignored))  # fmt: skip
    note += "".join(f"  \n⚠️ {n}" for n in notes)
    shown = {path: task_label(path, plain=True) for path in (task, valid) if path}  # as the visitor knows them
    rows = [[functools.reduce(lambda text, p: text.replace(p, shown[p]), shown, cell) for cell in row]
            for row in openai_job.report_rows(result)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=job_columns())
    return specs_json(result.config["graders"]), values, frame, note


def _json(text: str, what: str) -> Any:
    """``text`` parsed; a ``LabError`` naming ``what`` (a text key: which box) and the line and column if broken."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise LabError("grading.spec.bad_json", where=t(what), line=e.lineno, column=e.colno,
                       error=json_error(e)) from None  # fmt: skip


def _grader_error(i: int, spec: Any, e: LabError) -> LabError:
    """``e`` with the grader it is about: ``grader #2 (name): …`` (the inner message in the visitor's language)."""
    return LabError("ui.rft.error.grader", index=i, name=_named(spec), error=e.text())


_name = grading.grader_name  # the name TRL logs a grader under (rewards/<name>/mean)


def _named(spec: Any) -> str:
    return f" ({spec['name']})" if isinstance(spec, dict) and isinstance(spec.get("name"), str) else ""


__all__ = [
    "ADVANCED_KNOBS", "DEFAULT_TASK", "GRADE_COLUMNS", "GRADE_FILE_MODELS", "GRADE_FILE_SOURCES", "KNOBS",
    "MAX_GRADE_FILE_SAMPLES", "MAX_GRADED_ROWS_SHOWN", "TEACHING_KNOBS", "Config", "check_graders", "check_task",
    "columns_help", "defaults", "example_output", "grade", "grade_columns", "grade_file_columns", "grade_task_file",
    "help_text", "job_columns", "load_job", "merge_presets", "parse_specs", "presets_in", "run_config",
    "save_upload", "save_valid_upload", "specs_json", "start_run", "task_info", "task_label", "task_view",
]  # fmt: skip
