"""The Runs tab: every run under ``LAB_HOME/runs`` with its state, and one picked run's curves and results.

Runs of every method show here (RFT and RLHF); a run that was training when the app died shows as ``interrupted``
(``lab.runs`` works that out from its pid). Labels are page labels (``L``); the table's headers and states, the
teacher's lines and every message are made in the visitor's language (``t``) when they are shown.
Also defines the ``run_status`` API endpoint: a run's status and summary numbers as JSON, for ``gradio_client``.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from lab import LabError, access, runs
from lab.texts import t
from lab.ui import continue_view, curves_view, export_view, grader_switch, groups_view, runs_view
from lab.ui.common import format_time, user_errors
from lab.ui.lang import L
from lab.ui.run_controls import RunControls, stop_as

RUN_COLUMNS = ["run", "method", "state", "stage", "step", "model", "data", "result", "created"]
"""The table's columns (``ui.runs.col.<name>``: their headers in the visitor's language); the run id is first."""
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
    """One row per run, newest first: id, method, state, stage, step/max, model, data, result, creation time (the
    headers and the state in the visitor's language)."""
    rows = []
    for run in items:
        status, config, summary = run.status(), run.config(), run.summary() or {}
        cfg, method = config.get("config", {}), config.get("method", "")
        step = f"{status.get('step', 0)}/{status['max_steps']}" if status.get("max_steps") else ""
        model = cfg.get("model") or summary.get("model") or "embedded"  # a CLI run stores only the options given
        rows.append({
            "run": run.id, "method": method, "state": runs_view.state_label(status.get("state", "")),
            "stage": runs_view.stage_label(str(status.get("stage") or "")),
            "step": step, "model": model, "data": run_data(method, cfg),
            "result": run_result(summary), "created": format_time(config.get("created")),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=RUN_COLUMNS).rename(columns={c: t(f"ui.runs.col.{c}") for c in RUN_COLUMNS})


def run_status(run_id: str) -> dict[str, Any]:
    """A run's status (state, stage, step, max_steps, eta_seconds, error) and, once finished, its numbers before /
    after SFT / after RL: accuracy and mean reward (RFT), or reward-model score, words and win rate (RLHF)."""
    try:
        run = runs.get(run_id)
    except LabError as e:
        raise gr.Error(e.text(), print_exception=False) from None
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
    gr.Markdown(L("ui.runs.tab.intro"))
    with gr.Row():
        picker = gr.Dropdown([], value=None, label=L("ui.runs.tab.run"), info=L("ui.runs.tab.run_info"), scale=4)
        with gr.Column(scale=1, min_width=160):
            refresh = gr.Button(L("ui.runs.tab.refresh"), size="md")
            stop = gr.Button(L("ui.runs.tab.stop"), variant="stop", size="md")
    # the headers are English until the page's load event fills the table in the visitor's language
    table = gr.Dataframe(runs_frame([]), label=L("ui.runs.tab.all_runs"), interactive=False, max_height=300,
                         show_search="search", wrap=True, column_widths=RUN_WIDTHS)  # fmt: skip
    view = runs_view.build_progress().merge(runs_view.build_reward_model())
    view = view.merge(runs_view.build_results(key="runs"))
    run = RunControls(view)
    groups_view.build_groups_browser(run.run_state, refresh_on=(run.timer.tick,))

    def list_all(current: str | None = None):
        items = runs.list_runs()
        ids = [r.id for r in items]
        chosen = current if current in ids else (ids[0] if ids else None)  # default: the newest run
        return gr.Dropdown(choices=ids, value=chosen), runs_frame(items)

    def pick_row(frame: pd.DataFrame, evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        return frame.iloc[row, 0] if 0 <= row < len(frame) else gr.skip()  # the run id (its header is translated)

    refresh.click(list_all, picker, [picker, table], api_name="list_runs")
    gr.on(None, list_all, [], [picker, table], api_name="list_runs_on_load", api_visibility="private")  # on page load
    run.show(picker, api_name="view_run")
    table.select(pick_row, table, picker, api_visibility="private")
    run.stop(stop, api_name="stop_run", no_run="ui.runs.pick_first").then(list_all, picker, [picker, table])
    run.poll(api_name="poll_runs")
    gr.api(run_status, api_name="run_status")
    gr.api(stop_run_id, api_name="stop_run_id")
    gr.api(move_to_front, api_name="move_to_front")
    continue_view.build_continue_section(picker)
    export_view.build_export_section(picker)
    _teacher_section(picker)
    curves_view.build_curves_section("runs")


@user_errors
def stop_run_id(run_id: str, request: gr.Request) -> dict:
    """API (``gradio_client``): stop the run ``run_id`` — its owner or the teacher, as on the page — and return its
    status (as ``run_status``)."""
    stop_as(run_id, access.identify(request))
    return run_status(run_id)


def who_html(who: access.Identity) -> str:
    """One line: who the server says this browser is, and what that allows (in the visitor's language)."""
    if not access.public():
        return t("ui.runs.who.local")
    if who.teacher:
        return t("ui.runs.who.teacher", name=who.name)
    return t("ui.runs.who.visitor", name=who.name)


@user_errors
def move_to_front(run_id: str, request: gr.Request) -> str:
    """The teacher moves a waiting run to the front of the queue; returns what happened."""
    access.require_teacher(access.identify(request), t("ui.runs.teacher.reorder"))
    if not run_id:
        raise LabError("ui.runs.teacher.pick_waiting")
    runs.move_to_front(run_id)
    return t("ui.runs.teacher.starts_next", run_id=run_id)


def _teacher_section(picker: gr.Dropdown) -> None:
    """Who am I, the teacher's token (``LAB_ADMIN_TOKEN``) typed once to become the teacher in this browser, and
    the teacher's queue control for the picked run, and the switch for python graders."""
    with gr.Accordion(L("ui.runs.teacher.title"), open=False):
        who = gr.Markdown()
        with gr.Row(equal_height=True):
            token = gr.Textbox(label=L("ui.runs.teacher.token"), type="password", scale=4,
                               placeholder=L("ui.runs.teacher.token_placeholder"))  # fmt: skip
            unlock = gr.Button(L("ui.runs.teacher.unlock"), scale=1)
        front = gr.Button(L("ui.runs.teacher.front"), size="md")
        grader_switch.section()

    def move_picked(run_id: str | None, request: gr.Request) -> None:
        gr.Info(move_to_front(run_id or "", request))

    front.click(move_picked, picker, None, api_visibility="private")

    def whoami(request: gr.Request) -> str:
        return who_html(access.identify(request))

    def become_teacher(typed: str, request: gr.Request):
        try:
            me = access.unlock(request, typed)
        except LabError as e:  # a warning, not an error: the boxes stay readable, the wrong token is cleared
            gr.Warning(e.text())
            return "", gr.skip()
        gr.Info(t("access.unlocked"))
        return "", who_html(me)

    gr.on(None, whoami, None, who, api_name="whoami")  # page load
    unlock.click(become_teacher, token, [token, who], api_visibility="private")
