"""The Learn tab: the source article's comparison of RLHF and RFT, made of things a student runs and watches.

Four parts, top to bottom:

1. **The two pipelines** as the article lists them (RLHF: SFT'd base → human ratings → reward model → RL; RFT:
   task data with reference answers → initial SFT → grading → RL), each step with a button to the tab where a
   student does it.
2. **The article's table, live**: its rows (goal, feedback source, use case, process complexity; input data,
   optimisation target, data needs, implementation complexity), the article's words beside the class's own numbers
   from the newest finished run of each method (``lab.results``). A missing cell says which run to do and the
   buttons below start it; the guided demo starts both, back to back (the queue runs them one after the other).
3. **The article's code, honestly** (``lab.learn.source_code``): the two tf.js snippets, their smallest runnable
   Python ports (Keras) with each fix listed, a button that runs a port and shows that its output does not depend
   on the question, and the lines of TRL the lab really runs for each method.
4. A line on what the table cannot say (one run per method is one sample).

Layout only reads run folders and starts runs (``lab.runs``); it imports no torch.
"""

from __future__ import annotations

import functools
import tempfile
from html import escape as esc
from pathlib import Path

import gradio as gr
import pandas as pd

from lab import LabError, access, results, runs
from lab.learn import source_code
from lab.texts import duration, t
from lab.ui import runs_view
from lab.ui.common import BASE_MODELS, user_errors
from lab.ui.lang import L

__all__ = ["PIPELINES", "ROWS", "build_learn_tab", "learn_table_html", "pipeline_html", "start_demo"]

PIPELINES = {
    "rlhf": [("1", "rlhf"), ("2", "rlhf"), ("3", "rlhf"), ("4", "runs")],
    "rft": [("1", "rft"), ("2", "rft"), ("3", "rft"), ("4", "runs")],
}
"""Each method's four steps (the article's order): ``(number, tab where the student does it)``; texts are keys
``learn.pipe.<method>.<n>.title`` / ``.where``."""
ROWS = ("goal", "feedback", "use", "complexity", "input", "target", "data", "implementation", "verdict", "runs")
"""The live table's rows: the article's two tables (four rows each), then the verdict and the runs it came from."""
DEMO_METHODS = ("rft", "rlhf")
"""What the guided demo runs, in order: the default RFT demo, then the default RLHF demo (a persona's feedback)."""


def pipeline_html(method: str) -> str:
    """A method's four steps as a row of numbered boxes with arrows (visitor's language)."""
    boxes = []
    for n, _ in PIPELINES[method]:
        boxes.append(
            f'<div class="pipe-step"><div class="num">{n}</div><b>{esc(t(f"learn.pipe.{method}.{n}.title"))}</b>'
            f'<span>{esc(t(f"learn.pipe.{method}.{n}.text"))}</span>'
            f'<em>{esc(t(f"learn.pipe.{method}.{n}.where"))}</em></div>'
        )
    return (f'<div class="pipe pipe-{method}"><div class="pipe-title">{esc(t(f"learn.pipe.{method}.title"))}</div>'
            f'<div class="pipe-steps">{"<div class=pipe-arrow>→</div>".join(boxes)}</div></div>')  # fmt: skip


def _stages_text(run: runs.Run | None, row: dict) -> str:
    """The run's stages and what each took, e.g. "SFT 21 s → GRPO 1 min 40 s"."""
    s = (run.summary() if run else None) or {}
    if row["kind"] == "rft":
        parts = [("learn.stage.sft", s.get("sft_seconds")), ("learn.stage.grpo", s.get("grpo_seconds"))]
    else:
        parts = [("learn.stage.simulate", s.get("simulate_seconds")), ("learn.stage.reward_model",
                 s.get("reward_model_seconds")), ("learn.stage.policy", s.get("policy_seconds"))]  # fmt: skip
    return " → ".join(t(key, seconds=duration(v)) for key, v in parts if v)


def _cell(row: dict | None, name: str, run: runs.Run | None) -> str:
    """One live cell of the class's numbers (plain text, visitor's language)."""
    if row is None:
        return ""
    if name == "goal":
        return results.change_text(row)
    if name in ("feedback", "input"):
        return results.feedback_text(row)
    if name == "use":
        key = "learn.use.rft" if row["kind"] == "rft" else "learn.use.rlhf"
        return t(key, data=row.get("data") or "?", model=row.get("model") or "?")
    if name == "complexity":
        return _stages_text(run, row)
    if name == "target":
        r0, r1 = row.get("reward_before"), row.get("reward_after")
        key = "learn.target.rft" if row["kind"] == "rft" else "learn.target.rlhf"
        return t(key, r0="–" if r0 is None else f"{r0:.2f}", r1="–" if r1 is None else f"{r1:.2f}")
    if name == "data":
        return results.effort_text(row)
    if name == "implementation":
        key = "learn.impl.rft" if row["kind"] == "rft" else f"learn.impl.{row['kind']}"
        return t(key, seconds=duration(row.get("train_seconds")))
    if name == "verdict":
        return t(f"results.verdict.{row['verdict']}")
    if name == "runs":
        return t("learn.runs_cell", run=row["run"], n=row.get("of", 1))
    raise ValueError(name)


def learn_table_html(rows: list[dict] | None = None) -> str:
    """The article's comparison table with the class's numbers: for each row the article's RLHF words, the newest
    finished RLHF run's number, the article's RFT words and the newest RFT run's. A column without a finished run
    says so once (one cell over all rows) and which button starts one."""
    rows = [results.headline(r) for r in results.finished()] if rows is None else rows
    counts = {k: sum(1 for r in rows if r["kind"] == k) for k in ("rft", "rlhf")}
    latest = results.latest_by_kind(rows)
    cols = {}
    for kind in ("rlhf", "rft"):
        row = latest.get(kind)
        if row is not None:
            row = {**row, "of": counts[kind]}
        cols[kind] = (row, runs.get(row["run"]) if row else None)
    head = (f"<tr><th>{esc(t('learn.table.aspect'))}</th><th>{esc(t('learn.table.article_rlhf'))}</th>"
            f"<th>{esc(t('learn.table.class_rlhf'))}</th><th>{esc(t('learn.table.article_rft'))}</th>"
            f"<th>{esc(t('learn.table.class_rft'))}</th></tr>")  # fmt: skip
    body = []
    for i, name in enumerate(ROWS):
        cells = [f'<th class="aspect">{esc(t(f"learn.row.{name}"))}</th>']
        for kind in ("rlhf", "rft"):
            cells.append(f'<td class="article">{esc(t(f"learn.article.{kind}.{name}"))}</td>')
            row, run = cols[kind]
            if row is not None:
                cells.append(f'<td class="ours">{esc(_cell(row, name, run))}</td>')
            elif i == 0:  # a column without a run says so once, beside all the article's rows
                cells.append(f'<td class="missing" rowspan="{len(ROWS)}">{esc(t(f"learn.missing.{kind}"))}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<div class="learn-table"><table><thead>{head}</thead><tbody>{"".join(body)}</tbody></table></div>'


def class_results() -> tuple[pd.DataFrame, str | None]:
    """The class results table (every finished run) and a CSV file of it for download (``None`` when empty), in a
    folder of its own under the system's temp dir (where Gradio serves downloads from; no file shared by calls)."""
    rows = [results.headline(r) for r in results.finished()]
    if not rows:
        return results.class_frame([]), None
    path = Path(tempfile.mkdtemp(prefix="lab-class-")) / "class_results.csv"
    path.write_text(results.class_csv(rows), encoding="utf-8")
    return results.class_frame(rows), str(path)


def start_demo(methods: tuple[str, ...], model: str, owner: str) -> list[str]:
    """Start the default demo of each method (the CLI's defaults: RFT on the bundled task with its graders and a
    warm-up; RLHF with the concise persona's simulated feedback → reward model → GRPO) on ``model``; the queue runs
    them one after the other. Returns the run ids; a refusal (queue caps) names the method it stopped at."""
    if model not in BASE_MODELS:
        raise LabError("learn.demo.bad_model", model=model, choices=", ".join(BASE_MODELS))
    started = []
    for method in methods:
        try:
            started.append(runs.start(method, {"model": model}, owner=owner, waiting_allowance=len(started)).id)
        except LabError as e:
            if not started:
                raise
            raise LabError("learn.demo.partly", started=", ".join(started), method=method.upper(),
                           error=e.text()) from None  # fmt: skip
    return started


def demo_status(run_ids: list[str] | None) -> str:
    """Where the guided demo's runs are: one line per run with its state and stage (visitor's language)."""
    if not run_ids:
        return ""
    lines = []
    for run_id in run_ids:
        run = runs_view.find_run(run_id)
        if run is None:
            continue
        status = run.status()
        lines.append(t("learn.demo.line", run=run_id, method=run.config().get("method", "?").upper(),
                       state=runs_view.state_label(status.get("state", "?")),
                       stage=runs_view.stage_label(str(status.get("stage") or ""))))  # fmt: skip
    return "  \n".join(lines)


def _code_section() -> None:
    """The article's code and the lab's: tf.js original, Python port with its fixes, a run, the TRL lines."""
    with gr.Accordion(L("learn.code.title"), open=False):
        gr.Markdown(L("learn.code.intro"))
        for method in ("rlhf", "rft"):
            gr.Markdown(L(f"learn.code.{method}.heading"))
            with gr.Row(equal_height=False):
                with gr.Column(min_width=300):
                    gr.Code(source_code.ARTICLE_SNIPPETS[method], language="javascript",
                            label=L("learn.code.article"), interactive=False, max_lines=30)  # fmt: skip
                with gr.Column(min_width=300):
                    gr.Code(source_code.PORT_SOURCES[method], language="python", label=L("learn.code.port"),
                            interactive=False, max_lines=30)  # fmt: skip
            gr.Markdown(value=lambda m=method: _fixes_markdown(m))
            with gr.Row():
                run = gr.Button(L("learn.code.run"), scale=0, min_width=220)
                out = gr.Markdown(elem_classes=["wrap-note"])
            run.click(user_errors(lambda m=method: _port_markdown(m)), None, out, api_name=f"learn_port_{method}",
                      concurrency_limit=1, concurrency_id="learn_port")  # fmt: skip
            for key in (("rft",) if method == "rft" else ("rlhf", "kto_dpo")):
                gr.Code(source_code.TRL_LINES[key], language="python", label=L(f"learn.code.trl.{key}"),
                        interactive=False, max_lines=24)  # fmt: skip


def _fixes_markdown(method: str) -> str:
    fixes = "\n".join(f"{i}. {t(key)}" for i, key in enumerate(source_code.FIXES[method], 1))
    return f"**{t('learn.code.fixes')}**\n\n{fixes}\n\n{t(f'learn.port.what.{method}')}"


@functools.cache
def _port_result(method: str) -> dict:
    """The port's output, run once per app (its seed fixes every number): a click costs a subprocess only once."""
    return source_code.run_port(method)


def _port_markdown(method: str) -> str:
    """Run the port (a subprocess, ~10 s) and show its losses and its outputs for several questions."""
    out = _port_result(method)
    losses = [f"{x:.4f}" for x in out.get("losses") or []] or ["–"]
    ran = t("learn.code.ran", seconds=f"{out.get('seconds', 0):.1f}", first=losses[0], last=losses[-1],
            n=len(out.get("losses") or []))  # fmt: skip
    lines = [f"| {t('learn.code.question')} | {t('learn.code.output')} |", "|---|---|"]
    for question, probs in (out.get("predictions") or {}).items():
        lines.append(f"| {question} | {', '.join(f'{p:.4f}' for p in probs)} |")
    verdict = t("learn.code.same" if out.get("identical_for_all_questions") else "learn.code.differs")
    return "\n".join([ran, "", *lines, "", f"**{verdict}**"])


def build_learn_tab(tabs: gr.Tabs | None = None) -> None:
    """Build the Learn tab inside the current ``gr.Tab``; ``tabs`` (the page's ``gr.Tabs``) lets the pipeline
    buttons take the student to the tab of each step."""
    gr.Markdown(L("learn.intro"))
    with gr.Row(equal_height=False):
        for method in ("rlhf", "rft"):
            with gr.Column(min_width=420):
                gr.HTML(value=lambda m=method: pipeline_html(m))
                with gr.Row():
                    for n, tab in PIPELINES[method]:
                        go = gr.Button(L(f"learn.go.{method}.{n}"), size="sm", min_width=80)
                        if tabs is not None:
                            go.click(lambda tab=tab: gr.Tabs(selected=tab), None, tabs, api_visibility="private")
    gr.Markdown(L("learn.table.heading"))
    table = gr.HTML(value=learn_table_html, elem_id="learn-table")
    with gr.Row():
        model = gr.Dropdown([(L(key), name) for name, key in BASE_MODELS.items()], value="embedded",
                            label=L("learn.demo.model"), scale=1, min_width=200)  # fmt: skip
        start_rft = gr.Button(L("learn.demo.rft"), scale=1)
        start_rlhf = gr.Button(L("learn.demo.rlhf"), scale=1)
        guided = gr.Button(L("learn.demo.guided"), variant="primary", scale=2)
        refresh = gr.Button(L("learn.table.refresh"), scale=1)
    gr.Markdown(L("learn.demo.note"))
    started = gr.State([])
    status = gr.Markdown(elem_classes=["wrap-note"])
    timer = gr.Timer(5, active=False)
    _code_section()
    gr.Markdown(L("learn.caveat"))

    def start(methods: tuple[str, ...]):
        @user_errors
        def handler(model_name: str, known: list[str], request: gr.Request):
            ids = start_demo(methods, model_name, owner=access.identify(request).visitor)
            gr.Info(t("learn.demo.started", runs=", ".join(ids)))
            ids = [*known, *ids]
            return ids, demo_status(ids), gr.Timer(active=True)

        return handler

    outputs = [started, status, timer]
    start_rft.click(start(("rft",)), [model, started], outputs, api_name="learn_demo_rft")
    start_rlhf.click(start(("rlhf",)), [model, started], outputs, api_name="learn_demo_rlhf")
    guided.click(start(DEMO_METHODS), [model, started], outputs, api_name="learn_guided_demo")

    def tick(ids: list[str]):
        line = demo_status(ids)
        found = [r for r in map(runs_view.find_run, ids) if r is not None]
        active = any(r.status().get("state") not in runs.FINAL_STATES for r in found)
        return line, learn_table_html(), gr.Timer(active=active)

    timer.tick(tick, started, [status, table, timer], api_visibility="private", show_progress="hidden")
    refresh.click(learn_table_html, None, table, api_name="learn_table")

