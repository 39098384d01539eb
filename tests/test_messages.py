"""Tests for ``lab.messages``: the text of values, message contents, completions and prompts; message lists read
from files (one role table, one problem per bad message); the text limits. Pure functions, no model."""

from __future__ import annotations

import json

import pytest

from lab import LabError, messages
from lab.data import load_tasks
from lab.feedback import FeedbackStore
from lab.messages import (
    ROLES,
    as_messages,
    chat_messages,
    check_text,
    completion_text,
    content_text,
    prompt_key,
    prompt_text,
    read_messages,
    value_text,
)


def test_value_text_python_or_json_scalars():
    assert value_text(None) == "" and value_text(None, json_scalars=True) == ""
    assert value_text("x") == "x" and value_text(4) == "4" and value_text(2.5) == "2.5"
    assert value_text(False) == "False" and value_text(False, json_scalars=True) == "false"
    assert value_text({"城市": "北京"}) == '{"城市": "北京"}'  # JSON text, non-ASCII kept
    assert value_text([1, None], json_scalars=True) == "[1, null]"


def test_content_text_joins_text_parts_and_skips_the_rest():
    parts = [{"type": "text", "text": "Hi"}, {"type": "image", "url": "x.png"}, "there", {"type": "text", "text": ""}]
    assert content_text(parts) == "Hi\nthere"
    assert content_text(parts, sep="") == "Hithere"
    assert content_text({"type": "text", "text": "one"}) == "one"
    assert content_text([]) == "" and content_text(None) == "" and content_text(7) == "7"


def test_completion_text_reads_the_assistant_turns():
    conversation = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": [{"text": "A"}, "nswer"]}]
    assert completion_text(conversation) == "Answer"
    assert completion_text([{"role": "user", "content": "only"}]) == "only"  # no assistant turn: every turn
    assert completion_text({"role": "assistant", "content": "x"}) == "x"
    assert completion_text(None) == "" and completion_text(3) == "3"


def test_prompts_as_messages_text_and_key():
    conversation = [{"role": "system", "content": "Brief."}, {"role": "user", "content": "Hi?"}]
    copied = as_messages(conversation)
    assert copied == conversation and copied is not conversation
    assert as_messages("Hi?") == [{"role": "user", "content": "Hi?"}]
    assert prompt_text(conversation) == prompt_text("Hi?") == "Hi?"
    reordered = [{"content": m["content"], "role": m["role"]} for m in conversation]
    assert prompt_key(reordered) == prompt_key(conversation) != prompt_key("Hi?")
    assert json.loads(prompt_key(conversation)) == conversation


def test_chat_messages_from_gradio_and_tuples():
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "file", "file": {"path": "a.png"}}]},
        {"role": "assistant", "content": [{"type": "file", "file": {"path": "b.png"}}]},  # no text: left out
        ("Again?", None),
        {"content": ""},  # an empty string is still a turn; the role defaults to user
    ]
    assert chat_messages(history) == [
        {"role": "user", "content": "Hi"},
        {"role": "user", "content": "Again?"},
        {"role": "user", "content": ""},
    ]
    assert chat_messages("Hello") == [{"role": "user", "content": "Hello"}]


def test_read_messages_normalizes_roles_and_content():
    value = [
        {"role": "DEVELOPER", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "2+"}, {"type": "text", "text": "2?"}]},
        {"role": "assistant", "content": 4},
        {"role": "user", "content": None},
    ]
    assert read_messages(value) == (
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": ""},
        ],
        [],
    )
    assert set(ROLES.values()) == {"system", "user", "assistant"}


def test_read_messages_one_problem_per_bad_message():
    value = [
        {"role": "user"},
        {"role": "bot", "content": "Hi"},
        {"role": "user", "content": [{"type": "image_url", "image_url": "x"}]},
        {"role": "user", "content": "fine"},
    ]
    good, problems = read_messages(value)
    assert good == [{"role": "user", "content": "fine"}]
    assert problems == [
        "message 1 must be an object with 'role' and 'content'",
        "message 2 has role 'bot'; use system, developer, user or assistant",
        "message 3: only text content is supported",
    ]
    assert read_messages([]) == ([], [])


def test_task_and_feedback_files_share_the_message_rules(tmp_path):
    bad = [{"role": "user", "content": "Hi?"}, {"role": "robot", "content": "Hello"}]
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"messages": bad, "reference_answer": "x"}) + "\n", encoding="utf-8")
    feedback = tmp_path / "feedback.jsonl"
    feedback.write_text(json.dumps({"prompt": bad, "completion": "Hello", "label": True}) + "\n", encoding="utf-8")
    problem = "message 2 has role 'robot'; use system, developer, user or assistant"
    for read in (lambda: load_tasks(tasks), lambda: FeedbackStore(tmp_path / "f.sqlite").import_file(feedback)):
        with pytest.raises(LabError, match="line 1") as info:
            read()
        assert problem in str(info.value)


def test_check_text_and_limits():
    assert check_text("prompt", "Hi?", 10) is None
    assert check_text("prompt", 3, 10) == "the prompt must be text, got int"
    assert check_text("prompt", " \n", 10) == "the prompt is empty. Write it, or leave the row out"
    assert check_text("answer", "x" * 1001, 1000) == "the answer is 1,001 characters; the limit is 1,000. Shorten it"
    assert messages.MAX_QUESTION_CHARS < messages.MAX_PROMPT_CHARS < messages.MAX_ANSWER_CHARS
    assert 0 < messages.MAX_REFERENCE_CHARS < messages.MAX_QUESTION_CHARS
