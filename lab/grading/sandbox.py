"""Run a user's Python grader (``def grade(sample, item) -> float``) as OpenAI runs it: with numpy, scipy, pandas,
rapidfuzz and the rest of its documented packages — in a child process the *kernel* locks down.

Python graders are **off** until enabled: ``LAB_PYTHON_GRADER=1`` in the environment, or the teacher's switch on a
public deployment (:func:`set_switch`, kept in ``LAB_HOME``). A grader is code, and whoever can type into the
grader box can run it on this machine.

How one batch is graded: the parent checks the source compiles and defines ``grade`` (at most 256 kB, OpenAI's
limit), then starts ONE child for the whole batch — ``python -I lab/grading/sandbox_child.py`` with an empty
environment, in a fresh empty temporary folder, as its own session — and sends ``{source, samples, items, limits,
read, write}`` as JSON on stdin. Before the source is compiled, the child applies, in order (see
:mod:`lab.grading.sandbox_child`):

1. **Landlock**: read-only access beneath the Python installation (:func:`read_paths`: standard library,
   site-packages, the system's shared libraries), read-write beneath its own temporary folder, nothing else —
   enforced by the kernel for every way of opening a file (``open``, ``numpy.load``, ``pandas.read_csv``,
   ``pickle`` payloads, ``ctypes`` calling libc, raw syscalls);
2. **seccomp** (libseccomp): no sockets, no new processes, no exec, no ptrace, no signals to others, no
   namespaces/mounts/BPF/io_uring/keyrings;
3. **rlimits**: CPU seconds, 2 GB of address space, a cap on what it writes, 64 open files, no core dumps.

When ``unshare`` can make a network namespace here (probed once), the child also starts in one with no interfaces.
The parent writes stdin from a thread, reads at most a fixed number of bytes of output, and kills the whole
process group at the wall-clock timeout or when the output cap is hit. Results stream back one JSON line per
sample, so the samples graded before a timeout keep their scores; the rest score ``None`` with the reason. A result
that is not a finite number (``NaN``, a string, an exception, ``sys.exit``) scores ``None``. A syntax error raises
:class:`~lab.LabError` with the line number before any process starts.

**Fail closed.** :func:`isolation` probes, once per process, that the kernel really enforces all of this: a child
must fail to read a file outside its folder, to open a socket and to fork (through Python and through ``ctypes``).
Where Landlock or seccomp is missing (an old kernel, a container whose seccomp profile refuses the Landlock
syscalls, no libseccomp) python graders stay off, with the reason, even when enabled.

What this protects against: a grader reading or changing the lab's data (ratings, runs, tokens), the environment's
secrets (the child's environment is empty), other processes, the network, starting programs, fork and memory
bombs, endless loops and floods of output. What it does NOT: the child may read public files of the Python
installation; it can use a full CPU core and 2 GB of memory until its timeout; a kernel bug is out of scope; and
the score it returns is whatever the code says — a grader's author decides the reward.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lab import LabError, lab_home
from lab.texts import t

__all__ = [
    "OPENAI_PACKAGES",
    "Isolation",
    "available_packages",
    "check_source",
    "ensure_enabled",
    "isolation",
    "python_graders_enabled",
    "read_paths",
    "run_python_grader",
    "run_python_grader_with_errors",
    "set_switch",
    "switch_state",
]

#: The third-party packages OpenAI documents for its python grader image (import name → PyPI name); a grader may
#: import each one that is installed here (:func:`available_packages`), and any standard-library module.
OPENAI_PACKAGES: dict[str, str] = {
    "numpy": "numpy", "scipy": "scipy", "sympy": "sympy", "pandas": "pandas", "rapidfuzz": "rapidfuzz",
    "sklearn": "scikit-learn", "rouge_score": "rouge-score", "nltk": "nltk", "jsonschema": "jsonschema",
    "pydantic": "pydantic", "yaml": "pyyaml", "deepdiff": "deepdiff", "sqlparse": "sqlparse",
    # optional, heavy (chemistry, biology, code search): importable when installed
    "rdkit": "rdkit", "Bio": "biopython", "skbio": "scikit-bio", "ast_grep_py": "ast-grep-py",
}  # fmt: skip

MEMORY_LIMIT_BYTES = 2 * 1024**3  # OpenAI: 2 GB of memory
FILE_LIMIT_BYTES = 256 * 1024**2  # what a grader may write in its own temporary folder
MAX_SOURCE_BYTES = 256 * 1024  # OpenAI: 256 kB of code
MAX_TIMEOUT_SECONDS = 120.0  # OpenAI: 2 minutes
_MAX_ERROR_CHARS = 300
_ENV_FLAG = "LAB_PYTHON_GRADER"
_CHILD = Path(__file__).with_name("sandbox_child.py")
_SETUP_FAILED = "SANDBOX-SETUP"
# One thread per numerical library: a batch uses one core, and OpenBLAS does not reserve memory for 64 threads.
_CHILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LC_ALL": "C.UTF-8"}


def available_packages() -> dict[str, bool]:
    """Which of :data:`OPENAI_PACKAGES` a grader can import on this machine."""
    return {name: importlib.util.find_spec(name) is not None for name in OPENAI_PACKAGES}


def _switch_file() -> Path:
    return lab_home() / "python_graders.json"


def switch_state() -> dict:
    """The teacher's switch: ``{"enabled": bool, "by": visitor, "at": unix time}`` (``enabled`` False if never set)."""
    try:
        state = json.loads(_switch_file().read_text(encoding="utf-8"))
        return state if isinstance(state, dict) and isinstance(state.get("enabled"), bool) else {"enabled": False}
    except (OSError, ValueError):
        return {"enabled": False}


def set_switch(enabled: bool, by: str) -> dict:
    """Turn python graders on or off for this lab (the caller checks that ``by`` is the teacher); returns the state.

    Kept in ``LAB_HOME`` so that the run workers (other processes) see it too."""
    state = {"enabled": bool(enabled), "by": by, "at": round(time.time())}
    path = _switch_file()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state), encoding="utf-8")
    os.replace(tmp, path)
    return state


def python_graders_enabled() -> bool:
    """True when ``LAB_PYTHON_GRADER=1`` or the teacher's switch is on (read at every call)."""
    return os.environ.get(_ENV_FLAG, "").strip() == "1" or switch_state()["enabled"]


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
    size = len(source.encode("utf-8"))
    if size > MAX_SOURCE_BYTES:
        raise LabError("grading.python.too_long", length=size, limit=MAX_SOURCE_BYTES)
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


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def read_paths() -> list[str]:
    """The folders a grader may read: this Python's standard library and site-packages, and the system's shared
    libraries — public code only. A folder that holds the lab's data (``LAB_HOME``) or this project is left out."""
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    found = {Path(sysconfig.get_paths()[k]).resolve() for k in keys}
    found |= {Path(p).resolve() for p in ("/usr/lib", "/lib", "/usr/lib64", "/lib64", "/usr/share/zoneinfo")}
    private = [lab_home().resolve(), Path(__file__).resolve().parents[2]]
    keep = [p for p in found if p.is_dir() and not any(_inside(q, p) for q in private)]
    return sorted(str(p) for p in keep)


@functools.cache
def _netns_prefix() -> tuple[str, ...]:
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


@dataclass(frozen=True)
class Isolation:
    """What :func:`isolation` found: ``ok`` (python graders may run), ``reason`` (why not, or ``""``), the
    ``layers`` in force (``landlock``, ``seccomp``, ``rlimits``, ``netns``) and the probe's ``seconds``."""

    ok: bool
    reason: str
    layers: tuple[str, ...]
    seconds: float


_PROBE = """
import os, socket, ctypes
def grade(sample, item):
    leaks = []
    try:
        open(item["canary"]).read(); leaks.append("read a file outside its folder")
    except OSError:
        pass
    try:
        with open(item["canary"] + "-written", "w") as f:
            f.write("x")
        leaks.append("wrote a file outside its folder")
    except OSError:
        pass
    try:
        socket.socket(); leaks.append("opened a socket")
    except OSError:
        pass
    try:
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        leaks.append("forked")
    except OSError:
        pass
    libc = ctypes.CDLL(None, use_errno=True)
    nr = {"x86_64": 41, "aarch64": 198}.get(os.uname().machine, 41)  # socket(2), straight to the kernel
    if libc.syscall(nr, 2, 1, 0) >= 0:
        leaks.append("opened a socket through ctypes")
    pid = libc.fork()
    if pid == 0:
        libc._exit(0)
    if pid > 0:
        leaks.append("forked through ctypes")
    fd = libc.open(item["canary"].encode(), 0)
    if fd >= 0:
        leaks.append("read a file through ctypes")
    if leaks:
        raise PermissionError("; ".join(leaks))
    return 1.0
"""


@functools.cache
def isolation() -> Isolation:
    """Probe once per process that the kernel enforces the sandbox; python graders stay off where it does not."""
    start = time.monotonic()
    layers = ("landlock", "seccomp", "rlimits", *(("netns",) if _netns_prefix() else ()))
    if not sys.platform.startswith("linux"):
        return Isolation(False, t("grading.python.not_linux", platform=sys.platform), (), 0.0)
    with tempfile.TemporaryDirectory(prefix="lab-probe-") as outside:
        canary = Path(outside) / "canary.txt"
        canary.write_text("secret", encoding="utf-8")
        try:
            scores, errors = _run_batch(_PROBE, [{"output_text": ""}], [{"canary": str(canary)}], 60.0)
        except LabError as e:
            scores, errors = [None], [str(e)]
        wrote = canary.with_name("canary.txt-written").exists()
    seconds = time.monotonic() - start
    if scores == [1.0] and not wrote:
        return Isolation(True, "", layers, seconds)
    error = (errors[0] or "").removeprefix(_SETUP_FAILED + ": ")
    return Isolation(False, t("grading.python.probe_failed", error=error), (), seconds)


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
    """Raise :class:`LabError` unless python graders are enabled here and the kernel isolation works."""
    if not python_graders_enabled():
        raise LabError("grading.python.off", flag=_ENV_FLAG)
    found = isolation()
    if not found.ok:
        raise LabError("grading.python.no_isolation", reason=found.reason)


def _run_batch(
    source: str, samples: list[dict], items: list[dict], timeout: float
) -> tuple[list[float | None], list[str | None]]:
    """One sandboxed child for the whole batch (no checks of the switch: :func:`isolation` uses it to probe)."""
    n = len(samples)
    with tempfile.TemporaryDirectory(prefix="lab-grader-") as cwd:
        limits = {"cpu_seconds": math.ceil(timeout) + 1, "memory_bytes": MEMORY_LIMIT_BYTES,
                  "file_bytes": FILE_LIMIT_BYTES}  # fmt: skip
        payload = {"source": source, "samples": samples, "items": items, "limits": limits, "read": read_paths(),
                   "write": cwd}  # fmt: skip
        data = json.dumps(payload, default=str).encode("utf-8")
        cmd = [*_netns_prefix(), sys.executable, "-I", str(_CHILD)]
        env = {**_CHILD_ENV, "HOME": cwd, "TMPDIR": cwd}
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=cwd, env=env, start_new_session=True, close_fds=True,
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


def run_python_grader_with_errors(
    source: str, samples: list[dict], items: list[dict], timeout: float = 10.0
) -> tuple[list[float | None], list[str | None]]:
    """Like :func:`run_python_grader`, also returning one error message (or None) per sample."""
    ensure_enabled()
    if len(samples) != len(items):
        raise LabError("grading.python.mismatch", samples=len(samples), items=len(items))
    if not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        raise LabError("grading.python.bad_timeout", timeout=timeout, limit=MAX_TIMEOUT_SECONDS)
    check_source(source)
    if not samples:
        return [], []
    return _run_batch(source, samples, items, timeout)


def run_python_grader(
    source: str, samples: list[dict], items: list[dict], timeout: float = 10.0
) -> list[float | None]:
    """Score each ``(sample, item)`` pair with the source's ``grade`` function, all in one sandboxed process.

    ``samples[i]`` is e.g. ``{"output_text": "Paris"}`` and ``items[i]`` the dataset row. Returns one float per
    sample, or ``None`` where the grader failed, returned a non-number, was blocked or ran out of time.
    Raises :class:`LabError` when python graders are off or cannot be isolated here, or for a syntax error.
    """
    return run_python_grader_with_errors(source, samples, items, timeout)[0]
