"""Bring an OpenAI fine-tuning job: its JSON → the options of a lab RFT run, and what became of every field.

OpenAI's reinforcement fine-tuning is described by one JSON object: the body of ``POST /v1/fine_tuning/jobs``
(``model``, ``training_file``, ``validation_file``, ``seed``, ``suffix``, ``method: {type: "reinforcement",
reinforcement: {grader, hyperparameters}}``) or the ``fine_tuning.job`` object the API returned for it (the same
fields and ``id``, ``status``, ``created_at`` …). :func:`load_job` reads either and maps every field it holds to an
option of :class:`lab.methods.rft_config.Config`, or reports it as ignored, with the reason:

==========================================  ======================================================================
OpenAI field                                lab option
==========================================  ======================================================================
model                                       model (an OpenAI model name → the embedded model, with a note)
training_file, validation_file              task, valid_task (an OpenAI file id ``file-…`` needs the file itself)
seed                                        seed
method.type = "reinforcement"               warmup = off: OpenAI's RFT is RL only, with no SFT warm-up
method.reinforcement.grader                 graders (``lab.grading.validate_spec``, against the data's fields)
…hyperparameters.batch_size                 prompts_per_step (examples per batch = questions per GRPO step)
…hyperparameters.n_epochs                   steps = ⌈n_epochs × training questions ÷ questions per step⌉
…hyperparameters.learning_rate_multiplier   learning_rate = multiplier × the lab's default learning rate
…hyperparameters.eval_interval              eval_every
…hyperparameters.eval_samples               eval_subset (samples per evaluation = held-out questions graded)
…hyperparameters.compute_multiplier         num_generations = multiplier × the lab's group of 8, at least 2
…hyperparameters.reasoning_effort           ignored: the local model has no reasoning mode
suffix, integrations, metadata, id, …       ignored: names and records of the job on OpenAI's platform
==========================================  ======================================================================

``"auto"`` and ``null`` keep the lab's default, reported as such. The deprecated top-level ``hyperparameters``
(``n_epochs``, ``batch_size``, ``learning_rate_multiplier``) count where ``method.reinforcement.hyperparameters``
does not give the same one. An unknown field inside ``method`` is refused (a typo there would change training
silently); an unknown top-level field is reported as ignored (OpenAI's job object gains fields over time). Every
error names the file, the line and the JSON path. Importing this module does not import torch.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import LabError
from lab.data import formats, tasks
from lab.methods.rft_config import Config
from lab.models import EMBEDDED
from lab.texts import t

__all__ = [
    "HYPERPARAMETERS", "MAX_JOB_BYTES", "JobImport", "Mapped", "import_job", "is_file_id", "load_job", "read_job",
    "report_lines", "report_rows",
]  # fmt: skip

MAX_JOB_BYTES = 2 * 2**20
"""A job file's size limit (OpenAI allows a python grader's source up to 256 kB)."""
HYPERPARAMETERS = (
    "n_epochs", "batch_size", "learning_rate_multiplier", "eval_interval", "eval_samples", "compute_multiplier",
    "reasoning_effort",
)  # fmt: skip
"""OpenAI's reinforcement hyperparameters, all of them (``method.reinforcement.hyperparameters``)."""
_LEGACY = ("n_epochs", "batch_size", "learning_rate_multiplier")  # the deprecated top-level hyperparameters
_EFFORTS = ("default", "low", "medium", "high")
_RECORD = (
    "id", "object", "created_at", "finished_at", "estimated_finish", "status", "error", "fine_tuned_model",
    "organization_id", "result_files", "trained_tokens", "user_provided_suffix", "usage_metrics", "eval_id",
    "shared_with_openai",
)  # fmt: skip
"""Fields of the returned job object that record what happened on OpenAI: never a setting."""
_OPENAI_MODEL = re.compile(r"(ft:)?(o\d|gpt-|chatgpt-|davinci|babbage|text-|computer-use)", re.IGNORECASE)
_FILE_ID = re.compile(r"file-[A-Za-z0-9_-]+")


@dataclass
class Mapped:
    """One field of the job and what became of it: the lab option it set (``setting``; ``None`` when ignored), the
    value shown for that option, and why, in the visitor's language."""

    path: str
    value: Any
    setting: str | None
    lab_value: Any
    reason: str


@dataclass
class JobImport:
    """A job read and mapped: ``config`` (options of ``lab.methods.rft_config.Config``), ``report`` (one row per
    field of the file, in file order) and the file's name as the messages give it."""

    config: dict[str, Any]
    report: list[Mapped]
    name: str


def is_file_id(value: Any) -> bool:
    """Whether a job names an uploaded OpenAI file (``file-abc123``) rather than a file the lab can read.

    >>> is_file_id("file-XyZ12_3"), is_file_id("train.jsonl"), is_file_id("file-train.jsonl")
    (True, False, False)
    """
    return isinstance(value, str) and _FILE_ID.fullmatch(value.strip()) is not None


def read_job(path: str | Path, name: str | None = None) -> tuple[dict[str, Any], str]:
    """The job's JSON object and its text; a ``LabError`` naming the file (as ``name``), line and column for a
    missing, binary or broken file, a key given twice in one object, or JSON that is not one job."""
    path = Path(path).expanduser()
    name = name or str(path)
    if not path.exists():
        raise LabError("openai_job.file.not_found", name=name)
    if not path.is_file():
        raise LabError("openai_job.file.folder", name=name)
    if path.stat().st_size > MAX_JOB_BYTES:
        raise LabError("openai_job.file.too_big", name=name, size_kb=path.stat().st_size / 1024,
                       limit_kb=MAX_JOB_BYTES // 1024)  # fmt: skip
    text = formats.read_text(path, name, max_bytes=MAX_JOB_BYTES, max_rows=0)
    try:
        job = json.loads(text)
    except json.JSONDecodeError as e:
        raise LabError("openai_job.json.broken", name=name, line=e.lineno, column=e.colno,
                       error=formats.json_error(e)) from None  # fmt: skip
    duplicates = formats.duplicate_keys(text)
    if duplicates:
        where, first, second, line = duplicates[0]
        raise LabError("openai_job.json.duplicate", name=name, line=line, path=_dotted((*where, second)), a=first,
                       b=second)  # fmt: skip
    if not isinstance(job, dict):
        raise LabError("openai_job.json.not_object", name=name, type=formats.json_type(job))
    if job.get("object") == "list" and isinstance(job.get("data"), list):
        raise LabError("openai_job.json.a_list", name=name, n=len(job["data"]))
    if job.get("object") not in (None, "fine_tuning.job"):
        raise LabError("openai_job.json.not_a_job", name=name, value=job["object"])
    return job, text


def load_job(
    path: str | Path,
    *,
    train: str | None = None,
    valid: str | None = None,
    name: str | None = None,
    local_files: bool = True,
) -> JobImport:
    """Read a job file and map it (see :func:`import_job`); relative file paths in the job start at its folder."""
    job, text = read_job(path, name)
    return import_job(job, text, name or str(path), train=train, valid=valid, base_dir=Path(path).parent,
                      local_files=local_files)  # fmt: skip


def import_job(
    job: dict[str, Any],
    text: str,
    name: str,
    *,
    train: str | None = None,
    valid: str | None = None,
    base_dir: Path | None = None,
    local_files: bool = True,
) -> JobImport:
    """Map a job (its parsed object and its text, for line numbers) to Config options and a report.

    ``train`` / ``valid``: the training and validation data given instead of the job's files (a bundled task name or
    a path), as ``--data`` / ``--valid`` or the page's uploads give them. Without them the job's own
    ``training_file`` / ``validation_file`` are used — unless they are OpenAI file ids, which the lab cannot fetch
    (a ``LabError`` naming the field), or, with ``local_files=False`` (the page: the server reads no paths from an
    upload), paths. The training data is read here: its rows set ``steps`` and its fields check the grader.
    """
    return _Mapper(job, text, name, base_dir, local_files).run(train, valid)


def report_lines(result: JobImport) -> list[str]:
    """The report as text lines (what the CLI prints): a head line, then one line per field of the job."""
    used = sum(1 for m in result.report if m.setting)
    lines = [t("openai_job.report.head", name=result.name, used=used, ignored=len(result.report) - used)]
    for m in result.report:
        if m.setting:
            lines.append(t("openai_job.report.used", path=m.path, value=_short(m.value), setting=m.setting,
                           lab_value=_short(m.lab_value), reason=m.reason))  # fmt: skip
        else:
            lines.append(t("openai_job.report.ignored", path=m.path, value=_short(m.value), reason=m.reason))
    return lines


def report_rows(result: JobImport) -> list[list[str]]:
    """The report as table rows for the page: OpenAI field | its value | lab setting (or "ignored") | why. The
    page's table wraps, so a value is shown whole up to :data:`PAGE_VALUE_CHARS` (a grader's templates included)."""
    return [[m.path, _short(m.value, PAGE_VALUE_CHARS),
             f"{m.setting} = {_short(m.lab_value, PAGE_VALUE_CHARS)}" if m.setting else t("openai_job.ignored"),
             m.reason] for m in result.report]  # fmt: skip


PAGE_VALUE_CHARS = 2000
"""The longest value the page's job report shows before it cuts it with "…" (the CLI's lines cut at 70)."""


# ------------------------------------------------------------------------------------------------- mapping


def _dotted(path: tuple) -> str:
    """``("method", "reinforcement", "graders", 0)`` → ``method.reinforcement.graders[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any, limit: int = 70) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Mapper:
    """One job being mapped: the options found so far, the report rows, and each JSON path's line."""

    def __init__(self, job: dict[str, Any], text: str, name: str, base_dir: Path | None, local_files: bool):
        self.job, self.name, self.base_dir, self.local_files = job, name, base_dir, local_files
        self.lines = {(*path, key): line for path, key, line in formats.json_members(text)}
        self.defaults = Config()
        self.config: dict[str, Any] = {}
        self.rows: list[tuple[tuple, Mapped]] = []

    # ---------------------------------------------------------------------------------------- helpers

    def where(self, path: tuple) -> str:
        line = self.lines.get(path)
        while line is None and path:
            path = path[:-1]
            line = self.lines.get(path)
        if not path:
            return t("openai_job.at_top")
        return t("openai_job.at", line=line, path=_dotted(path))

    def fail(self, path: tuple, key: str, **values: Any) -> LabError:
        return LabError("openai_job.bad", name=self.name, where=self.where(path), problem=t(key, **values))

    def add(self, path: tuple, value: Any, setting: str | None, lab_value: Any, reason: str) -> None:
        if setting:
            self.check_setting(path, setting, lab_value)
            self.config[setting] = lab_value
        self.rows.append((path, Mapped(_dotted(path), value, setting, lab_value, reason)))

    def check_setting(self, path: tuple, setting: str, value: Any) -> None:
        """The option as the lab's Config checks it (a range, a type), the error naming the job's field."""
        if setting in ("task", "valid_task", "graders"):
            return
        try:
            Config.normalize({setting: value})
        except LabError as e:
            raise self.fail(path, "openai_job.problem.setting", setting=setting, value=value, error=e.text()) from None

    def obj(self, path: tuple, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "openai_job.problem.not_object", type=formats.json_type(value))
        return value

    def known(self, path: tuple, value: dict[str, Any], known: tuple[str, ...]) -> None:
        for key in value:
            if key not in known:
                raise self.fail((*path, key), "openai_job.problem.unknown", known=", ".join(known))

    def number(self, path: tuple, value: Any, whole: bool) -> int | float | None:
        """``None`` for "auto" or null; else a whole number ≥ 1 (``whole``) or a number > 0, or an error."""
        if value is None or value == "auto":
            return None
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and ((float(value).is_integer() and value >= 1) if whole else value > 0)
        if not ok:
            kind = "openai_job.problem.count" if whole else "openai_job.problem.positive"
            raise self.fail(path, kind, value=json.dumps(value, ensure_ascii=False))
        return int(value) if whole else float(value)

    # --------------------------------------------------------------------------------------------- parts

    def run(self, train: str | None, valid: str | None) -> JobImport:
        job = self.job
        method = self.method()
        task = self.file("training_file", train)
        valid_task = self.file("validation_file", valid)
        ds = tasks.load_task(task)
        valid_ds = tasks.load_task(valid_task) if valid_task else None
        n_train = len(ds) if valid_ds is not None else self.defaults.split_sizes(len(ds))[0]
        self.config["task"] = task
        self.config["valid_task"] = valid_task
        self.files_rows({"training_file": (task, train), "validation_file": (valid_task, valid)}, len(ds), valid_ds)
        reinforcement = self.obj(("method", "reinforcement"), method.get("reinforcement"))
        self.grader(reinforcement, ds, valid_ds, valid_task)
        self.hyperparameters(reinforcement, n_train)
        for key, value in job.items():
            self.top_level(key, value)
        order = {path: i for i, path in enumerate(self.lines)}  # file order of every path
        rows = sorted(self.rows, key=lambda row: order.get(row[0], len(order)))
        return JobImport(self.config, [m for _, m in rows], self.name)

    def method(self) -> dict[str, Any]:
        if "method" not in self.job:
            raise self.fail((), "openai_job.problem.no_method")
        method = self.obj(("method",), self.job["method"])
        self.known(("method",), method, ("type", "supervised", "dpo", "reinforcement"))
        if method.get("type") != "reinforcement":
            value = json.dumps(method.get("type"), ensure_ascii=False)
            raise self.fail(("method", "type"), "openai_job.problem.not_reinforcement", value=value)
        if method.get("reinforcement") is None:
            raise self.fail(("method",), "openai_job.problem.no_grader")
        self.add(("method", "type"), "reinforcement", "warmup", False, t("openai_job.reason.method_type"))
        for other in ("supervised", "dpo"):
            if other in method:
                reason = t("openai_job.reason.other_method", method=other)
                self.add(("method", other), method[other], None, None, reason)
        return method

    def file(self, key: str, given: str | None) -> str:
        """The data a file field stands for: the one given, or the job's own where the lab can read it."""
        value = self.job.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail((key,), "openai_job.problem.not_string", type=formats.json_type(value))
        if given:
            return str(given)
        if not (value or "").strip():
            if key == "training_file":
                raise self.fail((key,) if key in self.job else (), "openai_job.problem.no_training_file")
            return ""
        value = value.strip()
        flag = "--data" if key == "training_file" else "--valid"
        if is_file_id(value):
            raise self.fail((key,), "openai_job.problem.file_id", field=key, value=value, flag=flag)
        if value in tasks.bundled_tasks():
            return value
        if not self.local_files:
            raise self.fail((key,), "openai_job.problem.upload_needed", field=key, value=value)
        path = Path(value).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return str(path)

    def files_rows(self, files: dict[str, tuple[str, str | None]], n_rows: int, valid_ds: Any) -> None:
        """The rows of the file fields: ``files`` maps each to (the data used, the data given instead or None)."""
        for key, (used, given) in files.items():
            if key not in self.job:
                continue
            value, setting = self.job[key], "task" if key == "training_file" else "valid_task"
            if not used:
                n_valid = self.defaults.split_sizes(n_rows)[1]
                reason = t("openai_job.reason.no_valid", n_valid=n_valid, n_rows=n_rows)
            elif given:
                reason = t("openai_job.reason.file_given", given=used)
            else:
                reason = t("openai_job.reason.file_job", path=used)
            if key == "validation_file" and used:
                reason += t("openai_job.reason.valid_rows", n=len(valid_ds))
            self.add((key,), value, setting, used, reason)

    def grader(self, reinforcement: dict[str, Any], ds: Any, valid_ds: Any, valid_task: str) -> None:
        from lab.grading import grader_name, validate_spec

        path = ("method", "reinforcement")
        self.known(path, reinforcement, ("grader", "hyperparameters"))
        if reinforcement.get("grader") is None:
            raise self.fail(path, "openai_job.problem.no_grader")
        spec = reinforcement["grader"]
        path = (*path, "grader")
        for fields, label in ((ds, None), (valid_ds, valid_task)):
            if fields is None:
                continue
            try:
                validate_spec(spec, item_fields=set(fields.column_names))
            except LabError as e:
                inner = e.values.get("path")
                inner = tuple(inner.split(".")) if isinstance(inner, str) and inner in _paths_of(spec) else ()
                error = e.text()
                if inner and error.startswith(e.values["path"] + ": "):  # the path said once, in full, with its line
                    error = error[len(e.values["path"]) + 2 :]
                if label is not None:
                    error = t("openai_job.problem.grader_valid", valid=label, error=error)
                raise LabError("openai_job.bad", name=self.name, where=self.where((*path, *inner)),
                               problem=error) from None  # fmt: skip
        also = t("openai_job.reason.grader_valid") if valid_ds is not None else ""
        self.add(path, spec, "graders", [grader_name(spec)], t("openai_job.reason.grader", also=also))
        self.config["graders"] = [spec]  # the report shows its name, the run gets the spec

    def hyperparameters(self, reinforcement: dict[str, Any], n_train: int) -> None:
        """Every hyperparameter given (the method's, else the deprecated top-level one) → an option or ignored."""
        given: dict[str, tuple[tuple, Any]] = {}
        path = ("method", "reinforcement", "hyperparameters")
        if reinforcement.get("hyperparameters") is not None:
            values = self.obj(path, reinforcement["hyperparameters"])
            self.known(path, values, HYPERPARAMETERS)
            given.update({key: ((*path, key), value) for key, value in values.items()})
        if "hyperparameters" in reinforcement and reinforcement["hyperparameters"] is None:
            self.add(path, None, None, None, t("openai_job.reason.null"))
        legacy = self.job.get("hyperparameters")
        if "hyperparameters" in self.job and legacy is None:
            self.add(("hyperparameters",), None, None, None, t("openai_job.reason.null"))
        if legacy is not None:
            self.known(("hyperparameters",), self.obj(("hyperparameters",), legacy), _LEGACY)
            for key, value in legacy.items():
                if key in given and given[key][1] is not None:
                    reason = t("openai_job.reason.legacy_overridden", path=_dotted(given[key][0]))
                    self.add(("hyperparameters", key), value, None, None, reason)
                else:
                    given[key] = (("hyperparameters", key), value)
        d = self.defaults

        def default(key: str, setting: str, value: Any) -> bool:  # "auto" or null: the lab's default, said so
            if value is None or value == "auto":
                why = t("openai_job.reason.auto" if value == "auto" else "openai_job.reason.null")
                self.add(given[key][0], value, setting, getattr(d, setting), why)
                return True
            return False

        per_step = d.prompts_per_step
        if "batch_size" in given:
            at, value = given["batch_size"]
            per_step = self.number(at, value, whole=True) or per_step
            if not default("batch_size", "prompts_per_step", value):
                reason = t("openai_job.reason.batch_size", n=d.num_generations)
                self.add(at, value, "prompts_per_step", per_step, reason)
        if "n_epochs" in given:
            at, value = given["n_epochs"]
            epochs = self.number(at, value, whole=False)
            if not default("n_epochs", "steps", value):
                per = min(per_step, n_train)
                steps = max(1, math.ceil(epochs * n_train / per - 1e-9))
                reason = t("openai_job.reason.n_epochs", epochs=epochs, rows=n_train, per_step=per)
                self.add(at, value, "steps", steps, reason)
        if "learning_rate_multiplier" in given:
            at, value = given["learning_rate_multiplier"]
            multiplier = self.number(at, value, whole=False)
            if not default("learning_rate_multiplier", "learning_rate", value):
                reason = t("openai_job.reason.lr", multiplier=multiplier, base=d.learning_rate)
                self.add(at, value, "learning_rate", multiplier * d.learning_rate, reason)
        for key, setting in (("eval_interval", "eval_every"), ("eval_samples", "eval_subset")):
            if key in given:
                at, value = given[key]
                n = self.number(at, value, whole=True)
                if not default(key, setting, value):
                    self.add(at, value, setting, n, t(f"openai_job.reason.{key}", n=n))
        if "compute_multiplier" in given:
            at, value = given["compute_multiplier"]
            multiplier = self.number(at, value, whole=False)
            if not default("compute_multiplier", "num_generations", value):
                n = max(2, round(multiplier * d.num_generations))
                reason = t("openai_job.reason.compute", multiplier=multiplier, base=d.num_generations)
                self.add(at, value, "num_generations", n, reason)
        if "reasoning_effort" in given:
            at, value = given["reasoning_effort"]
            if value is not None and value not in _EFFORTS:
                shown = json.dumps(value, ensure_ascii=False)
                raise self.fail(at, "openai_job.problem.effort", value=shown, choices=", ".join(_EFFORTS))
            self.add(at, value, None, None, t("openai_job.reason.effort"))

    def top_level(self, key: str, value: Any) -> None:
        """The fields outside ``method`` (the files and ``hyperparameters`` are mapped with the data)."""
        if key in ("method", "training_file", "validation_file", "hyperparameters"):
            return
        path = (key,)
        if key == "model":
            if not isinstance(value, str) or not value.strip():
                raise self.fail(path, "openai_job.problem.not_string", type=formats.json_type(value))
            name = value.strip()
            openai = _OPENAI_MODEL.match(name) and "/" not in name and not Path(name).expanduser().exists()
            if openai:
                self.add(path, value, "model", EMBEDDED, t("openai_job.reason.model_openai", model=name))
            else:
                self.add(path, value, "model", name, t("openai_job.reason.model_local"))
        elif key == "seed":
            if value is None:
                self.add(path, value, "seed", self.defaults.seed, t("openai_job.reason.null"))
                return
            if not (isinstance(value, int) and not isinstance(value, bool)):
                raise self.fail(path, "openai_job.problem.seed", value=json.dumps(value, ensure_ascii=False))
            self.add(path, value, "seed", value, t("openai_job.reason.seed"))
        elif key in ("suffix", "integrations", "metadata"):
            self.add(path, value, None, None, t(f"openai_job.reason.{key}"))
        elif key in _RECORD:
            self.add(path, value, None, None, t("openai_job.reason.record"))
        else:
            self.add(path, value, None, None, t("openai_job.reason.unknown"))


def _paths_of(spec: Any, prefix: str = "") -> set[str]:
    """The dotted paths of a grader spec's fields, as ``validate_spec`` names them in its errors."""
    paths: set[str] = set()
    if isinstance(spec, dict):
        for key, value in spec.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths.add(path)
            paths |= _paths_of(value, path)
    return paths
