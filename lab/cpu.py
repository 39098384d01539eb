"""Two CPU cores shared by the app's generation (chat, two answers, compare, simulated raters) and a training worker.

PyTorch runs each operation on a pool of OpenMP threads that wait for each other at the end of it. A worker with one
thread per core trains fastest alone, but when the app generates at the same moment there are more busy threads
than cores: the worker's threads keep waiting for the one the kernel has parked, and both sides crawl (a GRPO step
took 23.9 s instead of 6–12 s beside one chatter; a class's batched replies beside a run, 1.6 s a token).

So the two sides take turns on the cores instead of fighting over them:

- the app uses every core for generation while no run trains, and one thread while one does (:func:`chat_threads`);
- while the app generates it keeps a flag file in LAB_HOME (:func:`generating`), and a worker leaves it a core:
  before each module's forward pass, at most every :data:`LOOK_EVERY_SECONDS`, it looks at the flag and uses one
  thread fewer while it is there, all its threads again once it is gone (:func:`share_with_generation`). Training
  slows down only while someone is being answered, and the reply gets a core of its own.

``LAB_CHAT_THREADS`` fixes the app's thread count; ``LAB_SHARE_CORES=0`` turns the worker's side off (benchmarks
compare both). On a GPU none of this applies.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from lab import lab_home

__all__ = ["LOOK_EVERY_SECONDS", "chat_threads", "clear_flag", "cores", "generating", "share_with_generation"]

LOOK_EVERY_SECONDS = 0.05
"""How often a worker looks for the app's flag (a ``stat``; the forward passes in between cost nothing extra)."""

_count_lock = threading.Lock()
_count = [0]  # generations running in this process
_seen = [0.0, 1.0]  # chat_threads: (monotonic time of the last look at the runs folder, its answer)
state: dict = {}  # share_with_generation's hook: its thread count, what it saw last, when it looks next


def flag_path() -> Path:
    return lab_home() / "generating.flag"


def cores() -> int:
    """The cores this process may run on (its affinity, which a container's CPU set narrows), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def clear_flag() -> None:
    """At app start: a flag left by an app that was killed while generating would slow every worker down."""
    with contextlib.suppress(OSError):
        flag_path().unlink()


@contextlib.contextmanager
def generating() -> Iterator[None]:
    """Mark "the app is generating" for the workers while the block runs (nested and concurrent uses count)."""
    with _count_lock:
        _count[0] += 1
        if _count[0] == 1:
            with contextlib.suppress(OSError):
                flag_path().write_text(str(os.getpid()))
    try:
        yield
    finally:
        with _count_lock:
            _count[0] -= 1
            if _count[0] == 0:
                with contextlib.suppress(OSError):
                    flag_path().unlink()


def chat_threads() -> int:
    """Torch threads for the app's next generation on a CPU: ``LAB_CHAT_THREADS`` when set, else one while a run is
    training (its worker has the other cores) and every core otherwise. The runs folder is read at most every 2 s."""
    with contextlib.suppress(KeyError, ValueError):
        return max(1, int(os.environ["LAB_CHAT_THREADS"]))
    now = time.monotonic()
    if now - _seen[0] > 2.0:
        from lab import runs

        _seen[:] = [now, 1 if runs.active_run() else cores()]
    return int(_seen[1])


def share_with_generation(threads: int) -> None:
    """In a training worker on a CPU with ``threads`` torch threads: use ``threads - 1`` while the app generates.

    A global forward pre-hook (every module's forward, so also inside TRL's generation) looks at the flag at most
    every :data:`LOOK_EVERY_SECONDS` and changes ``torch.set_num_threads`` only when the answer changes.
    """
    import torch

    if threads < 2 or os.environ.get("LAB_SHARE_CORES", "1") == "0":
        return
    hooked = "flag" in state
    state.update(flag=flag_path(), threads=threads, busy=False, next=0.0)  # a later call (tests) re-aims the hook
    if hooked:
        return

    def look(module, args) -> None:
        now = time.monotonic()
        if now < state["next"]:
            return
        state["next"] = now + LOOK_EVERY_SECONDS
        busy = state["flag"].exists()
        if busy != state["busy"]:
            state["busy"] = busy
            torch.set_num_threads(state["threads"] - 1 if busy else state["threads"])

    torch.nn.modules.module.register_module_forward_pre_hook(look)
