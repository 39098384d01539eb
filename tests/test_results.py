"""The class's results: headline numbers from run folders, the class table and its CSV, reward curves across runs
(by step, answers or seconds, raw or r − r₀), the Learn tab's live table in both languages."""

from __future__ import annotations

import csv
import io
import time

import pytest

from lab import compare_plots, results, runs, texts
from lab.ui import learn_tab

RFT_SUMMARY = {
    "method": "rft", "model": "embedded", "task": "opposites", "train_size": 63, "valid_size": 40,
    "train_seconds": 140.2, "sft_seconds": 40.0, "grpo_seconds": 100.2, "total_seconds": 190.0,
    "before": {"accuracy": 0.0, "valid_reward": 0.3}, "after": {"accuracy": 0.825, "valid_reward": 0.9},
    "config": {"graders": [{"type": "contains_answer", "name": "partial_credit"}], "prompts_per_step": 2,
               "num_generations": 8},
}  # fmt: skip
RLHF_SUMMARY = {
    "method": "rlhf", "algorithm": "rm-rl", "model": "embedded", "persona": "concise", "train_seconds": 236.0,
    "simulate_seconds": 82.0, "reward_model_seconds": 46.0, "policy_seconds": 170.0, "win_rate": 0.52,
    "before": {"rm_score": -1.0}, "after": {"rm_score": 0.5},
    "feedback": {"groups": {"people": {"ratings": 2, "pairs": 1}, "simulated": {"ratings": 256, "pairs": 69}}},
    "config": {"prompts_per_step": 1, "num_generations": 8},
}  # fmt: skip


def _finished(summary: dict, rewards: list[float], stage: str, state: str = "done") -> runs.Run:
    run = runs.create(summary["method"], {"model": "tiny"})
    for i, r in enumerate(rewards, 1):
        run.log_metrics({"stage": stage, "step": i, "time": 2.0 * i, "reward": r, "frac_reward_zero_std": 1 / i})
    run.write_summary(summary)
    run.set_status(state=state, ended=time.time())
    time.sleep(0.01)  # distinct creation times: newest first
    return run


@pytest.fixture
def class_runs(fresh_home):
    rft = _finished(RFT_SUMMARY, [0.3, 0.6, 0.9], "grpo")
    rlhf = _finished(RLHF_SUMMARY, [-1.0, 0.0, 0.5, 0.5], "rl")
    failed = _finished(RFT_SUMMARY, [0.1], "grpo", state="failed")
    return rft, rlhf, failed


def test_headlines_answer_the_articles_questions(class_runs):
    rft, rlhf, failed = class_runs
    assert [r.id for r in results.finished()] == [rlhf.id, rft.id]  # a failed run is no result; newest first
    rows, path = learn_tab.class_results()
    assert len(rows) == 2 and path.endswith("class_results.csv") and "lab-class-" in path
    assert open(path).read() == results.class_csv([results.headline(r) for r in results.finished()])
    a, b = results.headline(rft), results.headline(rlhf)
    assert (a["kind"], a["questions"], a["references"], a["clicks"], a["verdict"]) == ("rft", 63, 103, 0, "won")
    assert (a["before"], a["after"], a["graders"]) == (0.0, 0.825, ["partial_credit"])
    assert (b["kind"], b["people"], b["simulated"], b["clicks"]) == ("rlhf", 3, 325, 3)
    # the reward model's score rose by 1.5 while the persona barely preferred the tuned model: flagged, not "won"
    assert b["verdict"] == "hacked"


def test_class_table_and_csv_in_both_languages(class_runs):
    rows = [results.headline(r) for r in results.finished()]
    frame = results.class_frame(rows)
    assert list(frame.columns)[0] == "run" and len(frame) == 2
    assert frame.iloc[1, 7] == "accuracy 0.0 % → 82.5 % · reward 0.30 → 0.90"
    with texts.speaking("zh"):
        zh = results.class_frame(rows)
    assert list(zh.columns)[0] == "运行" and "准确率" in zh.iloc[1, 7] and "奖励作弊" in zh.iloc[0, 8]
    parsed = list(csv.DictReader(io.StringIO(results.class_csv(rows))))
    assert [r["kind"] for r in parsed] == ["rlhf", "rft"] and parsed[1]["after"] == "0.825"
    assert parsed[0]["verdict"] == "hacked" and parsed[0]["people"] == "3"


def test_curves_by_step_answers_seconds_raw_or_relative(class_runs):
    rft, rlhf, _ = class_runs
    assert list(results.curve(rft)["x"]) == [1, 2, 3]
    assert list(results.curve(rft, "answers")["x"]) == [16, 32, 48]  # 2 prompts × 8 answers per step
    assert list(results.curve(rlhf, "answers")["x"]) == [8, 16, 24, 32]
    assert list(results.curve(rft, "seconds")["x"]) == [2.0, 4.0, 6.0]
    assert list(results.curve(rlhf, relative=True)["reward"]) == [0.0, 1.0, 1.5, 1.5]
    with pytest.raises(ValueError, match="x must be one of"):
        results.curve(rft, "tokens")
    curves = [(r.id, results.curve(r, "answers", relative=True)) for r in (rft, rlhf)]
    overlay = compare_plots.reward_curves_figure(curves, "answers", relative=True)
    assert [tr.name for tr in overlay.data] == [rft.id, rlhf.id] and list(overlay.data[1].y) == [0.0, 1.0, 1.5, 1.5]
    side = compare_plots.reward_curves_figure(curves, "answers", relative=True, side_by_side=True)
    assert len(side.data) == 2 and side.data[1].xaxis == "x2"  # one panel each
    empty = compare_plots.reward_curves_figure([("kto", results.curve(rft).iloc[0:0])])
    assert not empty.data and empty.layout.annotations  # says why instead of drawing nothing
    zero = compare_plots.zero_std_figure(rft.metrics())
    assert list(zero.data[0].y) == [1.0, 0.5, pytest.approx(1 / 3)] and zero.layout.annotations


def test_learn_table_says_what_is_missing_then_fills_with_the_runs_numbers(fresh_home):
    empty = learn_table_html()
    # a column without a run says what to run once, in one cell beside all the article's rows
    assert empty.count(f'class="missing" rowspan="{len(learn_tab.ROWS)}"') == 2
    assert empty.count("Run the RLHF demo") == 1 and empty.count("Run the RFT demo") == 1
    assert empty.count('class="article"') == 2 * len(learn_tab.ROWS)
    rft = _finished(RFT_SUMMARY, [0.3, 0.9], "grpo")
    half = learn_table_html()
    assert half.count('class="missing"') == 1 and "Run the RLHF demo" in half  # the RLHF column: what to run
    assert half.count('class="ours"') == len(learn_tab.ROWS)
    assert "82.5 %" in half and rft.id in half and "103 reference answers written" in half
    assert "SFT 40 s → GRPO 1 min 40 s" in half and "high-quality task data and reference answers" in half
    rlhf = _finished(RLHF_SUMMARY, [0.0, 1.0], "rl")
    full = learn_table_html()
    assert 'class="missing"' not in full and rlhf.id in full and "3 clicks by people" in full
    with texts.speaking("zh"):
        zh = learn_table_html()
    assert "高质量任务数据和参考答案" in zh and "编写了 103 个参考答案" in zh and "真人点击 3 次" in zh


def learn_table_html() -> str:
    return learn_tab.learn_table_html()


def test_the_guided_demo_queues_both_methods_and_refuses_a_bad_model(fresh_home, monkeypatch):
    started = []
    monkeypatch.setattr(runs, "_spawn", lambda run, statuses: started.append(run.id))  # no worker: the queue only
    ids = learn_tab.start_demo(learn_tab.DEMO_METHODS, "tiny", owner="v1")
    assert [runs.get(i).config()["method"] for i in ids] == ["rft", "rlhf"]
    assert started == ids[:1] and runs.get(ids[1]).status()["state"] == runs.WAITING  # one trains, one waits
    assert runs.get(ids[0]).owner == "v1" and runs.get(ids[0]).config()["config"]["model"] == "tiny"
    with pytest.raises(Exception, match="not one of the demo models"):
        learn_tab.start_demo(("rft",), "gpt-4o", owner="v1")
    assert len(runs.list_runs()) == 2, "a refused demo creates no run"
    # while someone else trains, the demo's two runs both wait (one request), a third Train by v2 is refused
    busy = learn_tab.start_demo(learn_tab.DEMO_METHODS, "tiny", owner="v2")
    assert [runs.get(i).status()["state"] for i in busy] == [runs.WAITING, runs.WAITING]
    with pytest.raises(Exception, match="waiting"):
        runs.start("rft", {"model": "tiny"}, owner="v2")


def test_the_tables_and_the_run_views_agree_on_which_stages_are_rl():
    """results (the class table, the curves) and the run views (samples, groups) read the policy's answers from the
    same stages: the one each method's view names, no more."""
    from lab.ui import groups_view, runs_view

    assert set(results.RL_STAGES) == set(runs_view.POLICY_STAGES) == set(groups_view.POLICY_STAGES)
