"""The python-grader sandbox: off by default, scores good graders (with OpenAI's packages), and hostile graders
score None without harm — through Python, through numpy/pandas/pickle, and through ctypes straight to the kernel."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from lab import LabError
from lab.grading import sandbox
from lab.grading.sandbox import check_source, run_python_grader, run_python_grader_with_errors

SAMPLES = [{"output_text": "Paris"}, {"output_text": "Lyon"}]
ITEMS = [{"answer": "Paris"}, {"answer": "Paris"}]
# A classic escape route past restricted imports: reach the os module through object's subclasses.
OS_GLOBALS = (
    "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0].__init__.__globals__"
)


@pytest.fixture
def enabled(python_graders):
    """Python graders on, on a machine whose kernel holds the sandbox (conftest.py)."""


def run(body: str, timeout: float = 5.0, items: list[dict] | None = None) -> tuple[list, list]:
    """Run ``def grade(sample, item):`` with ``body`` (indented) on the two samples; return (scores, errors)."""
    source = "def grade(sample, item):\n" + "".join(f"    {line}\n" for line in body.splitlines())
    return run_python_grader_with_errors(source, SAMPLES, items or ITEMS, timeout=timeout)


def test_off_unless_the_environment_or_the_teacher_opts_in(monkeypatch, fresh_home):
    monkeypatch.delenv("LAB_PYTHON_GRADER", raising=False)
    with pytest.raises(LabError, match="python graders are off; set LAB_PYTHON_GRADER=1"):
        run_python_grader("def grade(sample, item):\n    return 1.0\n", SAMPLES, ITEMS)
    assert sandbox.set_switch(True, by="local")["enabled"] and sandbox.python_graders_enabled()
    assert run_python_grader("def grade(sample, item):\n    return 1.0\n", SAMPLES, ITEMS) == [1.0, 1.0]
    sandbox.set_switch(False, by="local")
    assert not sandbox.python_graders_enabled()


def test_fails_closed_where_the_kernel_sandbox_cannot_be_set_up(enabled, monkeypatch):
    """Any step of the child's set-up that fails (here Landlock, given a folder that does not exist) turns python
    graders off with the reason; nothing is graded unconfined."""
    monkeypatch.setattr(sandbox, "read_paths", lambda: ["/nonexistent-lab-folder"])
    sandbox.isolation.cache_clear()
    try:
        found = sandbox.isolation()
        assert not found.ok and "FileNotFoundError" in found.reason and "stay off" in found.reason
        with pytest.raises(LabError, match="cannot be isolated on this machine"):
            run_python_grader("def grade(sample, item):\n    return 1.0\n", SAMPLES, ITEMS)
    finally:
        sandbox.isolation.cache_clear()


def test_openai_packages_are_importable_in_a_grader(enabled):
    """The documented packages of OpenAI's grader image that are installed here (all but the optional heavy ones)."""
    wanted = [name for name, ok in sandbox.available_packages().items() if ok]
    assert {"numpy", "scipy", "pandas", "rapidfuzz", "sklearn", "rouge_score", "deepdiff", "sqlparse"} <= set(wanted)
    source = "import " + ", ".join(wanted) + "\ndef grade(sample, item):\n    return 1.0\n"
    assert run_python_grader_with_errors(source, SAMPLES, ITEMS, timeout=60) == ([1.0, 1.0], [None, None])
    source = (
        "import numpy as np\nfrom rapidfuzz import fuzz\nfrom rouge_score import rouge_scorer\n"
        "def grade(sample, item):\n"
        "    scorer = rouge_scorer.RougeScorer(['rougeL'])\n"
        "    r = scorer.score(item['answer'], sample['output_text'])['rougeL'].fmeasure\n"
        "    return float(np.mean([fuzz.ratio(sample['output_text'], item['answer']) / 100, r]))\n"
    )
    assert run_python_grader(source, SAMPLES, ITEMS, timeout=30) == [1.0, 0.0]


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


def test_reading_files_is_blocked_by_the_kernel(enabled, tmp_path):
    secret = tmp_path / "ratings.db"
    secret.write_text("hunter2")
    items = [{"answer": "Paris", "path": str(secret)}] * 2
    for body in [
        "return len(open('/etc/passwd').read())",
        "return len(open(item['path']).read())",
        f"g = {OS_GLOBALS}\nreturn g['open'](item['path'], 0)",
        "import numpy\nreturn float(len(numpy.fromfile(item['path'], dtype='uint8')))",
        "import pandas\nreturn float(len(pandas.read_csv(item['path'])))",
        "import pathlib\nreturn float(len(list(pathlib.Path('/root').iterdir())))",
    ]:
        scores, errors = run(body, items=items)
        assert scores == [None, None] and "Permission denied" in errors[0], (body, errors)
    scores, _ = run(  # libc's open(2) through ctypes: no Python code on the way, the kernel still says no
        "import ctypes\nreturn float(ctypes.CDLL(None).open(item['path'].encode(), 0))", items=items
    )
    assert scores == [-1.0, -1.0]


def test_environment_secrets_are_not_visible(enabled, monkeypatch):
    monkeypatch.setenv("LAB_TEST_SECRET", "hunter2")
    scores, _ = run(f"g = {OS_GLOBALS}\nreturn 1.0 if 'hunter2' in str(dict(g['environ'])) else 0.0")
    assert scores == [0.0, 0.0]  # the child's environment is empty
    assert run("import os\nreturn 1.0 if 'hunter2' in str(os.environ) else 0.0")[0] == [0.0, 0.0]
    scores, errors = run("return len(open('/proc/self/environ').read()) + len(open('/proc/1/environ').read())")
    assert scores == [None, None] and "Permission denied" in errors[0]


def test_writing_files_is_blocked_outside_the_graders_own_folder(enabled, tmp_path):
    target = tmp_path / "pwned.txt"
    items = [{"answer": "Paris", "path": str(target)}] * 2
    for body in [
        "open(item['path'], 'w').write('x')\nreturn 1.0",
        f"g = {OS_GLOBALS}\ng['open'](item['path'], g['O_WRONLY'] | g['O_CREAT'])\nreturn 1.0",
        "import numpy\nnumpy.save(item['path'], numpy.zeros(3))\nreturn 1.0",
        "import pandas\npandas.DataFrame({'a': [1]}).to_csv(item['path'])\nreturn 1.0",
    ]:
        scores, errors = run(body, items=items)
        assert scores == [None, None], (body, errors)
    keep = tmp_path / "ratings.db"
    keep.write_text("the class's ratings")
    for body in [
        "import os\nos.truncate(item['keep'], 0)\nreturn 1.0",
        "open(item['keep'], 'r+').write('x')\nreturn 1.0",
        "import os\nos.remove(item['keep'])\nreturn 1.0",
        "import os\nos.rename(item['keep'], item['keep'] + '.x')\nreturn 1.0",
    ]:
        scores, errors = run(body, items=[{"answer": "Paris", "keep": str(keep)}] * 2)
        assert scores == [None, None] and ("not permitted" in errors[0] or "denied" in errors[0]), (body, errors)
    assert keep.read_text() == "the class's ratings"
    scores, _ = run(
        "import ctypes\nreturn float(ctypes.CDLL(None).open(item['path'].encode(), 0o101, 0o644))", items=items
    )  # O_WRONLY | O_CREAT through libc
    assert scores == [-1.0, -1.0]
    assert not target.exists()
    # its own temporary folder is its scratch space (OpenAI's graders get a disk too), gone after the batch
    assert run(
        "import numpy\nnumpy.save('scratch.npy', numpy.arange(3))\nreturn float(numpy.load('scratch.npy').sum())"
    )[0] == [3.0, 3.0]


def test_a_pickle_payload_cannot_run_a_command(enabled, tmp_path):
    target = tmp_path / "ran.txt"
    payload = f"cos\nsystem\n(S'touch {target}'\ntR."
    scores, errors = run(f"import pickle\nreturn float(pickle.loads({payload.encode()!r}))")
    assert scores == [None, None] and "os.system is not allowed" in errors[0]
    assert not target.exists()


@pytest.fixture
def listener():
    """A TCP server on loopback that records whether anything connected."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    hits: list = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                hits.append(server.accept())
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


def test_no_network_through_python_libraries_or_ctypes(enabled, listener):
    port, hits = listener
    items = [{"answer": "Paris", "port": port}] * 2
    for body in [
        "import socket\ns = socket.create_connection(('127.0.0.1', item['port']), timeout=1)\nreturn 1.0",
        "import urllib.request\nurllib.request.urlopen(f'http://127.0.0.1:{item[\"port\"]}/', timeout=1)\nreturn 1.0",
        f"g = {OS_GLOBALS}\nreturn g['__builtins__']['__import__']('socket').socket()",
    ]:
        scores, errors = run(body, items=items)
        assert scores == [None, None], (body, errors)
    scores, _ = run("import ctypes, os\nnr = {'aarch64': 198}.get(os.uname().machine, 41)\n"
                    "return float(ctypes.CDLL(None).syscall(nr, 2, 1, 0))", items=items)  # fmt: skip
    assert scores == [-1.0, -1.0]  # socket(2) refused by seccomp
    time.sleep(0.3)
    assert hits == []


def test_processes_cannot_be_started(enabled, tmp_path):
    target = tmp_path / "ran.txt"
    items = [{"answer": "Paris", "path": str(target)}] * 2
    for body in [
        f"return {OS_GLOBALS}['system']('touch ' + item['path'])",
        f"return {OS_GLOBALS}['fork']()",
        f"return {OS_GLOBALS}['execv']('/bin/touch', ['touch', item['path']])",
        "import subprocess\nreturn subprocess.run(['touch', item['path']]).returncode",
        "import os\nreturn float(os.posix_spawn('/bin/touch', ['touch', item['path']], {}))",
        "import multiprocessing\nwith multiprocessing.Pool(2) as p:\n    return float(sum(p.map(abs, [1, 2])))",
        "from concurrent.futures import ProcessPoolExecutor as P\nreturn float(P(1).submit(abs, 1).result())",
    ]:
        scores, errors = run(body, items=items)
        assert scores == [None, None], (body, errors)
    # a fork bomb from C: every fork(2) and clone(2) for a new process is refused, so it ends at once
    scores, _ = run("import ctypes\nlibc = ctypes.CDLL(None)\nfails = 0\nfor _ in range(1000):\n"
                    "    fails += libc.fork() < 0\nreturn float(fails)", items=items)  # fmt: skip
    assert scores == [1000.0, 1000.0]
    scores, _ = run("import ctypes\nreturn float(ctypes.CDLL(None).execv(b'/bin/touch', None))", items=items)
    assert scores == [-1.0, -1.0]
    # threads are fine (numpy, scipy and sklearn use them)
    assert run("import threading\nt = threading.Thread(target=print)\nt.start()\nt.join()\nreturn 1.0")[0] == [
        1.0,
        1.0,
    ]
    assert not target.exists()


def test_other_processes_are_out_of_reach(enabled):
    import os

    me = os.getpid()
    items = [{"answer": "Paris", "pid": me}] * 2
    scores, errors = run("import os\nos.kill(item['pid'], 0)\nreturn 1.0", items=items)
    assert scores == [None, None] and "os.kill is not allowed" in errors[0]
    scores, _ = run("import ctypes\nreturn float(ctypes.CDLL(None).kill(item['pid'], 0))", items=items)
    assert scores == [-1.0, -1.0]  # kill(2) through libc, refused by seccomp
    scores, _ = run("import ctypes\nreturn float(ctypes.CDLL(None).ptrace(16, item['pid'], 0, 0))", items=items)
    assert scores == [-1.0, -1.0]  # PTRACE_ATTACH


def test_memory_bomb_and_huge_output_are_contained(enabled):
    scores, errors = run("x = bytearray(10 ** 10)\nreturn 1.0")
    assert scores == [None, None] and "MemoryError" in errors[0]
    scores, errors = run("import numpy\nx = numpy.ones(10 ** 10)\nreturn 1.0")
    assert scores == [None, None] and "MemoryError" in errors[0]
    # from C: malloc returns NULL past the address-space limit instead of taking the machine's memory
    scores, _ = run("import ctypes\nlibc = ctypes.CDLL(None)\nlibc.malloc.restype = ctypes.c_void_p\n"
                    "libc.malloc.argtypes = [ctypes.c_size_t]\n"
                    "return 1.0 if libc.malloc(10 ** 10) is None else 0.0")  # fmt: skip
    assert scores == [1.0, 1.0]
    start = time.monotonic()
    assert run("for _ in range(300):\n    print('x' * 10 ** 6)\nreturn 1.0")[0] == [1.0, 1.0]  # print goes nowhere
    scores, errors = run(f"w = {OS_GLOBALS}['write']\nwhile True:\n    w(1, b'x' * 65536)")  # straight to stdout
    assert scores == [None, None] and "more than" in errors[0]
    assert time.monotonic() - start < 10


def test_limits_follow_openai(enabled):
    with pytest.raises(LabError, match="256 kB"):
        check_source("def grade(sample, item):\n    return 1.0\n" + "#" * (256 * 1024))
    with pytest.raises(LabError, match="at most 120 s"):
        run("return 1.0", timeout=121)


def test_hard_exit_is_reported(enabled):
    scores, errors = run(f"{OS_GLOBALS}['_exit'](3)")
    assert scores == [None, None] and "exited with code 3" in errors[0]
