"""Reward curves of several finished runs, overlaid or side by side, with their before/after summaries.

Used by the Compare and Runs tabs. Pick any finished runs — RFT and RLHF, or several of one kind — and an x-axis
(RL step, answers sampled, seconds of RL), raw reward or relative to each run's start (r − r₀: an RFT run's reward
is its graders' score, an RLHF run's its reward model's, so only the change is comparable), one axis or one panel
per run. The table under the plot is the chosen runs' headline numbers (``lab.results``); the class results table
lists every finished run and downloads as CSV. Everything is read from run folders.
"""

from __future__ import annotations

import gradio as gr

from lab import LabError, compare_plots, results, runs
from lab.texts import t
from lab.ui.common import run_label, user_errors
from lab.ui.lang import L

__all__ = ["build_curves_section", "curve_choices", "curves_api", "default_pick", "draw"]


def curve_choices() -> list[tuple[str, str]]:
    """``(label, run id)`` of every finished run, newest first (dry runs are not results)."""
    return [(run_label(r), r.id) for r in results.finished()]


def default_pick() -> list[str]:
    """The newest finished RFT run and the newest finished RLHF run: the comparison the lab is about."""
    latest = results.latest_by_kind([results.headline(r) for r in results.finished()])
    return [latest[k]["run"] for k in ("rft", "rlhf", "kto", "dpo") if k in latest][:2]


def _finished_runs(run_ids: list[str] | None) -> list[runs.Run]:
    """The chosen runs that are finished results of this lab — looked up by id among them, never as a path."""
    by_id = {r.id: r for r in results.finished()}
    return [by_id[i] for i in run_ids or [] if i in by_id]


@user_errors
def draw(run_ids: list[str] | None, x: str, relative: bool, side_by_side: bool):
    """The figure and the summaries table for the chosen runs (a run deleted meanwhile is left out)."""
    chosen = _finished_runs(run_ids)
    curves = [(f"{r.id} · {t('results.kind.' + results.kind_of(r.summary() or {}))}", results.curve(r, x, relative))
              for r in chosen]  # fmt: skip
    figure = compare_plots.reward_curves_figure(curves, x, relative, side_by_side)
    return figure, results.class_frame([results.headline(r) for r in chosen])


def build_curves_section(key: str) -> dict:
    """The section's components inside the current layout; ``key`` names the API endpoint (``{key}_curves``)."""
    gr.Markdown(L("curves.heading"))
    with gr.Row():
        picked = gr.Dropdown([], value=[], multiselect=True, label=L("curves.runs"), info=L("curves.runs_info"),
                             scale=4, allow_custom_value=True)  # fmt: skip
        refresh = gr.Button(L("curves.refresh"), scale=1, min_width=120)
    with gr.Row():
        x = gr.Radio([(L(f"compare_plots.x.{v}"), v) for v in results.CURVE_X], value="step", label=L("curves.x"))
        relative = gr.Checkbox(False, label=L("curves.relative"), info=L("curves.relative_info"))
        side = gr.Checkbox(False, label=L("curves.side"))
    plot = gr.Plot(label=L("curves.plot"), elem_classes=["lab-plot"])
    table = gr.Dataframe(results.class_frame([]), label=L("curves.table"), wrap=True, interactive=False,
                         max_height=300)  # fmt: skip
    inputs, outputs = [picked, x, relative, side], [plot, table]

    def fill(current: list[str] | None):
        choices = curve_choices()
        ids = {v for _, v in choices}
        keep = [i for i in current or [] if i in ids] or default_pick()
        return gr.Dropdown(choices=choices, value=keep), *draw(keep, "step", False, False)

    refresh.click(fill, picked, [picked, *outputs], api_visibility="private")
    gr.on(None, fill, picked, [picked, *outputs], api_visibility="private")  # page load
    for control in (picked, x, relative, side):
        control.input(draw, inputs, outputs, api_visibility="private", show_progress="hidden")
    gr.api(curves_api, api_name=f"{key}_curves")
    return {"picked": picked, "plot": plot, "table": table}


@user_errors
def curves_api(run_ids: list[str], x: str = "step", relative: bool = False) -> list[dict]:
    """API: the chosen runs' reward curves as ``[{"run", "x", "reward"}]`` (what the plot draws)."""
    if x not in results.CURVE_X:
        raise LabError("curves.bad_x", x=x, choices=", ".join(results.CURVE_X))
    out = []
    for run in _finished_runs(run_ids):
        c = results.curve(run, x, relative)
        out.append({"run": run.id, "x": c["x"].tolist(), "reward": c["reward"].tolist()})
    return out
