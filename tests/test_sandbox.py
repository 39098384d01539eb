"""The python-grader sandbox: off by default, scores good graders, and hostile graders score None without harm."""

from __future__ import annotations

import time

import pytest

from lab import LabError
from lab.grading.sandbox import check_source, run_python_grader, run_python_grader_with_errors

SAMPLES = [{"output_text": "Paris"}, {"output_text": "Lyon"}]
ITEMS = [{"answer": "Paris"}, {"answer": "Paris"}]
# A classic escape route past restricted imports: reach the os module through object's subclasses.
OS_GLOBALS = (
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__"
)


@pytest.fixture
def enabled(monkeypatch):
    monkeypatch.setenv("LAB_PYTHON_GRADER", "1")


def run(body: str, timeout: float = 5.0, items: list[dict] | None = None) -> tuple[list, list]:
    """Run ``def grade(sample, item):`` with ``body`` (indented) on the two samples; return (scores, errors)."""
    source = "def grade(sample, item):\n" + "".join(f"    {line}\n" for line in body.splitlines())
    return run_python_grader_with_errors(source, SAMPLES, items or ITEMS, timeout=timeout)


def test_off_unless_the_environment_opts_in(monkeypatch):
    monkeypatch.delenv("LAB_PYTHON_GRADER", raising=False)
    with pytest.raises(LabError, match="python graders are off; set LAB_PYTHON_GRADER=1"):
        run_python_grader("def grade(sample, item):\n    return 1.0\n", SAMPLES, ITEMS)


def test_a_good_grader_scores_every_sample_in_one_process(enabled):
    source = (
        "import math, re, json, statistics, difflib\n"
        "from collections import Counter\n"
        "def grade(sample, item):\n"
        "    same = sample['output_text'].strip().lower() == item['answer'].lower()\n"
        "    return 1.0 if same else round(difflib.SequenceMatcher(None, sample['output_text'], 'Lyons').ratio(), 3)\n"
    )
    assert run_python_grader(source, SAMPLES, ITEMS) == [1.0, 0.889]
    assert run_python_grader(source, [], []) == []


def test_bad_results_score_none_with_the_reason(enabled):
    assert run("return float('nan')")[0] == [None, None]
    scores, errors = run("return 'yes'")
    assert scores == [None, None] and "expected a number" in errors[0]
    scores, errors = run("x = 1\nraise ValueError('boom')")
    assert scores == [None, None] and errors[0] == "line 3: ValueError: boom"
    assert run("raise SystemExit(0)")[0] == [None, None]
    assert run("return True")[0] == [1.0, 1.0]
    scores, errors = run_python_grader_with_errors("x = 1 / 0\ndef grade(s, i):\n    return 1.0\n", SAMPLES, ITEMS)
    assert scores == [None, None] and "loading the grader failed: line 1: ZeroDivisionError" in errors[0]


def test_syntax_errors_and_missing_grade_raise_before_running(enabled):
    with pytest.raises(LabError, match="line 2"):
        run_python_grader("def grade(sample, item):\n    return (\n", SAMPLES, ITEMS)
    with pytest.raises(LabError, match=r"must define grade\(sample, item\)"):
        check_source("def score(sample, item):\n    return 1.0\n")


def test_infinite_loop_times_out_and_kills_the_process(enabled):
    start = time.monotonic()
    scores, errors = run("while True:\n    pass", timeout=1.0)
    assert time.monotonic() - start < 4
    assert scores == [None, None] and "timed out after 1 s" in errors[0]


def test_reading_files_is_blocked(enabled):
    scores, errors = run("return len(open('/etc/passwd').read())")
    assert scores == [None, None] and "open" in errors[0]
    scores, errors = run(f"g = {OS_GLOBALS}\nreturn g['open']('/etc/passwd', 0)")
    assert scores == [None, None] and "open is blocked" in errors[0]


def test_environment_secrets_are_not_visible(enabled, monkeypatch):
    monkeypatch.setenv("LAB_TEST_SECRET", "hunter2")
    scores, _ = run(f"g = {OS_GLOBALS}\nreturn 1.0 if 'hunter2' in str(dict(g['environ'])) else 0.0")
    assert scores == [0.0, 0.0]  # the child's environment is empty
    scores, errors = run("import os\nreturn 1.0 if 'hunter2' in str(os.environ) else 0.0")
    assert scores == [None, None] and "import of 'os' is not allowed" in errors[0]


def test_writing_files_is_blocked(enabled, tmp_path):
    target = tmp_path / "pwned.txt"
    items = [{"answer": "Paris", "path": str(target)}] * 2
    assert run("open(item['path'], 'w').write('x')\nreturn 1.0", items=items)[0] == [None, None]
    scores, errors = run(
        f"g = {OS_GLOBALS}\ng['open'](item['path'], g['O_WRONLY'] | g['O_CREAT'])\nreturn 1.0", items=items
    )
    assert scores == [None, None] and "open is blocked" in errors[0]
    assert not target.exists()


def test_sockets_are_blocked(enabled):
    scores, errors = run("import socket\ns = socket.create_connection(('127.0.0.1', 22), timeout=1)\nreturn 1.0")
    assert scores == [None, None] and "import of 'socket' is not allowed" in errors[0]
    scores, errors = run(f"g = {OS_GLOBALS}\nreturn g['__builtins__']['__import__']('socket')")
    assert scores == [None, None] and "import of socket is blocked" in errors[0]


def test_processes_cannot_be_started(enabled, tmp_path):
    target = tmp_path / "ran.txt"
    items = [{"answer": "Paris", "path": str(target)}] * 2
    for body, event in [
        (f"return {OS_GLOBALS}['system']('touch ' + item['path'])", "os.system is blocked"),
        (f"return {OS_GLOBALS}['fork']()", "os.fork is blocked"),
        (f"return {OS_GLOBALS}['execv']('/bin/touch', ['touch', item['path']])", "os.exec is blocked"),
        ("import subprocess\nreturn subprocess.run(['touch', item['path']]).returncode", "not allowed"),
    ]:
        scores, errors = run(body, items=items)
        assert scores == [None, None] and event in errors[0], (body, errors)
    assert not target.exists()


def test_memory_bomb_and_huge_output_are_contained(enabled):
    scores, errors = run("x = bytearray(10 ** 10)\nreturn 1.0")
    assert scores == [None, None] and "MemoryError" in errors[0]
    start = time.monotonic()
    assert run("for _ in range(300):\n    print('x' * 10 ** 6)\nreturn 1.0")[0] == [1.0, 1.0]  # print goes nowhere
    scores, errors = run(f"w = {OS_GLOBALS}['write']\nwhile True:\n    w(1, b'x' * 65536)")  # straight to stdout
    assert scores == [None, None] and "more than" in errors[0]
    assert time.monotonic() - start < 10


def test_frame_introspection_and_hard_exit(enabled):
    scores, errors = run("try:\n    1 / 0\nexcept Exception as e:\n    return e.__traceback__.tb_frame.f_back")
    assert scores == [None, None] and "object.__getattr__ is blocked" in errors[0]
    scores, errors = run(f"{OS_GLOBALS}['_exit'](3)")
    assert scores == [None, None] and "exited with code 3" in errors[0]
