"""Run a user's Python grader (``def grade(sample, item) -> float``) in a locked-down child process.

Python graders are **off** unless the environment sets ``LAB_PYTHON_GRADER=1``: a grader is code, and whoever can
type into the grader box can run it on this machine.

How one batch is graded: the parent checks the source compiles and defines ``grade``, then starts ONE child
(``python -I -S -c <bootstrap>``) for the whole batch and sends ``{source, samples, items}`` as JSON on stdin. The
child, before it runs any user code:

1. imports the allowed standard-library modules (:data:`ALLOWED_MODULES`: math, re, json, statistics, difflib, …);
2. lowers its resource limits: CPU seconds, 512 MB of address space (memory bombs raise ``MemoryError``), no file
   writes (``RLIMIT_FSIZE`` 0), 16 file descriptors, no core dumps, no new processes (``RLIMIT_NPROC`` 0);
3. gives the user code its own builtins without ``open``/``input``/``breakpoint`` and with an ``__import__`` that
   only accepts the allowed modules;
4. installs a ``sys.addaudithook`` hook that can never be removed and that refuses every audited event except
   ``exec``/``compile``/``builtins.id`` and imports of allowed modules. So ``open`` (any file, read or write),
   ``os.*`` file and process events (``os.system``, ``os.fork``, ``os.exec``, ``os.posix_spawn``, ``os.listdir``,
   ``os.kill``, …), ``subprocess.Popen``, ``socket.*``, ``ctypes.*``, ``sys._getframe``, ``gc.get_objects``,
   ``code.__new__``, ``marshal.loads``, frame attributes (``object.__getattr__``) and the rest all raise
   ``PermissionError`` inside the grader, which then scores ``None`` for that sample.

The child runs with an empty environment (no tokens or secrets to read), in a fresh empty temporary folder, in
its own process group. The parent writes stdin from a thread, reads at most a fixed number of bytes of output,
and kills the whole process group at the wall-clock timeout or when the output cap is hit. Results stream back one
JSON line per sample, so the samples graded before a timeout keep their scores; the rest score ``None`` with the
reason. A result that is not a finite number (``NaN``, a string, an exception, ``sys.exit``) scores ``None``. A
syntax error raises :class:`~lab.LabError` with the line number before any process starts. The parent's messages
are keys of :mod:`lab.texts`; the child's own (a blocked import or event, a bad return value) stay English, since
the child imports nothing of the lab.

When ``unshare`` can create a network namespace here (probed once: ``unshare -rn true``, then ``unshare -n true``),
the child also runs in a new network namespace with no interfaces but loopback, so even code that got past the
hook could not reach the network. (With ``-r`` it is also a new user namespace, where the kernel enforces
``RLIMIT_NPROC`` even for root and the hard limits cannot be raised again.) Without ``unshare`` the audit hook
alone blocks sockets.

What this does NOT protect against: audit hooks are a CPython debugging/monitoring feature, not a security
boundary. A bug in CPython or in an allowed C module that corrupts memory (crafted objects, deep recursion that
overflows the C stack, …) can run arbitrary code that no hook sees; such code still has the resource limits, the
empty environment and (with ``unshare``) no network, but it can read any file the lab's user can read. The child
can use a full CPU core until the timeout. Limits are set by the child itself right after start-up (not in a
``preexec_fn``, which can deadlock when the parent has threads, as the Gradio app does). For a public deployment
where strangers write graders, keep ``LAB_PYTHON_GRADER`` off or run the lab in a disposable container or VM.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from lab import LabError
from lab.texts import t

__all__ = [
    "ALLOWED_MODULES",
    "check_source",
    "ensure_enabled",
    "python_graders_enabled",
    "run_python_grader",
    "run_python_grader_with_errors",
]

#: Standard-library modules a grader may import (and their submodules).
ALLOWED_MODULES: tuple[str, ...] = (
    "math", "re", "json", "string", "statistics", "difflib", "unicodedata", "fractions", "decimal",
    "itertools", "collections", "functools", "operator", "heapq", "bisect", "textwrap", "datetime",
)  # fmt: skip

MEMORY_LIMIT_BYTES = 512 * 1024 * 1024
MAX_SOURCE_CHARS = 100_000
_MAX_ERROR_CHARS = 300
_ENV_FLAG = "LAB_PYTHON_GRADER"

# The child's program. It runs with -I -S (no site-packages, no PYTHON* variables) and an empty environment.
_BOOTSTRAP = r"""
import sys, os, json, math, resource, builtins
ALLOWED = frozenset(%(allowed)r)
for _name in sorted(ALLOWED):
    __import__(_name)
_payload = json.loads(sys.stdin.buffer.read().decode("utf-8"))
_out = sys.stdout.buffer
_exit = os._exit

class _Sink:
    def write(self, s): return len(s)
    def flush(self): pass
    def isatty(self): return False
sys.stdout = sys.stderr = _Sink()

def _emit(i, score, error):
    _out.write(json.dumps([i, score, error]).encode("ascii") + b"\n")
    _out.flush()

def _describe(e):
    tb, depth, line = e.__traceback__, 0, None
    while tb is not None and depth < 2:
        line, tb, depth = tb.tb_lineno, tb.tb_next, depth + 1
    where = "line %%d: " %% line if depth == 2 else ""
    return (where + type(e).__name__ + ": " + str(e))[:%(max_error)d]

_cpu = int(_payload["cpu_seconds"])
for _res, _val in ((resource.RLIMIT_CPU, (_cpu, _cpu + 1)), (resource.RLIMIT_AS, (%(mem)d, %(mem)d)),
                   (resource.RLIMIT_FSIZE, (0, 0)), (resource.RLIMIT_NOFILE, (16, 16)),
                   (resource.RLIMIT_CORE, (0, 0)), (resource.RLIMIT_NPROC, (0, 0))):
    try:
        resource.setrlimit(_res, _val)
    except (ValueError, OSError):
        pass

_real_import = builtins.__import__
def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name.partition(".")[0] in ALLOWED:
        return _real_import(name, globals, locals, fromlist, level)
    raise ImportError("import of %%r is not allowed in a grader (allowed: %%s)" %% (name, ", ".join(sorted(ALLOWED))))
_builtins = dict(builtins.__dict__)
for _name in ("open", "input", "breakpoint", "help", "exit", "quit", "copyright", "credits", "license"):
    _builtins.pop(_name, None)
_builtins["__import__"] = _import
_globals = {"__builtins__": _builtins, "__name__": "grader"}
_samples, _items = _payload["samples"], _payload["items"]
_code = compile(_payload["source"], "<grader>", "exec")
del _payload

def _hook(event, args, _allowed=ALLOWED, _ok=frozenset(("exec", "compile", "builtins.id"))):
    if event == "import":
        if str(args[0]).partition(".")[0] in _allowed:
            return
        raise PermissionError("import of %%s is blocked in the grader sandbox" %% args[0])
    if event not in _ok:
        raise PermissionError("%%s is blocked in the grader sandbox" %% event)
sys.addaudithook(_hook)

try:
    exec(_code, _globals)
    _grade = _globals.get("grade")
    if not callable(_grade):
        raise NameError("the source does not define grade(sample, item)")
except BaseException as e:
    _msg = "loading the grader failed: " + _describe(e)
    for _i in range(len(_samples)):
        _emit(_i, None, _msg)
    _out.flush()
    _exit(0)

for _i in range(len(_samples)):
    try:
        _r = _grade(_samples[_i], _items[_i])
        if isinstance(_r, bool):
            _r = float(_r)
        if not isinstance(_r, (int, float)):
            _emit(_i, None, ("grade() returned %%s, expected a number" %% type(_r).__name__)[:%(max_error)d])
            continue
        _r = float(_r)
        if not math.isfinite(_r):
            _emit(_i, None, "grade() returned %%r, expected a finite number" %% _r)
            continue
        _emit(_i, _r, None)
    except BaseException as e:
        _emit(_i, None, _describe(e))
_out.flush()
_exit(0)
"""


def python_graders_enabled() -> bool:
    """True when the environment opts in with ``LAB_PYTHON_GRADER=1`` (read at every call)."""
    return os.environ.get(_ENV_FLAG, "").strip() == "1"


def check_source(source: str) -> None:
    """Raise :class:`LabError` unless ``source`` compiles and binds ``grade`` at top level (runs nothing).

    >>> check_source("def grade(sample, item):\\n    return 1.0")
    >>> check_source("def grade(sample, item):\\n    return (")
    Traceback (most recent call last):
    ...
    lab.LabError: python grader, line 2: '(' was never closed. Fix the source and try again.
    """
    if not isinstance(source, str) or not source.strip():
        raise LabError("grading.python.empty")
    if len(source) > MAX_SOURCE_CHARS:
        raise LabError("grading.python.too_long", length=len(source), limit=MAX_SOURCE_CHARS)
    try:
        tree = ast.parse(source, "<grader>")
        compile(tree, "<grader>", "exec", dont_inherit=True)
    except SyntaxError as e:
        raise LabError("grading.python.syntax", line=e.lineno, error=e.msg) from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise LabError("grading.python.cannot_compile", error=str(e)) from None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "grade":
            return
        if isinstance(node, ast.Assign) and any(isinstance(n, ast.Name) and n.id == "grade" for n in node.targets):
            return
    raise LabError("grading.python.no_grade")


@functools.cache
def _isolation_prefix() -> tuple[str, ...]:
    """The ``unshare`` command that gives the child a new network namespace, or () where that is not allowed."""
    unshare = shutil.which("unshare")
    if not unshare:
        return ()
    for flags in ("-rn", "-n"):
        try:
            probe = subprocess.run([unshare, flags, "true"], env={}, capture_output=True, timeout=5)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return (unshare, flags)
    return ()


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's whole process group (it is its own session leader); ignore 'already gone'."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _communicate(proc: subprocess.Popen, data: bytes, timeout: float, cap: int) -> tuple[bytes, bytes, str | None]:
    """Feed ``data`` to stdin, read stdout up to ``cap`` bytes until EOF or ``timeout``.

    Returns (stdout, the last 2 kB of stderr, problem or None); the process group is dead when it returns.
    """

    def feed() -> None:
        try:
            proc.stdin.write(data)
            proc.stdin.close()
        except (OSError, ValueError):  # the child died or closed stdin early: its exit tells the story
            pass

    threading.Thread(target=feed, daemon=True).start()
    chunks, size, problem, err = [], 0, None, b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        while sel.get_map() and problem is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                problem = t("grading.python.timeout", timeout=timeout)
                break
            for key, _ in sel.select(remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif key.fileobj is proc.stderr:
                    err = (err + chunk)[-2048:]
                else:
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > cap:
                        problem = t("grading.python.output_cap", cap=cap)
                        break
    _kill_group(proc)
    proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        try:
            stream.close()
        except (OSError, ValueError):
            pass
    return b"".join(chunks), err, problem


def ensure_enabled() -> None:
    """Raise :class:`LabError` (saying how to turn them on) unless python graders are enabled."""
    if not python_graders_enabled():
        raise LabError("grading.python.off", flag=_ENV_FLAG)


def run_python_grader_with_errors(
    source: str, samples: list[dict], items: list[dict], timeout: float = 10.0
) -> tuple[list[float | None], list[str | None]]:
    """Like :func:`run_python_grader`, also returning one error message (or None) per sample."""
    ensure_enabled()
    if len(samples) != len(items):
        raise LabError("grading.python.mismatch", samples=len(samples), items=len(items))
    check_source(source)
    n = len(samples)
    if n == 0:
        return [], []
    payload = {"source": source, "samples": samples, "items": items, "cpu_seconds": math.ceil(timeout) + 1}
    data = json.dumps(payload, default=str).encode("utf-8")
    program = _BOOTSTRAP % {"allowed": ALLOWED_MODULES, "mem": MEMORY_LIMIT_BYTES, "max_error": _MAX_ERROR_CHARS}
    cmd = [*_isolation_prefix(), sys.executable, "-I", "-S", "-c", program]
    with tempfile.TemporaryDirectory(prefix="lab-grader-") as cwd:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=cwd, env={}, start_new_session=True, close_fds=True,
        )  # fmt: skip
        out, err, problem = _communicate(proc, data, timeout, cap=65536 + 1024 * n)
    scores: list[float | None] = [None] * n
    errors: list[str | None] = [None] * n
    done = [False] * n
    for line in out.splitlines():
        try:
            i, score, error = json.loads(line)
        except (ValueError, TypeError):
            continue  # a partial last line after a kill, or noise: the sample stays None
        if isinstance(i, int) and 0 <= i < n and not done[i]:
            done[i] = True
            ok = isinstance(score, int | float) and not isinstance(score, bool) and math.isfinite(score)
            scores[i] = float(score) if ok else None
            errors[i] = None if ok else str(error or t("grading.python.no_score"))[:_MAX_ERROR_CHARS]
    if not all(done):
        if problem is None:
            rc = proc.returncode
            if rc and rc < 0:
                problem = t("grading.python.killed", signal=-rc)
            else:
                problem = t("grading.python.exited", code=rc)
            last = err.decode("utf-8", "replace").strip().splitlines()[-1:]
            if last:
                problem = t("grading.python.crash_detail", problem=problem, detail=last[0][:200])
        for i in range(n):
            if not done[i]:
                errors[i] = problem
    return scores, errors


def run_python_grader(
    source: str, samples: list[dict], items: list[dict], timeout: float = 10.0
) -> list[float | None]:
    """Score each ``(sample, item)`` pair with the source's ``grade`` function, all in one sandboxed process.

    ``samples[i]`` is e.g. ``{"output_text": "Paris"}`` and ``items[i]`` the dataset row. Returns one float per
    sample, or ``None`` where the grader failed, returned a non-number, was blocked or ran out of time.
    Raises :class:`LabError` when python graders are off, or for a syntax error (with its line).
    """
    return run_python_grader_with_errors(source, samples, items, timeout)[0]
