"""What the RFT tab's buttons do, as plain functions: load or upload a task set, edit graders, grade, train, stop.

Each function takes and returns plain values (strings, lists, DataFrames), raises ``LabError`` with a message for
the user, and knows nothing of the layout; ``lab.ui.rft_tab`` wires them to components. That keeps them testable
without a browser and callable from ``gradio_client`` with the same meaning.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from lab import LabError, data, grading, lab_home, runs
from lab.methods.rft_config import DEFAULT_TASK, Config
from lab.methods.schema import knob_names
from lab.texts import t
from lab.ui.common import field_help, form_config

TEACHING_KNOBS = knob_names(Config, "teaching")
"""The knobs shown on the Train step: the fields of ``lab.methods.rft_config.Config`` whose level is "teaching"."""
ADVANCED_KNOBS = knob_names(Config, "advanced")
"""The knobs in the closed "Advanced options" accordion (level "advanced")."""
KNOBS = TEACHING_KNOBS + ADVANCED_KNOBS
GRADE_COLUMNS = ["grader", "score", "why"]


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
    return (
        f"**Accepted files**: CSV with a header row, JSONL (one object per line), JSON (an array of objects) or "
        f"OpenAI RFT JSONL (`messages` + `reference_answer`).  \n**Question column**: one of {q}.  \n"
        f"**Reference answer column**: one of {a}.  \nAn optional `system` column adds a system prompt; any other "
        "column is kept and graders can read it as `{{item.<column>}}`."
    )


# --------------------------------------------------------------------------------------------------- 1. data


def task_label(task: str) -> str:
    """How the UI names a task: a bundled name, or an uploaded file's original name."""
    if task in data.bundled_tasks():
        return f"bundled task set **{task}**"
    return f"uploaded file **{re.sub(r'^[0-9a-f]{12}_', '', Path(task).name)}**"


def task_view(task: str, n: int = 20) -> tuple[str, pd.DataFrame, str, str]:
    """``(info markdown, preview table, playground item JSON, playground example output)`` for a task set."""
    ds = data.load_task(task)
    n_train, n_valid, note = Config().split_sizes(len(ds))
    split = t("rft.split.view", n_train=n_train, n_valid=n_valid, asked=Config().valid_size)
    info = f"Using {task_label(task)}: {data.describe(ds)}  \n{split}" + (f"  \n⚠️ {note}" if note else "")
    first = {k: v for k, v in ds[0].items() if k != "prompt" and v is not None}
    example = f"I think the answer is {first.get('answer', '')}."
    return info, data.preview(ds, n), json.dumps(first, ensure_ascii=False, indent=2), example


def check_task(task: str) -> str:
    """Refuse a task that is neither bundled nor an upload (API callers cannot make the lab read other files)."""
    task = str(task or "").strip()
    if task in data.bundled_tasks():
        return task
    uploads = (lab_home() / "uploads").resolve()
    path = Path(task).expanduser().resolve()
    if task and path.parent == uploads and path.is_file():
        return str(path)
    known = ", ".join(data.bundled_tasks())
    raise LabError(f"unknown task set {task!r}: pick a bundled one ({known}) or upload a file.")


def save_upload(path: str | Path) -> tuple[str, str]:
    """Validate an uploaded task file and keep a copy under ``LAB_HOME/uploads/<hash>_<name>``.

    Returns ``(task path, original file name)``. Errors name the original file, not the server's temp path.
    """
    src = Path(path)
    name = re.sub(r"[^\w.\-]+", "_", src.name)[-80:] or "tasks.jsonl"
    try:
        data.load_tasks(src)
    except LabError as e:
        raise LabError(str(e).replace(str(src), src.name)) from None
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
        raise LabError('graders: the list is empty. Pick a preset, or write a spec such as {"type": "exact_match"}.')
    value = _json(text, "graders JSON")
    specs = value if isinstance(value, list) else [value]
    if not specs:
        raise LabError("graders: the list is empty. Pick a preset, or add a spec.")
    for i, spec in enumerate(specs, start=1):
        try:
            grading.validate_spec(spec)
        except LabError as e:
            raise LabError(f"grader #{i}{_named(spec)}: {e}") from None
    names = [_name(s) for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise LabError(f'graders: two graders are named {dupes[0]!r}; give each a different "name".')
    return specs


def merge_presets(selected: list[str] | None, current: str) -> str:
    """The editor's JSON after the preset picker changed: the selected presets, then the user's own specs.

    >>> json.loads(merge_presets(["exact match"], '[{"type": "length", "max_words": 3}]'))[1]["type"]
    'length'
    """
    existing = _json(current or "[]", "graders JSON")  # on an error the user's text stays: fix it, pick again
    existing = existing if isinstance(existing, list) else [existing]
    presets = list(grading.PRESETS.values())
    custom = [s for s in existing if s not in presets]
    return specs_json([grading.PRESETS[n] for n in (selected or []) if n in grading.PRESETS] + custom)


def check_graders(text: str, task: str) -> str:
    """A one-line verdict on the grader list, checked against the task's fields."""
    specs = parse_specs(text)
    fields = set(data.load_task(check_task(task)).column_names)
    for i, spec in enumerate(specs, start=1):
        try:
            grading.validate_spec(spec, item_fields=fields)
            grading.build_grader(spec)  # a python grader while they are switched off fails here, not in the run
        except LabError as e:
            raise LabError(f"grader #{i}{_named(spec)}: {e}") from None
    names = ", ".join(f"`{_name(s)}`" for s in specs)
    return f"✓ {len(specs)} grader{'s' if len(specs) > 1 else ''} ready: {names}. The reward is their sum."


def grade(text: str, output: str, item_text: str) -> tuple[str, pd.DataFrame]:
    """Score one answer with every grader: ``(total reward markdown, table grader | score | why)``."""
    specs = parse_specs(text)
    item = _json(item_text or "{}", "item JSON")
    if not isinstance(item, dict):
        raise LabError('the item must be a JSON object, e.g. {"answer": "Paris"}.')
    rows, total = [], 0.0
    for i, spec in enumerate(specs, start=1):
        try:
            score, why = grading.explain(spec, output or "", item)
        except LabError as e:
            raise LabError(f"grader #{i}{_named(spec)}: {e}") from None
        total += score or 0.0
        rows.append({"grader": _name(spec), "score": None if score is None else round(score, 4), "why": why})
    verdict = f"### reward = {total:.3f}\nthe sum of {len(specs)} grader score{'s' if len(specs) > 1 else ''}"
    return verdict, pd.DataFrame(rows, columns=GRADE_COLUMNS)


# -------------------------------------------------------------------------------------------------- 3. train


def run_config(task: str, specs_text: str, values: dict[str, Any]) -> dict[str, Any]:
    """The run's options (``config.json``'s ``config``) from the form, checked by ``Config``: task, model and
    graders always; other knobs only where they differ from the defaults (so ``config.json`` reads as "what this
    run changed"). Values are cast to the field's type."""
    config = {"task": check_task(task), "graders": parse_specs(specs_text), **values}
    return form_config(Config, config, keep=("task", "graders", "model"))


def start_run(task: str, specs_text: str, values: dict[str, Any], owner: str = "") -> str:
    """Validate the form, check graders against the task's fields and start a run for ``owner`` (a visitor id);
    return its id."""
    config = run_config(task, specs_text, values)
    check_graders(specs_text, config["task"])
    return runs.start("rft", config, owner=owner).id


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise LabError(f"{what}, line {e.lineno}, column {e.colno}: invalid JSON ({e.msg}).") from None


_name = grading.grader_name  # the name TRL logs a grader under (rewards/<name>/mean)


def _named(spec: Any) -> str:
    return f" ({spec['name']})" if isinstance(spec, dict) and isinstance(spec.get("name"), str) else ""


__all__ = [
    "ADVANCED_KNOBS", "DEFAULT_TASK", "KNOBS", "TEACHING_KNOBS", "Config", "check_graders", "check_task",
    "columns_help", "defaults", "grade", "help_text", "merge_presets", "parse_specs", "run_config", "save_upload",
    "specs_json", "start_run", "task_label", "task_view",
]  # fmt: skip
