"""Messages: the text of a prompt, a completion or a chat message, and message lists read from files.

The one home of what a message is in this lab, shared by task sets, feedback files, graders, reward models, the
chat and the UI:

- :data:`ROLES` — the roles a message may have (OpenAI's ``developer`` is read as ``system``);
- text: of a dataset or file value (:func:`value_text`), of a message's content (:func:`content_text`, Gradio's
  and OpenAI's lists of ``{"type": "text", "text": …}`` parts included), of a TRL completion
  (:func:`completion_text`) and of a prompt's user turn (:func:`prompt_text`);
- a prompt (a string or a message list) as messages (:func:`as_messages`) and as a key that identifies it
  (:func:`prompt_key`); a Gradio chat history as plain messages (:func:`chat_messages`);
- :func:`read_messages` — a message list written in a file, normalized, with a problem per bad message; the
  caller says where (file, line, field) and what the list must end with;
- the text limits (``MAX_*_CHARS``) and :func:`check_text`, the one check of a text field against its limit.

The problems are texts of :mod:`lab.texts`. Only the standard library is imported here: no torch, no datasets.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from lab.texts import t

__all__ = [
    "MAX_ANSWER_CHARS", "MAX_PROMPT_CHARS", "MAX_QUESTION_CHARS", "MAX_REFERENCE_CHARS", "ROLES", "as_messages",
    "chat_messages", "check_text", "completion_text", "content_text", "prompt_key", "prompt_text", "read_messages",
    "value_text",
]  # fmt: skip

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
"""Role written in a file (any case) → the role the lab uses."""

MAX_QUESTION_CHARS = 2000
"""Longest question of a task set (small models do best with short prompts)."""
MAX_REFERENCE_CHARS = 500
"""Longest reference answer of a task set (just the final answer; worked solutions go in another field)."""
MAX_PROMPT_CHARS = 4000
"""Longest feedback prompt, and longest system text of one."""
MAX_ANSWER_CHARS = 8000
"""Longest rated or compared answer in the feedback store."""

# ------------------------------------------------------------------------------------------------------------ text


def value_text(value: Any, *, json_scalars: bool = False) -> str:
    """A dataset or file value as text: ``None`` → ``""``, a string as it is, lists and dicts as JSON text.

    Other scalars are written as Python writes them (what a grader compares), or with ``json_scalars=True`` as
    JSON writes them (what a file said: ``true``, not ``True``).

    >>> value_text(4), value_text(None), value_text(["a", 1]), value_text(True), value_text(True, json_scalars=True)
    ('4', '', '["a", 1]', 'True', 'true')
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if json_scalars or isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def content_text(content: Any, sep: str = "\n") -> str:
    """The text of a message's content: a string, or the non-empty text parts of a part list joined by ``sep``.

    Parts are strings or ``{"type": "text", "text": …}`` dicts (Gradio's chatbot, OpenAI); parts without text (an
    image, a file) add nothing.

    >>> content_text([{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]), content_text(None)
    ('Hi\\nthere', '')
    >>> content_text([{"type": "text", "text": "Pa"}, "ris"], sep="")
    'Paris'
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, list | tuple):
        return sep.join(text for text in (content_text(c, sep) for c in content) if text)
    return str(content)


def completion_text(c: Any) -> str:
    """The text of one TRL completion: a plain string, or the assistant content of a conversational one.

    >>> completion_text("Paris")
    'Paris'
    >>> completion_text([{"role": "assistant", "content": "Paris"}])
    'Paris'
    """
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if isinstance(c, dict):
        return content_text(c.get("content"), sep="")
    if isinstance(c, list | tuple):
        messages = [m for m in c if isinstance(m, dict)]
        chosen = [m for m in messages if m.get("role") == "assistant"] or messages
        return "".join(content_text(m.get("content"), sep="") for m in chosen)
    return str(c)


def prompt_text(prompt: str | list[dict]) -> str:
    """The user's words of a prompt: the string itself, or the content of its last message.

    >>> prompt_text("Hi?"), prompt_text([{"role": "system", "content": "Brief."}, {"role": "user", "content": "Hi?"}])
    ('Hi?', 'Hi?')
    """
    return prompt if isinstance(prompt, str) else prompt[-1]["content"]


# -------------------------------------------------------------------------------------------------------- messages


def as_messages(prompt: str | list[dict]) -> list[dict]:
    """A prompt as chat messages: a plain string becomes one user turn; a message list is returned as a copy.

    >>> as_messages("Hi?")
    [{'role': 'user', 'content': 'Hi?'}]
    """
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def prompt_key(prompt: str | list[dict]) -> str:
    """A key that is equal for equal prompts: the string itself, or the message list as sorted-key JSON.

    >>> prompt_key("Hi?"), prompt_key([{"content": "Hi?", "role": "user"}])
    ('Hi?', '[{"content": "Hi?", "role": "user"}]')
    """
    return prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False, sort_keys=True)


def chat_messages(history: str | Sequence[Any]) -> list[dict[str, str]]:
    """A prompt or a chat history as plain ``{"role", "content"}`` messages.

    Accepts a string (one user turn), ``{"role", "content"}`` dicts whose content is text or Gradio's list of
    ``{"type": "text", "text": …}`` parts, and ``(user, assistant)`` tuples. A message without text (``None``, only
    an image) is left out.

    >>> chat_messages("Hi")
    [{'role': 'user', 'content': 'Hi'}]
    >>> chat_messages([{"role": "user", "content": [{"type": "text", "text": "Hi"}]}, ("Again?", None)])
    [{'role': 'user', 'content': 'Hi'}, {'role': 'user', 'content': 'Again?'}]
    """
    if isinstance(history, str):
        return [{"role": "user", "content": history}]
    out = []
    for item in history:
        if isinstance(item, list | tuple):
            pairs = [("user", item[0]), ("assistant", item[1] if len(item) > 1 else None)]
        else:
            pairs = [(item.get("role", "user"), item.get("content"))]
        for role, content in pairs:
            text = content_text(content)
            if text or isinstance(content, str):
                out.append({"role": role, "content": text})
    return out


def read_messages(value: list[Any]) -> tuple[list[dict[str, str]], list[str]]:
    """A message list written in a file (OpenAI or TRL style) → ``(messages, problems)``, one problem per bad message.

    Each message needs ``role`` (see :data:`ROLES`, any case) and ``content``: text, or a list of text parts
    (joined); other values become text as JSON writes them. Bad messages are left out of ``messages``; the caller
    adds where they are, and decides what an empty list or the last role means.

    >>> read_messages([{"role": "Developer", "content": "Brief."}, {"role": "user", "content": [{"text": "Hi"}]}])
    ([{'role': 'system', 'content': 'Brief.'}, {'role': 'user', 'content': 'Hi'}], [])
    >>> messages, problems = read_messages([{"role": "bot", "content": "Hi"}, "Hi"])
    >>> messages, problems[0]
    ([], "message 1 has role 'bot'; use system, developer, user or assistant")
    """
    out: list[dict[str, str]] = []
    problems: list[str] = []
    for i, message in enumerate(value, start=1):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            problems.append(t("messages.not_an_object", i=i))
            continue
        role = ROLES.get(str(message["role"]).lower())
        if role is None:
            roles = t("messages.roles", roles=", ".join(list(ROLES)[:-1]), last=list(ROLES)[-1])
            problems.append(t("messages.bad_role", i=i, role=message["role"], roles=roles))
            continue
        content = message["content"]
        if isinstance(content, list):  # OpenAI content parts: [{"type": "text", "text": "…"}]
            texts = [p.get("text") for p in content if isinstance(p, dict)]
            if len(texts) != len(content) or not all(isinstance(text, str) for text in texts):
                problems.append(t("messages.not_text_content", i=i))
                continue
            content = "".join(texts)
        out.append({"role": role, "content": value_text(content, json_scalars=True)})
    return out, problems


# ---------------------------------------------------------------------------------------------------------- limits


def check_text(what: str, value: Any, limit: int) -> str | None:
    """The problem with one text field (``None`` if fine): it must be a non-empty string of at most ``limit``.

    ``what`` names the field in the message (a text of :mod:`lab.texts`, or a field's own name).

    >>> check_text("prompt", "Hi?", MAX_PROMPT_CHARS) is None, check_text("prompt", " ", MAX_PROMPT_CHARS)
    (True, 'the prompt is empty. Write it, or leave the row out')
    """
    if not isinstance(value, str):
        return t("messages.not_text", what=what, type=type(value).__name__)
    if not value.strip():
        return t("messages.empty", what=what)
    if len(value) > limit:
        return t("messages.too_long", what=what, length=len(value), limit=limit)
    return None
