"""One run on screen: status with ETA, live curves, results (before → after), samples and the worker's log.

The components are built in groups so a tab can place them apart (the RFT tab shows progress under "Train" and
results under "Results"): :func:`build_progress`, :func:`build_reward_model` and :func:`build_results` return a
:class:`RunView` each, and :meth:`RunView.outputs` lists the components in the order :func:`render` fills them.

The same components show an RFT or an RLHF run: what goes in them follows the run's method, whose pieces (stages,
curves, results, held-out table) come from its view module in ``VIEWS`` (``lab.ui.rft_view``, ``lab.ui.rlhf_view``).

:func:`render` only reads the run folder. It remembers, per browser session (a ``gr.State``), a stamp (mtime and
size) of each file it read and returns ``gr.skip()`` for the parts whose files did not change — so a ``gr.Timer``
polling every two seconds costs a few ``stat`` calls while nothing happens, and plots do not flicker. Only the
status card of an active run is redrawn at every poll: its elapsed time moves on, and it names the stage in words.

Text: the layout's labels are page labels (``L``); whatever :func:`render` and the formatting functions return is
made in the visitor's language (``t``), and so are the table headers. A method view's label that is a page label
(``L``) or a text key is spoken in the visitor's language too (:func:`shown`).

The held-out answers show as cards (``lab.ui.answer_cards``: one per prompt, the answers side by side, fitting
their box); the same answers stay a searchable table in a closed accordion (and in the API's outputs).
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import gradio as gr
import pandas as pd

from lab import LabError, lab_home, plots, runs
from lab.texts import has_key, slug, t
from lab.ui import rft_view, rlhf_view
from lab.ui.common import empty_frame, esc, format_seconds
from lab.ui.lang import L

POLL_SECONDS = 2.0
SAMPLE_COLUMNS = ["question", "completion", "reward"]
VIEWS: dict[str, ModuleType] = {"rft": rft_view, "rlhf": rlhf_view}
"""method → the module with its pieces: ``STAGES``, ``TRAINING_STAGES``, ``POLICY_STAGE``, ``PLOT_LABELS``,
``FIGURES``, ``WAITING``, ``SCORER``, ``EXAMPLES_LABEL``, ``results_html``, ``examples_frame``, ``examples_cards``,
``reward_model_scores`` (``None`` hides the reward-model plot), ``data_text`` and ``result_text``."""
TRAINING_STAGES = tuple(stage for v in VIEWS.values() for stage in v.TRAINING_STAGES)
"""Stages that count steps: the status card shows step/max, a bar and an ETA for them."""
POLICY_STAGES = tuple(v.POLICY_STAGE for v in VIEWS.values())
"""Stages whose samples are the policy's answers with their reward (the samples table shows the latest step)."""
_STATE_COLORS = {"running": "#6366f1", "queued": "#64748b", "done": "#10b981", "stopped": "#f59e0b",
                 "failed": "#ef4444", "interrupted": "#ef4444"}  # fmt: skip
ACTIVE = (runs.WAITING, "queued", "running")
"""States whose view moves on by itself: waiting in the queue, the worker starting, training."""
_MODEL_STAGE = "loading model"
"""The stage in which a worker loads its model: the first run on a machine converts the embedded model then."""
_IDLE_HTML = '<div class="run-card idle">'
_RESULTS_EMPTY_HTML = '<div class="results-empty">'
"""The openings of the idle status card and of the note before results; the text between is a key's."""
_FIXED_COLUMNS = {"ui.rft.column.question": 22, "ui.rlhf.column.prompt": 22, "ui.rft.column.reference": 10,
                  "ui.rlhf.column.verdict": 14}  # fmt: skip
"""The held-out tables' columns of a set width (:func:`table_widths`), by the views' header keys."""
_PARTS = ("status", "metrics", "samples", "summary")
_FILES = {"status": ("status.json", "log.txt"), "metrics": ("metrics.jsonl",), "samples": ("samples.jsonl",),
          "summary": ("summary.json",)}  # fmt: skip


@dataclass
class RunView:
    """The components that show one run; any of them may be ``None`` when a tab does not place it."""

    status: gr.HTML | None = None
    plots: list[gr.Plot] = field(default_factory=list)
    log: gr.Textbox | None = None
    reward_model: gr.Plot | None = None
    accuracy: gr.HTML | None = None
    examples: gr.Dataframe | None = None
    samples: gr.Dataframe | None = None
    cards: gr.HTML | None = None  # the held-out answers side by side, one card per prompt
    method: str = "rft"  # what the components show before a run is picked

    def merge(self, other: RunView) -> RunView:
        """A view holding this view's components and the other's where this one has none."""
        merged = {k: getattr(self, k) or getattr(other, k) for k in self.__dataclass_fields__ if k != "method"}
        return RunView(**merged, method=self.method)

    def slots(self) -> list[tuple[str, Any]]:
        """``(kind, component)`` pairs in output order, for the components this view has."""
        pairs = [("status", self.status), ("log", self.log)] + [("plot", p) for p in self.plots]
        pairs += [("reward_model", self.reward_model), ("accuracy", self.accuracy), ("examples", self.examples)]
        pairs += [("samples", self.samples), ("cards", self.cards)]  # cards last: older outputs keep their places
        return [(kind, c) for kind, c in pairs if c is not None]

    def outputs(self) -> list[Any]:
        return [c for _, c in self.slots()]


def method_view(method: str | None) -> ModuleType:
    """The view module of a method (``VIEWS``); RFT's for a run whose method is not known yet."""
    return VIEWS.get(method, rft_view)


def shown(value: Any) -> Any:
    """A method view's text as the visitor reads it: a page label (``L``) or a text key in the visitor's language,
    any other value as it is.

    >>> shown(L("ui.runs.tab.refresh")), shown("ui.runs.tab.refresh"), shown("① data")
    ('Refresh list', 'Refresh list', '① data')
    """
    if isinstance(value, gr.i18n.I18nData):
        return t(value.key)
    if isinstance(value, str) and "." in value and " " not in value and has_key(value):
        return t(value)
    return value


def _method_key(method: str | None) -> str:
    """The method of the view that shows it (``VIEWS``; RFT's for one not known yet), as text keys name it."""
    return method if method in VIEWS else "rft"


def build_progress(with_log: bool = True, method: str = "rft") -> RunView:
    """Status line, the four live curves (the method's ``FIGURES`` until a run is shown) and the worker's log."""
    status = gr.HTML(_IDLE_HTML + L("ui.runs.status.idle") + "</div>", label=L("ui.runs.view.status"),
                     elem_classes=["run-status"])  # fmt: skip
    labels = method_view(method).PLOT_LABELS
    figures = iter(method_view(method).FIGURES)
    plot_list = []
    for row in (labels[:2], labels[2:]):
        with gr.Row(equal_height=True):
            plot_list += [gr.Plot(next(figures)([]), label=label, show_label=False) for label in row]
    log = None
    if with_log:
        with gr.Accordion(L("ui.runs.view.log"), open=False):
            log = gr.Textbox(label="log.txt", lines=10, max_lines=20, interactive=False, autoscroll=True)
    return RunView(status=status, plots=plot_list, log=log, method=method)


def build_reward_model() -> RunView:
    """The reward model's verdict on its held-out pairs: chosen vs rejected scores (shown for RLHF runs only)."""
    figure = plots.rm_histogram_figure([], [])
    return RunView(reward_model=gr.Plot(figure, label=L("ui.runs.view.reward_model"), show_label=False))


def build_results(method: str = "rft", key: str | None = None) -> RunView:
    """Accuracy (RFT) or win rate (RLHF) as big numbers, the held-out answers side by side (cards, with the same
    answers as a searchable table in a closed accordion) and the latest samples. ``key`` names the cards' element
    (``#<key>-answers``; default: the method) so a page with several run views can tell them apart."""
    waiting = _RESULTS_EMPTY_HTML + L(f"ui.runs.results.waiting.{_method_key(method)}") + "</div>"
    accuracy = gr.HTML(waiting, label=L("ui.runs.view.results"), elem_classes=["accuracy"])
    cards = gr.HTML(
        functools.partial(examples_cards, {"method": method}),  # made at page load: in the visitor's language
        label=method_view(method).EXAMPLES_LABEL,
        elem_id=f"{key or method}-answers", elem_classes=["answer-cards-block"],
    )  # fmt: skip
    with gr.Accordion(L("ui.cards.table"), open=False):
        first = examples_frame({"method": method})
        examples = gr.Dataframe(
            first, label=method_view(method).EXAMPLES_LABEL, wrap=True, interactive=False, max_height=420,
            show_search="search", column_widths=table_widths(first.columns),
        )  # fmt: skip
    samples = gr.Dataframe(
        samples_frame([]), label=L(f"ui.runs.samples.first.{_method_key(method)}"), wrap=True, interactive=False,
        max_height=420,
        column_widths=sample_widths(len(SAMPLE_COLUMNS)),
    )  # fmt: skip
    return RunView(accuracy=accuracy, examples=examples, samples=samples, cards=cards, method=method)


def render(view: RunView, run_id: str | None, seen: dict | None = None, force: bool = False) -> tuple:
    """``(seen, *values)`` for ``view.outputs()``; parts whose files did not change since ``seen`` are skipped."""
    force = force or not seen or "run" not in seen
    seen = dict(seen or {})
    run = find_run(run_id)
    stamps = _stamps(run)
    changed = {part for part in _PARTS if force or seen.get(part) != stamps.get(part) or seen.get("run") != run_id}
    seen.update(stamps, run=run_id)
    status = run.status() if run else None
    state = (status or {}).get("state")
    if state == runs.WAITING:  # where in the queue, and roughly when it starts (both move while it waits)
        position, wait = runs.queue_place(run)
        status = {**status, "queue_position": position, "wait_seconds": wait}
    if seen.get("state") != state:  # a worker that died changes state without touching its files
        changed.add("status")
        seen["state"] = state
    ticking = state in ACTIVE  # the status card's elapsed time moves on even while status.json stays the same
    method = (status or {}).get("method") or (run.config().get("method") if run else None) or view.method
    metrics = run.metrics() if run and "metrics" in changed else []
    samples = run.samples() if run and "samples" in changed else []
    summary = run.summary() if run and "summary" in changed else None
    pieces = method_view(method)
    figures = iter(pieces.FIGURES)
    values: list[Any] = []
    for kind, _ in view.slots():
        figure = next(figures) if kind == "plot" else None
        part = {"status": "status", "log": "status", "plot": "metrics", "samples": "samples",
                "reward_model": "samples"}.get(kind, "summary")  # fmt: skip
        if kind == "status" and ticking:
            values.append(status_html(run.id if run else None, status))
        elif part not in changed:
            values.append(gr.skip())
        elif kind == "status":
            values.append(status_html(run.id if run else None, status))
        elif kind == "log":
            values.append(run.log_tail(6000) if run else "")
        elif figure is not None:
            values.append(figure(metrics))
        elif kind == "reward_model":
            scores = pieces.reward_model_scores(samples, run.summary() if run else None)
            values.append(gr.Plot(plots.rm_histogram_figure(*(scores or ([], []))), visible=scores is not None))
        elif kind == "samples":
            frame = samples_frame(samples)
            values.append(gr.Dataframe(frame, label=samples_label(latest_step(samples), method),
                                       column_widths=sample_widths(len(frame.columns))))  # fmt: skip
        elif kind == "accuracy":
            values.append(accuracy_html(summary, status or {"method": method}))
        elif kind == "cards":
            values.append(examples_cards(summary or {"method": method}))
        else:
            frame = examples_frame(summary or {"method": method})
            values.append(gr.Dataframe(frame, label=shown(pieces.EXAMPLES_LABEL),
                                       column_widths=table_widths(frame.columns)))  # fmt: skip
    return (seen, *values)


# ------------------------------------------------------------------------------------------- pure formatting


def status_html(run_id: str | None, status: dict | None = None) -> str:
    """The status card: state, the stage in words (and what it does), the pipeline, step/max with a bar, ETA, the
    elapsed time (it moves on at every poll while the run is active) and any error."""
    if not run_id or status is None:
        return _IDLE_HTML + t("ui.runs.status.idle") + "</div>"
    state = status.get("state", "unknown")
    stage = str(status.get("stage") or ("starting" if state in ACTIVE else ""))
    step, max_steps = status.get("step") or 0, status.get("max_steps") or 0
    color = _STATE_COLORS.get(state, "#64748b")
    active = state in ACTIVE
    now = status.get("ended") or (time.time() if active else status.get("updated") or time.time())
    began = status.get("started") or (status.get("created") if active else None)
    elapsed = now - began if began else None
    badge = f'<span class="badge" style="background:{color}">{esc(state_label(state))}</span>'
    parts = [badge, f"<code>{esc(run_id)}</code>"]
    training = bool(max_steps) and stage in TRAINING_STAGES
    if stage:
        name = f'<b class="stage-name" title="{esc(stage)}">{esc(stage_label(stage))}</b>'
        parts.append(t("ui.runs.status.stage", name=name))
    if training:
        parts.append(t("ui.runs.status.step", step=f"<b>{step}/{max_steps}</b>"))
    if state == "running" and training and status.get("eta_seconds") is not None:
        parts.append(t("ui.runs.status.eta", eta=f"<b>{format_seconds(status['eta_seconds'])}</b>"))
    if state == runs.WAITING and status.get("queue_position"):
        parts.append(t("ui.runs.status.queue", position=f"<b>#{status['queue_position']}</b>"))
        if status.get("wait_seconds") is not None:
            parts.append(t("ui.runs.status.expected", wait=f"<b>{format_seconds(status['wait_seconds'])}</b>"))
    elif elapsed is not None:
        parts.append(t("ui.runs.status.elapsed", elapsed=f'<span class="elapsed">{format_seconds(elapsed)}</span>'))
    fraction = min(1.0, step / max_steps) if training else (1.0 if state == "done" else 0.0)
    bar = f'<div class="bar"><div style="width:{100 * fraction:.0f}%;background:{color}"></div></div>'
    chips = "".join(
        f'<span class="chip{" on" if stage.startswith(prefixes) else ""}">{shown(label)}</span>'
        for prefixes, label in method_view(status.get("method")).STAGES
    )
    note = stage_note(stage) if active else ""
    note = f'<div class="stage-note">{esc(note)}</div>' if note else ""
    error = f'<div class="error">⚠ {esc(status["error"])}</div>' if status.get("error") else ""
    if state == "interrupted":
        error += f'<div class="error">{esc(t("ui.runs.status.interrupted"))}</div>'
    line = f'<div class="status-line">{" · ".join(parts)}</div>'
    return f'<div class="run-card">{line}<div class="chips">{chips}</div>{bar}{note}{error}</div>'


def state_label(state: str) -> str:
    """A run's state (``runs``: waiting, queued, running, done, stopped, failed, interrupted) in words; a state this
    table does not know is shown as it is.

    >>> state_label("done"), state_label("something_new")
    ('done', 'something_new')
    """
    key = "ui.runs.state." + slug(state)
    return t(key) if has_key(key) else state


def stage_label(stage: str) -> str:
    """A stage of ``status.json`` in words; ``name (detail)`` stages (``evaluating (before)``) get both in words.
    A stage this table does not know is shown as it is, underscores as spaces.

    >>> stage_label("reward_model"), stage_label("evaluating (after RL)"), stage_label("rl (base answers)")
    ('reward model', 'grading held-out answers (after RL)', 'RL (answers of the base model)')
    >>> stage_label("something_new")
    'something new'
    """
    match = re.fullmatch(r"(.+?) \((.+)\)", stage)
    name, detail = (match[1], match[2]) if match else (stage, None)
    label = _words("ui.stage.", name)
    return f"{label} ({_words('ui.stage.detail.', detail)})" if detail else label


def stage_note(stage: str) -> str:
    """One sentence on what the stage does ("" for a stage without one); before the model is loaded, whether the
    one-time model preparation is happening."""
    name = re.sub(r" \(.+\)$", "", stage)
    if stage == _MODEL_STAGE and not embedded_model_ready():
        return t("ui.stage_note.preparing")
    key = "ui.stage_note." + slug(name)
    return t(key) if has_key(key) else ""


def embedded_model_ready() -> bool:
    """Whether the embedded model was already converted into a trainable folder (``lab.models`` does it once, on
    the first run; the tiny test model borrows its tokenizer, so it waits for it too)."""
    return (lab_home() / "models" / "smollm2-135m-instruct" / "model.safetensors").exists()


def _words(prefix: str, text: str) -> str:
    key = prefix + slug(text)
    return t(key) if has_key(key) else text.replace("_", " ")


def accuracy_html(summary: dict | None, status: dict | None = None) -> str:
    """The run's results as big numbers, from its method's view (``results_html``): accuracy before → after SFT →
    after RL for RFT, win rate and reward-model score for RLHF; a note while there are none yet."""
    if not summary or set(summary) == {"method"}:
        state = (status or {}).get("state")
        method = (summary or {}).get("method") or (status or {}).get("method")
        if state in ("failed", "stopped", "interrupted"):
            note = t(f"ui.runs.results.{state}")
        else:
            note = t(f"ui.runs.results.waiting.{_method_key(method)}")
        return _RESULTS_EMPTY_HTML + esc(note) + "</div>"
    return method_view(summary.get("method")).results_html(summary)


def examples_frame(summary: dict | None, limit: int = 200) -> pd.DataFrame:
    """The held-out table of the run's method (its view's ``examples_frame``): for RFT question | reference |
    before | (after SFT) | after RL; for RLHF prompt | base | tuned | verdict; each answer with its score."""
    return method_view((summary or {}).get("method")).examples_frame(summary, limit)


def examples_cards(summary: dict | None, limit: int = 200) -> str:
    """The held-out answers side by side, one card per prompt (its view's ``examples_cards``): for RFT before |
    (after SFT) | after RL with reward and exact match; for RLHF base | tuned with reward-model score and verdict."""
    return method_view((summary or {}).get("method")).examples_cards(summary, limit)


def samples_frame(samples: list[dict], limit: int = 32) -> pd.DataFrame:
    """The answers sampled at the latest GRPO step: question | completion | reward | one column per grader (the
    first three headers in the visitor's language; the graders' names are data)."""
    grpo = [s for s in samples if s.get("stage", "grpo") in POLICY_STAGES]
    if not grpo:
        return empty_frame([_sample_header(c) for c in SAMPLE_COLUMNS])
    last = latest_step(grpo)
    latest = [s for s in grpo if s.get("step", 0) == last][:limit]
    graders = list(dict.fromkeys(k for s in latest for k in (s.get("scores") or {})))
    rows = [
        {"question": s.get("prompt"), "completion": s.get("completion"), "reward": _round(s.get("reward")),
         **{g: _round((s.get("scores") or {}).get(g)) for g in graders}}
        for s in latest
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=SAMPLE_COLUMNS + [g for g in graders if g not in SAMPLE_COLUMNS])
    return frame.rename(columns={c: _sample_header(c) for c in SAMPLE_COLUMNS})


def _sample_header(column: str) -> str:
    return t("ui.runs.samples.col." + column)


def table_widths(columns) -> list[str]:
    """Column widths of the held-out table that fit its box: the prompt a little wider, a reference or a verdict
    narrower, the answers share the rest. The headers may be English or the visitor's (the views' column keys).

    >>> table_widths(["question", "reference", "before", "after RL"])
    ['22%', '10%', '34%', '34%']
    """
    fixed = {"question": 22, "prompt": 22, "reference": 10, "verdict": 14}
    fixed |= {t(key): width for key, width in _FIXED_COLUMNS.items() if has_key(key)}
    rest = [c for c in columns if c not in fixed]
    share = (100 - sum(fixed.get(c, 0) for c in columns)) // max(len(rest), 1)
    return [f"{fixed.get(c, share)}%" for c in columns]


def sample_widths(n_columns: int) -> list[str]:
    """Column widths of the samples table: the question and the answer get the room, the scores share the rest.

    >>> sample_widths(3), sample_widths(5)
    (['30%', '50%', '20%'], ['30%', '46%', '8%', '8%', '8%'])
    """
    scores = max(n_columns - 2, 1)
    each = max(8, 20 // scores)
    return ["30%", f"{100 - 30 - each * scores}%"] + [f"{each}%"] * scores


def latest_step(samples: list[dict]) -> int | None:
    """The last GRPO step that wrote samples (``None`` before the first)."""
    steps = [s.get("step", 0) for s in samples if s.get("stage", "grpo") in POLICY_STAGES]
    return max(steps) if steps else None


def samples_label(step: int | None, method: str = "rft") -> str:
    """The samples table's title, in the visitor's language: what the policy wrote and how its method's scorer (the
    graders, the reward model) scored it."""
    if step is None:
        return t(f"ui.runs.samples.first.{_method_key(method)}")
    return t(f"ui.runs.samples.at_step.{_method_key(method)}", step=step)


# ------------------------------------------------------------------------------------------------- helpers


def find_run(run_id: str | None) -> runs.Run | None:
    """The run ``run_id`` names, or ``None`` (no id, or no such run any more)."""
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
