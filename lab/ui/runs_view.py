"""One run on screen: status with ETA, live curves, results (before → after), samples and the worker's log.

The components are built in two groups so a tab can place them apart (the RFT tab shows progress under "Train"
and results under "Results"): :func:`build_progress` and :func:`build_results` return a :class:`RunView` each, and
:meth:`RunView.outputs` lists the components in the order :func:`render` fills them.

:func:`render` only reads the run folder. It remembers, per browser session (a ``gr.State``), a stamp (mtime and
size) of each file it read and returns ``gr.skip()`` for the parts whose files did not change — so a ``gr.Timer``
polling every two seconds costs a few ``stat`` calls while nothing happens, and plots do not flicker.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from lab import LabError, plots, runs
from lab.ui.common import empty_frame, esc, format_seconds, pct

POLL_SECONDS = 2.0
SAMPLE_COLUMNS = ["question", "completion", "reward"]
STAGES = [  # (stage prefix in status.json, label): the pipeline the status line draws
    ("data", "① data"),
    ("sft", "② SFT warm-up"),
    ("grpo", "③ grading + ④ RL"),
    ("evaluating", "evaluating"),
    ("done", "results"),
]
_STATE_COLORS = {"running": "#6366f1", "queued": "#64748b", "done": "#10b981", "stopped": "#f59e0b",
                 "failed": "#ef4444", "interrupted": "#ef4444"}  # fmt: skip
_PARTS = ("status", "metrics", "samples", "summary")
_FILES = {"status": ("status.json", "log.txt"), "metrics": ("metrics.jsonl",), "samples": ("samples.jsonl",),
          "summary": ("summary.json",)}  # fmt: skip


@dataclass
class RunView:
    """The components that show one run; any of them may be ``None`` when a tab does not place it."""

    status: gr.HTML | None = None
    plots: list[gr.Plot] = field(default_factory=list)
    log: gr.Textbox | None = None
    accuracy: gr.HTML | None = None
    examples: gr.Dataframe | None = None
    samples: gr.Dataframe | None = None

    def merge(self, other: RunView) -> RunView:
        """A view holding this view's components and the other's where this one has none."""
        return RunView(**{k: getattr(self, k) or getattr(other, k) for k in self.__dataclass_fields__})

    def slots(self) -> list[tuple[str, Any]]:
        """``(kind, component)`` pairs in output order, for the components this view has."""
        pairs = [("status", self.status), ("log", self.log)] + [("plot", p) for p in self.plots]
        pairs += [("accuracy", self.accuracy), ("examples", self.examples), ("samples", self.samples)]
        return [(kind, c) for kind, c in pairs if c is not None]

    def outputs(self) -> list[Any]:
        return [c for _, c in self.slots()]


def build_progress(with_log: bool = True) -> RunView:
    """Status line, the four live curves and (in a closed accordion) the worker's log."""
    status = gr.HTML(status_html(None), label="Run status", elem_classes=["run-status"])
    with gr.Row(equal_height=True):
        reward = gr.Plot(plots.reward_figure([]), label="Reward", show_label=False)
        graders = gr.Plot(plots.grader_figure([]), label="Reward per grader", show_label=False)
    with gr.Row(equal_height=True):
        length = gr.Plot(plots.completion_length_figure([]), label="Completion length", show_label=False)
        sft = gr.Plot(plots.sft_loss_figure([]), label="SFT loss", show_label=False)
    log = None
    if with_log:
        with gr.Accordion("Worker log (last lines)", open=False):
            log = gr.Textbox(label="log.txt", lines=10, max_lines=20, interactive=False, autoscroll=True)
    return RunView(status=status, plots=[reward, graders, length, sft], log=log)


def build_results() -> RunView:
    """Accuracy before → after as big numbers, the before/after table and the latest GRPO samples."""
    accuracy = gr.HTML(accuracy_html(None), label="Accuracy", elem_classes=["accuracy"])
    examples = gr.Dataframe(
        examples_frame(None), label="Held-out questions: before → after (reward in [brackets])", wrap=True,
        interactive=False, max_height=420, show_search="search",
    )  # fmt: skip
    samples = gr.Dataframe(
        samples_frame([]), label=samples_label(None), wrap=True, interactive=False, max_height=420,
    )  # fmt: skip
    return RunView(accuracy=accuracy, examples=examples, samples=samples)


def render(view: RunView, run_id: str | None, seen: dict | None = None, force: bool = False) -> tuple:
    """``(seen, *values)`` for ``view.outputs()``; parts whose files did not change since ``seen`` are skipped."""
    force = force or not seen or "run" not in seen
    seen = dict(seen or {})
    run = _find(run_id)
    stamps = _stamps(run)
    changed = {part for part in _PARTS if force or seen.get(part) != stamps.get(part) or seen.get("run") != run_id}
    seen.update(stamps, run=run_id)
    status = run.status() if run else None
    state = (status or {}).get("state")
    if seen.get("state") != state:  # a worker that died changes state without touching its files
        changed.add("status")
        seen["state"] = state
    metrics = run.metrics() if run and "metrics" in changed else []
    figures = iter([plots.reward_figure, plots.grader_figure, plots.completion_length_figure, plots.sft_loss_figure])
    values: list[Any] = []
    for kind, _ in view.slots():
        figure = next(figures) if kind == "plot" else None
        part = {"status": "status", "log": "status", "plot": "metrics", "samples": "samples"}.get(kind, "summary")
        if part not in changed:
            values.append(gr.skip())
        elif kind == "status":
            values.append(status_html(run.id if run else None, status))
        elif kind == "log":
            values.append(run.log_tail(6000) if run else "")
        elif figure is not None:
            values.append(figure(metrics))
        elif kind == "samples":
            rows = run.samples() if run else []
            values.append(gr.Dataframe(samples_frame(rows), label=samples_label(latest_step(rows))))
        elif kind == "accuracy":
            values.append(accuracy_html(run.summary() if run else None, status))
        else:
            values.append(examples_frame(run.summary() if run else None))
    return (seen, *values)


# ------------------------------------------------------------------------------------------- pure formatting


def status_html(run_id: str | None, status: dict | None = None) -> str:
    """The status card: state, stage pipeline, step/max with a bar, ETA, elapsed time and any error."""
    if not run_id or status is None:
        return (
            '<div class="run-card idle"><b>No run selected.</b> Start one with <b>Train</b>, or pick one '
            "in the <b>Runs</b> tab.</div>"
        )
    state = status.get("state", "unknown")
    stage = str(status.get("stage") or ("starting" if state in ("queued", "running") else ""))
    step, max_steps = status.get("step") or 0, status.get("max_steps") or 0
    color = _STATE_COLORS.get(state, "#64748b")
    active = state in ("queued", "running")
    now = status.get("ended") or (time.time() if active else status.get("updated") or time.time())
    elapsed = now - status["started"] if status.get("started") else None
    parts = [f'<span class="badge" style="background:{color}">{esc(state)}</span>', f"<code>{esc(run_id)}</code>"]
    if stage:
        parts.append(f"stage <b>{esc(stage)}</b>")
    if max_steps and stage in ("sft", "grpo"):
        parts.append(f"step <b>{step}/{max_steps}</b>")
    if state == "running" and stage in ("sft", "grpo") and status.get("eta_seconds") is not None:
        parts.append(f"ETA <b>{format_seconds(status['eta_seconds'])}</b> (this stage)")
    if elapsed is not None:
        parts.append(f"elapsed {format_seconds(elapsed)}")
    training = max_steps and stage in ("sft", "grpo")
    fraction = min(1.0, step / max_steps) if training else (1.0 if state == "done" else 0.0)
    bar = f'<div class="bar"><div style="width:{100 * fraction:.0f}%;background:{color}"></div></div>'
    chips = "".join(
        f'<span class="chip{" on" if stage.startswith(prefix) else ""}">{label}</span>' for prefix, label in STAGES
    )
    error = f'<div class="error">⚠ {esc(status["error"])}</div>' if status.get("error") else ""
    if state == "interrupted":
        error += '<div class="error">The app stopped while this run was training; what it logged is kept.</div>'
    return f'<div class="run-card">{" · ".join(parts)}<div class="chips">{chips}</div>{bar}{error}</div>'


def accuracy_html(summary: dict | None, status: dict | None = None) -> str:
    """Exact-match accuracy (and mean reward) on the held-out questions: before → after SFT → after RL."""
    if not summary:
        state = (status or {}).get("state")
        note = {
            "failed": "The run failed before its results were written (see the status and the log).",
            "stopped": "The run was stopped before the final evaluation: see the curves and samples for what it did.",
            "interrupted": "The run was interrupted before the final evaluation.",
        }.get(state, "Results appear here when the run finishes: accuracy before and after, side by side.")
        return f'<div class="results-empty">{esc(note)}</div>'
    cards = []
    for key, label in (("before", "before (base model)"), ("after_sft", "after SFT warm-up"), ("after", "after RL")):
        if summary.get(key):
            s = summary[key]
            cards.append(
                f'<div class="big"><div class="label">{label}</div><div class="value">{pct(s.get("accuracy"))}</div>'
                f'<div class="sub">mean reward {_num(s.get("valid_reward"))}</div></div>'
            )
    arrows = '<div class="arrow">→</div>'.join(cards)
    seconds = {k: format_seconds(summary.get(f"{k}_seconds")) for k in ("train", "sft", "grpo", "eval")}
    timing = (
        f"{esc(summary.get('model'))} on {esc(Path(str(summary.get('task', ''))).name)} · "
        f"{summary.get('valid_size', '?')} held-out questions · training {seconds['train']} (SFT {seconds['sft']}, "
        f"RL {seconds['grpo']}), evaluation {seconds['eval']}"
    )
    return f'<div class="bigs">{arrows}</div><div class="results-note">exact-match accuracy · {timing}</div>'


def examples_frame(summary: dict | None, limit: int = 200) -> pd.DataFrame:
    """question | reference | before | (after SFT) | after RL, each answer followed by its reward in brackets."""
    examples = (summary or {}).get("examples") or []
    with_sft = any("after_sft" in e for e in examples)
    columns = ["question", "reference", "before", *(["after SFT"] if with_sft else []), "after RL"]
    if not examples:
        return empty_frame(columns)
    rows = []
    for e in examples[:limit]:
        row = {"question": e.get("question"), "reference": e.get("reference"),
               "before": _answer(e.get("before"), e.get("before_reward"))}  # fmt: skip
        if with_sft:
            row["after SFT"] = _answer(e.get("after_sft"), e.get("after_sft_reward"))
        row["after RL"] = _answer(e.get("after"), e.get("after_reward"))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def samples_frame(samples: list[dict], limit: int = 32) -> pd.DataFrame:
    """The answers sampled at the latest GRPO step: question | completion | reward | one column per grader."""
    grpo = [s for s in samples if s.get("stage", "grpo") == "grpo"]
    if not grpo:
        return empty_frame(SAMPLE_COLUMNS)
    last = latest_step(grpo)
    latest = [s for s in grpo if s.get("step", 0) == last][:limit]
    graders = list(dict.fromkeys(k for s in latest for k in (s.get("scores") or {})))
    rows = [
        {"question": s.get("prompt"), "completion": s.get("completion"), "reward": _round(s.get("reward")),
         **{g: _round((s.get("scores") or {}).get(g)) for g in graders}}
        for s in latest
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=SAMPLE_COLUMNS + [g for g in graders if g not in SAMPLE_COLUMNS])


def latest_step(samples: list[dict]) -> int | None:
    """The last GRPO step that wrote samples (``None`` before the first)."""
    steps = [s.get("step", 0) for s in samples if s.get("stage", "grpo") == "grpo"]
    return max(steps) if steps else None


def samples_label(step: int | None) -> str:
    if step is None:
        return "GRPO samples: what the policy wrote and how the graders scored it (after the first step)"
    return f"GRPO samples at step {step} (the latest): what the policy wrote and how the graders scored it"


# ------------------------------------------------------------------------------------------------- helpers


def _find(run_id: str | None) -> runs.Run | None:
    if not run_id:
        return None
    with contextlib.suppress(LabError):
        return runs.get(run_id)
    return None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _stamps(run: runs.Run | None) -> dict[str, Any]:
    if run is None:
        return {part: None for part in _PARTS}
    return {part: [_stamp(run.dir / name) for name in names] for part, names in _FILES.items()}


def _round(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) and math.isfinite(value) else value


def _num(value: Any) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:.2f}"


def _answer(text: Any, reward: Any) -> str:
    text = "" if text is None else str(text)
    text = text if text.strip() else "(empty)"
    return f"{text} [{_num(reward)}]" if reward is not None else text
