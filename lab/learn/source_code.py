"""The article's two tf.js snippets, their Python ports, what they really do, and the TRL code the lab really runs.

The source article (``rlhf-vs-rft-article.zh.txt``) ends with two tf.js snippets, "RLHF 的实现示例" and "RFT 的实现
示例". Both only fit a small dense network (20 → 128 relu → 2 softmax) with ``model.fit`` on a constant input
(``Array(20).fill(0.1)`` / ``fill(0.2)``): nothing is sampled, scored or reinforced, and the network cannot tell one
question from another. As printed they would not even run (no ``model.compile``, a flat array to ``tf.tensor2d``,
one label column for a two-unit softmax in the RLHF one, and all fits started at once by ``forEach``).

- :data:`ARTICLE_SNIPPETS`: the snippets as text, cut from the article at import by their headings (never retyped).
- :data:`PORT_SOURCES`: the ports ``lab/learn/port_rlhf.py`` and ``port_rft.py`` (Keras 3 on torch), line for line
  with ``# FIX n:`` comments; :data:`FIXES` lists the text keys of those fixes, :data:`WHAT_IT_DOES` the key of a
  paragraph per snippet; :func:`run_port` runs a port in a subprocess and returns its JSON report.
- :data:`TRL_LINES`: the functions of ``lab/methods`` that build the TRL trainers, read with :mod:`ast` (no
  import), so the tab shows the code that runs.

Nothing here imports torch or keras.

>>> "tf.sequential" in ARTICLE_SNIPPETS["rft"] and "GRPOTrainer(" in TRL_LINES["rft"]
True
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from lab import LabError

__all__ = [
    "ARTICLE", "ARTICLE_SNIPPETS", "FIXES", "PORT_FILES", "PORT_SOURCES", "TRL_LINES", "TRL_SOURCES",
    "WHAT_IT_DOES", "run_port",
]  # fmt: skip

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTICLE_NAME = "rlhf-vs-rft-article.zh.txt"


def _find_article() -> Path:
    """``$LAB_ARTICLE``, else ``assets/source/`` in the repo, else the workspace's ``shared/source/``."""
    places = [Path(os.environ["LAB_ARTICLE"])] if os.environ.get("LAB_ARTICLE") else []
    places += [ROOT / "assets" / "source" / ARTICLE_NAME, ROOT.parent / "shared" / "source" / ARTICLE_NAME]
    for place in places:
        if place.is_file():
            return place
    raise LabError("learn.article.missing", name=ARTICLE_NAME, places=", ".join(str(p) for p in places))


ARTICLE = _find_article()
"""The article file the snippets are cut from."""

# each snippet runs from the line after its heading to the line before the next heading
_SNIPPET_BOUNDS = {"rlhf": ("RLHF 的实现示例", "RFT 的实现示例"), "rft": ("RFT 的实现示例", "代码对比分析")}


def _cut(lines: list[str], method: str, start: str, end: str) -> str:
    """The lines strictly between the line ``start`` and the line ``end`` (each exactly once in the article)."""
    stripped = [line.strip() for line in lines]
    for marker in (start, end):
        if stripped.count(marker) != 1:
            raise LabError("learn.article.no_marker", file=str(ARTICLE), marker=marker, method=method)
    first, last = stripped.index(start) + 1, stripped.index(end)
    snippet = "\n".join(lines[first:last]).strip("\n")
    if not (first < last and "tf.sequential" in snippet and "model.fit" in snippet):
        raise LabError("learn.article.no_marker", file=str(ARTICLE), marker=start, method=method)
    return snippet + "\n"


def _snippets() -> dict[str, str]:
    lines = ARTICLE.read_text(encoding="utf-8").splitlines()
    return {method: _cut(lines, method, start, end) for method, (start, end) in _SNIPPET_BOUNDS.items()}


ARTICLE_SNIPPETS: dict[str, str] = _snippets()
"""``{"rlhf": tf.js text, "rft": tf.js text}``, verbatim from :data:`ARTICLE`."""

PORT_FILES: dict[str, Path] = {method: HERE / f"port_{method}.py" for method in ARTICLE_SNIPPETS}
PORT_SOURCES: dict[str, str] = {method: path.read_text(encoding="utf-8") for method, path in PORT_FILES.items()}
"""The Python ports' source text, to show next to the tf.js (``# FIX n:`` marks each change)."""

FIXES: dict[str, list[str]] = {
    "rlhf": [
        "learn.port.fix.compile", "learn.port.fix.input_row", "learn.port.fix.label_columns",
        "learn.port.fix.sequential_fit",
    ],
    "rft": ["learn.port.fix.compile", "learn.port.fix.input_row", "learn.port.fix.sequential_fit"],
}  # fmt: skip
"""Per snippet, the text keys of its fixes in order: the n-th is ``# FIX n:`` in its port."""

WHAT_IT_DOES: dict[str, str] = {"rlhf": "learn.port.what.rlhf", "rft": "learn.port.what.rft"}
"""Per snippet, the text key of a short paragraph: what the code really does, and what the lab does instead."""

TRL_SOURCES: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "rft": [("lab/methods/rft.py", "make_grpo_trainer", ("GRPOTrainer", "reward_funcs"))],
    "rlhf": [
        ("lab/methods/reward_model.py", "fit", ("RewardTrainer",)),
        ("lab/methods/rl.py", "fit", ("GRPOTrainer", "RLOOTrainer", "reward_funcs")),
    ],
    "kto_dpo": [("lab/methods/preference.py", "fit", ("KTOTrainer", "DPOTrainer"))],
}
"""Where :data:`TRL_LINES` reads from: (file, top-level function, names the function must use)."""


def _function_source(file: str, function: str, names: tuple[str, ...]) -> str:
    """The source of ``function`` in ``file`` (parsed, not imported), headed by the file's name."""
    text = (ROOT / file).read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name == function:
            used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            used |= {k.arg for n in ast.walk(node) if isinstance(n, ast.Call) for k in n.keywords if k.arg}
            if set(names) <= used:
                return f"# {file}\n{ast.get_source_segment(text, node)}\n"
    raise LabError("learn.trl.missing", file=file, function=function, names=", ".join(names))


TRL_LINES: dict[str, str] = {
    method: "\n\n".join(_function_source(*spec) for spec in specs) for method, specs in TRL_SOURCES.items()
}
"""``{"rft": …, "rlhf": …, "kto_dpo": …}``: the lab's functions that build the TRL trainers, as source text."""


def run_port(method: str, timeout: float = 120) -> dict:
    """Run ``python -m lab.learn.port_<method>`` and return its last line, parsed: ``losses`` (every epoch of every
    fit, in order: 10 per fit), ``predictions`` (question → ``[p0, p1]``), ``identical_for_all_questions``,
    ``seconds`` (training and predictions) — plus ``wall_seconds``, the whole subprocess (mostly importing keras).

    A port that fails, times out or prints no JSON is a :class:`lab.LabError` saying which and why.
    """
    if method not in PORT_FILES:
        raise LabError("learn.port.unknown", method=method, known=", ".join(PORT_FILES))
    module = f"lab.learn.port_{method}"
    env = {**os.environ, "KERAS_BACKEND": "torch", "PYTHONIOENCODING": "utf-8"}
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True, encoding="utf-8",
            errors="replace", timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise LabError("learn.port.timeout", method=method, module=module, seconds=f"{timeout:g}") from None
    wall = time.perf_counter() - start
    tail = _tail(done.stderr or done.stdout)
    if done.returncode != 0:
        raise LabError("learn.port.failed", method=method, module=module, rc=done.returncode, tail=tail)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1])
        if not isinstance(result, dict):
            raise ValueError(result)
    except (IndexError, ValueError):
        raise LabError("learn.port.no_json", method=method, module=module, tail=_tail(done.stdout)) from None
    result["wall_seconds"] = round(wall, 3)
    return result


def _tail(text: str, n: int = 5) -> str:
    return " | ".join(line.strip() for line in (text or "").strip().splitlines()[-n:]) or "(no output)"
