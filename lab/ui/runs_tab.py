"""The Runs tab: every run under ``LAB_HOME/runs`` with its state, and one picked run's curves and results.

Runs of every method show here (RFT and RLHF); a run that was training when the app died shows as ``interrupted``
(``lab.runs`` works that out from its pid).
Also defines the ``run_status`` API endpoint: a run's status and summary numbers as JSON, for ``gradio_client``.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from lab import LabError, access, runs
from lab.texts import t
from lab.ui import runs_view
from lab.ui.common import format_time, user_errors
from lab.ui.run_controls import RunControls, stop_as

RUN_COLUMNS = ["run", "method", "state", "stage", "step", "model", "data", "result", "created"]
RUN_WIDTHS = ["17%", "6%", "8%", "12%", "7%", "7%", "13%", "19%", "11%"]
"""The columns' shares of the table's width: all of them fit at 1280 px, long values wrap."""


def run_data(method: str, cfg: dict) -> str:
    """What a run learned from (its method view's ``data_text``): an RFT run's task set; an RLHF run's route and
    feedback.

    >>> run_data("rlhf", {"method": "dpo", "feedback": "store"}), run_data("rft", {"task": "/up/ab12_x.csv"})
    ('dpo on the feedback store', 'ab12_x.csv')
    """
    return runs_view.method_view(method).data_text(cfg)


def run_result(summary: dict) -> str:
    """A finished run in a few words (its method view's ``result_text``): RFT accuracy before → after; RLHF win rate
    and reward-model score.

    >>> run_result({"method": "rlhf", "win_rate": 0.625, "before": {"rm_score": -1.0}, "after": {"rm_score": 0.5}})
    'win rate 62.5 % · RM score -1.00 → 0.50'
    """
    return runs_view.method_view(summary.get("method")).result_text(summary)


def runs_frame(items: list[runs.Run]) -> pd.DataFrame:
    """One row per run, newest first: id, method, state, stage, step/max, model, data, result, creation time."""
    rows = []
    for run in items:
        status, config, summary = run.status(), run.config(), run.summary() or {}
        cfg, method = config.get("config", {}), config.get("method", "")
        step = f"{status.get('step', 0)}/{status['max_steps']}" if status.get("max_steps") else ""
        model = cfg.get("model") or summary.get("model") or "embedded"  # a CLI run stores only the options given
        rows.append({
            "run": run.id, "method": method, "state": status.get("state", ""),
            "stage": runs_view.stage_label(str(status.get("stage") or "")),
            "step": step, "model": model, "data": run_data(method, cfg),
            "result": run_result(summary), "created": format_time(config.get("created")),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def run_status(run_id: str) -> dict[str, Any]:
    """A run's status (state, stage, step, max_steps, eta_seconds, error) and, once finished, its numbers before /
    after SFT / after RL: accuracy and mean reward (RFT), or reward-model score, words and win rate (RLHF)."""
    try:
        run = runs.get(run_id)
    except LabError as e:
        raise gr.Error(str(e), print_exception=False) from None
    summary = run.summary() or {}
    result: dict[str, Any] = {"run": run.id, **{k: v for k, v in run.status().items() if k != "pid"}}
    for key in ("before", "after_sft", "after"):
        if summary.get(key):
            result[key] = {k: v for k, v in summary[key].items() if isinstance(v, int | float | None)}
    for key in ("algorithm", "persona", "win_rate"):
        if summary.get(key) is not None:
            result[key] = summary[key]
    return result


def build_runs_tab() -> None:
    """Build the tab inside the current ``gr.Blocks``/``gr.Tab`` context."""
    gr.Markdown("## Runs\nEvery run of this lab, newest first. Pick one to see its curves and results.")
    with gr.Row():
        picker = gr.Dropdown([], value=None, label="Run", info="Or click a row of the table.", scale=4)
        with gr.Column(scale=1, min_width=160):
            refresh = gr.Button("Refresh list", size="md")
            stop = gr.Button("Stop this run", variant="stop", size="md")
    table = gr.Dataframe(runs_frame([]), label="All runs", interactive=False, max_height=300, show_search="search",
                         wrap=True, column_widths=RUN_WIDTHS)  # fmt: skip
    view = runs_view.build_progress().merge(runs_view.build_reward_model())
    view = view.merge(runs_view.build_results(key="runs"))
    run = RunControls(view)

    def list_all(current: str | None = None):
        items = runs.list_runs()
        ids = [r.id for r in items]
        chosen = current if current in ids else (ids[0] if ids else None)  # default: the newest run
        return gr.Dropdown(choices=ids, value=chosen), runs_frame(items)

    def pick_row(frame: pd.DataFrame, evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        return frame.iloc[row]["run"] if 0 <= row < len(frame) else gr.skip()

    refresh.click(list_all, picker, [picker, table], api_name="list_runs")
    gr.on(None, list_all, [], [picker, table], api_name="list_runs_on_load", api_visibility="private")  # on page load
    run.show(picker, api_name="view_run")
    table.select(pick_row, table, picker, api_visibility="private")
    run.stop(stop, api_name="stop_run", no_run="pick a run first.").then(list_all, picker, [picker, table])
    run.poll(api_name="poll_runs")
    gr.api(run_status, api_name="run_status")
    gr.api(stop_run_id, api_name="stop_run_id")
    gr.api(move_to_front, api_name="move_to_front")
    _teacher_section(picker)


@user_errors
def stop_run_id(run_id: str, request: gr.Request) -> dict:
    """API (``gradio_client``): stop the run ``run_id`` — its owner or the teacher, as on the page — and return its
    status (as ``run_status``)."""
    stop_as(run_id, access.identify(request))
    return run_status(run_id)


def who_html(who: access.Identity) -> str:
    """One line: who the server says this browser is, and what that allows."""
    if not access.public():
        return "This lab runs on this machine only: **you are the teacher** (every action is yours)."
    if who.teacher:
        return f"You are **the teacher** ({who.name}): you may stop any run, delete any feedback and import files."
    return (f"You are **{who.name}** (a visitor): you may chat, rate, simulate and start runs, and stop or delete "
            "what you started. The teacher may do everything.")  # fmt: skip


@user_errors
def move_to_front(run_id: str, request: gr.Request) -> str:
    """The teacher moves a waiting run to the front of the queue; returns what happened."""
    access.require_teacher(access.identify(request), "reorder the queue")
    if not run_id:
        raise LabError("pick a waiting run first.")
    runs.move_to_front(run_id)
    return f"run {run_id} starts next"


def _teacher_section(picker: gr.Dropdown) -> None:
    """Who am I, the teacher's token (``LAB_ADMIN_TOKEN``) typed once to become the teacher in this browser, and
    the teacher's queue control for the picked run."""
    with gr.Accordion("Teacher", open=False):
        who = gr.Markdown()
        with gr.Row(equal_height=True):
            token = gr.Textbox(label="Teacher's token", type="password", scale=4,
                               placeholder="LAB_ADMIN_TOKEN (a secret of the Space)")  # fmt: skip
            unlock = gr.Button("Become the teacher", scale=1)
        front = gr.Button("Move the picked run to the front of the queue", size="md")

    def move_picked(run_id: str | None, request: gr.Request) -> None:
        gr.Info(move_to_front(run_id or "", request))

    front.click(move_picked, picker, None, api_visibility="private")

    def whoami(request: gr.Request) -> str:
        return who_html(access.identify(request))

    def become_teacher(typed: str, request: gr.Request):
        try:
            me = access.unlock(request, typed)
        except LabError as e:  # a warning, not an error: the boxes stay readable, the wrong token is cleared
            gr.Warning(str(e))
            return "", gr.skip()
        gr.Info(t("access.unlocked"))
        return "", who_html(me)

    gr.on(None, whoami, None, who, api_name="whoami")  # page load
    unlock.click(become_teacher, token, [token, who], api_visibility="private")
