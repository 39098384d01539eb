"""The RLHF tab: the source text's four steps — SFT'd base → human ratings → reward model → RL — one section each.

① people chat with the model and rate its answers (thumb up or down, or the better of two), every click stored
at once in the shared feedback store (``lab.feedback``), which can be reviewed, pruned, imported and exported;
② simulated raters (``lab.feedback.personas``) add ratings when a class is small; ③ → ④ a run trains a reward model
and the policy (or KTO/DPO) on the store, with live curves; then the held-out results. One builder per section;
actions: ``lab.ui.rlhf_actions``; Train / Stop / poll: ``lab.ui.run_controls``.

Per-browser state: which model wrote each chat answer (and its rating id), the two answers awaiting a verdict,
the run being watched, and what the pollers last saw.
"""

from __future__ import annotations

import time

import gradio as gr

from lab import LabError, access, chat_batch_size
from lab.feedback import FeedbackStore, personas
from lab.methods.rlhf_feedback import DEMO
from lab.texts import t
from lab.ui import groups_view, runs_view
from lab.ui import rlhf_actions as act
from lab.ui.common import (
    BASE_MODELS,
    default_chat_model,
    empty_frame,
    knob_components,
    model_choices,
    progress_slot,
    resolve_model,
    starter,
    steps_html,
    user_errors,
)
from lab.ui.lang import L
from lab.ui.run_controls import RunControls

RLHF_STEPS = [  # the source text's four RLHF steps: (number, title key, one-line key)
    ("1", "ui.rlhf.steps.1.title", "ui.rlhf.steps.1.text"),  # SFT'd base model
    ("2", "ui.rlhf.steps.2.title", "ui.rlhf.steps.2.text"),  # human ratings
    ("3", "ui.rlhf.steps.3.title", "ui.rlhf.steps.3.text"),  # reward model
    ("4", "ui.rlhf.steps.4.title", "ui.rlhf.steps.4.text"),  # reinforcement learning
]
ROUTES = [("ui.rlhf.train.route.rm_rl", "rm-rl"), ("ui.rlhf.train.route.kto", "kto"),
          ("ui.rlhf.train.route.dpo", "dpo")]  # fmt: skip
"""The method picker: (label key, route)."""
DEFAULT_PERSONA = "concise"
FEEDBACK_POLL_SECONDS = 5.0
STREAM_EVERY_SECONDS = 0.2
"""A streamed answer reaches the page at most this often: each update re-sends the chat, and a fast model makes
tokens quicker than the page can take them."""


def _session(request: gr.Request | None) -> str:
    """Who made a rating: the server-issued visitor id (``lab.access``), never Gradio's client-made session hash."""
    return access.identify(request).visitor[:200]


def build_rlhf_tab() -> None:
    """Build the tab's components and events inside the current ``gr.Blocks``/``gr.Tab`` context: one builder per
    section, then the page-load refresh and Train, Stop and the poller wired to the run view."""
    gr.HTML(rlhf_steps, label=L("ui.rlhf.steps.label"))  # made at each page load, in the visitor's language
    model, stats = _chat_section()
    table = _review_section(stats)
    persona, sim_model, sim_note, simulated = _simulate_section(stats)
    method, train, stop, knobs, live, usable = _train_section()
    view = live.merge(_results_section())
    # what a Train would use depends on the route, the held-out knobs and (for the button) the simulating persona
    usable_inputs = [method, knobs["rm_heldout_share"], knobs["heldout"], knobs["seed"], persona]
    usable_outputs = [usable.box, usable.button]
    _usable_wiring(usable, usable_inputs, sim_model, sim_note, stats, simulated)
    _feedback_refresh(model, stats, table, usable_inputs, usable_outputs)
    run = RunControls(view)

    def start(route: str, request: gr.Request, progress=gr.Progress(), **values) -> str:
        progress(0.2, desc=t("ui.rlhf.train.checking"))
        return act.start_run(route, values, **starter(request))

    run.train(
        train, start, method, api_name="train_rlhf",
        inputs_kwargs=knobs,  # name → component: the API names each knob as Config does
    )  # fmt: skip
    run.stop(stop, api_name="stop_rlhf", no_run="ui.rlhf.train.no_run")
    run.poll(api_name="poll_rlhf", watch="rlhf")
    groups_view.build_groups_browser(run.run_state, refresh_on=(run.timer.tick,))  # the RL stage's groups


def rlhf_steps() -> str:
    """The four steps as cards, in the visitor's language (the step cards' value, made at each page load)."""
    return steps_html([(n, t(title), t(text)) for n, title, text in RLHF_STEPS])


# ------------------------------------------------------------------------------------------ ① chat and rate


def _chat_section() -> tuple[gr.Dropdown, gr.HTML]:
    """① Chat with thumbs on each answer, or two answers and "which is better", with prompt ideas and generation
    settings; returns the model picker and the store's counts (which every section that stores updates)."""
    meta_state = gr.State({})  # chat message index → {"model", "rating"}
    pending_state = gr.State(None)  # the two answers awaiting "A/B is better"
    gr.Markdown(L("ui.rlhf.chat.heading"), elem_classes=["section"])
    with gr.Row(equal_height=True):
        model = gr.Dropdown(
            model_choices([]), value=default_chat_model(), label=L("ui.rlhf.chat.model"), scale=5,
            allow_custom_value=True,  # runs appear after the page loads; resolve_model checks every value
            info=L("ui.rlhf.chat.model_info"),
        )  # fmt: skip
        refresh_models = gr.Button(L("ui.rlhf.chat.refresh_models"), scale=1, min_width=120)
    # until the page load's counts arrive (a value of its own would race them): "counting…" in the visitor's language
    stats = gr.HTML('<div class="feedback-stats">' + L("ui.rlhf.stats.counting") + "</div>",
                    label=L("ui.rlhf.stats.label"))  # fmt: skip
    with gr.Tabs():
        with gr.Tab(L("ui.rlhf.chat.tab")):
            chatbot = gr.Chatbot(
                label=L("ui.rlhf.chat.chatbot"), height=380,
                feedback_options=("Like", "Dislike"),  # values compared in like(): not translated
                placeholder=L("ui.rlhf.chat.placeholder"),
            )  # fmt: skip
            with gr.Row(equal_height=True):
                message = gr.Textbox(label=L("ui.rlhf.chat.message"), placeholder=L("ui.rlhf.chat.message_hint"),
                                     scale=5, lines=1)  # fmt: skip
                send = gr.Button(L("ui.rlhf.chat.send"), variant="primary", scale=1, min_width=90)
        with gr.Tab(L("ui.rlhf.pair.tab")):
            pair_prompt = gr.Textbox(label=L("ui.rlhf.pair.prompt"), lines=2,
                                     placeholder=L("ui.rlhf.pair.prompt_hint"))  # fmt: skip
            sample = gr.Button(L("ui.rlhf.pair.sample"), variant="primary")
            with gr.Row(equal_height=True):
                answer_a = gr.Textbox(label=L("ui.rlhf.pair.answer_a"), lines=6, interactive=False,
                                      elem_classes=["pair-answer"])  # fmt: skip
                answer_b = gr.Textbox(label=L("ui.rlhf.pair.answer_b"), lines=6, interactive=False,
                                      elem_classes=["pair-answer"])  # fmt: skip
            with gr.Row():
                a_better = gr.Button(L("ui.rlhf.pair.a_better"), variant="secondary")
                b_better = gr.Button(L("ui.rlhf.pair.b_better"), variant="secondary")
    with gr.Row(equal_height=True):
        ideas = gr.Dropdown(personas.load_prompts(), value=None, label=L("ui.rlhf.chat.ideas"), scale=4,
                            info=L("ui.rlhf.chat.ideas_info"))  # fmt: skip
        random_button = gr.Button(L("ui.rlhf.chat.random"), scale=1)
        clear = gr.Button(L("ui.rlhf.chat.clear"), scale=1)
    with gr.Accordion(L("ui.rlhf.chat.settings"), open=False):
        with gr.Row():
            temperature = gr.Slider(0.0, 1.5, 0.7, step=0.05, label=L("ui.rlhf.chat.temperature"),
                                    info=L("ui.rlhf.chat.temperature_info"))  # fmt: skip
            max_tokens = gr.Slider(16, 512, 128, step=16, label=L("ui.rlhf.chat.max_tokens"))

    # Send is off while an answer streams (one answer at a time per page), and on again however the answer ended
    busy = gr.on([send.click, message.submit], lambda: gr.Button(interactive=False), None, send, queue=False,
                 api_visibility="private")  # fmt: skip
    busy.then(
        chat,
        [message, chatbot, model, temperature, max_tokens, meta_state],
        [message, chatbot, meta_state],
        api_name="chat", concurrency_limit=chat_batch_size(), concurrency_id="generate",  # answered in batches
    ).then(lambda: gr.Button(interactive=True), None, send, api_visibility="private")
    chatbot.like(like, [chatbot, meta_state], [meta_state, stats], api_visibility="private")
    # the same thumbs for API clients (a like event's index and thumb cannot be sent through the API): two hidden
    # inputs carry them, the chat's own state says which answers are complete and which model wrote them
    rate_index, rate_liked = gr.Number(visible=False, precision=0), gr.Checkbox(visible=False)
    gr.Button(visible=False).click(rate_answer, [chatbot, rate_index, rate_liked, meta_state], [meta_state, stats],
                                   api_name="rate")  # fmt: skip
    clear.click(lambda: ([], {}), None, [chatbot, meta_state], api_name="clear_chat", api_visibility="private")
    # a click that only gets "sample first" / "type a prompt first" shows that as a toast, not as red "Error"
    # badges inside the two answer boxes: the sampling progress shows on its button, a vote shows none
    sample.click(sample_two, [pair_prompt, model, max_tokens], [answer_a, answer_b, pending_state],
                 api_name="sample_two", show_progress_on=sample, concurrency_limit=chat_batch_size(),
                 concurrency_id="generate")  # fmt: skip
    for button, which in ((a_better, "A"), (b_better, "B")):
        button.click(vote(which), pending_state, [pending_state, answer_a, answer_b, stats],
                     api_name=f"prefer_{which.lower()}", show_progress="hidden")  # fmt: skip
    ideas.input(fill_prompt, ideas, [message, pair_prompt], api_visibility="private")
    random_button.click(lambda: fill_prompt(act.random_prompt()), None, [message, pair_prompt],
                        api_name="random_prompt")  # fmt: skip
    refresh_models.click(list_models, model, model, api_name="chat_models")
    return model, stats


def counts(request: gr.Request | None = None) -> str:
    """The store's counts as the stats line shows them, with the visitor's own rows ("yours": rated, voted,
    simulated or imported by them)."""
    return act.stats_html(FeedbackStore().stats(owner=_session(request) if request is not None else None))


def list_models(current: str | None):
    """The picker's choices now (runs finish while the page is open), keeping the current model if still offered."""
    choices = model_choices()
    values = [v for _, v in choices]
    return gr.Dropdown(choices=choices, value=current if current in values else default_chat_model())


@user_errors
def chat(text: str, history: list | None, choice: str, temp: float, tokens: float, meta: dict | None):
    """Stream the model's answer into the chat; once complete, record which model wrote it (it can be rated)."""
    text = (text or "").strip()
    if not text:
        raise LabError("ui.rlhf.chat.empty")
    base, adapter, label = resolve_model(choice)
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
    return meta, counts(request)


@user_errors
def rate_answer(history: list | None, index: float | None, liked: bool | None, meta: dict | None,
                request: gr.Request):  # fmt: skip
    """``/rate`` for API clients: thumb up (``liked=True``) or down on the answer at ``index`` of the history."""
    meta, note = act.rate(history, None if index is None else int(index), bool(liked), meta, _session(request))
    return meta, counts(request)


@user_errors
def sample_two(prompt: str, choice: str, tokens: float, progress=gr.Progress()):
    prompt = (prompt or "").strip()
    if not prompt:
        raise LabError("ui.rlhf.pair.empty")
    base, adapter, label = resolve_model(choice)
    progress(0.3, desc=t("ui.rlhf.pair.sampling"))
    from lab import chat as lab_chat

    a, b = lab_chat.sample_two(prompt, base, adapter, int(tokens))
    return a, b, {"prompt": prompt, "a": a, "b": b, "model": label}


def vote(which: str):
    """The handler of "A is better" (``which="A"``) or "B is better": store the pair, clear the two answers."""

    @user_errors
    def store_vote(pending: dict | None, request: gr.Request):
        gr.Info(act.prefer(which, pending, _session(request)), duration=2)
        return None, "", "", counts(request)

    return store_vote


def fill_prompt(text: str | None):
    return (text, text) if text else (gr.skip(), gr.skip())


# ------------------------------------------------------------------------------- review, import, export


def _review_section(stats: gr.HTML) -> gr.Dataframe:
    """The feedback store as a table (click a row to pick its id), delete by id, import a file, export in TRL's
    formats; returns the table (the page load fills it)."""
    with gr.Accordion(L("ui.rlhf.review.title"), open=False):
        with gr.Row(equal_height=True):
            kind = gr.Radio([(L("ui.rlhf.review.ratings"), "ratings"), (L("ui.rlhf.review.pairs"), "pairs")],
                            value="ratings", label=L("ui.rlhf.review.show"), scale=2)  # fmt: skip
            refresh_table = gr.Button(L("ui.rlhf.review.refresh"), scale=1)
        table = gr.Dataframe(
            empty_frame(act.RATING_COLUMNS), label=L("ui.rlhf.review.table"),
            interactive=False, wrap=True, max_height=320, show_search="search",
            column_widths=FEEDBACK_WIDTHS,
        )  # fmt: skip
        with gr.Row(equal_height=True):
            ids = gr.Textbox(label=L("ui.rlhf.review.ids"), placeholder=L("ui.rlhf.review.ids_hint"), scale=3)
            delete = gr.Button(L("ui.rlhf.review.delete"), variant="stop", scale=1)
        with gr.Row():
            with gr.Column():
                upload = gr.File(label=L("ui.rlhf.review.upload"), file_types=[".csv", ".jsonl", ".json"],
                                 height=120)  # fmt: skip
                import_note = gr.Markdown(label=L("ui.rlhf.review.import"), elem_classes=["wrap-note"])  # wraps
            with gr.Column():
                with gr.Row():
                    export_kind = gr.Radio(  # the values are TRL's names of the two formats
                        [(L("ui.rlhf.review.unpaired"), "unpaired"), (L("ui.rlhf.review.paired"), "paired")],
                        value="unpaired", label=L("ui.rlhf.review.export"), info=L("ui.rlhf.review.export_info"),
                    )  # fmt: skip
                    export_format = gr.Dropdown(["jsonl", "csv", "json"], value="jsonl",
                                                label=L("ui.rlhf.review.format"))  # fmt: skip
                    conversational = gr.Checkbox(False, label=L("ui.rlhf.review.conversational"))
                export = gr.Button(L("ui.rlhf.review.export_button"))
                exported = gr.File(label=L("ui.rlhf.review.exported"), interactive=False, height=80)

    show = user_errors(lambda k: act.feedback_table(k))
    refresh_table.click(show, kind, table, api_name="feedback_table")
    kind.change(show, kind, table, api_visibility="private")
    table.select(pick_id, [table, ids], ids, api_visibility="private")
    delete.click(delete_rows, [kind, ids], [ids, table, stats], api_name="delete_feedback", show_progress="hidden")
    upload.upload(import_file, [upload, kind], [import_note, table, stats], api_name="import_feedback")
    export.click(user_errors(act.export_feedback), [export_kind, export_format, conversational], exported,
                 api_name="export_feedback")  # fmt: skip
    return table


def pick_id(frame, current: str, evt: gr.SelectData):
    """A clicked row's id, added to the ids already typed."""
    row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
    if frame is None or not 0 <= row < len(frame):
        return gr.skip()
    new = str(int(frame.iloc[row]["id"]))
    return new if not current.strip() else f"{current.strip()}, {new}"


FEEDBACK_WIDTHS = ["5%", "11%", "10%", "21%", "24%", "19%", "10%"]
"""The feedback table's column shares, the same places for both kinds (ratings: id created source prompt completion
label model; pairs: id created source prompt chosen rejected model): all of it fits at 1280 px, long text wraps."""


@user_errors
def delete_rows(k: str, text: str, request: gr.Request = None):
    gr.Info(act.delete_feedback(k, text, who=access.identify(request)), duration=3)
    return "", act.feedback_table(k), counts(request)


@user_errors
def import_file(path: str | None, k: str, request: gr.Request = None):
    if not path:
        return gr.skip(), gr.skip(), gr.skip()
    try:
        note = act.import_feedback(path, who=access.identify(request))
    except LabError as e:  # a warning, and the message stays on the page while the user fixes the file
        gr.Warning(e.text(), title=t("ui.rlhf.review.refused"))
        return f"⚠ **{t('ui.rlhf.review.nothing_imported')}**\n\n```\n{e.text()}\n```", gr.skip(), gr.skip()
    gr.Info(note)
    return f"✓ {note}", act.feedback_table(k), counts(request)


# ------------------------------------------------------------------------------------- ② simulated raters


def _simulate_section(stats: gr.HTML) -> tuple[gr.Dropdown, gr.Dropdown, gr.Markdown, gr.events.Dependency]:
    """② A persona rates fresh answers of a base model into the same store; returns the persona and answering model
    pickers, the note, and the click's event (the train step's usable feedback follows it)."""
    gr.Markdown(L("ui.rlhf.simulate.heading"), elem_classes=["section"])
    with gr.Row(equal_height=True):
        with gr.Column(scale=3):
            persona = gr.Dropdown(list(personas.PERSONAS), value=DEFAULT_PERSONA, label=L("ui.rlhf.simulate.persona"))
            persona_note = gr.Markdown(default_persona_note, label=L("ui.rlhf.simulate.persona_note"))  # at page load
        count = gr.Slider(
            4, 1000, act.Config().simulate, step=4, label=L("ui.rlhf.simulate.count"), scale=2,
            info=L("ui.rlhf.simulate.count_info"),  # the page load adds the default demo's numbers
        )  # fmt: skip
        sim_model = gr.Dropdown(list(BASE_MODELS), value=default_chat_model(), label=L("ui.rlhf.simulate.model"),
                                scale=1)  # fmt: skip
        simulate = gr.Button(L("ui.rlhf.simulate.button"), variant="primary", scale=1)
    sim_note = gr.Markdown(L("ui.rlhf.simulate.note"), label=L("ui.rlhf.simulate.label"))

    persona.change(user_errors(act.persona_help), persona, persona_note, api_visibility="private")
    gr.on(None, count_info, None, count, api_visibility="private", show_progress="hidden")  # page load
    progress = progress_slot()  # "12/200 prompts answered" shows here, not over the note
    event = simulate.click(add_simulated, [persona, count, sim_model], [sim_note, stats],
                           api_name="simulate_feedback", concurrency_limit=1, concurrency_id="simulate",
                           show_progress_on=progress)  # fmt: skip
    return persona, sim_model, sim_note, event


def default_persona_note() -> str:
    """The first persona's taste (the note's value, made at each page load in the visitor's language)."""
    return act.persona_help(DEFAULT_PERSONA)


def count_info():
    """The "Ratings to add" help with the default demo's numbers, in the visitor's language."""
    demo = t("ui.rlhf.simulate.count_demo", simulate=act.Config().simulate, pairs=DEMO["pairs"])
    return gr.Slider(info=f"{t('ui.rlhf.simulate.count_info')} {demo}")


@user_errors
def add_simulated(name: str, n: float, answering: str, request: gr.Request = None, progress=gr.Progress()):
    return simulate_with_progress(name, n, answering, progress, _session(request)), counts(request)


def simulate_with_progress(name: str, n: float, answering: str, progress, owner: str = "") -> str:
    """``act.simulate`` with its progress ("12/64 prompts answered") on a ``gr.Progress``; returns its note."""

    def report(done: int, total: int) -> None:
        progress(done / total, desc=t("ui.rlhf.simulate.progress", done=done, total=total))

    progress(0.0, desc=t("ui.rlhf.simulate.loading", model=answering))
    return act.simulate(name, int(n), answering, report, owner=owner)


# ------------------------------------------------------------------------- ③ + ④ train, results, refresh


class UsableFeedback:
    """The train step's "Feedback this run will train on" box, its "Simulate the rest" button, the button's note and
    progress strip."""

    def __init__(self) -> None:
        # the page load fills the box and the button (values of their own would race it): until then, static text
        counting = '<div class="feedback-stats usable-feedback">' + L("ui.rlhf.usable.counting_box") + "</div>"
        self.box = gr.HTML(counting, label=L("ui.rlhf.usable.title"), elem_id="rlhf-usable")
        with gr.Row(equal_height=True):
            self.button = gr.Button(
                L("ui.rlhf.usable.simulate_rest"), visible=False, variant="secondary",
                elem_id="rlhf-simulate-rest", scale=0, min_width=420,
            )  # fmt: skip
            self.note = gr.Markdown("", label=L("ui.rlhf.simulate.label"), elem_id="rlhf-simulate-rest-note")
        self.progress = progress_slot()


def _train_section() -> tuple[
    gr.Radio, gr.Button, gr.Button, dict[str, gr.components.Component], runs_view.RunView, UsableFeedback
]:
    """③ → ④ The route (reward model + RL, KTO or DPO) with its explanation, the knobs, what the run will train on
    (and whether it is enough), Train and Stop, and the live progress with the reward model's held-out scores."""
    gr.Markdown(L("ui.rlhf.train.heading"), elem_classes=["section"])
    method = gr.Radio([(L(key), route) for key, route in ROUTES],
                      value="rm-rl", label=L("ui.rlhf.train.method"))  # fmt: skip
    # made at each page load (so in the visitor's language), then on every change of route
    explain = gr.Markdown(default_method_note, label=L("ui.rlhf.train.explain"))
    knobs = knob_components(act.Config, advanced=L("ui.rlhf.train.advanced"))
    usable = UsableFeedback()
    with gr.Row():
        train = gr.Button(L("ui.rlhf.train.train"), variant="primary", scale=3)
        stop = gr.Button(L("ui.rlhf.train.stop"), variant="stop", scale=1)
    live = runs_view.build_progress(method="rlhf")
    method.change(act.method_help, method, explain, api_visibility="private")
    # the knobs show the values the route will use (the Config's 0 means "the route's default"): on page load and
    # whenever the route changes (gr.on without triggers); an API call that leaves them out still gets 0 = default
    route_knobs = [knobs["steps"], knobs["learning_rate"]]
    gr.on(None, act.route_defaults, method, route_knobs, api_visibility="private", show_progress="hidden")
    return method, train, stop, knobs, live.merge(runs_view.build_reward_model()), usable


def default_method_note() -> str:
    """The first route's explanation (the note's value, made at each page load in the visitor's language)."""
    return act.method_help("rm-rl")


def usable_view(route: str, share, heldout, seed, persona: str):
    """The usable-feedback box and the "Simulate the rest" button (shown only when the feedback is too few)."""
    u = act.usable(route, share, heldout, seed)
    button = gr.Button(act.simulate_rest_label(u, persona), visible=not u["enough"] and u["simulate"] > 0)
    return act.usable_html(u), button


def _usable_wiring(usable: UsableFeedback, inputs: list, sim_model: gr.Dropdown, sim_note: gr.Markdown,
                   stats: gr.HTML, simulated: gr.events.Dependency) -> None:  # fmt: skip
    """Refresh the box when the route, a held-out knob or the persona changes and after ② adds ratings; "Simulate
    the rest" runs ②'s simulation with the missing count (one simulation at a time, either button)."""
    outputs = [usable.box, usable.button]
    triggers = [inputs[0].change, *(c.change for c in inputs[1:])]
    gr.on(triggers, usable_view, inputs, outputs, api_name="usable_feedback", show_progress="hidden",
          api_visibility="undocumented")  # fmt: skip
    simulated.then(usable_view, inputs, outputs, api_visibility="private", show_progress="hidden")
    usable.button.click(
        simulate_rest, [*inputs, sim_model], [usable.note, sim_note, stats, *outputs], api_name="simulate_rest",
        concurrency_limit=1, concurrency_id="simulate", show_progress_on=usable.progress,
    )  # fmt: skip


@user_errors
def simulate_rest(route: str, share, heldout, seed, persona: str, answering: str, request: gr.Request = None,
                  progress=gr.Progress()):  # fmt: skip
    """Simulate the ratings the store lacks for the default (counted now: others may have added some meanwhile)."""
    n = act.usable(route, share, heldout, seed)["simulate"]
    if not n:
        note = t("ui.rlhf.usable.nothing")
        gr.Info(note, duration=3)
        return note, gr.skip(), counts(request), *usable_view(route, share, heldout, seed, persona)
    note = simulate_with_progress(persona, n, answering, progress, _session(request))
    return note, note, counts(request), *usable_view(route, share, heldout, seed, persona)


def _results_section() -> runs_view.RunView:
    """Win rate and reward-model score before → after, the held-out prompts side by side, the latest samples."""
    gr.Markdown(L("ui.rlhf.results.heading"), elem_classes=["section"])
    return runs_view.build_results(method="rlhf")


def _feedback_refresh(model: gr.Dropdown, stats: gr.HTML, table: gr.Dataframe, usable_inputs: list,
                      usable_outputs: list) -> None:  # fmt: skip
    """On page load: the finished runs in the model picker, the store's counts and table, and the feedback a Train
    would use; then the counts and the usable feedback again whenever the store's files change (others rate too)."""
    stamp_state = gr.State(None)
    timer = gr.Timer(FEEDBACK_POLL_SECONDS)

    def poll_feedback(request: gr.Request, stamp: list | None, *form):
        now = act.store_stamp()
        if now == stamp:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return now, counts(request), *usable_view(*form)

    def page_load(request: gr.Request, current: str | None, *form):
        return list_models(current), counts(request), act.store_stamp(), act.feedback_table(), *usable_view(*form)

    gr.on(None, page_load, [model, *usable_inputs], [model, stats, stamp_state, table, *usable_outputs],
          api_visibility="private")  # page load  # fmt: skip
    timer.tick(poll_feedback, [stamp_state, *usable_inputs], [stamp_state, stats, *usable_outputs],
               show_progress="hidden", concurrency_limit=None, api_name="feedback_stats",
               api_visibility="undocumented")  # fmt: skip
