"""The RFT tab: data → graders → train → results, the four things a student does to fine-tune with RFT.

Layout only, one builder per step: the actions live in ``lab.ui.rft_actions`` (plain functions), the run display
in ``lab.ui.runs_view`` and Train / Stop / poll in ``lab.ui.run_controls``. Per-browser state: the chosen task set,
the run being watched, and what the poller last saw.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from lab import LabError, access, data, grading
from lab.ui import rft_actions as act
from lab.ui import runs_view
from lab.ui.common import empty_frame, knob_components, steps_html, user_errors
from lab.ui.run_controls import RunControls

RFT_STEPS = [  # the source text's four RFT steps, one line each
    ("1", "Task data with reference answers", "Questions paired with the answer you expect; some are held out to "
     "measure the model before and after."),
    ("2", "Initial SFT", "A short supervised warm-up on question → reference answer teaches the form of the answer."),
    ("3", "Grading against references", "Graders score every answer the model samples against its reference: "
     "that score is the reward."),
    ("4", "Reinforcement learning", "GRPO samples several answers per question and makes the better-graded ones "
     "more likely."),
]  # fmt: skip


def build_rft_tab() -> None:
    """Build the tab's components and events inside the current ``gr.Blocks``/``gr.Tab`` context: one builder per
    step, then Train, Stop and the poller wired to the run view."""
    task_state = gr.State(act.DEFAULT_TASK)  # the task set the graders and Train use
    first_info, first_preview, first_item, first_output = act.task_view(act.DEFAULT_TASK)
    gr.HTML(steps_html(RFT_STEPS), label="The four steps of RFT")
    bundled, upload, info, preview = _data_section(first_info, first_preview)
    specs, item, output = _graders_section(task_state, first_item, first_output)
    _task_events(bundled, upload, [task_state, info, preview, item, output])
    train, stop, knobs, live = _train_section()
    view = live.merge(_results_section())
    run = RunControls(view)

    def start(task: str, specs_text: str, request: gr.Request, progress=gr.Progress(), **values) -> str:
        progress(0.2, desc="checking the task set and graders")
        return act.start_run(task, specs_text, values, owner=access.identify(request).visitor)

    run.train(
        train, start, [task_state, specs], api_name="train",
        inputs_kwargs=knobs,  # name → component: the API names each knob as Config does
    )  # fmt: skip
    run.stop(stop, api_name="stop", no_run="no run to stop: start one with Train first.")
    run.poll(api_name="poll_rft", watch="rft")


def _data_section(first_info: str, first_preview) -> tuple[gr.Dropdown, gr.File, gr.Markdown, gr.Dataframe]:
    """① Pick a bundled task set or upload one; its summary and first rows beside."""
    gr.Markdown("## ① Data: questions with reference answers", elem_classes=["section"])
    with gr.Row():
        with gr.Column(scale=2, min_width=300):
            bundled = gr.Dropdown(
                list(data.bundled_tasks()), value=act.DEFAULT_TASK, label="Bundled task set",
                info="Small sets that train in minutes on a CPU.",
            )  # fmt: skip
            upload = gr.File(
                label="…or upload your own (.csv, .jsonl, .json)", file_types=[".csv", ".jsonl", ".json"], height=120
            )
            with gr.Accordion("Which columns does a task file need?", open=False):
                gr.Markdown(act.columns_help())
        with gr.Column(scale=5):
            info = gr.Markdown(first_info, label="Task set", elem_classes=["wrap-note"])  # an upload error wraps
            preview = gr.Dataframe(
                first_preview, label="Preview (first 20 rows)", interactive=False,
                wrap=True, max_height=300,
            )  # fmt: skip
    return bundled, upload, info, preview


def _task_events(bundled: gr.Dropdown, upload: gr.File, task_outputs: list) -> None:
    """Picking or uploading a task set: ``task_outputs`` = task state, summary, preview, and the playground's item
    and output (filled from the first row)."""

    @user_errors
    def load_task(name: str):
        task = act.check_task(name)
        return task, *act.task_view(task)

    @user_errors
    def load_upload(file: str | None):
        if not file:
            return (gr.skip(),) * len(task_outputs)
        try:
            task, _ = act.save_upload(file)
        except LabError as e:  # a warning, and the message stays on the page while the user fixes the file
            gr.Warning(str(e), title="Upload refused")
            note = f"⚠ **{Path(file).name} was not loaded** (still using the previous task set):\n\n```\n{e}\n```"
            return gr.skip(), note, gr.skip(), gr.skip(), gr.skip()
        return task, *act.task_view(task)

    bundled.input(load_task, bundled, task_outputs, api_name="load_task")
    upload.upload(load_upload, upload, task_outputs, api_name="upload_task")
    upload.clear(load_task, bundled, task_outputs, api_name="clear_upload", api_visibility="private")


def _graders_section(task_state: gr.State, first_item: str, first_output: str) -> tuple[gr.Code, gr.Code, gr.Textbox]:
    """② Grader presets and their JSON specs with a check, and a playground that grades one answer; returns the
    specs (what Train uses) and the playground's item and output (a new task set refills them)."""
    gr.Markdown("## ② Graders: how an answer is scored against its reference", elem_classes=["section"])
    with gr.Row():
        with gr.Column(scale=1):
            default_name = next(n for n, s in grading.PRESETS.items() if s == grading.DEFAULT_SPEC)
            presets = gr.Dropdown(
                list(grading.PRESETS), value=[default_name], multiselect=True, label="Graders (presets)",
                info="Pick one or more; the reward is the sum of their scores.",
            )  # fmt: skip
            specs = gr.Code(
                act.specs_json([grading.DEFAULT_SPEC]), language="json", lines=12, max_lines=30,
                label="Grader specs (JSON list): edit a preset or add your own",
            )  # fmt: skip
            with gr.Row():
                check = gr.Button("Check graders", size="sm")
            verdict = gr.Markdown(label="Graders check")
        with gr.Column(scale=1):
            gr.Markdown("**Playground**: type an answer, see each grader's score and why.")
            output = gr.Textbox(first_output, label="Model output", lines=2)
            item = gr.Code(first_item, language="json", lines=6, label="Item (JSON: the data row, as graders see it)")
            grade = gr.Button("Grade", variant="secondary")
            reward = gr.Markdown(label="Reward")
            scores = gr.Dataframe(
                empty_frame(act.GRADE_COLUMNS), label="Scores", interactive=False, wrap=True,
                column_widths=["20%", "12%", "68%"],
            )  # fmt: skip

    presets.input(user_errors(act.merge_presets), [presets, specs], specs, api_name="pick_graders")
    check.click(user_errors(act.check_graders), [specs, task_state], verdict, api_name="check_graders")
    grade.click(user_errors(act.grade), [specs, output, item], [reward, scores], api_name="grade")
    return specs, item, output


def _train_section() -> tuple[gr.Button, gr.Button, dict[str, gr.components.Component], runs_view.RunView]:
    """③ The knobs (one per field of ``act.Config`` with a level), Train and Stop, and the live progress."""
    gr.Markdown("## ③ Train: SFT warm-up, then GRPO against the graders", elem_classes=["section"])
    knobs = knob_components(act.Config, advanced="Advanced options")
    with gr.Row():
        train = gr.Button("Train", variant="primary", scale=3)
        stop = gr.Button("Stop", variant="stop", scale=1)
    return train, stop, knobs, runs_view.build_progress()


def _results_section() -> runs_view.RunView:
    """④ Accuracy before → after, the held-out questions and the latest samples."""
    gr.Markdown("## ④ Results: the held-out questions before and after", elem_classes=["section"])
    return runs_view.build_results()
