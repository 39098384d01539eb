"""The RFT tab: data → graders → train → results, the four things a student does to fine-tune with RFT.

Layout only: the actions live in ``lab.ui.rft_actions`` (plain functions), the run display in
``lab.ui.runs_view``. Per-browser state: the chosen task set, the run being watched, and what the poller last saw.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from lab import LabError, data, grading, runs
from lab.ui import rft_actions as act
from lab.ui import runs_view
from lab.ui.common import empty_frame, steps_html, user_errors

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
    """Build the tab's components and events inside the current ``gr.Blocks``/``gr.Tab`` context."""
    task_state = gr.State(act.DEFAULT_TASK)
    run_state = gr.State(None)
    seen_state = gr.State(None)
    defaults = act.defaults()
    first_info, first_preview, first_item, first_output = act.task_view(act.DEFAULT_TASK)
    gr.HTML(steps_html(RFT_STEPS), label="The four steps of RFT")

    # --- 1. data ------------------------------------------------------------------------------------------------
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
            info = gr.Markdown(first_info, label="Task set")
            preview = gr.Dataframe(
                first_preview, label="Preview (first 20 rows)", interactive=False,
                wrap=True, max_height=300,
            )  # fmt: skip

    # --- 2. graders ---------------------------------------------------------------------------------------------
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

    # --- 3. train -----------------------------------------------------------------------------------------------
    gr.Markdown("## ③ Train: SFT warm-up, then GRPO against the graders", elem_classes=["section"])
    knobs = _knobs(defaults)
    with gr.Row():
        train = gr.Button("Train", variant="primary", scale=3)
        stop = gr.Button("Stop", variant="stop", scale=1)
    live = runs_view.build_progress()

    # --- 4. results ---------------------------------------------------------------------------------------------
    gr.Markdown("## ④ Results: the held-out questions before and after", elem_classes=["section"])
    view = live.merge(runs_view.build_results())
    timer = gr.Timer(runs_view.POLL_SECONDS)

    # --- events -------------------------------------------------------------------------------------------------
    task_outputs = [task_state, info, preview, item, output]

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

    presets.input(user_errors(act.merge_presets), [presets, specs], specs, api_name="pick_graders")
    check.click(user_errors(act.check_graders), [specs, task_state], verdict, api_name="check_graders")
    grade.click(user_errors(act.grade), [specs, output, item], [reward, scores], api_name="grade")

    @user_errors
    def start(task: str, specs_text: str, progress=gr.Progress(), **values):
        progress(0.2, desc="checking the task set and graders")
        run_id = act.start_run(task, specs_text, values)
        gr.Info(f"Run {run_id} started: the curves update every {runs_view.POLL_SECONDS:g} s.")
        return run_id, *runs_view.render(view, run_id, None, force=True)

    @user_errors
    def stop_run(run_id: str | None):
        if not run_id:
            raise LabError("no run to stop: start one with Train first.")
        runs.stop(run_id)
        return runs_view.render(view, run_id, None, force=True)

    def poll(run_id: str | None, seen: dict | None):
        if run_id is None and seen is None:  # first tick after the page opened: watch an RFT run that is training
            active = runs.active_run()
            run_id = active.id if active and active.config().get("method") == "rft" else None
        return run_id, *runs_view.render(view, run_id, seen)

    train.click(
        start, [task_state, specs], [run_state, seen_state, *view.outputs()], api_name="train",
        inputs_kwargs=dict(zip(act.KNOBS, knobs, strict=True)),  # the API names each knob as Config does
    )  # fmt: skip
    stop.click(stop_run, run_state, [seen_state, *view.outputs()], api_name="stop")
    timer.tick(
        poll, [run_state, seen_state], [run_state, seen_state, *view.outputs()], show_progress="hidden",
        concurrency_limit=None, api_visibility="undocumented", api_name="poll_rft",
    )  # fmt: skip


def _knobs(defaults: dict) -> list[gr.components.Component]:
    """The teaching knobs in a row, the rest in a closed "Advanced options" accordion; in ``act.KNOBS`` order."""
    h = act.help_text
    with gr.Row(equal_height=True):
        steps = gr.Slider(1, 200, defaults["steps"], step=1, label="GRPO steps", info=h("steps"))
        lr = gr.Number(defaults["learning_rate"], label="Learning rate", info=h("learning_rate"), minimum=1e-7,
                       maximum=0.5, step=1e-5)  # fmt: skip
        gens = gr.Slider(2, 16, defaults["num_generations"], step=1, label="Answers per question",
                         info=h("num_generations"))  # fmt: skip
        length = gr.Slider(4, 256, defaults["max_completion_length"], step=4, label="Max answer length (tokens)",
                           info=h("max_completion_length"))  # fmt: skip
    with gr.Row(equal_height=True):
        rank = gr.Dropdown([1, 2, 4, 8, 16, 32, 64], value=defaults["lora_rank"], label="LoRA rank",
                           info=h("lora_rank"))  # fmt: skip
        beta = gr.Slider(0.0, 0.5, defaults["beta"], step=0.01, label="KL beta", info=h("beta"))
        warmup = gr.Checkbox(defaults["warmup"], label="SFT warm-up first (step 2)", info=h("warmup"))
    with gr.Accordion("Advanced options", open=False):
        with gr.Row():
            model = gr.Dropdown(act.MODEL_CHOICES, value=defaults["model"], allow_custom_value=True, label="Model",
                                info=h("model") + " 'tiny' is for quick checks: it learns nothing.")  # fmt: skip
            per_step = gr.Slider(1, 8, defaults["prompts_per_step"], step=1, label="Questions per step",
                                 info=h("prompts_per_step"))  # fmt: skip
            temperature = gr.Slider(0.1, 2.0, defaults["temperature"], step=0.05, label="Temperature",
                                    info=h("temperature"))  # fmt: skip
        with gr.Row():
            w_epochs = gr.Number(defaults["warmup_epochs"], label="SFT epochs", info=h("warmup_epochs"), minimum=0)
            w_lr = gr.Number(defaults["warmup_learning_rate"], label="SFT learning rate",
                             info=h("warmup_learning_rate"), minimum=1e-7)  # fmt: skip
            w_batch = gr.Number(defaults["warmup_batch_size"], label="SFT batch size", info=h("warmup_batch_size"),
                                precision=0, minimum=1)  # fmt: skip
            valid = gr.Number(defaults["valid_size"], label="Held-out questions", info=h("valid_size"), precision=0,
                              minimum=1)  # fmt: skip
        with gr.Row():
            every = gr.Number(defaults["eval_every"], label="Validate every N steps", info=h("eval_every"),
                              precision=0, minimum=0)  # fmt: skip
            subset = gr.Number(defaults["eval_subset"], label="Questions per validation", info=h("eval_subset"),
                               precision=0, minimum=1)  # fmt: skip
            rows = gr.Number(defaults["max_train_rows"], label="Max training rows", info=h("max_train_rows"),
                             precision=0, minimum=0)  # fmt: skip
            seed = gr.Number(defaults["seed"], label="Seed", info=h("seed"), precision=0)
    return [steps, lr, gens, length, rank, beta, warmup, model, per_step, temperature, w_epochs, w_lr, w_batch,
            valid, every, subset, rows, seed]  # fmt: skip
