"""The RLHF tab: the source text's four steps — SFT'd base → human ratings → reward model → RL — one section each.

① people chat with the model and rate its answers (thumb up or down, or the better of two), every click stored
at once in the shared feedback store (``lab.feedback``), which can be reviewed, pruned, imported and exported;
② simulated raters (``lab.feedback.personas``) add ratings when a class is small; ③ → ④ a run trains a reward model
and the policy (or KTO/DPO) on the store, with live curves; then the held-out results.
Actions: ``lab.ui.rlhf_actions``.

Per-browser state: which model wrote each chat answer (and its rating id), the two answers awaiting a verdict,
the run being watched, and what the pollers last saw.
"""

from __future__ import annotations

import time

import gradio as gr

from lab import LabError, runs
from lab.feedback import FeedbackStore, personas
from lab.ui import rlhf_actions as act
from lab.ui import runs_view
from lab.ui.common import empty_frame, steps_html, user_errors

RLHF_STEPS = [  # the source text's four RLHF steps, one line each
    ("1", "SFT'd base model", "An instruction-tuned model that already chats (SmolLM2-135M-Instruct): RLHF starts "
     "from it."),
    ("2", "Human ratings", "People chat with it and rate its answers: thumbs up or down, or the better of two."),
    ("3", "Reward model", "A model learns to score answers the way the raters did, from pairs of better and worse "
     "answers."),
    ("4", "Reinforcement learning", "GRPO samples answers and makes those the reward model scores higher more "
     "likely, on a KL leash to the base."),
]  # fmt: skip
FEEDBACK_POLL_SECONDS = 5.0
STREAM_EVERY_SECONDS = 0.05
"""A streamed answer reaches the page at most this often: each update re-sends the chat, and a fast model makes
tokens quicker than the page can take them."""


def _session(request: gr.Request | None) -> str:
    return (getattr(request, "session_hash", None) or "api")[:200]


def build_rlhf_tab() -> None:
    """Build the tab's components and events inside the current ``gr.Blocks``/``gr.Tab`` context."""
    meta_state = gr.State({})  # chat message index → {"model", "rating"}
    pending_state = gr.State(None)  # the two answers awaiting "A/B is better"
    stamp_state = gr.State(None)
    run_state = gr.State(None)
    seen_state = gr.State(None)
    defaults = act.defaults()
    prompts = personas.load_prompts()
    gr.HTML(steps_html(RLHF_STEPS), label="The four steps of RLHF")

    # --- 1. chat and rate ---------------------------------------------------------------------------------------
    gr.Markdown("## ① Chat with the model and rate its answers", elem_classes=["section"])
    with gr.Row(equal_height=True):
        model = gr.Dropdown(
            act.model_choices([]), value=act.default_chat_model(), label="Model to chat with", scale=5,
            allow_custom_value=True,  # runs appear after the page loads; act.resolve_model checks every value
            info="The SFT'd base, or any finished run (its LoRA adapter). Ratings remember which model answered.",
        )  # fmt: skip
        refresh_models = gr.Button("Refresh runs", scale=1, min_width=120)
    stats = gr.HTML(act.stats_html({}), label="Feedback collected")
    with gr.Tabs():
        with gr.Tab("Chat: thumbs up or down on each answer"):
            chatbot = gr.Chatbot(
                label="Chat (rate each answer with the thumbs under it)", height=380,
                feedback_options=("Like", "Dislike"),
                placeholder="Ask something, then rate the answer: thumb up or down. Every click is stored at once.",
            )  # fmt: skip
            with gr.Row(equal_height=True):
                message = gr.Textbox(label="Your message", placeholder="Ask anything…", scale=5, lines=1)
                send = gr.Button("Send", variant="primary", scale=1, min_width=90)
        with gr.Tab("Two answers: which is better?"):
            pair_prompt = gr.Textbox(label="Prompt for two answers", lines=2, placeholder="A question or a request…")
            sample = gr.Button("Sample two answers", variant="primary")
            with gr.Row(equal_height=True):
                answer_a = gr.Textbox(label="Answer A", lines=6, interactive=False)
                answer_b = gr.Textbox(label="Answer B", lines=6, interactive=False)
            with gr.Row():
                a_better = gr.Button("A is better", variant="secondary")
                b_better = gr.Button("B is better", variant="secondary")
    with gr.Row(equal_height=True):
        ideas = gr.Dropdown(prompts, value=None, label="Prompt ideas (the class prompts)", scale=4,
                            info="Picking one fills the chat message and the two-answers prompt.")  # fmt: skip
        random_button = gr.Button("Random prompt", scale=1)
        clear = gr.Button("Clear chat", scale=1)
    with gr.Accordion("Generation settings", open=False):
        with gr.Row():
            temperature = gr.Slider(0.0, 1.5, 0.7, step=0.05, label="Temperature", info="0 = greedy (repeatable).")
            max_tokens = gr.Slider(16, 512, 128, step=16, label="Max answer length (tokens)")

    # --- review -------------------------------------------------------------------------------------------------
    with gr.Accordion("Review the feedback: table, delete, import, export", open=False):
        with gr.Row(equal_height=True):
            kind = gr.Radio(["ratings", "pairs"], value="ratings", label="Show", scale=2)
            refresh_table = gr.Button("Refresh table", scale=1)
        table = gr.Dataframe(
            empty_frame(act.RATING_COLUMNS), label="Stored feedback (newest first; click a row to pick its id)",
            interactive=False, wrap=True, max_height=320, show_search="search",
        )  # fmt: skip
        with gr.Row(equal_height=True):
            ids = gr.Textbox(label="Ids to delete", placeholder="e.g. 3, 5-8", scale=3)
            delete = gr.Button("Delete", variant="stop", scale=1)
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Import a feedback file (.csv, .jsonl, .json: TRL's formats; all or nothing)",
                                 file_types=[".csv", ".jsonl", ".json"], height=120)  # fmt: skip
                import_note = gr.Markdown(label="Import")
            with gr.Column():
                with gr.Row():
                    export_kind = gr.Radio(
                        ["unpaired", "paired"], value="unpaired", label="Export",
                        info="unpaired = ratings (KTO); paired = pairs (reward model, DPO)",
                    )  # fmt: skip
                    export_format = gr.Dropdown(["jsonl", "csv", "json"], value="jsonl", label="Format")
                    conversational = gr.Checkbox(False, label="Conversational (message lists)")
                export = gr.Button("Export")
                exported = gr.File(label="Exported file", interactive=False, height=80)

    # --- 2. simulated raters ------------------------------------------------------------------------------------
    gr.Markdown("## ② Simulated raters: personas with a taste anyone can check", elem_classes=["section"])
    with gr.Row(equal_height=True):
        with gr.Column(scale=3):
            persona = gr.Dropdown(list(personas.PERSONAS), value="concise", label="Persona")
            persona_note = gr.Markdown(act.persona_help("concise"), label="What the persona likes")
        count = gr.Slider(
            4, 1000, 200, step=4, label="Ratings to add", scale=2,
            info="Four answers per prompt, each rated; every two the persona can tell apart become a pair.",
        )  # fmt: skip
        sim_model = gr.Dropdown(list(act.BASE_MODELS), value=act.default_chat_model(), label="Answering model",
                                scale=1)  # fmt: skip
        simulate = gr.Button("Add simulated ratings", variant="primary", scale=1)
    sim_note = gr.Markdown("Simulated ratings go to the same store as people's, marked `simulated:<persona>`.",
                           label="Simulation")  # fmt: skip

    # --- 3 + 4. reward model and RL -----------------------------------------------------------------------------
    gr.Markdown("## ③ Reward model → ④ RL: train on the collected feedback", elem_classes=["section"])
    method = gr.Radio([("Reward model + RL (GRPO)", "rm-rl"), ("KTO (thumbs)", "kto"), ("DPO (pairs)", "dpo")],
                      value="rm-rl", label="Method")  # fmt: skip
    explain = gr.Markdown(act.method_help("rm-rl"), label="How it learns")
    knobs = _knobs(defaults)
    with gr.Row():
        train = gr.Button("Train", variant="primary", scale=3)
        stop = gr.Button("Stop", variant="stop", scale=1)
    live = runs_view.build_progress(method="rlhf")
    view = live.merge(runs_view.build_reward_model())

    # --- results ------------------------------------------------------------------------------------------------
    gr.Markdown("## Results: held-out prompts, base vs tuned", elem_classes=["section"])
    view = view.merge(runs_view.build_results(method="rlhf"))
    feedback_timer = gr.Timer(FEEDBACK_POLL_SECONDS)
    run_timer = gr.Timer(runs_view.POLL_SECONDS)

    # --- events: chat and rate ----------------------------------------------------------------------------------
    def counts() -> str:
        return act.stats_html(FeedbackStore().stats())

    def list_models(current: str | None):
        choices = act.model_choices()
        values = [v for _, v in choices]
        return gr.Dropdown(choices=choices, value=current if current in values else act.default_chat_model())

    @user_errors
    def chat(text: str, history: list | None, choice: str, temp: float, tokens: float, meta: dict | None):
        text = (text or "").strip()
        if not text:
            raise LabError("type a message first.")
        base, adapter, label = act.resolve_model(choice)
        history = [*act.plain_history(history), {"role": "user", "content": text}]
        history.append({"role": "assistant", "content": "…"})  # until the first token (or the first model load)
        yield "", history, gr.skip()
        from lab import chat as lab_chat  # torch side, imported (and the model loaded) on first use

        reply, sent = "", 0.0
        for piece in lab_chat.stream_reply(history[:-1], base, adapter, int(tokens), float(temp)):
            reply += piece
            if time.monotonic() - sent >= STREAM_EVERY_SECONDS:  # the first piece at once, then a few per second
                history[-1]["content"], sent = reply, time.monotonic()
                yield gr.skip(), history, gr.skip()
        history[-1]["content"] = reply
        yield gr.skip(), history, {**(meta or {}), str(len(history) - 1): {"model": label}}  # now it can be rated

    @user_errors
    def like(history: list | None, meta: dict | None, data: gr.LikeData, request: gr.Request):
        meta, note = act.rate(history, data.index, data.liked, meta, _session(request))
        gr.Info(note, duration=2)
        return meta, counts()

    @user_errors
    def sample_two(prompt: str, choice: str, tokens: float, progress=gr.Progress()):
        prompt = (prompt or "").strip()
        if not prompt:
            raise LabError("type a prompt (or pick an idea) first.")
        base, adapter, label = act.resolve_model(choice)
        progress(0.3, desc="sampling two answers")
        from lab import chat as lab_chat

        a, b = lab_chat.sample_two(prompt, base, adapter, int(tokens))
        return a, b, {"prompt": prompt, "a": a, "b": b, "model": label}

    def vote(which: str):
        @user_errors
        def store_vote(pending: dict | None, request: gr.Request):
            gr.Info(act.prefer(which, pending, _session(request)), duration=2)
            return None, "", "", counts()

        return store_vote

    def fill_prompt(text: str | None):
        return (text, text) if text else (gr.skip(), gr.skip())

    def poll_feedback(stamp: list | None):
        now = act.store_stamp()
        return (now, counts()) if now != stamp else (gr.skip(), gr.skip())

    # Send is off while an answer streams (one answer at a time per page), and on again however the answer ended
    busy = gr.on([send.click, message.submit], lambda: gr.Button(interactive=False), None, send, queue=False,
                 api_visibility="private")  # fmt: skip
    busy.then(
        chat,
        [message, chatbot, model, temperature, max_tokens, meta_state],
        [message, chatbot, meta_state],
        api_name="chat",
    ).then(lambda: gr.Button(interactive=True), None, send, api_visibility="private")
    chatbot.like(like, [chatbot, meta_state], [meta_state, stats], api_name="rate")
    clear.click(lambda: ([], {}), None, [chatbot, meta_state], api_name="clear_chat", api_visibility="private")
    sample.click(sample_two, [pair_prompt, model, max_tokens], [answer_a, answer_b, pending_state],
                 api_name="sample_two")  # fmt: skip
    for button, which in ((a_better, "A"), (b_better, "B")):
        button.click(vote(which), pending_state, [pending_state, answer_a, answer_b, stats],
                     api_name=f"prefer_{which.lower()}")  # fmt: skip
    ideas.input(fill_prompt, ideas, [message, pair_prompt], api_visibility="private")
    random_button.click(lambda: fill_prompt(act.random_prompt()), None, [message, pair_prompt],
                        api_name="random_prompt")  # fmt: skip
    refresh_models.click(list_models, model, model, api_name="chat_models")
    gr.on(None, lambda current: (list_models(current), counts(), act.store_stamp(), act.feedback_table()), model,
          [model, stats, stamp_state, table], api_visibility="private")  # page load  # fmt: skip
    feedback_timer.tick(poll_feedback, stamp_state, [stamp_state, stats], show_progress="hidden",
                        concurrency_limit=None, api_name="feedback_stats", api_visibility="undocumented")  # fmt: skip

    # --- events: review, import, export -------------------------------------------------------------------------
    show = user_errors(lambda k: act.feedback_table(k))
    refresh_table.click(show, kind, table, api_name="feedback_table")
    kind.change(show, kind, table, api_visibility="private")

    def pick_id(frame, current: str, evt: gr.SelectData):
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        if frame is None or not 0 <= row < len(frame):
            return gr.skip()
        new = str(int(frame.iloc[row]["id"]))
        return new if not current.strip() else f"{current.strip()}, {new}"

    @user_errors
    def delete_rows(k: str, text: str):
        gr.Info(act.delete_feedback(k, text), duration=3)
        return "", act.feedback_table(k), counts()

    @user_errors
    def import_file(path: str | None, k: str):
        if not path:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            note = act.import_feedback(path)
        except LabError as e:  # a warning, and the message stays on the page while the user fixes the file
            gr.Warning(str(e), title="Import refused: nothing was stored")
            return f"⚠ **Nothing was imported.**\n\n```\n{e}\n```", gr.skip(), gr.skip()
        gr.Info(note)
        return f"✓ {note}", act.feedback_table(k), counts()

    table.select(pick_id, [table, ids], ids, api_visibility="private")
    delete.click(delete_rows, [kind, ids], [ids, table, stats], api_name="delete_feedback")
    upload.upload(import_file, [upload, kind], [import_note, table, stats], api_name="import_feedback")
    export.click(user_errors(act.export_feedback), [export_kind, export_format, conversational], exported,
                 api_name="export_feedback")  # fmt: skip

    # --- events: simulated raters -------------------------------------------------------------------------------
    @user_errors
    def add_simulated(name: str, n: float, answering: str, progress=gr.Progress()):
        def report(done: int, total: int) -> None:
            progress(done / total, desc=f"{done}/{total} prompts answered")

        progress(0.0, desc=f"loading {answering}")
        note = act.simulate(name, int(n), answering, report)
        return note, counts()

    persona.change(user_errors(act.persona_help), persona, persona_note, api_visibility="private")
    simulate.click(add_simulated, [persona, count, sim_model], [sim_note, stats], api_name="simulate_feedback",
                   concurrency_limit=1)  # fmt: skip

    # --- events: train, stop, poll ------------------------------------------------------------------------------
    @user_errors
    def start(route: str, progress=gr.Progress(), **values):
        progress(0.2, desc="checking the feedback store")
        run_id = act.start_run(route, values)
        gr.Info(f"Run {run_id} started: the curves update every {runs_view.POLL_SECONDS:g} s.")
        return run_id, *runs_view.render(view, run_id, None, force=True)

    @user_errors
    def stop_run(run_id: str | None):
        if not run_id:
            raise LabError("no run to stop: start one with Train first.")
        runs.stop(run_id)
        return runs_view.render(view, run_id, None, force=True)

    def poll(run_id: str | None, seen: dict | None):
        if run_id is None and seen is None:  # first tick after the page opened: watch an RLHF run that is training
            active = runs.active_run()
            run_id = active.id if active and active.config().get("method") == "rlhf" else None
        return run_id, *runs_view.render(view, run_id, seen)

    method.change(act.method_help, method, explain, api_visibility="private")
    train.click(start, method, [run_state, seen_state, *view.outputs()], api_name="train_rlhf",
                inputs_kwargs=dict(zip(act.KNOBS, knobs, strict=True)))  # fmt: skip
    stop.click(stop_run, run_state, [seen_state, *view.outputs()], api_name="stop_rlhf")
    run_timer.tick(poll, [run_state, seen_state], [run_state, seen_state, *view.outputs()], show_progress="hidden",
                   concurrency_limit=None, api_visibility="undocumented", api_name="poll_rlhf")  # fmt: skip


def _knobs(defaults: dict) -> list[gr.components.Component]:
    """The teaching knobs in two rows, the rest in a closed accordion; in ``act.KNOBS`` order."""
    h = act.help_text
    with gr.Row(equal_height=True):
        steps = gr.Slider(0, 200, defaults["steps"], step=1, label="Policy steps", info=h("steps"))
        lr = gr.Number(defaults["learning_rate"], label="Learning rate", info=h("learning_rate"), minimum=0,
                       maximum=0.5, step=1e-4)  # fmt: skip
        beta = gr.Slider(0.001, 0.5, defaults["beta"], step=0.001, label="KL beta (RL)", info=h("beta"))
        gens = gr.Slider(2, 16, defaults["num_generations"], step=1, label="Answers per prompt (RL)",
                         info=h("num_generations"))  # fmt: skip
    with gr.Row(equal_height=True):
        length = gr.Slider(4, 256, defaults["max_completion_length"], step=4, label="Max answer length (RL, tokens)",
                           info=h("max_completion_length"))  # fmt: skip
        rank = gr.Dropdown([1, 2, 4, 8, 16, 32, 64], value=defaults["lora_rank"], label="LoRA rank",
                           info=h("lora_rank"))  # fmt: skip
        persona = gr.Dropdown([("none", ""), *[(p, p) for p in personas.PERSONAS]], value=defaults["persona"],
                              label="Persona that judges", info="Judges base vs tuned on held-out prompts "
                              "(the win rate); 'none' for human feedback without a judge.")  # fmt: skip
    with gr.Accordion("More knobs: base model, RL algorithm, reward model, KTO/DPO, evaluation, seed", open=False):
        with gr.Row():
            model = gr.Dropdown(list(act.BASE_MODELS), value=defaults["model"], allow_custom_value=True,
                                label="Base model to tune",
                                info=h("model") + " 'tiny' is for quick checks: it learns nothing.")  # fmt: skip
            algorithm = gr.Radio(["grpo", "rloo"], value=defaults["algorithm"], label="RL algorithm",
                                 info=h("algorithm"))  # fmt: skip
            per_step = gr.Slider(1, 8, defaults["prompts_per_step"], step=1, label="Prompts per step (RL)",
                                 info=h("prompts_per_step"))  # fmt: skip
            pref_beta = gr.Slider(0.01, 1.0, defaults["pref_beta"], step=0.01, label="β of KTO/DPO",
                                  info=h("pref_beta"))  # fmt: skip
        with gr.Row():
            batch = gr.Number(defaults["batch_size"], label="Batch size (KTO/DPO)", info=h("batch_size"), precision=0,
                              minimum=1)  # fmt: skip
            rm_epochs = gr.Number(defaults["rm_epochs"], label="Reward model epochs", info=h("rm_epochs"), minimum=0.1)
            rm_lr = gr.Number(defaults["rm_learning_rate"], label="Reward model learning rate",
                              info=h("rm_learning_rate"), minimum=1e-7)  # fmt: skip
            heldout = gr.Number(defaults["heldout"], label="Held-out prompts", info=h("heldout"), precision=0,
                                minimum=1)  # fmt: skip
        with gr.Row():
            every = gr.Number(defaults["eval_every"], label="Win rate every N steps", info=h("eval_every"),
                              precision=0, minimum=0)  # fmt: skip
            subset = gr.Number(defaults["eval_subset"], label="Prompts per live win rate", info=h("eval_subset"),
                               precision=0, minimum=1)  # fmt: skip
            answer_tokens = gr.Number(defaults["answer_tokens"], label="Judged answer length (tokens)",
                                      info=h("answer_tokens"), precision=0, minimum=1)  # fmt: skip
            seed = gr.Number(defaults["seed"], label="Seed", info=h("seed"), precision=0)
    return [steps, lr, beta, gens, length, rank, persona, model, algorithm, per_step, pref_beta, batch, rm_epochs,
            rm_lr, heldout, every, subset, answer_tokens, seed]  # fmt: skip
