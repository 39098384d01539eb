"""Model graders offline: OpenAI's ``score_model`` and ``label_model`` graders answered by a local judge model.

A model grader's spec is a list of chat messages (``input``) with the same ``{{sample.output_text}}`` and
``{{item.<field>}}`` templates as every other grader. For a batch of answers:

1. each row's messages are rendered (:func:`lab.grading.specs._render`) and put through the judge's chat template;
2. the judge answers every row of the reward call in left-padded batches (one ``generate`` per batch; identical
   conversations are answered once when decoding is greedy) — in the worker, beside the policy, so its cost is
   part of the GRPO step time;
3. each reply is parsed: ``score_model`` takes ``{"result": x, "steps": [...]}`` found anywhere in the reply, else
   its first number, clipped into ``range`` (default ``[0, 1]``); ``label_model`` takes the label it names
   (``{"result": "label"}``, else the first of ``labels`` named as a word, case-insensitively) and scores 1.0 when
   it is one of ``passing_labels``, else 0.0. A reply with no number (or no label) scores 0 — OpenAI's documented
   default — and is a **judge error**: :func:`counting` tallies them, and a GRPO run logs them per step as
   ``judge_errors/<grader>`` next to ``rewards/<grader>/mean``.

The judge is the embedded model (``embedded``) unless ``model`` names a local folder or a hub id (``org/name``);
an OpenAI model name (``gpt-4o-mini``, ``o3``, …) cannot run offline and maps to the embedded judge, with a note in
every explanation (``judge: embedded ← gpt-4o-mini``) and once in the run's log. Each judge is loaded once per
process and kept. ``sampling_params`` are honoured: ``temperature`` (0 or absent: greedy — reproducible rewards),
``top_p``, ``seed`` (the judge samples on a forked random state, so it never shifts the policy's sampling),
``max_completions_tokens`` (default :data:`DEFAULT_MAX_TOKENS`); ``reasoning_effort`` is accepted and has no local
meaning. ``pass_threshold`` leaves a ``score_model`` score as it is (OpenAI reports the pass separately): the
explanation says pass or fail.

Importing this module does not import torch; the first judged batch loads it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import LabError
from lab.grading.functions import Scores, number_in
from lab.texts import t

__all__ = [
    "DEFAULT_JUDGE", "DEFAULT_MAX_TOKENS", "KINDS", "Tally", "counting", "judge_name", "load", "parse_label",
    "parse_score", "run", "validate",
]  # fmt: skip

KINDS = ("score_model", "label_model")
DEFAULT_JUDGE = "embedded"
DEFAULT_MAX_TOKENS = 48
"""Reply length when ``sampling_params.max_completions_tokens`` is not given: room for a short JSON verdict."""
BATCH_SIZE = 32
"""Conversations per ``generate`` call (a GRPO step of 4 questions × 8 answers is one batch)."""

_ROLES = ("system", "developer", "user", "assistant")
_TEXT_PARTS = ("input_text", "output_text")
_SAMPLING = ("temperature", "top_p", "max_completions_tokens", "seed", "reasoning_effort")
_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
# Names of OpenAI's hosted models (a hub id has an owner: "openai/gpt-oss-20b" is a local-able model, not these).
_OPENAI_RE = re.compile(r"(gpt-?\d|gpt-|chatgpt|o\d+(-|$)|text-|davinci|babbage|ft:|computer-use|omni-)", re.I)


# ---------------------------------------------------------------------------------------------------- judge model


def judge_name(model: str | None) -> tuple[str, str | None]:
    """``(the local model that judges, the OpenAI name it stands in for or None)``.

    >>> judge_name("gpt-4o-mini"), judge_name(None), judge_name("HuggingFaceTB/SmolLM2-360M-Instruct")
    (('embedded', 'gpt-4o-mini'), ('embedded', None), ('HuggingFaceTB/SmolLM2-360M-Instruct', None))
    >>> judge_name("o3-mini"), judge_name("o4"), judge_name("openai/gpt-oss-20b")[1]
    (('embedded', 'o3-mini'), ('embedded', 'o4'), None)
    """
    name = (model or DEFAULT_JUDGE).strip() or DEFAULT_JUDGE
    if "/" not in name and _OPENAI_RE.match(name):
        return DEFAULT_JUDGE, name
    return name, None


def _label(model: str | None) -> str:
    """How an explanation names the judge: ``embedded`` or ``embedded ← gpt-4o-mini``."""
    name, stands_for = judge_name(model)
    return name if stands_for is None else f"{name} ← {stands_for}"


_JUDGES: dict[str, tuple[Any, Any]] = {}
_LOCK = threading.Lock()  # loading
_GENERATING = threading.Lock()  # one judged batch at a time (the playground's threads share the judge)
_SIMPLE_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def load(model: str | None = None) -> tuple[Any, Any]:
    """The judge's ``(model, tokenizer)``: loaded once per process (on the lab's device and dtype) and kept.

    A tokenizer without a chat template gets a plain ``role: content`` one. The first load of a judge that stands in
    for an OpenAI model prints the note to the run's log."""
    name, stands_for = judge_name(model)
    with _LOCK:
        if name not in _JUDGES:
            from lab import models

            lm, tokenizer = models.load_causal_lm(name)
            lm.eval()
            lm.requires_grad_(False)
            if not getattr(tokenizer, "chat_template", None):
                tokenizer.chat_template = _SIMPLE_TEMPLATE
            _JUDGES[name] = (lm, tokenizer)
        noted = _NOTED.setdefault(name, set())
        if stands_for is not None and stands_for not in noted:
            noted.add(stands_for)
            print(t("grading.judge.note_mapped", model=stands_for, judge=name), flush=True)
    return _JUDGES[name]


_NOTED: dict[str, set[str]] = {}


def _answer_batch(lm, tokenizer, conversations: list[list[dict]], kwargs: dict) -> list[str]:
    """One ``generate`` call: the conversations through the chat template, left-padded; the replies, stripped."""
    import torch

    tokenizer.padding_side = "left"
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(lm.device)
    with torch.inference_mode():
        out = lm.generate(**enc, **kwargs, pad_token_id=tokenizer.pad_token_id)
    return [r.strip() for r in tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)]


def _generate(model: str | None, conversations: list[list[dict]], params: dict) -> list[str]:
    """One reply per conversation, batched (left padding, the judge's chat template)."""
    if not conversations:
        return []
    import torch

    lm, tokenizer = load(model)
    temperature = params.get("temperature")
    sample = temperature is not None and temperature > 0
    kwargs: dict[str, Any] = {"max_new_tokens": params.get("max_completions_tokens") or DEFAULT_MAX_TOKENS}
    if sample:
        kwargs.update(do_sample=True, temperature=float(temperature), top_p=float(params.get("top_p") or 1.0))
    else:  # greedy; the model's generation_config may carry sampling defaults that would only warn
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    # Greedy replies to identical conversations are identical: answer each once (GRPO groups repeat answers often).
    unique: list[list[dict]] = []
    where: list[int] = []
    seen: dict[str, int] = {}
    for conversation in conversations:
        key = json.dumps(conversation, ensure_ascii=False) if not sample else str(len(unique))
        if key not in seen:
            seen[key] = len(unique)
            unique.append(conversation)
        where.append(seen[key])
    order = sorted(range(len(unique)), key=lambda i: sum(len(m["content"]) for m in unique[i]))  # less padding
    replies: list[str] = [""] * len(unique)
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with _GENERATING, torch.random.fork_rng(devices=devices):
        if params.get("seed") is not None:
            torch.manual_seed(int(params["seed"]))
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            answers = _answer_batch(lm, tokenizer, [unique[i] for i in idx], kwargs)
            for i, answer in zip(idx, answers, strict=True):
                replies[i] = answer
    return [replies[w] for w in where]


# ---------------------------------------------------------------------------------------------------- parsing


def _q(text: str, limit: int = 160) -> str:
    """A reply as the explanations quote it (JSON string, cut at ``limit`` characters)."""
    return json.dumps(text if len(text) <= limit else text[: limit - 1] + "…", ensure_ascii=False)


def _f(score: float) -> str:
    return repr(round(score, 4))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _json_objects(text: str) -> Iterator[dict]:
    """Every JSON object that starts at some ``{`` of the text (in order; nested ones too)."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        found = number_in(value)
        return found if found is not None and math.isfinite(found) else None
    return None


def parse_score(reply: str) -> tuple[float | None, list]:
    """The number a judge's reply gives and its steps: ``{"result": x, "steps": [...]}`` anywhere in the reply,
    else the first number written in it, else ``None`` (a judge error).

    >>> parse_score('Sure! {"steps": [{"description": "ok", "conclusion": "right"}], "result": 0.8}')
    (0.8, [{'description': 'ok', 'conclusion': 'right'}])
    >>> parse_score("I would give it 7 out of 10."), parse_score("Looks great!")
    ((7.0, []), (None, []))
    """
    for obj in _json_objects(reply):
        if "result" in obj and (value := _as_number(obj["result"])) is not None:
            steps = obj.get("steps")
            return value, steps if isinstance(steps, list) else []
    value = number_in(reply)
    return (value if value is not None and math.isfinite(value) else None), []


def parse_label(reply: str, labels: list[str]) -> str | None:
    """The label a judge's reply names (as spelled in ``labels``): ``{"result": "…"}`` anywhere in the reply, else
    the label written first as a whole word (case-insensitive), else ``None`` (a judge error).

    >>> parse_label("This answer is INCORRECT.", ["correct", "incorrect"])
    'incorrect'
    >>> parse_label('{"result": "Correct"}', ["correct", "incorrect"]), parse_label("no idea", ["yes", "no"])
    ('correct', 'no')
    >>> parse_label("maybe", ["yes", "no"]) is None
    True
    """
    by_lower = {label.casefold(): label for label in labels}
    for obj in _json_objects(reply):
        value = obj.get("result", obj.get("label"))
        if isinstance(value, str) and value.strip().casefold() in by_lower:
            return by_lower[value.strip().casefold()]
    best: tuple[int, int, str] | None = None
    for label in labels:
        m = re.search(rf"(?<!\w){re.escape(label)}(?!\w)", reply, re.IGNORECASE)
        if m and (best is None or (m.start(), -len(label)) < best[:2]):
            best = (m.start(), -len(label), label)
    return None if best is None else best[2]


# ---------------------------------------------------------------------------------------------------- scoring


@dataclass
class Tally:
    """Judge errors counted while :func:`counting` is active: replies with no number (or no label)."""

    errors: int = 0
    replies: int = 0
    graders: list[str] = field(default_factory=list)


_TALLY: contextvars.ContextVar[Tally | None] = contextvars.ContextVar("lab_judge_tally", default=None)


@contextlib.contextmanager
def counting() -> Iterator[Tally]:
    """Count the judge errors of every model grader that runs inside the block (a multi's parts included)."""
    tally = Tally()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def _text_of(content: Any) -> str:
    """A message's content as one template string: a string, a text part, or a list of text parts."""
    if isinstance(content, str):
        return content
    parts = [content] if isinstance(content, dict) else content
    return "\n".join(str(p.get("text", "")) for p in parts)


def _conversations(spec: dict, texts: list[str], items: list[dict], render_column: Callable) -> tuple[list, list]:
    """Each row's rendered messages (``None`` where a template has no value in that row) and the reasons."""
    columns = []
    for message in spec["input"]:
        values, reasons = render_column(_text_of(message["content"]), texts, items)
        role = "system" if message["role"] == "developer" else message["role"]
        columns.append((role, values, reasons))
    rows: list[list[dict] | None] = []
    whys: list[str] = []
    for i in range(len(texts)):
        missing = next((reasons[i] for _, values, reasons in columns if values[i] is None), None)
        rows.append(None if missing else [{"role": role, "content": values[i]} for role, values, _ in columns])
        whys.append(missing or "")
    return rows, whys


def _verdict(spec: dict, reply: str, judge: str) -> tuple[float, str, bool]:
    """(score, why, is a judge error) for one reply."""
    if spec["type"] == "label_model":
        labels, passing = spec["labels"], spec["passing_labels"]
        label = parse_label(reply, labels)
        if label is None:
            return 0.0, t("grading.judge.why.no_label", judge=judge, reply=_q(reply),
                          labels=", ".join(labels)), True  # fmt: skip
        score = 1.0 if label in passing else 0.0
        return score, t("grading.judge.why.label", judge=judge, reply=_q(reply), label=label,
                        passing=", ".join(passing), score=_f(score)), False  # fmt: skip
    lo, hi = (float(x) for x in spec.get("range", (0, 1)))
    value, _ = parse_score(reply)
    if value is None:
        return 0.0, t("grading.judge.why.no_number", judge=judge, reply=_q(reply)), True
    score = min(max(value, lo), hi)
    if score != value:
        why = t("grading.judge.why.clipped", judge=judge, reply=_q(reply), value=value, lo=lo, hi=hi,
                score=_f(score))  # fmt: skip
    else:
        why = t("grading.judge.why.score", judge=judge, reply=_q(reply), score=_f(score))
    threshold = spec.get("pass_threshold")
    if threshold is not None:
        key = "grading.judge.why.pass" if score >= threshold else "grading.judge.why.fail"
        why += t(key, threshold=threshold)
    return score, why, False


def run(spec: dict, texts: list[str], items: list[dict], render_column: Callable) -> tuple[Scores, list[str]]:
    """Score a batch with a validated ``score_model``/``label_model`` spec: (scores, one 'why' per row).

    ``render_column(template, texts, items) -> (values, reasons)`` fills the templates (the specs' renderer, so a
    model grader's templates work like every grader's). A row whose template has no value gets ``None``; every
    other row is judged, all in one batched call of the judge. Judge errors go to the active :func:`counting`
    tally."""
    kind, judge = spec["type"], _label(spec.get("model"))
    conversations, missing = _conversations(spec, texts, items, render_column)
    scores: Scores = [None] * len(texts)
    whys = [t("grading.why.no_score", kind=kind, reason=missing[i]) for i in range(len(texts))]
    ready = [i for i, c in enumerate(conversations) if c is not None]
    replies = _generate(spec.get("model"), [conversations[i] for i in ready], spec.get("sampling_params") or {})
    errors = 0
    for i, reply in zip(ready, replies, strict=True):
        scores[i], whys[i], error = _verdict(spec, reply, judge)
        errors += error
    tally = _TALLY.get()
    if tally is not None:
        tally.errors += errors
        tally.replies += len(ready)
        tally.graders.append(spec.get("name") or kind)
    return scores, whys


# ---------------------------------------------------------------------------------------------------- validation


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_model(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise LabError("grading.spec.not_string", path=path, type=type(value).__name__)
    name, stands_for = judge_name(value)
    if stands_for is None and name not in ("embedded", "tiny") and not Path(name).expanduser().is_dir():
        if name.count("/") != 1 or " " in name:
            raise LabError("grading.judge.bad_model", path=path, value=value)


def _check_template(text: Any, path: str, check: Callable | None) -> None:
    if not isinstance(text, str):
        raise LabError("grading.spec.not_string", path=path, type=type(text).__name__)
    if check is not None:
        check(text, path)


def _check_part(part: Any, path: str, check: Callable | None) -> None:
    if not isinstance(part, dict):
        raise LabError("grading.judge.bad_content", path=path)
    kind = part.get("type")
    if kind not in _TEXT_PARTS:
        raise LabError("grading.judge.content_not_text", path=_join(path, "type"), kind=kind,
                       allowed=", ".join(_TEXT_PARTS))  # fmt: skip
    for key in part:
        if key not in ("type", "text"):
            raise LabError("grading.judge.unknown_key", path=_join(path, key), known="type, text")
    _check_template(part.get("text"), _join(path, "text"), check)


def _check_input(value: Any, path: str, check: Callable | None) -> None:
    if not isinstance(value, list) or not value:
        raise LabError("grading.judge.bad_input", path=path)
    for i, message in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(message, dict):
            raise LabError("grading.judge.bad_message", path=where)
        for key in message:
            if key not in ("role", "content", "type"):
                raise LabError("grading.judge.unknown_key", path=_join(where, key), known="role, content, type")
        if message.get("type", "message") != "message":
            raise LabError("grading.spec.not_one_of", path=_join(where, "type"), value=message["type"],
                           choices="message")  # fmt: skip
        if "role" not in message:
            raise LabError("grading.judge.missing", path=_join(where, "role"))
        if message["role"] not in _ROLES:
            raise LabError("grading.spec.not_one_of", path=_join(where, "role"), value=message["role"],
                           choices=", ".join(_ROLES))  # fmt: skip
        if "content" not in message:
            raise LabError("grading.judge.missing", path=_join(where, "content"))
        content = message["content"]
        if isinstance(content, str):
            _check_template(content, _join(where, "content"), check)
        elif isinstance(content, dict):
            _check_part(content, _join(where, "content"), check)
        elif isinstance(content, list) and content:
            for j, part in enumerate(content):
                _check_part(part, f"{_join(where, 'content')}[{j}]", check)
        else:
            raise LabError("grading.judge.bad_content", path=_join(where, "content"))


def _check_sampling(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise LabError("grading.judge.bad_sampling", path=path, known=", ".join(_SAMPLING))
    for key, v in value.items():
        where = _join(path, key)
        if key not in _SAMPLING:
            raise LabError("grading.judge.unknown_key", path=where, known=", ".join(_SAMPLING))
        if v is None:
            continue
        if key == "temperature" and not (_is_number(v) and 0 <= v <= 2):
            raise LabError("grading.judge.not_in", path=where, value=v, lo=0, hi=2)
        if key == "top_p" and not (_is_number(v) and 0 < v <= 1):
            raise LabError("grading.judge.top_p", path=where, value=v)
        if key in ("max_completions_tokens", "seed") and not (isinstance(v, int) and not isinstance(v, bool)):
            raise LabError("grading.spec.not_count", path=where, value=v)
        if key == "max_completions_tokens" and not 1 <= v <= 4096:
            raise LabError("grading.judge.not_in", path=where, value=v, lo=1, hi=4096)
        if key == "reasoning_effort" and v not in _EFFORTS:
            raise LabError("grading.spec.not_one_of", path=where, value=v, choices=", ".join(_EFFORTS))


def _check_labels(spec: dict, path: str) -> None:
    labels, where = spec["labels"], _join(path, "labels")
    if not isinstance(labels, list) or not labels:
        raise LabError("grading.judge.bad_labels", path=where)
    seen: set[str] = set()
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip():
            raise LabError("grading.judge.bad_label", path=f"{where}[{i}]", value=label)
        if label.casefold() in seen:
            raise LabError("grading.judge.duplicate_label", path=f"{where}[{i}]", value=label)
        seen.add(label.casefold())
    passing, where = spec["passing_labels"], _join(path, "passing_labels")
    if not isinstance(passing, list) or not passing:
        raise LabError("grading.judge.bad_passing", path=where)
    for i, label in enumerate(passing):
        if label not in labels:
            raise LabError("grading.judge.passing_not_label", path=f"{where}[{i}]", value=label,
                           labels=", ".join(labels))  # fmt: skip


def _check_range(spec: dict, path: str) -> None:
    value, where = spec.get("range", [0, 1]), _join(path, "range")
    if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)):
        raise LabError("grading.judge.bad_range", path=where, value=value)
    if not value[0] < value[1]:
        raise LabError("grading.judge.empty_range", path=where, lo=value[0], hi=value[1])
    threshold = spec.get("pass_threshold")
    if threshold is not None and not (_is_number(threshold) and value[0] <= threshold <= value[1]):
        raise LabError("grading.judge.not_in", path=_join(path, "pass_threshold"), value=threshold, lo=value[0],
                       hi=value[1])  # fmt: skip


def validate(spec: dict, path: str = "", check_template: Callable | None = None) -> None:
    """Check the fields of a ``score_model``/``label_model`` spec (the generic checks — its type, unknown and missing
    fields — are :func:`lab.grading.specs.validate_spec`'s, which calls this); errors name the JSON path.
    ``check_template(text, path)`` checks each message's template (the specs pass theirs: ``{{item.x}}`` against the
    data's fields).

    >>> validate({"type": "label_model", "input": [{"role": "user", "content": "Is {{sample.output_text}} right?"}],
    ...           "labels": ["yes", "no"], "passing_labels": ["Yes"]})
    Traceback (most recent call last):
    ...
    lab.LabError: passing_labels[0]: 'Yes' is not one of the labels (yes, no).
    """
    if "model" in spec:
        _check_model(spec["model"], _join(path, "model"))
    _check_input(spec["input"], _join(path, "input"), check_template)
    if spec.get("sampling_params") is not None:
        _check_sampling(spec["sampling_params"], _join(path, "sampling_params"))
    if spec["type"] == "label_model":
        _check_labels(spec, path)
    else:
        _check_range(spec, path)
