"""The RFT tab: data → graders → train → results, the four things a student does to fine-tune with RFT.

Layout only, one builder per step: the actions live in ``lab.ui.rft_actions`` (plain functions), the run display
in ``lab.ui.runs_view`` and Train / Stop / poll in ``lab.ui.run_controls``. Per-browser state: the chosen task set,
the run being watched, and what the poller last saw.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from lab import LabError, compare_plots, data, grading, runs
from lab.texts import has_key, slug, t
from lab.ui import groups_view, runs_view
from lab.ui import rft_actions as act
from lab.ui.common import empty_frame, knob_components, starter, steps_html, user_errors
from lab.ui.lang import L
from lab.ui.run_controls import RunControls

RFT_STEPS = [  # the source text's four RFT steps, one line each: (number, title key, text key)
    ("1", "ui.rft.step.data.title", "ui.rft.step.data.text"),
    ("2", "ui.rft.step.sft.title", "ui.rft.step.sft.text"),
    ("3", "ui.rft.step.grading.title", "ui.rft.step.grading.text"),
    ("4", "ui.rft.step.rl.title", "ui.rft.step.rl.text"),
]


def steps_cards() -> str:
    """The four steps as cards, in the visitor's language (the HTML's value: Gradio makes it at each page load)."""
    return steps_html([(n, t(title), t(text)) for n, title, text in RFT_STEPS])


def preset_choices() -> list[tuple]:
    """The grader presets as ``(display name, preset name)``: the name in the visitor's language where the table
    has one (``ui.rft.preset.<name>``), the value the preset's own name (what ``act.merge_presets`` looks up)."""
    keys = {name: "ui.rft.preset." + slug(name) for name in grading.PRESETS}
    return [(L(keys[name]) if has_key(keys[name]) else name, name) for name in grading.PRESETS]


def build_rft_tab() -> None:
    """Build the tab's components and events inside the current ``gr.Blocks``/``gr.Tab`` context: one builder per
    step, then Train, Stop and the poller wired to the run view."""
    task_state = gr.State(act.DEFAULT_TASK)  # the task set the graders and Train use
    _, first_preview, first_item, _ = act.task_view(act.DEFAULT_TASK)
    first_answer = json.loads(first_item).get("answer", "")
    gr.HTML(steps_cards, label=L("ui.rft.steps_label"))
    bundled, upload, info, preview = _data_section(functools.partial(act.task_info, act.DEFAULT_TASK), first_preview)
    valid_state, job_parts = _job_section()  # ① continued: a validation file, an OpenAI job
    specs, item, output = _graders_section(task_state, first_item, functools.partial(act.example_output, first_answer))
    _task_events(bundled, upload, valid_state, [task_state, info, preview, item, output])
    train, stop, knobs, live = _train_section()
    _job_events(*job_parts, valid_state, task_state, info, specs, knobs)
    view = live.merge(_results_section())
    run = RunControls(view)

    def start(task: str, specs_text: str, valid_task: str, request: gr.Request, progress=gr.Progress(),
              **values) -> str:  # fmt: skip
        progress(0.2, desc=t("ui.rft.progress.checking"))
        values = {**values, "valid_task": valid_task}  # the validation file loaded, if any (a state: not in the API)
        return act.start_run(task, specs_text, values, **starter(request))

    run.train(
        train, start, [task_state, specs, valid_state], api_name="train",
        inputs_kwargs=knobs,  # name → component: the API names each knob as Config does
    )  # fmt: skip
    run.stop(stop, api_name="stop", no_run="ui.rft.stop.no_run")  # a key: LabError shows it in the visitor's words
    run.poll(api_name="poll_rft", watch="rft")
    groups_view.build_groups_browser(run.run_state, refresh_on=(run.timer.tick,))
    _dry_run_section(task_state, specs, knobs, valid_state)


DRY_RUN_WAIT_SECONDS = 20 * 60
"""How long the dry-run button follows its run (queue included) before it stops watching (the run goes on)."""


def _dry_run_section(task_state: gr.State, specs: gr.Code, knobs: dict, valid_state: gr.State) -> None:
    """A dry run of the form as it is: the model GRPO would start from, sampled and graded on a few training
    questions (``lab.methods.dry_run``), queued like any run; this handler streams its state until it ends."""
    with gr.Accordion(L("dry.title"), open=False):
        gr.Markdown(L("dry.info"))
        go = gr.Button(L("dry.button"))
        verdict = gr.HTML()
        histogram = gr.Plot(label=L("dry.histogram"), elem_classes=["lab-plot"])

    names = list(knobs)

    def dry(task: str, specs_text: str, valid_task: str, request: gr.Request, *values):
        try:
            form = {**dict(zip(names, values, strict=True)), "dry_run": True, "valid_task": valid_task}
            run_id = act.start_run(task, specs_text, form, **starter(request))
        except LabError as e:
            raise gr.Error(e.text(), print_exception=False) from None
        run = runs.get(run_id)
        deadline = time.time() + DRY_RUN_WAIT_SECONDS
        while (status := run.status()).get("state") not in (*runs.FINAL_STATES, "unknown") and time.time() < deadline:
            yield t("dry.waiting", run=run_id, state=runs_view.state_label(status.get("state", "")),
                    stage=runs_view.stage_label(str(status.get("stage") or ""))), None  # fmt: skip
            time.sleep(1.0)
        summary = run.summary() or {}
        if status.get("state") != "done" or not summary.get("dry_run"):
            yield t("dry.failed", run=run_id, state=runs_view.state_label(str(status.get("state"))),
                    error=status.get("error") or ""), None  # fmt: skip
            return
        yield groups_view.dry_run_html(summary), compare_plots.score_histogram(summary.get("rewards") or [])

    go.click(dry, [task_state, specs, valid_state, *knobs.values()], [verdict, histogram], api_name="dry_run",
             concurrency_limit=8, concurrency_id="dry_run")  # fmt: skip


def _data_section(
    first_info: Callable[[], str], first_preview
) -> tuple[gr.Dropdown, gr.File, gr.Markdown, gr.Dataframe]:
    """① Pick a bundled task set or upload one; its summary (``first_info``: made at page load, in the visitor's
    language) and first rows beside."""
    gr.Markdown(L("ui.rft.data.heading"), elem_classes=["section"])
    with gr.Row():
        with gr.Column(scale=2, min_width=300):
            bundled = gr.Dropdown(
                list(data.bundled_tasks()), value=act.DEFAULT_TASK, label=L("ui.rft.data.bundled"),
                info=L("ui.rft.data.bundled_info"),
            )  # fmt: skip
            upload = gr.File(label=L("ui.rft.data.upload"), file_types=[".csv", ".jsonl", ".json"], height=120)
            with gr.Accordion(L("ui.rft.data.columns_title"), open=False):
                gr.Markdown(act.columns_help)  # a function: made at page load, in the visitor's language
        with gr.Column(scale=5):
            info = gr.Markdown(first_info, label=L("ui.rft.data.task_set"), elem_classes=["wrap-note"])  # errors wrap
            preview = gr.Dataframe(
                first_preview, label=L("ui.rft.data.preview"), interactive=False,
                wrap=True, max_height=300,
            )  # fmt: skip
    return bundled, upload, info, preview


def _job_section() -> tuple[gr.State, tuple[gr.File, gr.File, gr.Markdown, gr.Dataframe]]:
    """① continued: a validation file (its rows are the held-out questions instead of a split) and an OpenAI
    fine-tuning job (its grader and hyperparameters fill steps ② and ③), with what became of each of its fields.
    Returns the validation file's state (what Train and the dry run use) and the parts ``_job_events`` wires."""
    valid_state = gr.State("")
    with gr.Row():  # one-line labels, as tall as the task upload: the drop zone's words stay visible; more below
        with gr.Column():
            valid = gr.File(label=L("openai_job.ui.valid_upload"), file_types=[".csv", ".jsonl", ".json"], height=120)
            gr.Markdown(L("openai_job.ui.valid_upload_info"), elem_classes=["upload-info"])
        with gr.Column():
            job = gr.File(label=L("openai_job.ui.job_upload"), file_types=[".json"], height=120)
            gr.Markdown(L("openai_job.ui.job_upload_info"), elem_classes=["upload-info"])
    note = gr.Markdown(elem_classes=["wrap-note"])
    report = gr.Dataframe(label=L("openai_job.ui.report_title"), interactive=False, wrap=True, visible=False,
                          column_widths=["24%", "28%", "18%", "30%"])  # fmt: skip
    return valid_state, (valid, job, note, report)


def _job_events(valid: gr.File, job: gr.File, note: gr.Markdown, report: gr.Dataframe, valid_state: gr.State,
                task_state: gr.State, info: gr.Markdown, specs: gr.Code, knobs: dict) -> None:  # fmt: skip
    """A validation file sets ``valid_state`` and the task summary (``info``: what is held out); a job file fills
    the grader specs and the knobs it maps and shows its report. A refused file is a warning and a note on the
    page; nothing else changes."""
    names = list(knobs)

    def refused(file: str, e: LabError, title: str) -> str:
        gr.Warning(e.text(), title=t(title))
        return t("openai_job.ui.not_loaded", name=Path(file).name, error=e.text())

    @user_errors
    def load_valid(file: str | None, task: str):
        if not file:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            valid_task, text = act.save_valid_upload(file)
        except LabError as e:
            return gr.skip(), refused(file, e, "ui.rft.upload.refused"), gr.skip()
        return valid_task, text, act.task_info(task, valid_task=valid_task)

    @user_errors
    def clear_valid(task: str):
        return "", t("openai_job.ui.valid_none"), act.task_info(task)

    @user_errors
    def load_job(file: str | None, task: str, valid_task: str):
        if not file:
            return (gr.skip(),) * (len(names) + 3)
        try:
            specs_text, values, frame, text = act.load_job(file, task, valid_task)
        except LabError as e:
            return (gr.skip(),) * (len(names) + 2) + (refused(file, e, "openai_job.ui.refused"),)
        knob_values = tuple(values.get(name, gr.skip()) for name in names)
        return specs_text, *knob_values, gr.Dataframe(frame, visible=True), text

    valid.upload(load_valid, [valid, task_state], [valid_state, note, info], api_name="upload_valid")
    valid.clear(clear_valid, task_state, [valid_state, note, info], api_name="clear_valid", api_visibility="private")
    job.upload(load_job, [job, task_state, valid_state], [specs, *knobs.values(), report, note],
               api_name="upload_openai_job")  # fmt: skip


def _task_events(bundled: gr.Dropdown, upload: gr.File, valid_state: gr.State, task_outputs: list) -> None:
    """Picking or uploading a task set: ``task_outputs`` = task state, summary (with the validation file in
    ``valid_state``, if any), preview, and the playground's item and output (filled from the first row)."""

    @user_errors
    def load_task(name: str, valid_task: str):
        task = act.check_task(name)
        return task, *act.task_view(task, valid_task=valid_task)

    @user_errors
    def load_upload(file: str | None, valid_task: str):
        if not file:
            return (gr.skip(),) * len(task_outputs)
        try:
            task, _ = act.save_upload(file)
        except LabError as e:  # a warning, and the message stays on the page while the user fixes the file
            gr.Warning(e.text(), title=t("ui.rft.upload.refused"))
            note = t("ui.rft.upload.not_loaded", name=Path(file).name, error=e.text())
            return gr.skip(), note, gr.skip(), gr.skip(), gr.skip()
        return task, *act.task_view(task, valid_task=valid_task)

    bundled.input(load_task, [bundled, valid_state], task_outputs, api_name="load_task")
    upload.upload(load_upload, [upload, valid_state], task_outputs, api_name="upload_task")
    upload.clear(load_task, [bundled, valid_state], task_outputs, api_name="clear_upload", api_visibility="private")


def _graders_section(
    task_state: gr.State, first_item: str, first_output: Callable[[], str]
) -> tuple[gr.Code, gr.Code, gr.Textbox]:
    """② Grader presets and their JSON specs with a check, and a playground that grades one answer; returns the
    specs (what Train uses) and the playground's item and output (a new task set refills them; the first output
    is made at page load, in the visitor's language)."""
    gr.Markdown(L("ui.rft.graders.heading"), elem_classes=["section"])
    with gr.Row():
        with gr.Column(scale=1):
            default_name = next(n for n, s in grading.PRESETS.items() if s == grading.DEFAULT_SPEC)
            presets = gr.Dropdown(
                preset_choices(), value=[default_name], multiselect=True, label=L("ui.rft.graders.presets"),
                info=L("ui.rft.graders.presets_info"),
            )  # fmt: skip
            specs = gr.Code(
                act.specs_json([grading.DEFAULT_SPEC]), language="json", lines=12, max_lines=30,
                label=L("ui.rft.graders.specs"),
            )  # fmt: skip
            with gr.Row():
                check = gr.Button(L("ui.rft.graders.check"), size="sm")
            verdict = gr.Markdown(label=L("ui.rft.graders.verdict"))
        with gr.Column(scale=1):
            gr.Markdown(L("ui.rft.playground.intro"))
            output = gr.Textbox(first_output, label=L("ui.rft.playground.output"), lines=2)
            item = gr.Code(first_item, language="json", lines=6, label=L("ui.rft.playground.item"))
            grade = gr.Button(L("ui.rft.playground.grade"), variant="secondary")
            reward = gr.Markdown(label=L("ui.rft.playground.reward"))
            scores = gr.Dataframe(
                lambda: empty_frame(act.grade_columns()), label=L("ui.rft.playground.scores"), interactive=False,
                wrap=True,
                column_widths=["20%", "12%", "68%"],
            )  # fmt: skip
    _grade_file_box(specs, task_state)  # full width: its tables have many columns

    presets.input(user_errors(act.merge_presets), [presets, specs], specs, api_name="pick_graders")
    specs.change(_picked_presets, specs, presets, queue=False, show_progress="hidden", api_visibility="private")
    check.click(user_errors(act.check_graders), [specs, task_state], verdict, api_name="check_graders")
    grade.click(user_errors(act.grade), [specs, output, item], [reward, scores], api_name="grade")
    return specs, item, output


def _picked_presets(text: str):
    """The preset picker after the specs changed (a job, a hand edit, a pick): the presets the editor holds."""
    names = act.presets_in(text)
    return gr.skip() if names is None else names


def _grade_file_box(specs: gr.Code, task_state: gr.State) -> None:
    """The playground on the whole task set: the graders on every row's reference answer, or on the model's greedy
    answers to the first N rows (``act.grade_task_file``; the model loads in ``lab.chat``, never here), as
    per-grader stats and then the graded rows with each grader's score. Queued like the playground's Grade, with
    a progress bar: the page never waits on it."""
    with gr.Accordion(L("grade_file.ui.title"), open=False):
        gr.Markdown(L("grade_file.ui.intro"))
        with gr.Row():
            source = gr.Radio(
                [(L(f"grade_file.ui.source.{s}"), s) for s in act.GRADE_FILE_SOURCES], value="references",
                label=L("grade_file.ui.source"),
            )  # fmt: skip
            n = gr.Number(8, precision=0, minimum=1, maximum=act.MAX_GRADE_FILE_SAMPLES, label=L("grade_file.ui.n"))
            model = gr.Dropdown(list(act.GRADE_FILE_MODELS), value=act.GRADE_FILE_MODELS[0],
                                label=L("grade_file.ui.model"))  # fmt: skip
        go = gr.Button(L("grade_file.ui.button"), variant="secondary")
        summary = gr.Markdown()
        stats = gr.Dataframe(lambda: empty_frame(act.grade_file_columns()), label=L("grade_file.ui.stats"),
                             interactive=False, wrap=True)  # fmt: skip
        graded = gr.Dataframe(label=L("grade_file.ui.rows"), interactive=False, wrap=True, max_height=420,
                              elem_classes=["graded-rows"])  # fmt: skip

    @user_errors
    def grade_file(specs_text: str, task: str, what: str, count: float, name: str, progress=gr.Progress()):
        text, table, rows = act.grade_task_file(specs_text, task, what, count, name,
                                                lambda f, desc: progress(f, desc=desc))  # fmt: skip
        return text, table, gr.Dataframe(rows, column_widths=graded_widths(len(rows.columns)))

    go.click(grade_file, [specs, task_state, source, n, model], [summary, stats, graded], api_name="grade_task_file",
             show_progress_on=[summary])  # one bar, not one per output  # fmt: skip


def graded_widths(n_columns: int) -> list[str]:
    """The graded rows' column widths: question, answer and reference get most of the room (they wrap), the score
    columns share the rest, so the table fits its box at 1280 px whatever the number of graders.

    >>> graded_widths(4), graded_widths(5)
    (['26%', '34%', '16%', '24%'], ['26%', '34%', '16%', '12%', '12%'])
    """
    scores = max(n_columns - 3, 1)
    return ["26%", "34%", "16%", *[f"{24 // scores}%"] * scores][:n_columns]


def _train_section() -> tuple[gr.Button, gr.Button, dict[str, gr.components.Component], runs_view.RunView]:
    """③ The knobs (one per field of ``act.Config`` with a level), Train and Stop, and the live progress."""
    gr.Markdown(L("ui.rft.train.heading"), elem_classes=["section"])
    knobs = knob_components(act.Config)  # advanced ones in the shared "Advanced options" accordion
    with gr.Row():
        train = gr.Button(L("ui.rft.train.train"), variant="primary", scale=3)
        stop = gr.Button(L("ui.rft.train.stop"), variant="stop", scale=1)
    return train, stop, knobs, runs_view.build_progress()


def _results_section() -> runs_view.RunView:
    """④ Accuracy before → after, the held-out questions and the latest samples."""
    gr.Markdown(L("ui.rft.results.heading"), elem_classes=["section"])
    return runs_view.build_results()
