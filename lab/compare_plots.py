"""Figures across runs and inside GRPO's groups: reward curves of several runs (overlaid or side by side) and the
share of groups that taught nothing.

- :func:`reward_curves_figure` takes ``(label, curve)`` pairs from :func:`lab.results.curve` — an RFT run's curve
  is its graders' mean reward, an RLHF run's is its reward model's score: different scales, so "relative" (r − r₀,
  each run against its own start) is the fair overlay; "side by side" gives each run its own panel and y-axis.
- :func:`zero_std_figure` draws TRL's ``frac_reward_zero_std``: the share of a step's groups (the answers to one
  question) whose answers all got the same reward. GRPO's advantage is a score minus its group's mean, so such a
  group's advantages are all 0 and it moves nothing.

Like :mod:`lab.plots`, every function returns a figure and never raises on empty input; titles and notes speak the
visitor's language (:mod:`lab.texts`).
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.plots import COLORS, empty_figure, layout, line
from lab.results import RL_STAGES
from lab.texts import t

__all__ = ["reward_curves_figure", "score_histogram", "zero_std_figure"]

_PANELS_PER_ROW = 3


def reward_curves_figure(curves: list[tuple[str, pd.DataFrame]], x: str = "step", relative: bool = False,
                         side_by_side: bool = False) -> go.Figure:  # fmt: skip
    """The runs' reward curves, one colour per run: on one axis (default) or one panel each (``side_by_side``).

    ``x`` names the x-axis (``step``, ``answers`` or ``seconds``, as the curves were made); ``relative`` only
    changes the y title (the curves were made relative by :func:`lab.results.curve`)."""
    title = t("compare_plots.title")
    xaxis, yaxis = t(f"compare_plots.x.{x}"), t("compare_plots.y.relative" if relative else "compare_plots.y.raw")
    drawn = [(label, c) for label, c in curves if not c.empty]
    if not drawn:
        return empty_figure(title, t("compare_plots.none"))
    if not side_by_side or len(drawn) == 1:
        fig = go.Figure([line(c.set_index("x")["reward"], label, COLORS[i % len(COLORS)])
                         for i, (label, c) in enumerate(drawn)])  # fmt: skip
        if relative:
            fig.add_hline(y=0, line={"color": "#94a3b8", "width": 1, "dash": "dot"})
        return layout(fig, title, xaxis, yaxis)
    rows = math.ceil(len(drawn) / _PANELS_PER_ROW)
    cols = min(len(drawn), _PANELS_PER_ROW)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[label for label, _ in drawn],
                        horizontal_spacing=0.08, vertical_spacing=0.18)  # fmt: skip
    for i, (label, c) in enumerate(drawn):
        trace = line(c.set_index("x")["reward"], label, COLORS[i % len(COLORS)])
        fig.add_trace(trace, row=i // cols + 1, col=i % cols + 1)
    layout(fig, title, "", "")
    fig.update_layout(height=260 * rows + 60, showlegend=False)
    fig.update_annotations(font_size=12)
    for i in range(len(drawn)):
        fig.update_xaxes(title_text=xaxis, row=i // cols + 1, col=i % cols + 1)
        fig.update_yaxes(title_text=yaxis if i % cols == 0 else "", row=i // cols + 1, col=i % cols + 1)
    return fig


def zero_std_figure(rows: list[dict], stages: tuple[str, ...] = RL_STAGES) -> go.Figure:
    """Share of each RL step's groups whose answers all scored the same (TRL's ``frac_reward_zero_std``), 0 to 1,
    with the note that such groups teach nothing."""
    title = t("compare_plots.zero_std.title")
    points = [(r.get("step", 0), r["frac_reward_zero_std"]) for r in rows
              if r.get("stage") in stages and isinstance(r.get("frac_reward_zero_std"), int | float)]  # fmt: skip
    if not points:
        return empty_figure(title, t("plots.waiting"))
    series = pd.Series([p[1] for p in points], index=[p[0] for p in points])
    fig = go.Figure(line(series, t("compare_plots.zero_std.name"), COLORS[3]))
    fig.update_yaxes(range=[-0.02, 1.02], tickformat=".0%")
    fig.add_annotation(text=t("compare_plots.zero_std.note"), xref="paper", yref="paper", x=0.0, y=-0.32,
                       showarrow=False, xanchor="left", font={"size": 11, "color": "#475569"})  # fmt: skip
    layout(fig, title, t("plots.axis.step"), t("compare_plots.zero_std.axis"))
    fig.update_layout(margin={"l": 50, "r": 20, "t": 50, "b": 70})
    return fig


def score_histogram(rewards: list[float]) -> go.Figure:
    """How many sampled answers got each reward (a dry run's distribution): one bar means nothing to learn."""
    title = t("dry.histogram")
    if not rewards:
        return empty_figure(title, t("plots.waiting"))
    counts = pd.Series([round(r, 2) for r in rewards]).value_counts().sort_index()
    fig = go.Figure(go.Bar(x=[f"{v:g}" for v in counts.index], y=list(counts.values), marker_color=COLORS[0]))
    fig.update_xaxes(type="category")
    return layout(fig, title, t("dry.histogram.x"), t("dry.histogram.y"))
