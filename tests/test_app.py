"""The web app without a browser: it builds, its named endpoints exist and answer, its pure helpers are right."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import pandas as pd
import plotly.graph_objects as go
import pytest

from lab import LabError, grading, plots, runs
from lab.feedback import FeedbackStore
from lab.ui import TABS, answer_cards, build_demo, common, compare_tab, rft_view, rlhf_view, runs_tab, runs_view
from lab.ui import rft_actions as act
from lab.ui import rlhf_actions as ract
from lab.ui.common import format_seconds, user_errors
from lab.ui.lang import L, resolve
from lab.ui.runs_tab import run_status, runs_frame

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = {
    "load_task", "upload_task", "pick_graders", "check_graders", "grade", "train", "stop", "list_runs", "view_run",
    "stop_run", "run_status",
    # RLHF tab
    "chat", "rate", "sample_two", "prefer_a", "prefer_b", "random_prompt", "chat_models", "feedback_stats",
    "feedback_table", "delete_feedback", "import_feedback", "export_feedback", "simulate_feedback", "train_rlhf",
    "stop_rlhf", "poll_rlhf", "usable_feedback", "simulate_rest",
    # Compare tab
    "compare_runs", "compare_prompts", "compare_run_list",
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
    return next(name for name, spec in grading.PRESETS.items() if spec["type"] == kind)


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
    labels = {resolve(c.get("props", {}).get("label")) for c in config["components"]}  # page labels in English
    assert {"Bundled task set", "Model output", "GRPO steps", "Run"} <= labels
    assert {"Model to chat with", "Your message", "Answer A", "Persona", "Ratings to add", "Method", "Policy steps",
            "KL beta (RL)", "Run A", "Run B", "Prompts (one per line)"} <= labels  # fmt: skip
    assert [tab_id for tab_id, _, _ in TABS] == ["learn", "rft", "rlhf", "runs", "compare"]  # Learn first
    assert resolve(L(TABS[2][1])) == "RLHF: human ratings → reward model → RL"
    chatbot = next(c for c in config["components"] if c.get("type") == "chatbot")
    assert chatbot["props"]["feedback_options"] == ["Like", "Dislike"]
    # one set of defaults: the page simulates as many ratings as the benchmarked demo (Config), not a literal
    from lab.methods.rlhf_config import Config as RLHFConfig

    ratings = next(c for c in config["components"] if resolve(c.get("props", {}).get("label")) == "Ratings to add")
    assert ratings["props"]["value"] == RLHFConfig().simulate == 256
    assert "Feedback this run will train on" in labels


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
        # RLHF tab: a streamed chat answer from the tiny model, a prompt idea, the (empty) store's table
        _, history = client.predict("Hi", [], "tiny", 0.0, 16, api_name="/chat")
        assert [m["role"] for m in history] == ["user", "assistant"]
        assert client.predict(api_name="/random_prompt")[0]
        assert client.predict("ratings", api_name="/feedback_table")["headers"] == ract.RATING_COLUMNS
        with pytest.raises(Exception, match="unknown model"):
            client.predict("Hi", [], "../../etc", 0.0, 16, api_name="/chat")
        with pytest.raises(Exception, match="sample two answers first"):
            client.predict(api_name="/prefer_a")
        # the API speaks the caller's language as the page does (Accept-Language; the page switch's cookie wins)
        zh = Client(f"http://127.0.0.1:{port}/", verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        assert "高质量任务数据和参考答案" in zh.predict(api_name="/learn_table")
        assert "high-quality task data" in client.predict(api_name="/learn_table")
        with pytest.raises(Exception, match="JSON 无效"):
            zh.predict("[{", "x", "{}", api_name="/grade")
        chosen = Client(f"http://127.0.0.1:{port}/", verbose=False,
                        headers={"Accept-Language": "zh-CN", "Cookie": "lab_lang=en"})  # fmt: skip
        assert "high-quality task data" in chosen.predict(api_name="/learn_table")
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
    assert list(valid.x) == [2, 4]  # one time line: SFT took steps 1–2, so GRPO's steps 0 and 2 sit at 2 and 4
    assert reward.layout.shapes[0].x0 == 2 and "SFT → GRPO" in reward.layout.xaxis.title.text  # GRPO starts at 2
    with_base = plots.reward_figure([{"stage": "base", "step": 0, "valid_reward": 0.1}, *METRICS])
    assert list(next(t for t in with_base.data if t.name == "valid reward").x) == [0, 2, 4]  # base, after SFT, RL
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


def test_a_small_upload_shows_its_split_and_what_it_can_show(tmp_path, fresh_home):
    small = tmp_path / "small.csv"
    small.write_text("question,answer\n" + "".join(f"What is {i} plus 1?,{i + 1}\n" for i in range(16)))
    task, _ = act.save_upload(small)
    info = act.task_view(task)[0]
    assert "**8** questions to train on, **8** held out" in info and "asks for 40" in info and "⚠️" in info
    assert "⚠️" not in act.task_view("opposites")[0] and "**63** questions to train on" in act.task_view("opposites")[0]


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
    config = act.run_config("capitals", act.specs_json([{"type": "exact_match"}]), values)
    assert config == {"task": "capitals", "graders": [{"type": "exact_match"}], "steps": 2, "model": "tiny",
                      "warmup": False}  # fmt: skip
    assert isinstance(config["steps"], int)
    with pytest.raises(LabError, match="learning_rate"):
        act.run_config("capitals", '{"type": "exact_match"}', {"learning_rate": "fast"})
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


def test_poll_timer_ticks_only_while_the_watched_run_is_active(demo, fresh_home):
    """An idle page polls nothing (each tick costs the training worker CPU): the tick that finds no active run turns
    its timer off, a run that is training keeps it on until it ends, and showing a run turns it on again."""
    fns = {fn.api_name: fn.fn for fn in demo.fns.values()}
    timer, run_id, seen, *_ = fns["poll_rft"](None, None)  # the first tick after the page opened: nothing training
    assert run_id is None and isinstance(timer, gr.Timer) and timer.active is False
    run = _fake_run(fresh_home, state="running")
    timer, run_id, seen, *_ = fns["poll_rft"](None, None)  # a page opened while a run trains watches it
    assert run_id == run.id and not isinstance(timer, gr.Timer)  # gr.skip(): the timer stays on
    run.set_status(state="done")
    timer, seen, *_ = fns["poll_runs"](run.id, seen)
    assert isinstance(timer, gr.Timer) and timer.active is False
    timer, shown, *_ = fns["view_run"](run.id)
    assert shown == run.id and timer.active is True


def test_runs_frame_and_status(fresh_home):
    done = _fake_run(fresh_home)
    frame = runs_frame(runs.list_runs())
    assert frame.iloc[0]["run"] == done.id
    assert frame.iloc[0]["result"] == "accuracy 0.0 % → 50.0 % (SFT) → 100.0 % (RL)"
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


# ------------------------------------------------------------------------------------------------------ RLHF

RLHF_METRICS = [
    {"stage": "reward_model", "step": 1, "loss": 0.7},
    {"stage": "reward_model", "step": 2, "heldout_accuracy": 0.75},
    {"stage": "rl", "step": 0, "win_rate": 0.5, "eval_rm_score": -0.2},
    {"stage": "rl", "step": 1, "reward": 0.1, "reward_std": 0.3, "kl": 0.0, "completions/mean_length": 30.0},
    {"stage": "rl", "step": 2, "reward": 0.4, "reward_std": 0.2, "kl": 0.01, "completions/mean_length": 21.0,
     "win_rate": 0.7, "eval_rm_score": 0.3},
    {"stage": "evaluate", "step": 2, "win_rate": 0.65},
]  # fmt: skip
RLHF_SUMMARY = {
    "method": "rlhf", "algorithm": "rm-rl", "rl_algorithm": "grpo", "model": "tiny", "persona": "concise",
    "train_seconds": 30.0, "eval_seconds": 5.0, "win_rate": 0.65, "verdicts": {"tuned": 12, "base": 6, "tie": 2},
    "heldout_prompts": 20, "before": {"rm_score": -0.5, "mean_words": 40.0},
    "after": {"rm_score": 0.8, "mean_words": 12.0},
    "reward_model": {"accuracy": 0.75, "n_heldout_pairs": 4, "chosen_scores": [1.0, 0.5, 0.2, 0.9],
                     "rejected_scores": [0.1, 0.7, -0.3, 0.0]},
    "feedback": {"pairs_used": 40, "ratings_used": 80},
    "examples": [{"prompt": "Why is the sky blue?", "base": "Because of Rayleigh scattering, which …", "tuned":
                  "Scattering.", "base_rm": -0.4, "tuned_rm": 0.9, "verdict": "tuned"}],
}  # fmt: skip


def _fake_rlhf_run(state: str = "done") -> runs.Run:
    """An RLHF run folder as its worker writes it (with an adapter folder, so the chat can pick it)."""
    run = runs.create("rlhf", {"method": "rm-rl", "feedback": "store", "model": "tiny"})
    run.set_status(state=state, stage="done" if state == "done" else "rl", step=2, max_steps=2, started=1.0)
    for row in RLHF_METRICS:
        run.log_metrics(row)
    run.log_samples([{"stage": "reward_model", "prompt": "Hi", "chosen": "Hi.", "rejected": "Hello, how …",
                      "chosen_score": c, "rejected_score": r}
                     for c, r in zip([1.0, 0.5], [0.1, 0.7], strict=True)])  # fmt: skip
    run.log_samples([{"stage": "rl", "step": 2, "prompt": "Hi", "completion": "Hi.", "reward": 0.9}])
    if state == "done":
        run.write_summary(RLHF_SUMMARY)
        run.adapter_dir.mkdir()
        (run.adapter_dir / "adapter_config.json").write_text("{}")
    return run


def test_ui_doctests():
    import doctest

    for module in (common, ract, rft_view, rlhf_view, runs_tab, compare_tab, plots, answer_cards, runs_view):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_rlhf_plots_handle_empty_and_full_metrics():
    for figure in (plots.rm_score_figure, plots.kl_figure, plots.win_rate_figure):
        assert not figure([]).data and figure([]).layout.annotations
        assert figure(RLHF_METRICS).data
    assert [t.name for t in plots.win_rate_figure(RLHF_METRICS).data] == ["held-out subset", "final (all held-out)"]
    assert list(plots.completion_length_figure(RLHF_METRICS, stage="rl").data[-1].y) == [30.0, 21.0]
    assert not plots.completion_length_figure(RLHF_METRICS).data  # the RFT default stage is grpo
    kto = [{"stage": "kto", "step": 1, "loss": 0.5, "kl": 0.1}, {"stage": "kto", "step": 2, "loss": 0.4, "kl": 0.2}]
    assert "KTO loss" in plots.rm_score_figure(kto).layout.title.text and plots.kl_figure(kto).data
    assert "sample no answers" in plots.completion_length_figure(kto, stage="rl").layout.annotations[0].text
    assert not plots.rm_histogram_figure([], None).data
    histogram = plots.rm_histogram_figure([1.0, 0.5], [0.1, 0.7])
    assert len(histogram.data) == 2 and "accuracy 50 %" in histogram.layout.title.text


def test_rlhf_run_view(fresh_home):
    running = {"state": "running", "method": "rlhf", "stage": "reward_model", "step": 3, "max_steps": 12,
               "eta_seconds": 5, "started": 1}  # fmt: skip
    html = runs_view.status_html("r1", running)
    assert "3/12" in html and '<span class="chip on">③ reward model</span>' in html
    assert "④ RL (or KTO / DPO)" in runs_view.status_html("r1", {**running, "stage": "rl (base answers)"})
    big = runs_view.accuracy_html(RLHF_SUMMARY)
    assert "65.0 %" in big and "-0.50 → 0.80" in big and "75.0 %" in big and "concise prefers tuned 12" in big
    # the feedback the run used and the reward model's held-out pairs beside the win rate, and the benchmark's
    assert "feedback used" in big and "40 pairs" in big and "80 ratings" in big
    assert "4 held-out pairs" in big and "one pair moves the accuracy by 25.0 %" in big
    assert "69 pairs, reward model 95.5 % on 22 held-out pairs, win rate 93.8 %" in big
    used = {**RLHF_SUMMARY, "reward_model": {**RLHF_SUMMARY["reward_model"], "n_train_pairs": 36},
            "feedback": {"given": "store", "pairs_used": 40, "ratings_used": 80,
                         "stats": {"human": 5, "simulated": 150, "imported": 0}}}  # fmt: skip
    big = runs_view.accuracy_html(used)
    assert "36 pairs to train on, 4 held out" in big and "people 5 · simulated 150 · imported 0 rows" in big
    assert "win rate" in runs_view.accuracy_html(None, {"method": "rlhf"})
    table = runs_view.examples_frame(RLHF_SUMMARY)
    assert list(table.columns) == ["prompt", "base", "tuned", "verdict"]
    assert list(table.iloc[0])[2:] == ["Scattering. [0.90]", "concise prefers tuned"]
    run = _fake_rlhf_run()
    with gr.Blocks():
        view = runs_view.build_progress(method="rlhf").merge(runs_view.build_reward_model())
        view = view.merge(runs_view.build_results(method="rlhf"))
    _, *values = runs_view.render(view, run.id)
    kinds = [kind for kind, _ in view.slots()]
    figures = [v for v in values if isinstance(v, go.Figure)]
    assert [f.layout.title.text for f in figures][:2] == ["Reward-model score of the policy's answers",
                                                         "KL to the base model"]  # fmt: skip
    histogram = values[kinds.index("reward_model")]
    assert histogram.visible and "accuracy 50 %" in histogram.value["plot"]  # from the samples, as soon as trained
    assert rlhf_view.reward_model_scores([], RLHF_SUMMARY) == ([1.0, 0.5, 0.2, 0.9], [0.1, 0.7, -0.3, 0.0])
    frame = runs_frame(runs.list_runs())
    assert frame.iloc[0]["data"] == "rm-rl on the feedback store"
    assert frame.iloc[0]["result"] == "win rate 65.0 % · RM score -0.50 → 0.80"
    status = run_status(run.id)
    assert status["win_rate"] == 0.65 and status["after"] == {"rm_score": 0.8, "mean_words": 12.0}


def test_chat_models_and_rating(fresh_home, monkeypatch):
    run = _fake_rlhf_run()
    _fake_rlhf_run(state="failed")  # no adapter: not offered
    assert [v for _, v in common.model_choices()] == ["embedded", "tiny", run.id]
    assert common.resolve_model(run.id) == ("tiny", str(run.adapter_dir), f"tiny+{run.id}")
    assert common.resolve_model("tiny") == ("tiny", None, "tiny")
    for bad in ("../secret", "/etc", "nope"):
        with pytest.raises(LabError, match="unknown model"):
            common.resolve_model(bad)
    monkeypatch.setenv("LAB_CHAT_MODEL", "tiny")
    assert common.default_chat_model() == "tiny" and common.resolve_model(None)[0] == "tiny"

    store = FeedbackStore(fresh_home / "fb.sqlite")
    history = [{"role": "user", "content": [{"type": "text", "text": "2+2?"}]},
               {"role": "assistant", "content": [{"type": "text", "text": "4"}]},
               {"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6"}]  # fmt: skip
    assert ract.rated_turn(history, 3) == ("And 3+3?", "6")
    with pytest.raises(LabError, match="only the model's answers"):
        ract.rated_turn(history, 0)
    with pytest.raises(LabError, match="wait until the answer is complete"):
        ract.rate(history, 3, True, {"1": {"model": "tiny"}}, "s1", store)
    meta, note = ract.rate(history, 1, True, {"1": {"model": "tiny"}}, "s1", store)
    assert note == "thumb up stored" and store.stats()["liked"] == 1
    meta, _ = ract.rate(history, [1], False, meta, "s1", store)  # changed one's mind: replaced, not added
    ratings = store.ratings()
    assert len(ratings) == 1 and not ratings.iloc[0]["label"] and ratings.iloc[0]["model"] == "tiny"
    assert ratings.iloc[0]["prompt"] == "2+2?" and ratings.iloc[0]["session"] == "s1"
    meta, note = ract.rate(history, 1, "", meta, "s1", store)  # un-clicked
    assert note == "rating removed" and store.stats()["ratings"] == 0 and "rating" not in meta["1"]

    with pytest.raises(LabError, match="sample two answers first"):
        ract.prefer("A", None, "s1", store)
    pending = {"prompt": "Hi?", "a": "Hello.", "b": "Hey there, how are you?", "model": "tiny"}
    assert ract.prefer("B", pending, "s1", store) == "stored: B is better"
    assert store.pairs().iloc[0]["chosen"] == "Hey there, how are you?"
    html = ract.stats_html(store.stats())
    assert '<b class="n-ratings">0</b> ratings' in html and "<b>1</b> pairs" in html


def test_feedback_review_import_export(fresh_home, tmp_path):
    store = FeedbackStore()
    store.add_rating("Q?", "A.", True, session="s")
    store.add_rating("Q?", "B.", False, session="s")
    table = ract.feedback_table("ratings")
    assert list(table.columns) == ract.RATING_COLUMNS and list(table["label"]) == ["disliked", "liked"]
    assert ract.parse_ids("3, 5-7;9") == [3, 5, 6, 7, 9]
    with pytest.raises(LabError, match="not an id"):
        ract.parse_ids("3, x")
    assert ract.delete_feedback("ratings", str(table.iloc[0]["id"])) == "deleted 1 rating"
    good = tmp_path / "good.jsonl"
    good.write_text('{"prompt": "Hi?", "chosen": "Hi.", "rejected": "Go away."}\n')
    assert ract.import_feedback(good) == "imported 0 ratings and 1 pairs from good.jsonl"
    assert FeedbackStore().pairs().iloc[0]["source"] == "import:good.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Hi?", "chosen": "Hi."}\n')
    with pytest.raises(LabError) as e:
        ract.import_feedback(bad)
    assert "bad.jsonl" in str(e.value) and str(tmp_path) not in str(e.value)
    assert len(FeedbackStore().pairs()) == 1  # all or nothing
    path = ract.export_feedback("paired", "jsonl", False)
    assert Path(path).name == "feedback_paired.jsonl" and "Go away." in Path(path).read_text()
    FeedbackStore().clear()
    with pytest.raises(LabError, match="nothing to export"):
        ract.export_feedback("unpaired", "csv", False)


def test_rlhf_train_config_and_checks(fresh_home):
    values = {**ract.defaults(), "steps": 3.0, "model": "tiny", "persona": ""}
    config = ract.run_config("dpo", values)
    assert config == {"route": "dpo", "steps": 3, "model": "tiny", "persona": "", "feedback": "store"}
    assert set(ract.KNOBS) <= set(ract.defaults()) and all(ract.help_text(k) for k in ract.KNOBS)
    assert "PPO" in ract.method_help("kto") and "KTO" in ract.method_help("kto")
    with pytest.raises(LabError, match="needs at least 8"):
        ract.check_feedback("rm-rl", {"pairs": 3, "derived_pairs": 4})
    ract.check_feedback("dpo", {"pairs": 3, "derived_pairs": 5})
    with pytest.raises(LabError, match="KTO needs"):
        ract.check_feedback("kto", {"liked": 5, "disliked": 0})
    with pytest.raises(LabError, match="preference pairs"):
        ract.start_run("rm-rl", values)  # the store is empty: refused before a worker starts
    assert not runs.list_runs()
    with pytest.raises(LabError, match="between 4 and 2000"):
        ract.simulate("concise", 3, "tiny")
    with pytest.raises(LabError, match="base model"):
        ract.simulate("concise", 10, "some-run")


def test_first_simulate_click_is_the_command_line_demo(fresh_home, tmp_path):
    """The page's first *Add simulated ratings* draws the CLI demo's feedback (same prompts, same seed); the next
    click draws other answers to other prompts."""
    from lab.feedback import personas
    from lab.methods.rlhf import simulate_feedback
    from lab.methods.rlhf_config import Config

    cfg = Config()
    train, _ = personas.split_prompts(personas.load_prompts(), cfg.heldout, cfg.seed)
    assert ract.simulation_plan(FeedbackStore(), cfg) == (train, cfg.seed)
    ract.simulate("concise", 8, "tiny")
    cli = FeedbackStore(tmp_path / "cli.sqlite")
    simulate_feedback("concise", "tiny", cli, 8, train, seed=cfg.seed)
    columns = ["prompt", "completion", "label", "session"]
    page = FeedbackStore().ratings()[columns]
    assert len(page) == 8 and page.equals(cli.ratings()[columns])
    prompts, seed = ract.simulation_plan(FeedbackStore(), cfg)
    assert seed == cfg.seed + 1 and sorted(prompts) == sorted(train) and prompts != train
    ract.simulate("concise", 8, "tiny")
    assert FeedbackStore().ratings()["session"].nunique() == 2


def _usable_store(train: list[str], heldout: list[str]) -> FeedbackStore:
    """A store as a class leaves it: people's thumbs and pairs, two personas' and an import's, some of them on the
    held-out prompts (which no run trains on)."""
    store = FeedbackStore()
    store.add_pair(train[0], "Short.", "A long and winding answer.", session="s")  # people: 1 explicit pair
    store.add_rating(train[1], "Yes.", True, session="s")
    store.add_rating(train[1], "Well, maybe, it depends.", False, session="s")  # people: +1 derived pair
    store.add_rating(train[0], "Short.", True, session="s")  # the same pair as the explicit one: counted once
    store.add_rating(train[0], "A long and winding answer.", False, session="s")
    store.add_pair(heldout[0], "No.", "Nope, not at all, never.", session="s")  # held out: not used
    store.add_rating(heldout[0], "No.", True, session="s")
    sim = {"source": "simulated:concise", "session": "x"}
    pol = {"source": "simulated:polite", "session": "x"}
    store.add_many(
        [{"prompt": p, "completion": c, "label": label, **sim} for p in (train[2], heldout[1])
         for c, label in (("Ok.", True), ("Ok then, here it is, at length.", False))],
        [*({"prompt": p, "chosen": "Fine.", "rejected": "Fine, if you insist, here goes.", **sim}
           for p in (train[3], train[4], heldout[2])),
         {"prompt": train[5], "chosen": "Thank you!", "rejected": "Whatever.", **pol}],
    )  # fmt: skip
    store.add_pair(train[6], "Hi.", "Hello there, how are you today?", source="import:class.csv")
    return store


def test_usable_feedback_counts_what_training_uses(fresh_home):
    from lab.feedback import personas
    from lab.messages import prompt_text
    from lab.methods.rlhf_config import Config as RLHFConfig
    from lab.methods.rlhf_feedback import training_feedback, usable_feedback

    cfg = RLHFConfig()
    train, heldout = personas.split_prompts(personas.load_prompts(), cfg.heldout, cfg.seed)
    store = _usable_store(train, heldout)
    # what lab.methods.rlhf.train takes from the store, step by step as it does
    held = set(heldout)
    pairs = [p for p in store.preference_pairs(include_derived=True, conversational=True)
             if prompt_text(p["prompt"]) not in held]  # fmt: skip
    ratings = [r for r in store.unpaired(conversational=True) if prompt_text(r["prompt"]) not in held]
    assert training_feedback(store, cfg) == (pairs, ratings)
    u = usable_feedback(store, cfg)
    assert len(pairs) == 8 and u["pairs"] == 7  # the reward model reads a repeated pair once
    assert u["left_out"] == {"pairs": 3, "ratings": 3, "repeated_pairs": 1, "heldout_prompts": 40}
    assert u["ratings"] == len(ratings) == 6 and (u["liked"], u["disliked"]) == (3, 3)
    assert u["by_source"] == {"human": {"pairs": 2, "ratings": 4}, "import:class.csv": {"pairs": 1, "ratings": 0},
                              "simulated:concise": {"pairs": 3, "ratings": 2},
                              "simulated:polite": {"pairs": 1, "ratings": 0}}  # fmt: skip
    assert u["groups"] == {"people": {"pairs": 2, "ratings": 4}, "simulated": {"pairs": 4, "ratings": 2},
                           "imported": {"pairs": 1, "ratings": 0}}  # fmt: skip
    assert (u["unit"], u["have"], u["needed"], u["missing"], u["enough"]) == ("pairs", 7, 67, 60, False)
    assert u["simulate"] == 224  # 60 pairs × 256/69 ratings, in whole prompts of four
    kto = usable_feedback(store, RLHFConfig(route="kto"))
    assert (kto["unit"], kto["have"], kto["needed"], kto["simulate"]) == ("ratings", 6, 64, 60)
    html = ract.usable_html(u)
    assert "<b>7</b> usable pairs (people 2, simulated 4 (concise 3, polite 1), imported 1 (class.csv))" in html
    assert "not used: 3 pairs and 3 ratings on the 40 held-out prompts" in html
    assert "1 repeated pairs counted once" in html and "Train is refused below 8 pairs" in html
    with pytest.raises(LabError, match="has 7 usable preference pairs"):  # 11 in the store, 7 that a run can use
        ract.start_run("rm-rl", {"model": "tiny"})
    assert store.stats()["pairs"] + store.stats()["derived_pairs"] == 11 and not runs.list_runs()


def test_usable_feedback_warns_below_the_default_only(fresh_home, monkeypatch):
    from lab.feedback import personas
    from lab.methods.rlhf_config import Config as RLHFConfig
    from lab.methods.rlhf_feedback import pairs_needed, ratings_for_pairs
    from lab.ui import rlhf_tab

    cfg = RLHFConfig()
    train, heldout = personas.split_prompts(personas.load_prompts(), cfg.heldout, cfg.seed)
    needed = pairs_needed(cfg.rm_heldout_share)
    assert needed == 67  # about 20 held-out pairs at the default share 0.3
    store = FeedbackStore()
    empty = ract.usable("rm-rl", 0.3, 40, 0)
    assert empty["simulate"] == ratings_for_pairs(67) == 252 and "Train is refused below 8 pairs" in ract.usable_html(
        empty
    )
    sim = {"source": "simulated:concise", "session": "x"}
    rows = [{"prompt": train[i % len(train)], "chosen": f"Yes {i}.", "rejected": f"Well, yes {i}, I think so.", **sim}
            for i in range(needed)]  # fmt: skip
    store.add_many([], rows[:-1])
    html, button = rlhf_tab.usable_view("rm-rl", 0.3, 40, 0, "concise")
    warning = (f"⚠ {needed - 1} usable pairs: the reward model needs about {needed} to learn the rater&#x27;s taste "
               "and be judged on 20 held-out pairs — simulate about 4 more ratings.")  # fmt: skip
    assert warning in html and button.visible and button.value == "Simulate the rest: 4 ratings by concise"
    asked = []
    monkeypatch.setattr(ract, "simulate", lambda persona, n, model, progress=None, owner="":
                        asked.append((persona, n, model)) or "✓ simulated")  # fmt: skip
    note, *_ = rlhf_tab.simulate_rest("rm-rl", 0.3, 40, 0, "polite", "tiny", progress=lambda *a, **k: None)
    assert asked == [("polite", 4, "tiny")] and note == "✓ simulated"  # the missing count, the chosen persona
    store.add_many([], rows[-1:])
    html, button = rlhf_tab.usable_view("rm-rl", 0.3, 40, 0, "concise")
    assert "⚠" not in html and f"✓ Enough for the default: {needed} usable pairs" in html and not button.visible
    html, _ = rlhf_tab.usable_view("dpo", 0.5, 40, 0, "concise")  # a larger held-out share needs fewer pairs
    assert "✓ Enough" in html
    html, button = rlhf_tab.usable_view("rm-rl", 0.2, 40, 0, "concise")  # a smaller one more: 100
    assert "needs about 100" in html and button.visible
    # KTO counts ratings: 64 with both kinds
    ratings = [{"prompt": train[i], "completion": f"Answer {i}.", "label": i % 2 == 0, **sim} for i in range(64)]
    store.add_many(ratings[:-1])
    html, button = rlhf_tab.usable_view("kto", 0.3, 40, 0, "concise")
    assert "⚠ 63 usable ratings (32 liked, 31 disliked): KTO needs about 64" in html and button.visible
    store.add_many(ratings[-1:])
    html, button = rlhf_tab.usable_view("kto", 0.3, 40, 0, "concise")
    assert "✓ Enough for KTO" in html and not button.visible


def test_compare_helpers(fresh_home):
    a, rft = _fake_rlhf_run(), _fake_run(fresh_home)
    assert compare_tab.heldout_prompts([a.id, rft.id, None]) == ["Why is the sky blue?", "Capital of France?"]
    with pytest.raises(LabError, match="unknown run"):
        compare_tab.heldout_prompts([str(a.dir)])
    assert compare_tab.parse_prompts("a\n\n a \nb") == ["a", "b"]
    with pytest.raises(LabError, match="at most"):
        compare_tab.parse_prompts("\n".join(map(str, range(20))))
    with pytest.raises(LabError, match="at least one"):
        compare_tab.sides(None, None)
    assert compare_tab.sides(a.id, None) == [("base (tiny)", "tiny", None), (f"A: {a.id}", "tiny", str(a.adapter_dir))]


# ------------------------------------------------------------------------------------- answers side by side

LONG_ANSWER = "The capital of France is Paris, a city on the Seine. " * 12


def test_rft_answers_as_cards():
    summary = {**SUMMARY, "examples": [{**SUMMARY["examples"][0], "before": LONG_ANSWER + "<b>bold</b>"}]}
    html = runs_view.examples_cards(summary)
    assert html.count('class="answer-card"') == 1
    titles = re.findall(r'class="answer-field[^"]*" data-field="([^"]+)"', html)
    assert titles == ["before (base model)", "after SFT", "after RL"]  # base | after SFT | after RL, side by side
    assert html.count('class="score-field"') == 3 and "reward 0.50" in html and "reward 1.00" in html
    assert html.count("verdict-field") == 3 and "✓ exact match" in html and "✗ not exact" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html  # escaped
    assert '<details class="fold">' in html  # a long answer folds
    assert "answer-field changed" in html and "reference:" in html and "Paris" in html
    assert "--answer-columns:3" in html
    no_sft = {"examples": [{k: v for k, v in SUMMARY["examples"][0].items() if not k.startswith("after_sft")}]}
    assert re.findall(r'data-field="([^"]+)"', rft_view.examples_cards(no_sft)) == ["before (base model)", "after RL"]
    waiting = runs_view.examples_cards(None)
    assert 'class="answer-card"' not in waiting and "appear here" in waiting


def test_rlhf_answers_as_cards():
    html = runs_view.examples_cards(RLHF_SUMMARY)
    assert re.findall(r'data-field="([^"]+)"', html) == ["base model", "tuned"]
    assert "RM score -0.40" in html and "RM score 0.90" in html
    assert "★ concise prefers this" in html and "answer-field changed preferred" in html
    cut = {**RLHF_SUMMARY, "examples": [{**RLHF_SUMMARY["examples"][0], "verdict": "tie", "base_complete": False}]}
    html = runs_view.examples_cards(cut)
    assert html.count("tie for concise") == 2 and "cut at the length limit" in html


def test_cards_show_ten_and_fold_the_rest():
    many = {"method": "rlhf", "examples": [{"prompt": f"p{i}", "base": "a", "tuned": "b"} for i in range(14)]}
    html = runs_view.examples_cards(many)
    assert html.count('class="answer-card"') == 14 and "Show the other 4 prompts" in html
    assert answer_cards.diff_segments("It is Paris.", "It is Rome.") == [("It is ", False), ("Rome.", True)]


def test_compare_cards():
    frame = pd.DataFrame({"prompt": ["Hi?"], "base (tiny)": ["Hello."], "A: r1": ["Hello."], "B: r2": ["(empty)"]})
    html = compare_tab.compare_cards(frame)
    assert re.findall(r'data-field="([^"]+)"', html) == ["base (tiny)", "A: r1", "B: r2"]
    assert "same as base" in html and "(empty answer)" in html and "changed" in html
    assert "press Compare" in compare_tab.compare_cards(None)


def test_results_view_has_cards_after_the_old_outputs(fresh_home):
    run = _fake_rlhf_run()
    with gr.Blocks():
        view = runs_view.build_results(method="rlhf")
    assert [kind for kind, _ in view.slots()] == ["accuracy", "examples", "samples", "cards"]  # cards appended
    assert view.cards.elem_id == "rlhf-answers"
    _, *values = runs_view.render(view, run.id)
    assert 'class="answer-card"' in values[-1] and isinstance(values[1], gr.Dataframe)


# ----------------------------------------------------------------------------------------- progress in words


def test_status_card_in_words_and_ticking(fresh_home, monkeypatch):
    assert runs_view.stage_label("reward_model") == "reward model"
    assert runs_view.stage_label("base answers") == "answers of the base model"
    assert runs_view.stage_label("evaluating (before)") == "grading held-out answers (base model)"
    assert runs_view.stage_label("brand_new") == "brand new"
    running = {"state": "running", "method": "rlhf", "stage": "reward_model", "step": 1, "max_steps": 4,
               "started": time.time() - 65}  # fmt: skip
    html = runs_view.status_html("r1", running)
    assert "<b class=\"stage-name\" title=\"reward_model\">reward model</b>" in html and "1 min 05 s" in html
    assert "learns from the preference pairs" in html  # what the stage does
    loading = {**running, "stage": "loading model"}
    monkeypatch.setattr(runs_view, "embedded_model_ready", lambda: False)  # the first run on this machine
    assert "converts the embedded model" in runs_view.status_html("r1", loading)
    monkeypatch.setattr(runs_view, "embedded_model_ready", lambda: True)
    assert "Loading the model" in runs_view.status_html("r1", loading)
    run = runs.create("rft", {"task": "capitals", "model": "tiny"})
    run.set_status(state="running", stage="grpo", step=1, max_steps=4, started=time.time() - 5, pid=os.getpid(),
                   pid_start=runs._proc_start(os.getpid()))  # fmt: skip
    with gr.Blocks():
        view = runs_view.build_progress()
    seen, *first = runs_view.render(view, run.id)
    _, *again = runs_view.render(view, run.id, seen)
    assert isinstance(again[0], str) and "elapsed" in again[0]  # the status card keeps ticking
    assert all(isinstance(v, type(gr.skip())) for v in again[1:])  # the rest is skipped while nothing changed
    run.set_status(state="done", ended=time.time())
    frame = runs_frame(runs.list_runs())
    assert frame.iloc[0]["stage"] == "GRPO"


def test_route_defaults_fill_the_knobs():
    from lab.methods.rlhf_config import DEFAULT_LR, DEFAULT_STEPS

    for route in DEFAULT_STEPS:
        assert ract.route_defaults(route) == (DEFAULT_STEPS[route], DEFAULT_LR[route])
    assert ract.route_defaults("nope") == ract.route_defaults("rm-rl")


def test_reward_model_training_curve_and_histogram():
    rm_rows = [{"stage": "reward_model", "step": s, "loss": 0.7 - 0.1 * s, "accuracy": 0.5 + 0.1 * s} for s in (1, 2)]
    figure = plots.rm_training_figure(rm_rows)
    assert [t.name for t in figure.data] == ["loss", "accuracy (training pairs)"] and figure.data[1].yaxis == "y2"
    assert plots.rm_training_figure([]).layout.annotations
    first = rlhf_view.FIGURES[0]
    assert first(rm_rows).layout.title.text == figure.layout.title.text  # while the reward model trains
    assert first(RLHF_METRICS).layout.title.text == "Reward-model score of the policy's answers"
    assert "after the reward model" in plots.kl_figure(rm_rows).layout.annotations[0].text
    histogram = plots.rm_histogram_figure([1.0, 0.5, 0.9], [0.1, -2.0])
    assert [t.name for t in histogram.data] == ["chosen", "rejected"]
    assert histogram.data[0].xbins == histogram.data[1].xbins and histogram.data[0].xbins.size  # equal bin widths


def test_what_grpo_sees_with_one_step_and_refreshes_that_never_send_the_slider(fresh_home):
    """A run with a single RL step so far still gets a slider Gradio accepts (minimum < maximum), and the page's
    refreshes read the step the student picked from a State, not the slider — whose value can lie outside the range
    the previous refresh gave it, which Gradio refuses before the call."""
    from lab.ui import groups_view

    run = runs.create("rft", {"model": "tiny"}, owner="v:alice")
    run.log_samples([{"stage": "grpo", "step": 3, "prompt": "q", "completion": c, "reward": r, "group": 0,
                      "advantage": a} for c, r, a in (("a", 1.0, 0.7), ("b", 0.0, -0.7))])  # fmt: skip
    _, slider, picker, table = groups_view.browse(run.id, None, None)
    assert slider.minimum < slider.maximum and slider.value == 3 and slider.interactive is False
    assert picker.value == 0 and "q" in table
    _, slider, _, _ = groups_view.browse(run.id, 0, None)  # a stale value: the latest step instead
    assert slider.value == 3

    with gr.Blocks() as demo:
        run_id, poll = gr.Textbox(), gr.Button()
        parts = groups_view.build_groups_browser(run_id, refresh_on=(poll.click,))
    refreshes = [d for d in demo.fns.values() if d.fn is groups_view.browse and d.api_name != "groups"]
    assert refreshes and all(parts["step"] not in d.inputs for d in refreshes)


# ------------------------------------------------------------------- RFT tab: the validation file, the presets


def _rft_tab() -> gr.Blocks:
    from lab.ui.rft_tab import build_rft_tab

    with gr.Blocks() as blocks:
        build_rft_tab()
    return blocks


def test_the_task_summary_says_what_a_validation_file_holds_out(tmp_path, fresh_home):
    """A validation file: the run trains on the whole task and holds out that file's rows (``rft.train``); the
    summary says the same, in either order of loading, and warns on the validation file's row count."""
    valid_file = tmp_path / "valid.jsonl"
    valid_file.write_text("".join(json.dumps({"question": f"q{i}?", "answer": str(i)}) + "\n" for i in range(4)))
    valid, _ = act.save_valid_upload(valid_file)
    info = act.task_view("opposites", valid_task=valid)[0]
    assert "all **103** questions are trained on" in info and "**4** rows of uploaded file **valid.jsonl**" in info
    assert "63" not in info and "16.7" not in info and "by 25.0 points" in info  # 4 held out, not the split's 40
    assert "Split: **63** questions to train on" in act.task_info("opposites")  # without it: the split
    fns = {d.api_name: d.fn for d in _rft_tab().fns.values()}
    _, _, after_valid = fns["upload_valid"](str(valid_file), "opposites")  # the task first, then the file
    assert "all **103** questions are trained on" in after_valid
    task = fns["load_task"]("capitals", valid)[0]  # the file first, then the task
    assert task == "capitals" and "all **76** questions" in fns["load_task"]("capitals", valid)[1]
    assert "Split: **" in fns["clear_valid"]("opposites")[2]


def test_the_preset_picker_follows_specs_that_something_else_replaced():
    blocks = _rft_tab()
    config = blocks.get_config_file()
    by_id = {c["id"]: c for c in config["components"]}
    presets = next(c for c in config["components"] if resolve(c["props"].get("label")) == "Graders (presets)")
    follow = next(d for d in blocks.fns.values() if d.outputs and d.outputs[0]._id == presets["id"]
                  and by_id[d.inputs[0]._id]["type"] == "code")  # fmt: skip
    job_specs = act.specs_json([{"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
                                 "reference": "{{item.answer}}", "operation": "eq"}])  # fmt: skip
    assert follow.fn(job_specs) == []  # no longer "partial credit (default)"
    default = presets["props"]["value"]
    assert follow.fn(act.specs_json([grading.DEFAULT_SPEC])) == default
    assert follow.fn("[{") is not None  # broken JSON while typing: the picker stays (gr.skip)


def test_the_job_uploads_have_short_labels_that_leave_the_drop_zone_visible():
    config = _rft_tab().get_config_file()
    files = [c["props"] for c in config["components"] if c.get("type") == "file"]
    assert len(files) == 3
    for props in files:
        for language in ("en", "zh"):
            assert len(resolve(props["label"], language)) <= 45, resolve(props["label"], language)  # one line
        assert props["height"] >= 120
