"""Bring an OpenAI fine-tuning job (issue 12, item 4): a create request body and a returned job object both map to
lab RFT settings, every field used or ignored with a reason; OpenAI file ids need the files themselves; the CLI
exits 2 naming the field; a short real run on the tiny model holds out the validation file's rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lab import LabError, runs
from lab.__main__ import main
from lab.data import openai_job
from lab.data.formats import json_members
from lab.methods.rft_config import Config

GRADER = {"type": "string_check", "name": "eq", "input": "{{sample.output_text}}",
          "reference": "{{item.reference_answer}}", "operation": "eq"}  # fmt: skip
HYPER = {"n_epochs": 2, "batch_size": 3, "learning_rate_multiplier": 2.0, "eval_interval": 5, "eval_samples": 4,
         "compute_multiplier": 0.5, "reasoning_effort": "medium"}  # fmt: skip
D = Config()


def rows(n: int, start: int = 0) -> str:
    """OpenAI RFT JSONL: a user message and a ``reference_answer`` per line."""
    return "".join(json.dumps({"messages": [{"role": "user", "content": f"What is {i}+{i}? Answer with a number."}],
                               "reference_answer": str(2 * i)}) + "\n" for i in range(start, start + n))  # fmt: skip


@pytest.fixture
def files(tmp_path) -> Path:
    """A folder with train.jsonl (12 rows) and valid.jsonl (4 other rows)."""
    (tmp_path / "train.jsonl").write_text(rows(12), encoding="utf-8")
    (tmp_path / "valid.jsonl").write_text(rows(4, start=100), encoding="utf-8")
    return tmp_path


def write_job(folder: Path, job: dict, name: str = "job.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(job, indent=2), encoding="utf-8")
    return path


def body(**extra) -> dict:
    """A create request body as OpenAI documents it (local files named, so that the lab can read them)."""
    job = {
        "model": "o4-mini-2025-04-16",
        "training_file": "train.jsonl",
        "validation_file": "valid.jsonl",
        "seed": 42,
        "suffix": "math",
        "method": {"type": "reinforcement", "reinforcement": {"grader": GRADER, "hyperparameters": dict(HYPER)}},
    }
    return {**job, **extra}


def by_path(result: openai_job.JobImport) -> dict[str, openai_job.Mapped]:
    return {m.path: m for m in result.report}


def line_of(path: Path, needle: str) -> int:
    """The 1-based line of the file where ``needle`` first appears."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def leaves(path: Path) -> set[str]:
    """The dotted paths of the job file's fields, down to the grader (reported whole) and the hyperparameters."""
    out = set()
    for where, key, _ in json_members(path.read_text()):
        full = ".".join(map(str, (*where, key)))
        if not any(full.startswith(p + ".") for p in ("method.reinforcement.grader", "method.supervised",
                                                      "method.dpo", "integrations", "metadata", "error",
                                                      "usage_metrics")):  # fmt: skip
            out.add(full)
    return out - {"method", "method.reinforcement", "method.reinforcement.hyperparameters", "hyperparameters"}


# ------------------------------------------------------------------------------------------------ mapping


def test_a_request_body_maps_every_field(files):
    path = write_job(files, body())
    result = openai_job.load_job(path)
    c = result.config
    n_train = 12  # a validation file: the whole training file is trained on
    assert c["task"] == str(files / "train.jsonl") and c["valid_task"] == str(files / "valid.jsonl")
    assert c["model"] == "embedded" and c["seed"] == 42 and c["warmup"] is False and c["graders"] == [GRADER]
    assert c["prompts_per_step"] == 3 and c["steps"] == math.ceil(2 * n_train / 3) == 8
    assert c["learning_rate"] == pytest.approx(2.0 * D.learning_rate)
    assert (c["eval_every"], c["eval_subset"], c["num_generations"]) == (5, 4, 4)
    Config.from_dict(c)  # a valid lab config as it is
    report = by_path(result)
    assert set(report) == leaves(path), "one row per field of the file"
    assert all(m.reason for m in result.report)
    assert report["model"].setting == "model" and "o4-mini-2025-04-16" in report["model"].reason
    assert report["suffix"].setting is None and report["seed"].setting == "seed"
    effort = report["method.reinforcement.hyperparameters.reasoning_effort"]
    assert effort.setting is None and "no reasoning mode" in effort.reason
    assert "4 rows are the held-out questions" in report["validation_file"].reason
    lines = openai_job.report_lines(result)
    assert lines[0].startswith(f"OpenAI job {path} → lab RFT settings (12 fields used, 2 ignored)")
    assert "  method.reinforcement.hyperparameters.n_epochs = 2 → steps = 8: 2 epochs × 12 training questions ÷ 3" \
           " per step" in "\n".join(lines)  # fmt: skip


def test_a_returned_job_object_maps_and_its_records_are_ignored(files):
    """The fine_tuning.job object as the API returns it: OpenAI's file ids (given here as --data / --valid), its
    record fields, the other methods' settings and "auto" everywhere."""
    auto = {k: "auto" for k in HYPER if k != "reasoning_effort"} | {"reasoning_effort": "default"}
    job = {"object": "fine_tuning.job", "id": "ftjob-abc123", "model": "o4-mini-2025-04-16", "created_at": 1721764800,
           "finished_at": None, "fine_tuned_model": None, "organization_id": "org-123", "result_files": [],
           "status": "queued", "validation_file": "file-def456", "training_file": "file-abc123",
           "hyperparameters": {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"},
           "trained_tokens": None, "integrations": [], "seed": 0, "estimated_finish": None, "error": None,
           "metadata": {"team": "x"}, "usage_metrics": {"x": 1}, "shiny_new_field": 1,
           "method": {"type": "reinforcement", "supervised": {"hyperparameters": {"n_epochs": "auto"}},
                      "dpo": {"hyperparameters": {"beta": "auto"}},
                      "reinforcement": {"grader": GRADER, "hyperparameters": auto}}}  # fmt: skip
    path = write_job(files, job)
    train, valid = str(files / "train.jsonl"), str(files / "valid.jsonl")
    result = openai_job.load_job(path, train=train, valid=valid)
    c, report = result.config, by_path(result)
    assert c["task"] == train and c["valid_task"] == valid and c["model"] == "embedded"
    for setting in ("steps", "prompts_per_step", "learning_rate", "eval_every", "eval_subset", "num_generations"):
        assert c[setting] == getattr(D, setting), f"'auto' keeps the lab's default {setting}"
    assert set(report) == leaves(path)
    hp = "method.reinforcement.hyperparameters."
    assert report[hp + "n_epochs"].setting == "steps" and report[hp + "n_epochs"].reason.startswith('"auto"')
    for legacy in ("n_epochs", "batch_size", "learning_rate_multiplier"):  # the method's "auto" counts, said so
        row = report[f"hyperparameters.{legacy}"]
        assert row.setting is None and hp + legacy in row.reason
    for record in ("object", "id", "created_at", "status", "result_files", "organization_id", "trained_tokens"):
        assert report[record].setting is None and "record of the job on OpenAI" in report[record].reason
    assert report["usage_metrics"].setting is None and "record of the job" in report["usage_metrics"].reason
    assert report["shiny_new_field"].setting is None and "not a fine-tuning job field the lab knows" in \
        report["shiny_new_field"].reason  # fmt: skip
    assert report["method.dpo"].setting is None and "dpo method" in report["method.dpo"].reason
    assert report["integrations"].setting is None and report["metadata"].setting is None
    assert "the data given for it" in report["training_file"].reason


@pytest.mark.parametrize("name", openai_job.HYPERPARAMETERS)
def test_every_hyperparameter_is_mapped_or_ignored_with_a_reason(files, name):
    value = {"reasoning_effort": "high"}.get(name, 2)
    job = body(method={"type": "reinforcement", "reinforcement": {"grader": GRADER,
                                                                  "hyperparameters": {name: value}}})  # fmt: skip
    result = openai_job.load_job(write_job(files, job))
    row = by_path(result)[f"method.reinforcement.hyperparameters.{name}"]
    assert row.reason and row.value == value
    expected = {"n_epochs": ("steps", 12), "batch_size": ("prompts_per_step", 2),
                "learning_rate_multiplier": ("learning_rate", 2 * D.learning_rate), "eval_interval": ("eval_every", 2),
                "eval_samples": ("eval_subset", 2), "compute_multiplier": ("num_generations", 16),
                "reasoning_effort": (None, None)}[name]  # fmt: skip
    assert (row.setting, row.lab_value) == pytest.approx(expected)
    if row.setting:
        assert result.config[row.setting] == pytest.approx(expected[1])
    else:
        assert "no reasoning mode" in row.reason


def test_the_deprecated_top_level_hyperparameters_count_where_the_method_is_silent(files):
    job = body(hyperparameters={"n_epochs": 1, "batch_size": 4})
    job["method"]["reinforcement"]["hyperparameters"] = {"batch_size": 2}
    result = openai_job.load_job(write_job(files, job))
    report = by_path(result)
    assert report["hyperparameters.n_epochs"].setting == "steps" and result.config["steps"] == 6  # 12 rows ÷ 2
    assert report["hyperparameters.batch_size"].setting is None and result.config["prompts_per_step"] == 2


def test_without_a_validation_file_the_training_file_is_split(files):
    job = body(validation_file=None)
    result = openai_job.load_job(write_job(files, job))
    n_train, n_valid, _ = D.split_sizes(12)
    assert result.config["valid_task"] == ""
    assert result.config["steps"] == math.ceil(2 * n_train / 3)
    assert f"{n_valid} of the 12 questions are held out" in by_path(result)["validation_file"].reason


# ---------------------------------------------------------------------------------------------- refusals


def test_openai_file_ids_need_local_files(files):
    job = body(training_file="file-abc123", validation_file="file-def456")
    path = write_job(files, job)
    with pytest.raises(LabError, match=r"job\.json: line 3, training_file: 'file-abc123' is an OpenAI file id.*--dat"):
        openai_job.load_job(path)
    with pytest.raises(LabError, match=r"line 4, validation_file: 'file-def456' is an OpenAI file id.*--valid"):
        openai_job.load_job(path, train=str(files / "train.jsonl"))
    result = openai_job.load_job(path, train=str(files / "train.jsonl"), valid=str(files / "valid.jsonl"))
    assert result.config["valid_task"] == str(files / "valid.jsonl")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"model": "o4-mini",\n "seed": 1,,}', r"line 2, column 12: broken JSON"),
        ('{"model": "o4-mini",\n "seed": 1,\n "seed": 2}', r"line 3, seed: 'seed' and 'seed' are one key given twice"),
        ("[1, 2]", r"a job is one JSON object .* holds a JSON array"),
        ('{"object": "list", "data": [{}, {}]}', r"a list of 2 fine-tuning jobs"),
        (
            '{"training_file": "train.jsonl",\n "method": {"type": "supervised"}}',
            r'line 2, method\.type: method\.type is "supervised": the lab runs reinforcement',
        ),
        ('{"training_file": "train.jsonl"}', r'line 1 \(the job object\): no "method"'),
    ],
)
def test_bad_job_files_are_refused_with_line_and_path(files, text, problem):
    path = files / "job.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LabError, match=problem) as e:
        openai_job.load_job(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"n_epoch": 2}, r"line \d+, method\.reinforcement\.hyperparameters\.n_epoch: is not a field the lab knows"),
        ({"n_epochs": "three"}, r"hyperparameters\.n_epochs: must be \"auto\" or a number above 0 \(got \"three\"\)"),
        ({"batch_size": 2.5}, r"hyperparameters\.batch_size: must be \"auto\" or a whole number"),
        ({"reasoning_effort": "max"}, r"reasoning_effort: must be one of default, low, medium, high"),
        ({"learning_rate_multiplier": 1e6}, r"learning_rate_multiplier: it becomes learning_rate = 50\.0, which"),
    ],
)
def test_bad_hyperparameters_name_their_path_and_line(files, change, problem):
    job = body()
    job["method"]["reinforcement"]["hyperparameters"].update(change)
    path = write_job(files, job)
    with pytest.raises(LabError, match=problem) as e:
        openai_job.load_job(path)
    assert f"line {line_of(path, json.dumps(next(iter(change))))}, " in str(e.value)


def test_a_bad_grader_is_refused_where_it_is_wrong(files):
    job = body()
    job["method"]["reinforcement"]["grader"] = {**GRADER, "operation": "equals"}
    path = write_job(files, job)
    line = line_of(path, '"operation"')
    at = rf"line {line}, method\.reinforcement\.grader\.operation: 'equals' is not one of"
    with pytest.raises(LabError, match=at):
        openai_job.load_job(path)
    job["method"]["reinforcement"]["grader"] = {**GRADER, "reference": "{{item.solution}}"}
    with pytest.raises(LabError, match=r"grader\.reference: .*solution"):
        openai_job.load_job(write_job(files, job))
    (files / "valid.jsonl").write_text('{"question": "q?", "answer": "a"}\n', encoding="utf-8")  # no reference_answer
    job["method"]["reinforcement"]["grader"] = GRADER
    with pytest.raises(LabError, match=r"grader\.reference: in the validation file .*valid\.jsonl: .*reference_an"):
        openai_job.load_job(write_job(files, job))


# ----------------------------------------------------------------------------------------------------- CLI


def test_cli_exits_2_naming_the_field_before_any_run(files, fresh_home, capsys):
    job = write_job(files, body(training_file="file-abc123"))
    out = files / "run"
    assert main(["rft", "--openai-job", str(job), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "training_file: 'file-abc123' is an OpenAI file id" in err
    (files / "broken.json").write_text('{"model": ', encoding="utf-8")
    assert main(["rft", "--openai-job", str(files / "broken.json"), "--out", str(out)]) == 2
    assert "line 1, column 11: broken JSON" in capsys.readouterr().err
    assert not out.exists() and not runs.list_runs()


def test_a_job_trains_on_the_tiny_model_and_holds_out_the_validation_file(files, fresh_home, tiny_model, capsys):
    """``rft --openai-job JOB --data TRAIN --valid VALID``: the report first, then a real run whose held-out rows
    (before/after) are the validation file's, in its order, and whose steps come from n_epochs."""
    (files / "train.jsonl").write_text(rows(6), encoding="utf-8")
    hyper = {"n_epochs": 1, "batch_size": 2, "compute_multiplier": 0.25, "eval_interval": 2, "eval_samples": 2,
             "reasoning_effort": "low"}  # fmt: skip
    job = body(training_file="file-abc123", validation_file="file-def456")
    job["method"]["reinforcement"]["hyperparameters"] = hyper
    out = files / "run"
    argv = [
        "rft",
        "--openai-job",
        str(write_job(files, job)),
        "--data",
        str(files / "train.jsonl"),
        "--valid",
        str(files / "valid.jsonl"),
        "--model",
        "tiny",
        "--set",
        "max_completion_length=4",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "→ steps = 3: 1 epochs × 6 training questions ÷ 2 per step" in printed
    assert "a flag overrides the job: model = tiny (the job gave embedded)" in printed
    run = runs.Run(out)
    assert run.status()["state"] == "done"
    summary = run.summary()
    valid_questions = [json.loads(line)["messages"][0]["content"] for line in rows(4, 100).splitlines()]
    assert [e["question"] for e in summary["examples"]] == valid_questions
    assert summary["valid_size"] == 4 and summary["train_size"] == 6 and summary["steps"] == 3
    assert summary["config"]["num_generations"] == 2 and summary["config"]["warmup"] is False
    assert [m["step"] for m in run.metrics() if m["stage"] == "grpo" and "valid_reward" in m] == [0, 2, 3]
    assert not any(m["stage"] == "sft" for m in run.metrics()), "OpenAI's RFT has no warm-up"


def test_a_validation_file_without_the_graders_fields_is_refused_naming_it(files):
    from lab.methods import rft

    (files / "valid.jsonl").write_text('{"question": "q?", "answer": "a"}\n', encoding="utf-8")
    cfg = Config(task=str(files / "train.jsonl"), valid_task=str(files / "valid.jsonl"), graders=[GRADER])
    with pytest.raises(LabError, match=r"validation file .*valid\.jsonl: .*reference_answer"):
        rft.held_out_file(cfg)


# ------------------------------------------------------------------------------------------------------ page


def test_the_page_fills_its_settings_from_a_job_on_its_uploads(files, fresh_home):
    from lab.ui import rft_actions as act

    job = body(training_file="file-abc123", validation_file="file-def456")
    job["method"]["reinforcement"]["hyperparameters"]["batch_size"] = 12  # beyond the page's slider (8)
    path = write_job(files, job)
    with pytest.raises(LabError, match=r"the job trains on 'file-abc123', but this page would train on .*opposites"):
        act.load_job(path, "opposites")
    task, _ = act.save_upload(files / "train.jsonl")
    with pytest.raises(LabError, match=r"validation_file: 'file-def456' is an OpenAI file id"):
        act.load_job(path, task)
    valid, note = act.save_valid_upload(files / "valid.jsonl")
    assert "**valid.jsonl** (4 rows)" in note
    specs, values, frame, note = act.load_job(path, task, valid)
    assert json.loads(specs) == [GRADER]
    assert values["prompts_per_step"] == 8 and "prompts_per_step: the job asks for 12" in note
    assert values["steps"] == 2 and values["model"] == "embedded" and values["warmup"] is False
    assert list(frame.columns) == act.job_columns() and "model" in frame.iloc[:, 0].tolist()
    assert "train.jsonl" in frame.to_string() and "uploads" not in frame.to_string()
    with pytest.raises(LabError, match="unknown task set"):  # an API caller cannot point the run at another file
        act.run_config(task, specs, {"valid_task": str(files / "valid.jsonl")})
    config = act.run_config(task, specs, {**values, "valid_task": valid})
    assert config["valid_task"] == valid and config["prompts_per_step"] == 8
    local = write_job(files, body(), "local.json")  # paths in an uploaded job are not read on the server
    with pytest.raises(LabError, match=r"validation_file: 'valid\.jsonl' names a file on your computer"):
        act.load_job(local, task)


def test_the_page_job_note_counts_in_words_and_shows_the_grader_whole(files, fresh_home):
    from lab.ui import rft_actions as act

    task, _ = act.save_upload(files / "train.jsonl")
    valid, _ = act.save_valid_upload(files / "valid.jsonl")
    job = body(training_file="file-abc123", validation_file="file-def456")
    _, _, frame, note = act.load_job(write_job(files, job), task, valid)
    assert "12 of its fields set the graders" in note and "2 are ignored" in note
    job.pop("suffix")
    specs, _, frame, note = act.load_job(write_job(files, job), task, valid)
    assert "1 is ignored" in note and "1 are ignored" not in note
    grader = frame.set_index(act.job_columns()[0]).loc["method.reinforcement.grader"].iloc[0]
    assert json.loads(grader) == GRADER and "…" not in grader  # whole: the page's table wraps
    assert act.presets_in(specs) == []  # the preset picker no longer names one: the job's grader is no preset


def test_a_job_refused_on_the_page_says_so_without_markdown(files, fresh_home):
    from lab.ui import rft_actions as act

    with pytest.raises(LabError) as e:
        act.load_job(write_job(files, body(training_file="file-abc123")), "opposites")
    assert "would train on bundled task set opposites:" in e.value.text() and "**" not in e.value.text()


def test_a_broken_job_says_what_json_expected_in_the_visitors_language(tmp_path):
    from lab.texts import speaking

    path = tmp_path / "job.json"
    path.write_text('{"model": "o4-mini",\n "seed": 1,,}', encoding="utf-8")
    with speaking("zh"), pytest.raises(LabError) as e:
        openai_job.read_job(path, name="job.json")
    assert "第 2 行第 12 列：JSON 有误（此处应是用双引号括起的键名）" in e.value.text("zh")
    with pytest.raises(LabError, match=r"broken JSON \(Expecting property name enclosed in double quotes\)"):
        openai_job.read_job(path, name="job.json")  # English as Python words it
