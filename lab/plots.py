"""Plotly figures of a run's metrics, for the UI's live curves (and anything else that wants a picture).

Input is the list of rows of ``metrics.jsonl`` (``Run.metrics()``) or a DataFrame of them (:func:`metrics_frame`):
each row has ``stage`` (``"sft"`` or ``"grpo"``), ``step`` and the values TRL logged at that step — ``loss`` during
SFT; ``reward``, ``reward_std``, ``rewards/<grader>/mean``, ``completions/mean_length``, ``kl`` … during GRPO — and
``valid_reward``/``valid_accuracy`` at evaluation steps (step 0 is the base model, before any training). RLHF runs
log their own stages (see "RLHF runs" below).

Every function returns a ``go.Figure`` and never raises on empty or partial input: before the first step has been
logged the figure is an empty frame with a "waiting for the first step" note, so the UI can draw it at once.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go

from lab.texts import t

__all__ = [
    "WAITING",
    "completion_length_figure",
    "empty_figure",
    "grader_names",
    "grader_figure",
    "kl_figure",
    "layout",
    "line",
    "metrics_frame",
    "reward_figure",
    "rm_histogram_figure",
    "rm_score_figure",
    "rm_training_figure",
    "sft_loss_figure",
    "win_rate_figure",
]

WAITING = "plots.waiting"  # the key of the note; a figure says it in the language of the moment it is made
COLORS = ["#6366f1", "#f97316", "#10b981", "#ef4444", "#0ea5e9", "#a855f7", "#eab308", "#64748b"]
_HEIGHT = 300
_GRADER_PREFIX, _GRADER_SUFFIX = "rewards/", "/mean"


def metrics_frame(rows: Iterable[dict] | pd.DataFrame | None) -> pd.DataFrame:
    """Metric rows → a DataFrame with at least ``stage`` and ``step`` columns (empty when there are no rows).

    Column ``x`` puts every stage on **one time line**: a training stage's steps continue where the stage before it
    ended (SFT 1…S, then GRPO step k at S + k; reward model 1…R, then RL step k at R + k), the base model's score
    (stage ``base``) sits at 0 and the final judgement (``evaluate``) at the end. GRPO's step 0 is the model RL
    starts from — after the warm-up — so the jump from the base to it is SFT's, not RL's.

    >>> metrics_frame([{"stage": "grpo", "step": 1, "reward": 0.5}]).columns.tolist()
    ['stage', 'step', 'reward', 'x']
    >>> rows = [{"stage": "sft", "step": 3}, {"stage": "grpo", "step": 0}, {"stage": "grpo", "step": 2}]
    >>> metrics_frame(rows)["x"].tolist()
    [3.0, 3.0, 5.0]
    >>> len(metrics_frame(None))
    0
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows or []))
    if "stage" not in df:
        df["stage"] = "grpo"
    if "step" not in df:
        df["step"] = pd.Series(dtype=float)
    df["stage"] = df["stage"].fillna("grpo")
    df = df.reset_index(drop=True)
    steps = pd.to_numeric(df["step"], errors="coerce")
    offsets = stage_offsets(df)
    end = max([offsets[s] + steps[df["stage"] == s].max() for s in offsets] or [0.0])
    df["x"] = [0.0 if stage == "base" else end if stage == "evaluate" else offsets.get(stage, 0.0) + step
               for stage, step in zip(df["stage"], steps, strict=True)]  # fmt: skip
    return df


TRAINING_STAGES = ("sft", "reward_model", "grpo", "rl", "kto", "dpo")
"""Stages that take optimizer steps, in the order a run can chain them (SFT → GRPO; reward model → RL/KTO/DPO)."""


def stage_offsets(df: pd.DataFrame) -> dict[str, float]:
    """Where each training stage starts on the one time line: the steps of the stages before it.

    >>> stage_offsets(pd.DataFrame({"stage": ["reward_model", "reward_model", "rl"], "step": [1, 6, 2]}))
    {'reward_model': 0.0, 'rl': 6.0}
    """
    offsets, start = {}, 0.0
    steps = pd.to_numeric(df["step"], errors="coerce") if "step" in df else pd.Series(dtype=float)
    present = set(df["stage"]) if "stage" in df else set()
    for stage in TRAINING_STAGES:
        if stage in present:
            offsets[stage] = start
            last = steps[df["stage"] == stage].max()
            start += 0.0 if pd.isna(last) else float(last)
    return offsets


def empty_figure(title: str = "", note: str | None = None) -> go.Figure:
    """A blank frame with a centred note (by default "waiting for the first step"): what a plot shows before there
    is anything to draw."""
    note = t(WAITING) if note is None else note
    fig = layout(go.Figure(), title, t("plots.axis.step"), "")
    fig.add_annotation(
        text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14, "color": "#94a3b8"}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def reward_figure(rows) -> go.Figure:
    """Mean train reward per GRPO step (with a ±1 std band when logged) and validation reward at eval steps."""
    title = t("plots.reward.title")
    every = metrics_frame(rows)
    df = _stage(every, "grpo")
    train = _series(df, "reward")
    valid = _series(every[every["stage"].isin(["base", "grpo"])], "valid_reward")
    if train.empty and valid.empty:
        return empty_figure(title)
    fig = go.Figure()
    if not train.empty:
        _add_band(fig, train, _series(df, "reward_std"))
        fig.add_trace(line(train, t("plots.reward.train"), COLORS[0]))
    if not valid.empty:
        fig.add_trace(line(valid, t("plots.reward.valid"), COLORS[1], dash="dot", size=9))
    _mark_stages(fig, every)
    return layout(fig, title, _time_axis(every), t("plots.axis.mean_reward"))


def grader_names(rows) -> list[str]:
    """The graders that logged a per-grader mean (``rewards/<name>/mean``), in first-seen order.

    >>> grader_names([{"step": 1, "rewards/exact/mean": 1.0, "rewards/len/mean": 0.2, "reward": 1.2}])
    ['exact', 'len']
    """
    df = metrics_frame(rows)
    return [c[len(_GRADER_PREFIX) : -len(_GRADER_SUFFIX)] for c in df.columns if _is_grader_column(c)]


def grader_figure(rows) -> go.Figure:
    """One line per grader: its mean score per GRPO step (the reward is their sum, or weighted sum); for a model
    grader also, dotted on a right-hand axis, its judge errors per step (replies without a number or label, which
    score 0: ``judge_errors/<name>``)."""
    title = t("plots.graders.title")
    df = _stage(metrics_frame(rows), "grpo")
    fig = go.Figure()
    errors = False
    for i, name in enumerate(grader_names(df)):
        series = _series(df, f"{_GRADER_PREFIX}{name}{_GRADER_SUFFIX}")
        if not series.empty:
            fig.add_trace(line(series, name, COLORS[i % len(COLORS)]))
        failed = _series(df, f"judge_errors/{name}")
        if not failed.empty:
            trace = line(failed, t("plots.graders.judge_errors", name=name), COLORS[i % len(COLORS)], dash="dot")
            trace.update(yaxis="y2")
            fig.add_trace(trace)
            errors = True
    if not fig.data:
        return empty_figure(title)
    fig = layout(fig, title, t("plots.axis.grpo_step"), t("plots.axis.mean_score"))
    if errors:
        fig.update_layout(yaxis2={"title": t("plots.axis.judge_errors"), "overlaying": "y", "side": "right",
                                  "rangemode": "tozero", "showgrid": False})  # fmt: skip
    return fig


def completion_length_figure(rows, stage: str = "grpo") -> go.Figure:
    """Mean length (tokens) of the sampled answers per GRPO step (of ``stage``: ``"rl"`` in an RLHF run), with
    min/max when logged."""
    title = t("plots.length.title")
    every = metrics_frame(rows)
    df = _stage(every, stage)
    mean = _series(df, "completions/mean_length")
    if mean.empty:
        return empty_figure(title, t("plots.length.no_sampling") if _preference(every) else _waiting(every))
    fig = go.Figure()
    for key, name in (
        ("completions/max_length", t("plots.length.max")),
        ("completions/min_length", t("plots.length.min")),
    ):
        series = _series(df, key)
        if not series.empty:
            fig.add_trace(line(series, name, "#cbd5e1", dash="dot", size=4))
    fig.add_trace(line(mean, t("plots.length.mean"), COLORS[2]))
    return layout(
        fig, title, t("plots.axis.grpo_step") if stage == "grpo" else t("plots.axis.rl_step"), t("plots.axis.tokens")
    )


def sft_loss_figure(rows) -> go.Figure:
    """Training loss per SFT warm-up step (cross-entropy on the reference answers)."""
    title = t("plots.sft.title")
    loss = _series(_stage(metrics_frame(rows), "sft"), "loss")
    if loss.empty:
        return empty_figure(title, t("plots.sft.none"))
    fig = go.Figure(line(loss, t("plots.sft.loss"), COLORS[3]))
    return layout(fig, title, t("plots.axis.sft_step"), t("plots.axis.loss"))


# ---------------------------------------------------------------------------------------------------- RLHF runs
# An RLHF run (``lab.methods.rlhf``) logs stages ``simulate``, ``reward_model``, then ``rl`` (GRPO/RLOO against the
# reward model: ``reward`` is the reward model's score of the sampled answers) or ``kto``/``dpo``, and ``evaluate``.


def rm_score_figure(rows) -> go.Figure:
    """RL: the reward model's mean score of the sampled answers per step (±1 std) and of greedy held-out answers at
    evaluations. KTO/DPO runs have no reward model in the loop: their training loss is drawn instead."""
    df = metrics_frame(rows)
    rl = _stage(df, "rl")
    train, held = _series(rl, "reward"), _series(rl, "eval_rm_score")
    if train.empty and held.empty:
        for stage in ("kto", "dpo"):
            loss = _series(_stage(df, stage), "loss")
            if not loss.empty:
                title = t("plots.pref_loss.title", route=stage.upper())
                curve = line(loss, t("plots.pref_loss.name", route=stage.upper()), COLORS[3])
                return layout(go.Figure(curve), title, t("plots.axis.step"), t("plots.axis.loss"))
        return empty_figure(t("plots.rm_score.title"))
    fig = go.Figure()
    if not train.empty:
        _add_band(fig, train, _series(rl, "reward_std"))
        fig.add_trace(line(train, t("plots.rm_score.sampled"), COLORS[0]))
    if not held.empty:
        fig.add_trace(line(held, t("plots.rm_score.heldout"), COLORS[1], dash="dot", size=9))
    _mark_stages(fig, df)
    return layout(fig, t("plots.rm_score.title"), _time_axis(df), t("plots.axis.mean_score"))


def kl_figure(rows) -> go.Figure:
    """KL divergence of the policy from the base model per step (what β penalises), RL or KTO."""
    title = t("plots.kl.title")
    df = metrics_frame(rows)
    for stage in ("rl", "kto"):
        kl = _series(_stage(df, stage), "kl")
        if not kl.empty:
            return layout(
                go.Figure(line(kl, t("plots.kl.name"), COLORS[5])), title, t("plots.axis.step"), t("plots.axis.kl")
            )
    note = t("plots.kl.dpo") if not _stage(df, "dpo").empty else _waiting(df)
    return empty_figure(title, note)


def win_rate_figure(rows) -> go.Figure:
    """The persona's win rate of the tuned model against the base on held-out prompts (ties count half): live
    evaluations during RL, and the final judgement on all held-out prompts. 0.5 means no change."""
    title = t("plots.win.title")
    df = metrics_frame(rows)
    live = _series(_stage(df, "rl"), "win_rate")
    final = _series(_stage(df, "evaluate"), "win_rate")
    if live.empty and final.empty:
        waiting = _waiting(df)
        return empty_figure(title, t("plots.win.waiting") if waiting == t(WAITING) else waiting)
    fig = go.Figure()
    if not live.empty:
        fig.add_trace(line(live, t("plots.win.live"), COLORS[2]))
    if not final.empty:
        fig.add_trace(line(final, t("plots.win.final"), COLORS[1], dash="dot", size=11))
    fig.add_hline(
        y=0.5, line={"color": "#94a3b8", "dash": "dash", "width": 1}, annotation_text=t("plots.win.no_change")
    )
    _mark_stages(fig, df)
    fig = layout(fig, title, _time_axis(df), t("plots.axis.win_rate"))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return fig


def rm_training_figure(rows) -> go.Figure:
    """The reward model while it trains: its loss per step and, when logged, its accuracy on the training batches
    (share of pairs whose chosen answer scored higher) and on the held-out pairs once trained."""
    title = t("plots.rm_train.title")
    df = _stage(metrics_frame(rows), "reward_model")
    loss, accuracy, held = _series(df, "loss"), _series(df, "accuracy"), _series(df, "heldout_accuracy")
    if loss.empty and accuracy.empty and held.empty:
        return empty_figure(title, t("plots.rm_train.waiting"))
    fig = go.Figure()
    if not loss.empty:
        fig.add_trace(line(loss, t("plots.rm_train.loss"), COLORS[3]))
    for series, name, color, dash, size in ((accuracy, t("plots.rm_train.accuracy"), COLORS[2], "solid", 6),
                                            (held, t("plots.rm_train.heldout"), COLORS[1], "dot", 11)):  # fmt: skip
        if not series.empty:
            trace = line(series, name, color, dash=dash, size=size)
            trace.yaxis = "y2"
            fig.add_trace(trace)
    fig = layout(fig, title, t("plots.axis.rm_step"), t("plots.axis.loss"))
    right = {"title": t("plots.axis.accuracy"), "overlaying": "y", "side": "right", "range": [0, 1.02],
             "tickformat": ".0%", "showgrid": False}  # fmt: skip
    fig.update_layout(yaxis2=right)
    return fig


def rm_histogram_figure(chosen: Iterable[float] | None, rejected: Iterable[float] | None) -> go.Figure:
    """Reward-model scores of the held-out pairs: the better (chosen) answers vs the worse (rejected) ones, in the
    same bins (equal widths, so the two shapes compare). Accuracy is the share of pairs whose chosen answer scores
    higher."""
    chosen, rejected = _floats(chosen), _floats(rejected)
    title = t("plots.hist.title")
    if not chosen or not rejected:
        return empty_figure(title, t("plots.hist.waiting"))
    wins = sum(c > r for c, r in zip(chosen, rejected, strict=False))
    accuracy = wins / min(len(chosen), len(rejected))
    low, high = min(chosen + rejected), max(chosen + rejected)
    size = (high - low) / 20 if high > low else 1.0
    bins = {"start": low - size / 2 if high == low else low, "end": high + size, "size": size}
    fig = go.Figure()
    for values, name, color in (
        (chosen, t("plots.hist.chosen"), COLORS[2]),
        (rejected, t("plots.hist.rejected"), COLORS[3]),
    ):
        fig.add_trace(go.Histogram(x=values, name=name, marker_color=color, opacity=0.6, xbins=bins))
    title = t("plots.hist.title_accuracy", title=title, accuracy=100 * accuracy)
    fig = layout(fig, title, t("plots.axis.rm_score"), t("plots.axis.pairs"))
    fig.update_layout(barmode="overlay", hovermode="closest")
    return fig


# ------------------------------------------------------------------------------------------------------- helpers


def _waiting(df: pd.DataFrame) -> str:
    """The note of a policy curve with nothing to draw yet: the usual one, or "after the reward model" while an
    RLHF run's reward model trains (its policy starts once the reward model is done)."""
    policy = df["stage"].isin(["rl", "kto", "dpo"]).any()
    return t("plots.after_reward_model") if (df["stage"] == "reward_model").any() and not policy else t(WAITING)


def _preference(df: pd.DataFrame) -> bool:
    """True for a KTO/DPO run (its policy learns from the feedback directly)."""
    return bool(df["stage"].isin(["kto", "dpo"]).any())


def _floats(values: Iterable[float] | None) -> list[float]:
    out = []
    for v in values or []:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            continue
    return out


def _add_band(fig: go.Figure, mean: pd.Series, std: pd.Series) -> None:
    """A shaded ±1 std band around ``mean`` (nothing when no std was logged)."""
    std = std.reindex(mean.index)
    if not std.notna().any():
        return
    upper, lower = mean + std.fillna(0), mean - std.fillna(0)
    fig.add_trace(
        go.Scatter(
            x=list(mean.index) + list(mean.index[::-1]),
            y=list(upper) + list(lower[::-1]),
            fill="toself",
            mode="lines",
            fillcolor="rgba(99,102,241,0.12)",
            line={"width": 0},
            hoverinfo="skip",
            name=t("plots.band"),
            showlegend=False,
        )
    )


def _is_grader_column(column: str) -> bool:
    return column.startswith(_GRADER_PREFIX) and column.endswith(_GRADER_SUFFIX) and len(column) > 13


def _stage(df: pd.DataFrame, stage: str) -> pd.DataFrame:
    return df[df["stage"] == stage]


def _series(df: pd.DataFrame, column: str) -> pd.Series:
    """``column`` indexed by its place on the time line (``x``; else ``step``), NaNs dropped, the last value kept
    when a step was logged twice."""
    if column not in df or df.empty:
        return pd.Series(dtype=float)
    values = pd.to_numeric(df[column], errors="coerce")
    steps = pd.to_numeric(df["x" if "x" in df else "step"], errors="coerce")
    series = pd.Series(values.to_numpy(), index=steps.to_numpy()).dropna()
    series = series[~pd.isna(series.index)]
    return series[~series.index.duplicated(keep="last")].sort_index()


def line(series: pd.Series, name: str, color: str, dash: str = "solid", size: int = 6) -> go.Scatter:
    """One curve in the lab's style: ``series``' index on x, its values on y, lines with markers."""
    return go.Scatter(
        x=list(series.index),
        y=list(series.values),
        mode="lines+markers",
        name=name,
        line={"color": color, "width": 2.5, "dash": dash},
        marker={"size": size, "color": color},
    )


def _mark_stages(fig: go.Figure, df: pd.DataFrame) -> None:
    """A dotted vertical line where each training stage after the first begins (the x-axis title names them)."""
    for start in stage_offsets(df).values():
        if start > 0:
            fig.add_vline(x=start, line={"color": "#94a3b8", "dash": "dot", "width": 1.5})


def _time_axis(df: pd.DataFrame) -> str:
    """The x-axis title of the one time line: the training stages it spans, in order ("SFT → GRPO step")."""
    stages = [t(f"plots.stage.{s}") for s in stage_offsets(df)]
    return t("plots.axis.timeline", stages=" → ".join(stages)) if len(stages) > 1 else t("plots.axis.step")


def layout(fig: go.Figure, title: str, xaxis: str, yaxis: str) -> go.Figure:
    """The lab's figure style (title, height, margins, legend on top, whole steps on a short x-axis); returns
    ``fig``."""
    fig.update_layout(
        title={"text": title, "font": {"size": 15}, "x": 0.02},
        height=_HEIGHT,
        margin={"l": 50, "r": 20, "t": 50, "b": 45},
        template="plotly_white",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        hovermode="x unified",
        xaxis_title=xaxis,
        yaxis_title=yaxis,
    )
    xs = [x for trace in fig.data for x in (trace.x or ()) if isinstance(x, int | float)]
    if xs and max(xs) - min(xs) <= 12:
        fig.update_xaxes(dtick=1)  # a short run: whole steps, not 0.5 ticks
    return fig
