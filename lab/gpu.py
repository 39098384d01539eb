"""ZeroGPU, Hugging Face Spaces' shared GPUs: the GPU exists only inside functions decorated with ``@spaces.GPU``.

On a ZeroGPU Space a GPU is attached for the length of one decorated call (its ``duration``, capped by the Space's
tier), and the app's other code sees none. A run's worker process would never get one, so there:

- a run executes *in the app's process*, inside one ``@spaces.GPU(duration=…)`` call (:func:`run_seconds` sizes
  it from this deployment's finished runs of the same method); it writes the same run folder (status, metrics,
  samples, adapter), and Stop is cooperative — the trainer callback sees the run's ``stop`` file at its next
  step (``lab.methods.common.RunCallback``). A run whose estimate exceeds one call
  (``LAB_ZEROGPU_MAX_SECONDS``) is refused with its estimate; splitting a run across calls needs resumable runs.
- the chat's streamed replies, the two sampled answers and the comparison's answers are generated inside
  ``@spaces.GPU`` calls too (:func:`on_gpu` in ``lab.chat``).

Everywhere else ``spaces.GPU`` returns the function itself (``spaces`` documents the decorator as effect-free off
ZeroGPU) and a run gets its own worker process. Nothing here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["max_call_seconds", "on_gpu", "run_seconds", "zero_gpu"]

FIRST_RUN_SECONDS = 120
"""A ZeroGPU call's length for a method with no finished run here yet (``LAB_ZEROGPU_FIRST_SECONDS``)."""

MARGIN = 1.25  # a call is sized 25 % above the typical finished run


def zero_gpu() -> bool:
    """Is this a ZeroGPU Space (``spaces`` installed and ``SPACES_ZERO_GPU`` set, as ``spaces`` reads it)?"""
    try:
        from spaces.config import Config
    except ImportError:
        return False
    return bool(Config.zero_gpu)


def on_gpu(fn: Callable, duration: float | Callable[..., float] | None = None) -> Callable:
    """``fn`` under ``@spaces.GPU`` (with ``duration`` seconds, or a function of ``fn``'s arguments) when ``spaces``
    is installed, else ``fn`` itself; off ZeroGPU ``spaces.GPU`` returns ``fn`` unchanged as well."""
    try:
        import spaces
    except ImportError:
        return fn
    return spaces.GPU(fn, duration=duration) if duration is not None else spaces.GPU(fn)


def _env_seconds(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def max_call_seconds() -> int:
    """The longest ZeroGPU call a run may ask for (``LAB_ZEROGPU_MAX_SECONDS``, default 120 s)."""
    return _env_seconds("LAB_ZEROGPU_MAX_SECONDS", 120)


def run_seconds(typical: float | None) -> int:
    """A ZeroGPU call's length for a run whose method typically takes ``typical`` seconds here (``None``: no
    finished run yet).

    >>> run_seconds(100.0), run_seconds(None) == FIRST_RUN_SECONDS
    (125, True)
    """
    if typical is None:
        return _env_seconds("LAB_ZEROGPU_FIRST_SECONDS", FIRST_RUN_SECONDS)
    return int(round(typical * MARGIN))

