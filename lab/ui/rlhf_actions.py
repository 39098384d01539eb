"""What the RLHF tab's buttons do, as plain functions: rate answers, review and move feedback, simulate raters,
and start a run. (Which models one can chat with: ``lab.ui.common``.)

Like ``lab.ui.rft_actions``: plain values in and out, ``LabError`` for the user, no layout. Generation goes through
``lab.chat`` and simulation through ``lab.methods.rlhf``, both imported inside the functions that use them, so the
page never imports torch.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from lab import LabError, access, cpu, runs, texts
from lab.access import Identity
from lab.feedback import FeedbackStore, personas
from lab.messages import content_text
from lab.methods.reward_model_config import MIN_PAIRS
from lab.methods.rlhf_config import DEFAULT_LR, DEFAULT_STEPS, ROUTES, Config
from lab.methods.rlhf_feedback import MAX_SIMULATE, RM_HELDOUT_PAIRS, usable_feedback
from lab.methods.schema import knob_names
from lab.texts import has_key, t
from lab.ui.common import BASE_MODELS, esc, field_help, form_config

TEACHING_KNOBS = knob_names(Config, "teaching")
"""The knobs shown on the train step: the fields of ``lab.methods.rlhf_config.Config`` whose level is "teaching"."""
ADVANCED_KNOBS = knob_names(Config, "advanced")
"""The knobs in the closed "More knobs" accordion (level "advanced")."""
KNOBS = TEACHING_KNOBS + ADVANCED_KNOBS
RATING_COLUMNS = ["id", "created", "source", "prompt", "completion", "label", "model"]
PAIR_COLUMNS = ["id", "created", "source", "prompt", "chosen", "rejected", "model"]

PPO_NOTE = "ui.rlhf.method.ppo_note"
"""The key of "Why not PPO?" (TRL 1.x has no PPO trainer; GRPO and RLOO keep its clipped update, not its critic)."""
METHOD_HELP = {"rm-rl": "ui.rlhf.method.help.rm_rl", "kto": "ui.rlhf.method.help.kto",
               "dpo": "ui.rlhf.method.help.dpo"}  # fmt: skip
"""route → the key of its explanation under the method picker."""


def defaults() -> dict[str, Any]:
    """Config's default for every knob (what the form starts with)."""
    cfg = Config()
    return {name: getattr(cfg, name) for name in KNOBS}


def route_defaults(route: str) -> tuple[int, float]:
    """``(policy steps, learning rate)`` that a route uses when the knobs say 0 (what the train step shows).

    >>> route_defaults("kto")
    (24, 0.0005)
    """
    route = route if route in DEFAULT_STEPS else Config.route
    return DEFAULT_STEPS[route], DEFAULT_LR[route]


def help_text(name: str) -> str:
    return field_help(Config, name)


def method_help(method: str) -> str:
    """The two-part explanation under the method picker: the route, then (always) why there is no PPO."""
    route = t(METHOD_HELP[method]) if method in METHOD_HELP else ""
    return f"{route}\n\n{t(PPO_NOTE)}"


# ------------------------------------------------------------------------------------------------- chat and rate


def plain_history(history: list | None) -> list[dict[str, str]]:
    """A Chatbot value as plain ``{"role", "content"}`` messages (what ``lab.chat`` and the store take).

    Every message is kept; one without text gets ``""`` as content (:func:`lab.messages.content_text`).

    >>> plain_history([{"role": "user", "content": [{"type": "text", "text": "Hi"}]}, {"role": "assistant"}])
    [{'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': ''}]
    """
    return [{"role": m.get("role", "user"), "content": content_text(m.get("content"))} for m in history or []]


def rated_turn(history: list | None, index: Any) -> tuple[str, str]:
    """``(prompt, answer)`` for a thumbs click on message ``index``: the answer and the user message before it.

    >>> rated_turn([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}], 1)
    ('2+2?', '4')
    """
    messages = plain_history(history)
    i = index[-1] if isinstance(index, list | tuple) else index
    if not isinstance(i, int) or not 0 <= i < len(messages) or messages[i]["role"] != "assistant":
        raise LabError("ui.rlhf.chat.not_an_answer")
    prompt = next((m["content"] for m in reversed(messages[:i]) if m["role"] == "user"), "")
    return prompt, messages[i]["content"]


def rate(
    history: list | None, index: Any, liked: Any, meta: dict | None, session: str, store: FeedbackStore | None = None
) -> tuple[dict, str]:
    """Store a thumbs click: ``(new meta, what happened)``. ``meta`` maps a message index to the model that wrote
    it and the id of its stored rating, so that changing one's mind replaces the rating and un-clicking removes it.
    """
    store = store or FeedbackStore()
    prompt, answer = rated_turn(history, index)
    key = str(index[-1] if isinstance(index, list | tuple) else index)
    meta = {k: dict(v) for k, v in (meta or {}).items()}
    if key not in meta:  # the chat records the answer's model once it is complete
        raise LabError("ui.rlhf.chat.not_complete")
    entry = meta[key]
    if entry.get("rating"):
        store.delete("rating", [entry.pop("rating")])
    if not isinstance(liked, bool):  # the click took a thumb back
        return meta, t("ui.rlhf.chat.rating_removed")
    entry["rating"] = store.add_rating(prompt, answer, liked, model=entry["model"], session=session[:200],
                                       owner=session)  # fmt: skip
    return meta, t("ui.rlhf.chat.liked" if liked else "ui.rlhf.chat.disliked")


def prefer(which: str, pending: dict | None, session: str, store: FeedbackStore | None = None) -> str:
    """Store "A is better" / "B is better" for the two answers in ``pending`` (``{prompt, a, b, model}``)."""
    if not pending or not pending.get("a"):
        raise LabError("ui.rlhf.pair.sample_first")
    chosen, rejected = (pending["a"], pending["b"]) if which == "A" else (pending["b"], pending["a"])
    (store or FeedbackStore()).add_pair(
        pending["prompt"], chosen, rejected, model=pending.get("model", ""), session=session[:200], owner=session
    )
    return t("ui.rlhf.pair.stored", which=which)


def random_prompt(rng: random.Random | None = None) -> str:
    """One of the class prompts, for when ideas run out: from the visitor's language's set (``assets/prompts.txt``,
    ``assets/prompts_zh.txt``) when there is one."""
    language = texts.current_language()
    return (rng or random).choice(personas.load_prompts(language if language in personas.PROMPT_SETS else None))


def stats_html(stats: dict[str, int]) -> str:
    """The store's counts in one line: ratings (liked / disliked), pairs (explicit + derived), by origin, and the
    visitor's own rows when ``stats`` has ``yours``."""
    yours = f' · <b class="n-yours">{esc(t("ui.rlhf.stats.yours", n=stats["yours"]))}</b>' if "yours" in stats else ""
    n = {k: stats.get(k, 0) for k in ("ratings", "liked", "disliked", "pairs", "derived_pairs", "human", "imported",
                                      "simulated")}  # fmt: skip
    line = t("ui.rlhf.stats.line", ratings=f'<b class="n-ratings">{n["ratings"]}</b>', liked=n["liked"],
             disliked=n["disliked"], pairs=f"<b>{n['pairs']}</b>", derived=n["derived_pairs"], people=n["human"],
             imported=n["imported"], simulated=n["simulated"])  # fmt: skip
    return f'<div class="feedback-stats">{line}{yours}</div>'


def store_stamp(store: FeedbackStore | None = None) -> list:
    """(mtime, size) of the store's files: unchanged stamp = unchanged counts (the poller's cheap check)."""
    path = (store or FeedbackStore()).path
    stamps = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            st = p.stat()
            stamps.append([st.st_mtime_ns, st.st_size])
        except OSError:
            stamps.append(None)
    return stamps


# ------------------------------------------------------------------------------------------- review, import, export


def feedback_table(kind: str = "ratings", limit: int = 500, store: FeedbackStore | None = None) -> pd.DataFrame:
    """Stored ratings or pairs, newest first, as the review table shows them (label: liked / disliked). The column
    names are the store's and TRL's fields (what an exported or imported file has): data, not translated."""
    store = store or FeedbackStore()
    if kind == "pairs":
        return store.pairs().head(limit).reindex(columns=PAIR_COLUMNS)
    df = store.ratings().head(limit).reindex(columns=RATING_COLUMNS)
    df["label"] = df["label"].map({True: t("ui.rlhf.review.liked"), False: t("ui.rlhf.review.disliked")})
    return df


def parse_ids(text: str) -> list[int]:
    """Ids from text such as ``"3, 5-8 12"``.

    >>> parse_ids("3, 5-7 12")
    [3, 5, 6, 7, 12]
    """
    ids: list[int] = []
    for part in re.split(r"[\s,;]+", (text or "").strip()):
        if not part:
            continue
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise LabError("ui.rlhf.review.bad_id", part=part)
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo or hi - lo > 10_000:
            raise LabError("ui.rlhf.review.bad_range", part=part)
        ids += range(lo, hi + 1)
    return ids


def delete_feedback(kind: str, ids_text: str, store: FeedbackStore | None = None, who: Identity | None = None) -> str:
    """Delete rows by id: the teacher any, a visitor only their own (all of them, or nothing and a message)."""
    ids = parse_ids(ids_text)
    if not ids:
        raise LabError("ui.rlhf.review.no_ids")
    who = who or access.identify()
    owner = None if who.teacher else who.visitor
    n = (store or FeedbackStore()).delete("pair" if kind == "pairs" else "rating", ids, owner=owner)
    if kind == "pairs":
        return t("ui.rlhf.review.deleted_pair" if n == 1 else "ui.rlhf.review.deleted_pairs", n=n)
    return t("ui.rlhf.review.deleted_rating" if n == 1 else "ui.rlhf.review.deleted_ratings", n=n)


def import_feedback(path: str | Path, store: FeedbackStore | None = None, who: Identity | None = None) -> str:
    """Store a whole feedback file or nothing (the teacher only); errors name the uploaded file, not the server's
    temp path. Rows the store has from that file already are not stored twice."""
    who = who or access.identify()
    access.require_teacher(who, t("ui.rlhf.review.import_action"))
    path = Path(path)
    try:
        counts = (store or FeedbackStore()).import_file(path, source=f"import:{path.name}", owner=who.visitor)
    except LabError as e:
        raise _without_folder(e, path) from None
    note = t("ui.rlhf.review.imported", ratings=counts.get("ratings", 0), pairs=counts.get("pairs", 0), file=path.name)
    if counts.get("skipped"):
        note += " " + t("ui.rlhf.review.skipped", n=counts["skipped"])
    return note


def _without_folder(e: LabError, path: Path) -> LabError:
    """``e`` with the uploaded file named by its name only (not the server's temp folder), keeping its key."""

    def short(value: Any) -> Any:
        if isinstance(value, Path | str) and str(path) in str(value):
            return str(value).replace(str(path), path.name)
        return value

    if e.key:
        return LabError(e.key, **{k: short(v) for k, v in e.values.items()})
    return LabError(str(e).replace(str(path), path.name))


def export_feedback(kind: str, fmt: str, conversational: bool, store: FeedbackStore | None = None) -> str:
    """Write ratings (``unpaired``) or pairs (``paired``, derived ones included) in TRL's format; return the path."""
    if fmt not in ("jsonl", "json", "csv"):
        raise LabError("ui.rlhf.review.bad_format", fmt=fmt)
    path = Path(tempfile.mkdtemp(prefix="lab_export_")) / f"feedback_{kind}.{fmt}"
    n = (store or FeedbackStore()).export_file(path, kind=kind, conversational=conversational)
    if not n:
        raise LabError("ui.rlhf.review.nothing_to_export_ratings" if kind == "unpaired"
                       else "ui.rlhf.review.nothing_to_export_pairs")  # fmt: skip
    return str(path)


# --------------------------------------------------------------------------------------------- simulated raters


def persona_help(name: str) -> str:
    """A persona's name and taste; the taste in the visitor's language where the lab has a text for it."""
    persona = personas.get(name)
    key = f"ui.rlhf.persona.{persona.name}"
    return f"**{esc(persona.name)}**: {esc(t(key) if has_key(key) else persona.description)}"


def simulation_plan(store: FeedbackStore, cfg: Config) -> tuple[list[str], int]:
    """The prompts (in visiting order) and the seed of the next *Add simulated ratings* click on ``store``.

    The first click on a store simulates exactly what ``python -m lab rlhf`` does (the training prompts in the split's
    order, the config's seed), so the page's lesson draws the benchmarked demo's feedback, not a lucky or unlucky one.
    Every later click takes the next seed and a shuffle of its own: other answers, starting from other prompts.
    """
    prompts, _ = personas.split_prompts(personas.load_prompts(cfg.prompts), cfg.heldout, cfg.seed)
    sessions = store.ratings(source="simulated:")["session"]
    clicks = int(sessions[sessions.str.startswith("simulate-seed")].nunique())
    seed = cfg.seed + clicks
    if clicks:
        random.Random(seed).shuffle(prompts)
    return prompts, seed


def simulate(
    persona: str, n: int, model: str, progress: Callable[[int, int], None] | None = None, owner: str = ""
) -> str:
    """Let a persona rate ``n`` fresh answers of a base model (training prompts only; held-out ones stay unseen)."""
    from lab.chat import set_threads
    from lab.methods.rlhf import simulate_feedback

    if model not in BASE_MODELS:
        raise LabError("ui.rlhf.simulate.not_base", models=", ".join(BASE_MODELS), model=model)
    n = int(n)
    if not 4 <= n <= MAX_SIMULATE:
        raise LabError("ui.rlhf.simulate.bad_count", maximum=MAX_SIMULATE, n=n)
    cfg, store = Config(), FeedbackStore()
    prompts, seed = simulation_plan(store, cfg)
    with cpu.generating():  # a training worker leaves this generation a core (lab.cpu)
        set_threads()  # this process's torch threads, as for the chat (see lab.chat)
        result = simulate_feedback(
            personas.get(persona), model, store, n, prompts, seed=seed, progress=progress, owner=owner
        )
    return t("ui.rlhf.simulate.done", persona=persona, ratings=result["ratings"], liked=result["liked"],
             pairs=result["pairs"], ties=result["ties"], seconds=f"{result['seconds']:.0f}")  # fmt: skip


# ------------------------------------------------------------------------------------------------------- train


def train_config(route: str, heldout_share: Any = None, heldout: Any = None, seed: Any = None) -> Config:
    """The Config a Train of ``route`` would run with the form's held-out knobs (the defaults where a knob is missing
    or not valid yet, e.g. while being typed): what :func:`usable` counts with."""
    route = route if route in ROUTES else Config.route
    try:
        return Config(route=route, rm_heldout_share=float(heldout_share), heldout=int(heldout), seed=int(seed))
    except (LabError, TypeError, ValueError):
        return Config(route=route)


def usable(route: str, heldout_share: Any = None, heldout: Any = None, seed: Any = None,
           store: FeedbackStore | None = None) -> dict[str, Any]:  # fmt: skip
    """What a Train would use from the store now (``lab.methods.rlhf_feedback.usable_feedback``)."""
    return usable_feedback(store or FeedbackStore(), train_config(route, heldout_share, heldout, seed))


def _groups(u: dict[str, Any], kind: str) -> str:
    """The ``kind`` rows by who made them, personas and files named (``people 0, simulated 69 (concise), ...``)."""
    parts = []
    for group in ("people", "simulated", "imported"):
        n = u["groups"][group][kind]
        prefix = {"simulated": "simulated:", "imported": "import:"}.get(group)
        names = [(src[len(prefix):], c[kind]) for src, c in u["by_source"].items()
                 if prefix and src.startswith(prefix) and c[kind]]  # fmt: skip
        detail = ""
        if len(names) == 1:
            detail = f" ({esc(names[0][0])})"
        elif names:
            detail = " (" + ", ".join(f"{esc(name)} {k}" for name, k in names) + ")"
        parts.append(t(f"ui.rlhf.usable.{group}", n=n) + detail)
    return ", ".join(parts)


def usable_html(u: dict[str, Any] | None) -> str:
    """The train step's "Feedback this run will train on" box: usable pairs and ratings by who made them, what is
    left out, and whether it is enough for the default (a plain warning with the ratings to simulate when not)."""
    title = f"<b>{esc(t('ui.rlhf.usable.title'))}</b>"
    if u is None:
        return f'<div class="feedback-stats usable-feedback">{title}: {esc(t("ui.rlhf.usable.counting"))}</div>'
    pairs = t("ui.rlhf.usable.pairs", n=f"<b>{u['pairs']}</b>", detail=_groups(u, "pairs"))
    ratings = t("ui.rlhf.usable.ratings", n=f"<b>{u['ratings']}</b>", liked=u["liked"], disliked=u["disliked"],
                detail=_groups(u, "ratings"))  # fmt: skip
    out = u["left_out"]
    notes = [t("ui.rlhf.usable.heldout", n=u["heldout_pairs"])] if u["pairs"] else []
    if out["pairs"] or out["ratings"]:
        notes.append(t("ui.rlhf.usable.left_out", pairs=out["pairs"], ratings=out["ratings"],
                       prompts=out["heldout_prompts"]))  # fmt: skip
    if out["repeated_pairs"]:
        notes.append(t("ui.rlhf.usable.repeated", n=out["repeated_pairs"]))
    values = {"n": u["have"], "needed": u["needed"], "target": RM_HELDOUT_PAIRS, "more": u["simulate"],
              "liked": u["liked"], "disliked": u["disliked"]}  # fmt: skip
    if u["enough"]:
        verdict, color = t(f"ui.rlhf.usable.enough_{u['unit']}", **values), "#047857"
    else:
        verdict, color = t(f"ui.rlhf.usable.too_few_{u['unit']}", **values), "#b45309"
        if u["unit"] == "pairs" and u["pairs"] < MIN_PAIRS:
            verdict += " " + t("ui.rlhf.usable.refused", minimum=MIN_PAIRS)
        elif u["unit"] == "ratings" and min(u["liked"], u["disliked"]) < 2:  # as check_feedback
            verdict += " " + t("ui.rlhf.usable.refused_kto", minimum=2)
    state = "enough" if u["enough"] else "too-few"
    subdued = "color: var(--body-text-color-subdued)"
    lines = [
        f'{title} <span style="{subdued}">({esc(t("ui.rlhf.usable.where"))})</span>',
        f"{pairs} · {ratings}",
        *([f'<span style="{subdued}; font-size: 0.92em">{esc(" · ".join(notes))}</span>'] if notes else []),
    ]
    style = f"color: {color}; font-weight: 600; margin-top: 4px"
    lines_html, verdict_html = "<br>".join(lines), f'<div class="usable-verdict" style="{style}">{esc(verdict)}</div>'
    return f'<div class="feedback-stats usable-feedback {state}">{lines_html}{verdict_html}</div>'


def simulate_rest_label(u: dict[str, Any], persona: str) -> str:
    """The "Simulate the rest" button's text: how many ratings, by which persona."""
    return t("ui.rlhf.usable.button", n=u["simulate"], persona=persona or "concise")


def run_config(route: str, values: dict[str, Any]) -> dict[str, Any]:
    """The run's options (``config.json``'s ``config``) from the form, checked by ``Config``: the route, the shared
    feedback store, model, and the knobs that changed."""
    config = {**values, "route": route, "feedback": "store"}
    return form_config(Config, config, keep=("route", "model", "feedback"))


def check_feedback(route: str, stats: dict[str, int]) -> None:
    """Refuse to start a run the store cannot feed (fewer pairs or ratings than the trainers need); ``stats`` are
    the store's counts or, better, what a run would use of them (:func:`usable`: held-out prompts left out)."""
    pairs = stats.get("pairs", 0) + stats.get("derived_pairs", 0)
    if route in ("rm-rl", "dpo") and pairs < MIN_PAIRS:
        raise LabError("ui.rlhf.train.too_few_pairs", pairs=pairs, route=route, minimum=MIN_PAIRS)
    if route == "kto" and (stats.get("liked", 0) < 2 or stats.get("disliked", 0) < 2):
        raise LabError("ui.rlhf.train.too_few_ratings", minimum=2)


def start_run(route: str, values: dict[str, Any], owner: str = "", teacher: bool = False) -> str:
    """Check the form (``Config``) and then the store, start an RLHF run on the store's feedback for ``owner`` (a
    visitor id), return its id."""
    config = run_config(route, values)
    u = usable_feedback(FeedbackStore(), Config.from_dict(config))  # the pairs it would train on, not the store's
    check_feedback(config["route"], {"pairs": u["pairs"], "liked": u["liked"], "disliked": u["disliked"]})
    return runs.start("rlhf", config, owner=owner, teacher=teacher).id
