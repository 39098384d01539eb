"""RLHF vs RFT lab: see how a small language model changes under two kinds of reinforcement fine-tuning.

This package is importable without torch: the UI (``lab.ui``) and the CLI parse, validate and read run folders
with it; only the worker side (``lab.models``, ``lab.methods``, ``lab.evaluate``) imports torch/TRL/PEFT.

Three shared things live here:

- ``LabError``: an error the user reads. Its message says what is wrong and where (file, line, field) and how to
  fix it. The CLI prints it and exits 2; the UI shows it with ``gr.Warning``/``gr.Error``.
- ``lab_home()``: the one folder where runs, the model cache and stored feedback live. Set ``LAB_HOME`` to move it;
  the default is ``~/.cache/rlhf-rft-lab`` (on a Space with persistent storage, ``/data/rlhf-rft-lab``).
- ``chat_batch_size()``: how many chat replies the app generates at once (``LAB_CHAT_BATCH``, default 32): the rows
  of one batched ``generate`` (``lab.batching``) and the page's concurrency limit for chat and "two answers".
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LabError", "chat_batch_size", "lab_home"]


class LabError(Exception):
    """A problem with the user's input or setup, phrased for the user (never a traceback).

    Raised with a key of :mod:`lab.texts` and its values (``LabError("runs.no_run", run_id=..., folder=...)``) it
    keeps both, so the page can show it in the visitor's language with :meth:`text`; ``str(e)`` is the English
    text. A plain message (not a key) is kept as it is.

    >>> e = LabError("runs.no_run", run_id="abc", folder="/tmp/runs")
    >>> str(e), e.key, e.values["run_id"]
    ("no run 'abc' under /tmp/runs", 'runs.no_run', 'abc')
    >>> LabError("something went wrong").key is None
    True
    """

    def __init__(self, message: str = "", /, **values: object) -> None:
        from lab import texts

        self.key = message if texts.has_key(message) else None
        self.values = values
        super().__init__(texts.t(message, texts.DEFAULT_LANGUAGE, **values) if self.key else message)

    def text(self, language: str | None = None) -> str:
        """The message in ``language`` — by default the current visitor's (``lab.texts.current_language``) —
        English where it has no translation, or when raised without a key."""
        from lab import texts

        return texts.t(self.key, language, **self.values) if self.key else str(self)


def lab_home() -> Path:
    """The lab's data folder: ``$LAB_HOME``, else ``/data/rlhf-rft-lab`` on a Space with storage, else ~/.cache."""
    if os.environ.get("LAB_HOME"):
        home = Path(os.environ["LAB_HOME"]).expanduser()
    elif Path("/data").is_dir() and os.access("/data", os.W_OK) and os.environ.get("SPACE_ID"):
        home = Path("/data/rlhf-rft-lab")
    else:
        home = Path.home() / ".cache" / "rlhf-rft-lab"
    home.mkdir(parents=True, exist_ok=True)
    return home


def chat_batch_size() -> int:
    """``LAB_CHAT_BATCH``: most replies generated together (default 32, a class at once); a bad value is the default.

    >>> chat_batch_size() >= 1
    True
    """
    try:
        return max(1, int(os.environ.get("LAB_CHAT_BATCH", "32")))
    except ValueError:
        return 32
