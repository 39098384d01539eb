"""The web app without a browser: it builds, its named endpoints exist and answer, its pure helpers are right."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import gradio as gr
import plotly.graph_objects as go
import pytest

from lab import LabError, graders, plots, runs
from lab.ui import build_demo, runs_view
from lab.ui import rft_actions as act
from lab.ui.common import format_seconds, user_errors
from lab.ui.runs_tab import run_status, runs_frame

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = {
    "load_task", "upload_task", "pick_graders", "check_graders", "grade", "train", "stop", "list_runs", "view_run",
    "stop_run", "run_status",
}  # fmt: skip
METRICS = [
    {"stage": "grpo", "step": 0, "valid_reward": 0.2, "valid_accuracy": 0.1},
    {"stage": "sft", "step": 1, "loss": 3.0},
    {"stage": "sft", "step": 2, "loss": 2.0},
    {"stage": "grpo", "step": 1, "reward": 0.5, "reward_std": 0.1, "rewards/partial_credit/mean": 0.5,
     "completions/mean_length": 12.0},
    {"stage": "grpo", "step": 2, "reward": 0.7, "reward_std": 0.2, "rewards/partial_credit/mean": 0.7,
     "completions/mean_length": 9.0, "valid_reward": 0.6, "valid_accuracy": 0.5},
]  # fmt: skip
SUMMARY = {
    "model": "tiny", "task": "capitals", "valid_size": 2, "train_seconds": 3.0, "sft_seconds": 1.0,
    "grpo_seconds": 2.0, "eval_seconds": 1.0,
    "before": {"valid_reward": 0.25, "accuracy": 0.0}, "after_sft": {"valid_reward": 0.5, "accuracy": 0.5},
    "after": {"valid_reward": 1.0, "accuracy": 1.0},
    "examples": [{"question": "Capital of France?", "reference": "Paris", "before": "It is Paris.",
                  "before_reward": 0.5, "after_sft": "Paris", "after_sft_reward": 1.0, "after": "Paris",
                  "after_reward": 1.0}],
}  # fmt: skip


@pytest.fixture(scope="module")
def demo() -> gr.Blocks:
    return build_demo()


def _preset(kind: str) -> str:
    """The name of the first preset of a grader type (preset names are for people and may change)."""
    return next(name for name, spec in graders.PRESETS.items() if spec["type"] == kind)


def _fake_run(home: Path, state: str = "done") -> runs.Run:
    """A run folder written the way a worker writes it, without training anything."""
    run = runs.create("rft", {"task": "capitals", "model": "tiny"})
    run.set_status(state=state, stage="done" if state == "done" else "grpo", step=2, max_steps=2, started=1.0)
    for row in METRICS:
        run.log_metrics(row)
    run.log_samples([{"stage": "grpo", "step": 2, "prompt": "Capital of France?", "completion": "Paris",
                      "reward": 1.0, "scores": {"partial_credit": 1.0}}])  # fmt: skip
    if state == "done":
        run.write_summary(SUMMARY)
    return run


# ------------------------------------------------------------------------------------------------ the app


def test_ui_imports_no_torch():
    code = "import sys, lab.ui; bad = [m for m in ('torch', 'trl', 'peft') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_demo_builds_with_named_endpoints(demo):
    config = demo.get_config_file()
    names = {d.get("api_name") for d in config["dependencies"]}
    assert ENDPOINTS <= names
    assert len(ENDPOINTS) >= 5
    assert ENDPOINTS <= {fn.api_name for fn in demo.fns.values()}
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    assert {"Bundled task set", "Model output", "GRPO steps", "Run"} <= labels


def test_endpoints_answer_through_gradio_client(demo, fresh_home):
    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.queue().launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        info, preview, item, _ = client.predict("opposites", api_name="/load_task")  # the State output is not sent
        assert "opposites" in info and preview["data"] and "answer" in json.loads(item)
        specs = act.specs_json([{"type": "exact_match"}])
        reward, table = client.predict(specs, "Paris.", '{"answer": "paris"}', api_name="/grade")
        assert "reward = 1.000" in reward and table["data"][0][1] == 1.0
        assert "ready" in client.predict(specs, api_name="/check_graders")
        with pytest.raises(Exception, match="invalid JSON"):
            client.predict("[{", "x", "{}", api_name="/grade")
        run = _fake_run(fresh_home)
        assert client.predict(run.id, api_name="/run_status")["after"]["accuracy"] == 1.0
    finally:
        demo.close()


# ---------------------------------------------------------------------------------------------------- plots


def test_plots_handle_empty_and_full_metrics():
    for figure in (plots.reward_figure, plots.grader_figure, plots.completion_length_figure, plots.sft_loss_figure):
        empty = figure([])
        assert isinstance(empty, go.Figure) and not empty.data and empty.layout.annotations
        full = figure(METRICS)
        assert full.data and not full.layout.annotations
    reward = plots.reward_figure(METRICS)
    names = [t.name for t in reward.data]
    assert "train reward" in names and "valid reward" in names
    valid = next(t for t in reward.data if t.name == "valid reward")
    assert list(valid.x) == [0, 2]
    assert [t.name for t in plots.grader_figure(METRICS).data] == ["partial_credit"]
    assert list(plots.sft_loss_figure(METRICS).data[0].y) == [3.0, 2.0]
    assert plots.reward_figure([{"step": 1}]).layout.annotations  # a row with nothing to plot yet


# -------------------------------------------------------------------------------------------- RFT actions


def test_task_view_and_check_task(tmp_path):
    info, preview, item, example = act.task_view("capitals")
    assert "capitals" in info and len(preview) == 20 and "Paris" in example
    assert json.loads(item)["answer"] == "Paris"
    assert act.check_task("capitals") == "capitals"
    secret = tmp_path / "secret.csv"
    secret.write_text("question,answer\na,b\n")
    with pytest.raises(LabError, match="unknown task set"):
        act.check_task(str(secret))  # an API caller cannot make the lab read an arbitrary file


def test_save_upload(tmp_path, fresh_home):
    good = tmp_path / "my tasks.csv"
    good.write_text("question,answer\n2+2?,4\n3+3?,6\n")
    task, original = act.save_upload(good)
    assert original == "my tasks.csv" and Path(task).parent == fresh_home / "uploads"
    assert act.check_task(task) == task and "my_tasks.csv" in act.task_label(task)
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    with pytest.raises(LabError) as e:
        act.save_upload(bad)
    assert "bad.csv" in str(e.value) and str(tmp_path) not in str(e.value)


def test_parse_specs_and_presets():
    assert act.parse_specs('{"type": "exact_match"}') == [{"type": "exact_match"}]
    with pytest.raises(LabError, match="line 1, column"):
        act.parse_specs('[{"type": "exact_match",}]')
    with pytest.raises(LabError, match="grader #2"):
        act.parse_specs('[{"type": "exact_match"}, {"type": "nope"}]')
    with pytest.raises(LabError, match="named"):
        act.parse_specs('[{"type": "exact_match", "name": "a"}, {"type": "contains_answer", "name": "a"}]')
    custom = {"type": "regex", "name": "one_word", "pattern": "^\\w+$"}
    exact, length = _preset("exact_match"), _preset("length")
    merged = json.loads(act.merge_presets([exact, length], act.specs_json([custom])))
    assert [s["type"] for s in merged] == ["exact_match", "length", "regex"]
    assert json.loads(act.merge_presets([length], act.specs_json(merged))) == [merged[1], custom]  # unpicked
    with pytest.raises(LabError, match="invalid JSON"):
        act.merge_presets([exact], "[{")
    assert "2 graders ready" in act.check_graders(act.specs_json(merged[:2]), "capitals")
    with pytest.raises(LabError, match="country"):
        act.check_graders('[{"type": "exact_match", "reference": "{{item.nation}}"}]', "capitals")


def test_grade_explains_each_grader():
    specs = act.specs_json([{"type": "contains_answer", "name": "partial"}, {"type": "length", "max_words": 8}])
    verdict, table = act.grade(specs, "It is Paris.", '{"answer": "Paris"}')
    assert "reward = 1.500" in verdict
    assert list(table["grader"]) == ["partial", "length"] and list(table["score"]) == [0.5, 1.0]
    assert "contains" in table["why"][0]
    with pytest.raises(LabError, match="item JSON"):
        act.grade(specs, "x", "{nope")


def test_make_config_keeps_what_changed():
    values = {**act.defaults(), "steps": 2.0, "model": "tiny", "warmup": False}
    config = act.make_config("capitals", act.specs_json([{"type": "exact_match"}]), values)
    assert config == {"task": "capitals", "graders": [{"type": "exact_match"}], "steps": 2, "model": "tiny",
                      "warmup": False}  # fmt: skip
    assert isinstance(config["steps"], int)
    with pytest.raises(LabError, match="learning_rate"):
        act.make_config("capitals", '{"type": "exact_match"}', {"learning_rate": "fast"})
    assert set(act.KNOBS) <= set(act.defaults()) and all(act.help_text(k) for k in act.KNOBS)


# ------------------------------------------------------------------------------------------------ run view


def test_status_and_results_html():
    assert "No run selected" in runs_view.status_html(None)
    running = {"state": "running", "stage": "grpo", "step": 3, "max_steps": 12, "eta_seconds": 65, "started": 1}
    html = runs_view.status_html("r1", running)
    assert "3/12" in html and "1 min 05 s" in html and "width:25%" in html
    failed = runs_view.status_html("r1", {"state": "failed", "error": "worker <killed>"})
    assert "worker &lt;killed&gt;" in failed
    assert "interrupted" in runs_view.status_html("r1", {"state": "interrupted"})
    assert "finishes" in runs_view.accuracy_html(None)
    assert "stopped" in runs_view.accuracy_html(None, {"state": "stopped"})
    big = runs_view.accuracy_html(SUMMARY)
    assert big.count('class="big"') == 3 and "100.0 %" in big and "0.0 %" in big
    table = runs_view.examples_frame(SUMMARY)
    assert list(table.columns) == ["question", "reference", "before", "after SFT", "after RL"]
    assert table.iloc[0]["before"] == "It is Paris. [0.50]"
    empty = {"examples": [{"question": "q", "reference": "r", "before": "", "before_reward": 0.0, "after": "r",
                           "after_reward": 1.0}]}  # fmt: skip
    assert list(runs_view.examples_frame(empty).iloc[0]) == ["q", "r", "(empty) [0.00]", "r [1.00]"]


def test_samples_frame_shows_latest_step():
    rows = [{"stage": "grpo", "step": s, "prompt": "q", "completion": f"a{s}", "reward": 0.5 * s,
             "scores": {"partial_credit": 0.5 * s}} for s in (1, 2, 2)]  # fmt: skip
    frame = runs_view.samples_frame(rows)
    assert len(frame) == 2 and list(frame["completion"]) == ["a2", "a2"]
    assert list(frame.columns) == ["question", "completion", "reward", "partial_credit"]
    assert runs_view.samples_frame([]).empty and runs_view.latest_step(rows) == 2


def test_render_reads_the_folder_and_skips_unchanged_parts(fresh_home):
    run = _fake_run(fresh_home)
    with gr.Blocks():
        view = runs_view.build_progress().merge(runs_view.build_results())
    seen, *values = runs_view.render(view, run.id)
    assert len(values) == len(view.outputs())
    assert "done" in values[0] and isinstance(values[2], go.Figure) and values[2].data
    seen, *again = runs_view.render(view, run.id, seen)
    assert all(isinstance(v, type(gr.skip())) for v in again)  # nothing changed: nothing re-sent
    run.log_metrics({"stage": "grpo", "step": 3, "reward": 0.9})
    _, *third = runs_view.render(view, run.id, seen)
    assert isinstance(third[2], go.Figure) and isinstance(third[0], type(gr.skip()))
    _, *none = runs_view.render(view, None)
    assert "No run selected" in none[0]


def test_runs_frame_and_status(fresh_home):
    done = _fake_run(fresh_home)
    frame = runs_frame(runs.list_runs())
    assert frame.iloc[0]["run"] == done.id and frame.iloc[0]["accuracy before → after"] == "0.0 % → 100.0 %"
    status = run_status(done.id)
    assert status["state"] == "done" and status["after_sft"]["accuracy"] == 0.5 and "pid" not in status
    with pytest.raises(gr.Error):
        run_status("no-such-run")


def test_user_errors_and_formatting():
    @user_errors
    def fails():
        raise LabError("the lab is busy: wait")

    with pytest.raises(gr.Error, match="the lab is busy"):
        fails()
    assert format_seconds(59.6) == "1 min 00 s"
    assert os.environ["LAB_HOME"]  # conftest isolates every test from the user's runs
