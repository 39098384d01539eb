"""Graders on a whole task file (``python -m lab grade --data``, ``lab.grading.batch``, the RFT tab's "Grade the
task file"): stats that can be checked by hand, refused outputs files, --validate, model samples on the tiny model,
and the single-answer form unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab import LabError
from lab.__main__ import main
from lab.grading import batch
from lab.grading.batch import grade_rows, grade_stats, read_outputs

ROWS = [
    {"question": "Opposite of hot?", "answer": "cold", "hint": "temperature"},
    {"question": "Opposite of wet?", "answer": "dry", "hint": "water"},
    {"question": "Opposite of up?", "answer": "down"},  # no hint: a grader reading it cannot score this row
    {"question": "Opposite of big?", "answer": "small", "hint": "size"},
]
OUTPUTS = ["cold", "It is dry.", "left", "small"]
EXACT = {"type": "exact_match", "name": "exact"}
MULTI = {
    "type": "multi", "name": "mix", "calculate_output": "0.5 * answer + 0.5 * brevity",
    "graders": {"answer": {"type": "contains_answer"}, "brevity": {"type": "length", "max_words": 2}},
}  # fmt: skip
HINT = {"type": "string_check", "name": "hint", "operation": "ne", "reference": "{{item.hint}}"}


@pytest.fixture
def task_file(tmp_path) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def _outputs(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _grade(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["grade", *args])
    out, err = capsys.readouterr()
    return rc, out, err


# ----------------------------------------------------------------------------------------------------- stats


def test_stats_of_scores_by_hand():
    assert grade_stats([1.0, 0.0, 0.5, None]) == {
        "n": 4, "mean": 0.5, "zero_share": 0.333333, "one_share": 0.333333, "errors": 1,
    }  # fmt: skip
    assert grade_stats([None, None]) == {"n": 2, "mean": None, "zero_share": None, "one_share": None, "errors": 2}
    assert grade_stats([1.0, 1.0 - 1e-12, 0.25, 0.25])["one_share"] == 0.5  # float noise still counts as 1


def test_cli_grades_a_file_with_outputs_and_prints_stats_last(task_file, tmp_path, capsys):
    outputs = _outputs(tmp_path / "out.jsonl", [json.dumps({"output_text": o}) for o in OUTPUTS[:2]] + [""]
                       + [json.dumps({"output_text": o, "extra": 1}) for o in OUTPUTS[2:]])  # fmt: skip
    graders = ["--grader", json.dumps(EXACT), "--grader", json.dumps(MULTI), "--grader", json.dumps(HINT)]
    rc, out, err = _grade(capsys, *graders, "--data", str(task_file), "--outputs", str(outputs))
    assert rc == 0, err
    lines = out.strip().splitlines()
    summary = json.loads(lines[-1])
    # exact: cold ✓, "It is dry." ✗, left ✗, small ✓
    assert summary["exact"] == {"n": 4, "mean": 0.5, "zero_share": 0.5, "one_share": 0.5, "errors": 0}
    # contains_answer 1, 0.5, 0, 1; length ≤ 2 words 1, 0.5 (3 words), 1, 1 → halves: 1, 0.5, 0.5, 1
    assert summary["mix"] == {"n": 4, "mean": 0.75, "zero_share": 0.0, "one_share": 0.5, "errors": 0}
    # ne against the hint: every output differs from it (1.0), but row 3 has no hint: scored None
    assert summary["hint"] == {"n": 4, "mean": 1.0, "zero_share": 0.0, "one_share": 1.0, "errors": 1}
    assert set(summary) == {"exact", "mix", "hint"}
    table = "\n".join(lines[:-1])
    assert f"graded 4 rows of {task_file}: outputs from {outputs}" in table
    answer = next(line for line in lines if "└ answer" in line).split()
    brevity = next(line for line in lines if "└ brevity" in line).split()
    assert answer[3:8] == ["4", "0.625", "0.250", "0.500", "0"]  # n, mean, zero share, one share, errors
    assert brevity[3:8] == ["4", "0.875", "0.000", "0.750", "0"]


def test_grade_rows_on_plain_rows_reports_parts():
    report = grade_rows([MULTI], ROWS, OUTPUTS)
    (mix,) = report.graders
    assert [p.name for p in mix.parts] == ["answer", "brevity"]
    assert [p.scores for p in mix.parts] == [[1.0, 0.5, 0.0, 1.0], [1.0, 0.5, 1.0, 1.0]]
    assert mix.scores == [1.0, 0.5, 0.5, 1.0]
    with pytest.raises(LabError, match="3 outputs for 4 rows"):
        grade_rows([EXACT], ROWS, OUTPUTS[:3])


def test_graders_see_the_rows_as_in_a_run(tmp_path):
    """Every column, the conversation as item.prompt, in batches: a file longer than one batch scores every row."""
    rows = [{"prompt": [{"role": "user", "content": f"q{i}"}], "answer": str(i)} for i in range(batch.BATCH_ROWS + 5)]
    report = grade_rows([{"type": "exact_match"}], rows, [str(i) for i in range(len(rows))])
    assert report.summary()["exact_match"]["one_share"] == 1.0 and report.rows == len(rows)
    spec = {"type": "string_check", "operation": "eq", "input": "{{item.prompt[0].content}}", "reference": "q1"}
    assert grade_rows([spec], rows[:2], ["", ""]).graders[0].scores == [0.0, 1.0]


# ------------------------------------------------------------------------------------------ refused outputs


@pytest.mark.parametrize(
    ("lines", "where"),
    [
        ([json.dumps({"output_text": "cold"})] * 3, "(the last on line 3) but {data} has 4 rows: rows 4 to 4"),
        ([json.dumps({"output_text": "cold"})] * 5, "{outputs}, line 5: output 5, but {data} has only 4 rows"),
        ([json.dumps({"output_text": "cold"}), "", "", json.dumps({"output_text": "dry"}), "{broken", "[1]"],
         "line 5, column 2: not JSON"),
    ],
)  # fmt: skip
def test_outputs_count_mismatch_or_bad_line_exit_2_with_file_and_line(task_file, tmp_path, capsys, lines, where):
    outputs = _outputs(tmp_path / "out.jsonl", lines)
    rc, out, err = _grade(capsys, "--grader", json.dumps(EXACT), "--data", str(task_file), "--outputs", str(outputs))
    assert rc == 2 and out == ""
    assert where.format(data=task_file, outputs=outputs) in err
    assert "Traceback" not in err


def test_every_bad_outputs_line_is_named_at_once(tmp_path):
    outputs = _outputs(
        tmp_path / "out.jsonl", ['{"output_text": "a"}', '{"output": "b"}', '{"output_text": 3}', '"c"']
    )
    with pytest.raises(LabError) as e:
        read_outputs(outputs, 4, "tasks.jsonl")
    text = str(e.value)
    assert f"Cannot load {outputs}: 3 problems" in text
    assert "line 2: no \"output_text\" (fields: 'output')" in text
    assert 'line 3: "output_text" is a JSON number, not text' in text
    assert "line 4: a JSON string, not an object" in text
    for missing in (tmp_path / "none.jsonl", tmp_path):
        with pytest.raises(LabError, match="not found|is a folder"):
            read_outputs(missing, 4)
    with pytest.raises(LabError, match="is empty"):
        read_outputs(_outputs(tmp_path / "empty.jsonl", [""]), 4)


def test_what_to_grade_must_be_said_once(task_file, tmp_path, capsys):
    outputs = _outputs(tmp_path / "out.jsonl", [json.dumps({"output_text": o}) for o in OUTPUTS])
    for args in ([], ["--outputs", str(outputs), "--references"], ["--output", "x", "--references"]):
        rc, _, err = _grade(capsys, "--grader", json.dumps(EXACT), "--data", str(task_file), *args)
        assert rc == 2 and "error:" in err, args
    rc, _, err = _grade(capsys, "--grader", json.dumps(EXACT), "--outputs", str(outputs))
    assert rc == 2 and "add --data FILE" in err
    rc, _, err = _grade(capsys, "--grader", json.dumps(EXACT), "--grader", json.dumps(EXACT), "--data",
                        str(task_file), "--references")  # fmt: skip
    assert rc == 2 and "two graders are named 'exact'" in err
    rc, out, _ = _grade(capsys, "--grader", json.dumps(EXACT), "--data", str(task_file), "--references")
    assert rc == 0 and json.loads(out.splitlines()[-1])["exact"]["one_share"] == 1.0  # a reference is exact


# ------------------------------------------------------------------------------------------------ --validate


def test_validate_ok_and_bad_template_with_its_json_path(task_file, tmp_path, capsys):
    rc, out, err = _grade(capsys, "--grader", json.dumps(MULTI), "--grader", json.dumps(HINT), "--data",
                          str(task_file), "--validate")  # fmt: skip
    assert rc == 0, err
    assert out.splitlines()[-1] == "ok" and "grader #2 hint (string_check): ok" in out
    assert "fields: prompt, question, answer, hint" in out
    bad = json.loads(json.dumps(MULTI))
    bad["graders"]["answer"]["reference"] = "{{item.solution}}"
    rc, out, err = _grade(capsys, "--grader", json.dumps(EXACT), "--grader", json.dumps(bad), "--data",
                          str(task_file), "--validate")  # fmt: skip
    assert rc == 2 and out == ""
    assert "grader #2 (mix): graders.answer.reference: {{item.solution}} names a field the data does not have" in err
    # without data: the spec alone (as OpenAI's validate), or against --item
    rc, out, _ = _grade(capsys, "--grader", json.dumps(HINT), "--validate")
    assert rc == 0 and out.splitlines()[-1] == "ok"
    rc, _, err = _grade(capsys, "--grader", json.dumps(HINT), "--validate", "--item", '{"answer": "x"}')
    assert rc == 2 and "reference: {{item.hint}}" in err


def test_validate_reads_the_outputs_file_too(task_file, tmp_path, capsys):
    outputs = _outputs(tmp_path / "out.jsonl", [json.dumps({"output_text": "x"})] * 2)
    rc, _, err = _grade(capsys, "--grader", json.dumps(EXACT), "--data", str(task_file), "--outputs", str(outputs),
                        "--validate")  # fmt: skip
    assert rc == 2 and "has 2 outputs" in err


def test_python_graders_stay_off_until_enabled(task_file, capsys, monkeypatch):
    monkeypatch.delenv("LAB_PYTHON_GRADER", raising=False)
    spec = {"type": "python", "name": "py", "source": "def grade(sample, item):\n    return 1.0\n"}
    rc, out, err = _grade(capsys, "--grader", json.dumps(spec), "--data", str(task_file), "--references")
    assert rc == 2 and out == "" and "LAB_PYTHON_GRADER=1" in err
    rc, _, err = _grade(capsys, "--grader", json.dumps(spec), "--data", str(task_file), "--validate")
    assert rc == 2 and "LAB_PYTHON_GRADER=1" in err


# -------------------------------------------------------------------------------------------- model samples


def test_sample_2_on_the_tiny_model(task_file, tiny_model, capsys):
    graders = ["--grader", json.dumps(EXACT), "--grader", json.dumps(MULTI)]
    sample = ["--sample", "2", "--model", str(tiny_model), "--max-tokens", "8"]
    rc, out, err = _grade(capsys, *graders, "--data", str(task_file), *sample)
    assert rc == 0, err
    summary = json.loads(out.splitlines()[-1])
    assert {name: s["n"] for name, s in summary.items()} == {"exact": 2, "mix": 2}
    assert all(s["errors"] == 0 and 0.0 <= s["mean"] <= 1.0 for s in summary.values())
    assert "greedy answers of" in out and "to the first 2 rows (at most 8 new tokens" in out
    for bad in ("0", "-3"):
        rc, _, err = _grade(capsys, "--grader", json.dumps(EXACT), "--data", str(task_file), "--sample", bad)
        assert rc == 2 and "--sample must be a whole number of at least 1" in err


# ------------------------------------------------------------------------------------- single answer, as before


def test_single_answer_form_is_unchanged(capsys, monkeypatch):
    spec = {"type": "string_check", "name": "eq", "input": "{{sample.output_text}}", "reference": "{{item.answer}}",
            "operation": "eq"}  # fmt: skip
    rc, out, _ = _grade(capsys, "--grader", json.dumps(spec), "--output", "Paris", "--item", '{"answer": "Paris"}')
    assert rc == 0 and out == 'string_check eq: "Paris" vs "Paris" → 1.0\n1.0\n'
    rc, out, _ = _grade(capsys, "--grader", json.dumps({"type": "numeric"}), "--output", "none", "--item",
                        '{"answer": "seven"}')  # fmt: skip
    assert rc == 0 and out.splitlines()[-1] == "None"
    rc, _, err = _grade(capsys, "--grader", '{"type": "nonsense"}', "--output", "x")
    assert rc == 2 and "type: 'nonsense' is not one of" in err
    monkeypatch.delenv("LAB_PYTHON_GRADER", raising=False)
    rc, _, _ = _grade(capsys, "--grader", json.dumps({"type": "python", "source": "def grade(s, i):\n    return 1\n"}),
                      "--output", "x")  # fmt: skip
    assert rc != 0
    rc, _, err = _grade(capsys, "--grader", json.dumps(spec), "--grader", json.dumps(spec), "--output", "x")
    assert rc == 2 and "takes one --grader" in err


# ------------------------------------------------------------------------------------------------------ the UI


def test_the_playground_grades_the_task_file(tiny_model):
    from lab.ui import rft_actions as act

    specs = act.specs_json([EXACT, MULTI])
    seen = []
    summary, table, graded = act.grade_task_file(specs, "capitals", "references",
                                                 progress=lambda f, text: seen.append(f))  # fmt: skip
    assert "all 76 rows" in summary
    assert list(table.columns) == batch.table_columns()
    assert table.iloc[0].tolist()[:7] == ["exact", "exact_match", 76, 1.0, 0.0, 1.0, 0]
    assert table.iloc[2, 0] == "  └ answer" and seen[-1] == 1.0
    assert list(graded.columns) == ["question", "answer graded", "reference", "exact", "mix", "mix.answer",
                                    "mix.brevity"]  # fmt: skip
    assert len(graded) == 76 and graded.iloc[0, 1:4].tolist() == ["Paris", "Paris", 1.0]
    seen = []
    summary, table, graded = act.grade_task_file(specs, "capitals", "samples", 2, "tiny",
                                                 progress=lambda f, text: seen.append((f, text)))  # fmt: skip
    assert "first 2 rows" in summary and table["n"].tolist() == [2, 2, 2, 2]
    assert graded["question"].str.contains("capital of").all() and len(graded) == 2
    assert graded["reference"].tolist() == ["Paris", "Berlin"] and graded["exact"].notna().all()
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and seen[0][1] == "loading tiny…"  # the bar moves, never back
    assert any("answered 2 of 2" in text for _, text in seen) and any("grading" in text for _, text in seen)
    with pytest.raises(LabError, match="cannot answer here"):
        act.grade_task_file(specs, "capitals", "samples", 2, "../elsewhere")
    for n in (0, 65, 2.5):
        with pytest.raises(LabError, match="whole number from 1 to 64"):
            act.grade_task_file(specs, "capitals", "samples", n, "tiny")
    with pytest.raises(LabError, match="not something to grade"):
        act.grade_task_file(specs, "capitals", "everything")
    with pytest.raises(LabError, match="unknown task set"):
        act.grade_task_file(specs, "/etc/passwd", "references")


def test_the_graded_rows_give_each_answer_its_scores():
    report = grade_rows([EXACT, MULTI], ROWS, OUTPUTS)
    assert report.row_columns() == ["question", "answer graded", "reference", "exact", "mix", "mix.answer",
                                    "mix.brevity"]  # fmt: skip
    rows = report.row_table(ROWS, OUTPUTS)
    assert rows[0] == ["Opposite of hot?", "cold", "cold", 1.0, 1.0, 1.0, 1.0]
    assert rows[2][:4] == ["Opposite of up?", "left", "down", 0.0] and len(report.row_table(ROWS, OUTPUTS, 2)) == 2


def test_sampled_answers_come_in_batches_that_move_the_progress(monkeypatch):
    from lab import chat

    calls = []
    monkeypatch.setattr(chat, "load", lambda model: calls.append(("load", model)))
    monkeypatch.setattr(chat, "greedy_answers", lambda prompts, *a: calls.append(len(prompts)) or ["x"] * len(prompts))
    seen = []

    class Rows(list):
        def select(self, indices):
            return {"prompt": [self[i] for i in indices]}

    rows, answers = batch.sample_outputs(Rows(["q"] * 9), 6, "tiny", progress=lambda done, n: seen.append(done))
    assert answers == ["x"] * 6 and calls == [("load", "tiny"), batch.SAMPLE_BATCH_ROWS, 6 - batch.SAMPLE_BATCH_ROWS]
    assert seen == [0, batch.SAMPLE_BATCH_ROWS, 6]  # loaded, then after each batch


def test_the_rft_tab_has_the_button_and_endpoint():
    import gradio as gr

    from lab.ui.lang import resolve
    from lab.ui.rft_tab import build_rft_tab

    with gr.Blocks() as blocks:
        build_rft_tab()
    config = blocks.get_config_file()
    assert "grade_task_file" in {d.get("api_name") for d in config["dependencies"]}
    labels = {resolve(c.get("props", {}).get("value")) for c in config["components"] if c.get("type") == "button"}
    assert "Grade the task file" in labels
