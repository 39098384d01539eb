"""The class's results: every finished run in a few headline numbers, and its reward curve, read from run folders.

The Learn tab fills the source article's comparison table from these, the Compare and Runs tabs overlay the curves
and list every run in a "class results" table (CSV). Nothing here trains or recomputes: a run's ``summary.json``
and ``metrics.jsonl`` (``lab.runs``) are the only inputs, so every number shown is one a run measured.

A run's headline (:func:`headline`) answers the article's questions for that run:

- **feedback**: where its signal came from and how much of it — RFT: questions with reference answers (graders);
  RLHF: ratings and pairs by people, simulated by a persona, or imported;
- **effort**: what people had to produce — reference answers written (RFT) or clicks (RLHF: human ratings and
  picks; a persona's simulated ratings cost no one a click);
- **time**: training seconds (and the whole run's);
- **change**: the run's own before → after measure — RFT: exact-match accuracy on held-out questions; RLHF: the
  persona's win rate against the base model and the reward model's score before → after;
- **verdict**: won, no gain, or failed — including reward hacking (the reward went up, the judge did not agree).

This module imports no torch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import pandas as pd

from lab import runs
from lab.texts import duration, t

__all__ = [
    "CURVE_X", "GAIN", "class_frame", "class_csv", "curve", "finished", "headline", "kind_of", "latest_by_kind",
]  # fmt: skip

GAIN = 0.05
"""A change smaller than this (5 points of accuracy or win rate above 0.5) counts as no gain."""
CURVE_X = ("step", "answers", "seconds")
"""What a reward curve's x-axis can count: optimizer steps, answers sampled (steps × answers per step), seconds."""
RL_STAGES = ("grpo", "rl")
"""The stages whose metrics rows carry the sampled answers' mean reward (RFT: ``grpo``; RLHF's RL, GRPO or RLOO:
``rl``)."""


def finished(items: Iterable[runs.Run] | None = None) -> list[runs.Run]:
    """Runs that ended with a summary (state ``done``), newest first; dry runs are not results, and a run that a
    finished run continued counts once, as that continuation (whose headline starts from the first run's before)."""
    found = []
    for run in runs.list_runs() if items is None else items:
        summary = run.summary() if run.status().get("state") == "done" else None
        if summary and not summary.get("dry_run"):  # a dry run trains nothing: no result
            found.append((run, summary))
    continued = {summary.get("parent") for _, summary in found}
    return [run for run, _ in found if run.id not in continued]


def kind_of(summary: dict) -> str:
    """``rft``, ``rlhf`` (reward model → RL), ``kto`` or ``dpo``: the pipeline a run went through.

    >>> kind_of({"method": "rft"}), kind_of({"method": "rlhf", "algorithm": "rm-rl"}), kind_of({"method": "rlhf",
    ...     "algorithm": "kto"})
    ('rft', 'rlhf', 'kto')
    """
    if summary.get("method") == "rft":
        return "rft"
    route = summary.get("algorithm") or "rm-rl"
    return "rlhf" if route == "rm-rl" else str(route)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def headline(run: runs.Run) -> dict[str, Any]:
    """One finished run's headline numbers (plain values; :func:`class_frame` words them).

    Keys: ``run``, ``kind``, ``model``, ``data`` (task or persona), ``people`` / ``simulated`` / ``imported``
    (feedback items by source), ``questions`` (RFT training questions with references), ``references`` (reference
    answers the run used, training + held-out), ``clicks`` (human ratings and picks), ``train_seconds``,
    ``total_seconds``, ``metric`` (``accuracy`` or ``win_rate``), ``before``, ``after``, ``reward_before`` /
    ``reward_after`` (mean reward, or the reward model's score), ``verdict`` (``won``, ``no_gain``, ``worse``,
    ``hacked``)."""
    s = run.summary() or {}
    kind = kind_of(s)
    before, after = s.get("chain_before") or s.get("before") or {}, s.get("after") or {}  # a chain from its start
    row: dict[str, Any] = {
        "run": run.id, "kind": kind, "model": s.get("model") or run.config().get("config", {}).get("model"),
        "train_seconds": _num(s.get("train_seconds")), "total_seconds": _num(s.get("total_seconds")),
        "people": 0, "simulated": 0, "imported": 0, "questions": None, "references": None, "clicks": 0,
    }  # fmt: skip
    if kind == "rft":
        row.update(
            data=str(s.get("task") or ""), questions=s.get("train_size"),
            references=(s.get("train_size") or 0) + (s.get("valid_size") or 0),
            graders=[g.get("name") or g.get("type") for g in (s.get("config") or {}).get("graders") or []],
            metric="accuracy", before=_num(before.get("accuracy")), after=_num(after.get("accuracy")),
            reward_before=_num(before.get("valid_reward")), reward_after=_num(after.get("valid_reward")),
        )  # fmt: skip
        row["verdict"] = _verdict(row["before"], row["after"], row["reward_before"], row["reward_after"])
        return row
    feedback = s.get("feedback") or {}
    groups = feedback.get("groups") or {}
    for source in ("people", "simulated", "imported"):
        g = groups.get(source) or {}
        row[source] = int(g.get("ratings") or 0) + int(g.get("pairs") or 0)
    row.update(
        data=str(s.get("persona") or ""), clicks=row["people"], metric="win_rate",
        before=0.5 if s.get("win_rate") is not None else None, after=_num(s.get("win_rate")),
        reward_before=_num(before.get("rm_score")), reward_after=_num(after.get("rm_score")),
    )  # fmt: skip
    row["verdict"] = _verdict(row["before"], row["after"], row["reward_before"], row["reward_after"])
    return row


def _verdict(before: float | None, after: float | None, r0: float | None, r1: float | None) -> str:
    """``won`` / ``no_gain`` / ``worse`` by the run's judge (accuracy or win rate), ``hacked`` when the reward it
    optimised rose by more than :data:`GAIN` while the judge did not gain: the policy pleased the reward, not the
    task. ``unknown`` without a judge.

    >>> _verdict(0.0, 0.8, 0.1, 0.9), _verdict(0.5, 0.52, 0.1, 0.9), _verdict(0.5, 0.5, 0.1, 0.1)
    ('won', 'hacked', 'no_gain')
    >>> _verdict(0.6, 0.4, None, None), _verdict(None, None, 0.1, 0.2)
    ('worse', 'unknown')
    """
    if before is None or after is None:
        return "unknown"
    if after - before >= GAIN:
        return "won"
    if r0 is not None and r1 is not None and r1 - r0 >= GAIN:
        return "hacked"
    return "worse" if before - after >= GAIN else "no_gain"


def latest_by_kind(rows: list[dict]) -> dict[str, dict]:
    """The newest headline of each kind (``rows`` newest first, as :func:`finished` lists them)."""
    latest: dict[str, dict] = {}
    for row in rows:
        latest.setdefault(row["kind"], row)
    return latest


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def change_text(row: dict) -> str:
    """The run's before → after in words (visitor's language).

    >>> change_text({"metric": "accuracy", "before": 0.0, "after": 0.825, "reward_before": 0.1, "reward_after": 0.9})
    'accuracy 0.0 % → 82.5 % · reward 0.10 → 0.90'
    """
    key = "results.change.accuracy" if row.get("metric") == "accuracy" else "results.change.win_rate"
    return t(key, before=_pct(row.get("before")), after=_pct(row.get("after")),
             r0=_signed(row.get("reward_before")), r1=_signed(row.get("reward_after")))  # fmt: skip


def feedback_text(row: dict) -> str:
    """Where the run's signal came from and how much (visitor's language).

    >>> feedback_text({"kind": "rft", "questions": 63, "graders": ["partial_credit"]})
    '63 questions with reference answers · graders: partial_credit'
    >>> feedback_text({"kind": "rlhf", "people": 3, "simulated": 489, "imported": 0, "data": "concise"})
    '3 by people · 489 simulated (concise)'
    """
    if row["kind"] == "rft":
        return t("results.feedback.rft", n=row.get("questions") or 0, graders=", ".join(row.get("graders") or []))
    parts = [t("results.feedback.people", n=row.get("people", 0))]
    if row.get("simulated"):
        parts.append(t("results.feedback.simulated", n=row["simulated"], persona=row.get("data") or "?"))
    if row.get("imported"):
        parts.append(t("results.feedback.imported", n=row["imported"]))
    return " · ".join(parts)


def effort_text(row: dict) -> str:
    """What people produced for the run: reference answers, or clicks (visitor's language).

    >>> effort_text({"kind": "rft", "references": 103}), effort_text({"kind": "rlhf", "clicks": 0, "simulated": 9})
    ('103 reference answers written', '0 clicks by people (the persona rated 9)')
    """
    if row["kind"] == "rft":
        return t("results.effort.rft", n=row.get("references") or 0)
    if row.get("simulated"):
        return t("results.effort.simulated", n=row.get("clicks", 0), simulated=row["simulated"])
    return t("results.effort.rlhf", n=row.get("clicks", 0))


def class_frame(rows: list[dict]) -> pd.DataFrame:
    """Every finished run on one line each, with worded headers (visitor's language): the "class results" table."""
    columns = [t(f"results.col.{c}") for c in ("run", "kind", "model", "data", "feedback", "effort", "time",
                                               "change", "verdict")]  # fmt: skip
    lines = [
        [r["run"], t(f"results.kind.{r['kind']}"), r.get("model") or "", r.get("data") or "", feedback_text(r),
         effort_text(r), duration(r.get("train_seconds")), change_text(r), t(f"results.verdict.{r['verdict']}")]
        for r in rows
    ]  # fmt: skip
    return pd.DataFrame(lines, columns=columns)


def class_csv(rows: list[dict]) -> str:
    """The class results as CSV with plain, machine-readable columns (English names, numbers unformatted)."""
    fields = ["run", "kind", "model", "data", "people", "simulated", "imported", "questions", "references", "clicks",
              "train_seconds", "total_seconds", "metric", "before", "after", "reward_before", "reward_after",
              "verdict"]  # fmt: skip
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in fields})
    return out.getvalue()


def answers_per_step(run: runs.Run) -> int:
    """Answers GRPO/RLOO samples per optimizer step: prompts per step × answers per prompt (the run's config)."""
    cfg = (run.summary() or {}).get("config") or run.config().get("config", {})
    return int(cfg.get("prompts_per_step") or 1) * int(cfg.get("num_generations") or 1)


def curve(run: runs.Run, x: str = "step", relative: bool = False) -> pd.DataFrame:
    """A run's reward curve: columns ``x`` and ``reward`` (the mean reward of the answers sampled at each RL step;
    for RLHF that is the reward model's score). ``x``: one of :data:`CURVE_X`; ``relative`` subtracts the run's
    first logged reward (r − r₀), so runs on different reward scales start together. Empty for a run without an RL
    stage (KTO and DPO learn from the ratings directly: they sample nothing)."""
    if x not in CURVE_X:
        raise ValueError(f"x must be one of {CURVE_X}, not {x!r}")
    rows = [m for m in run.metrics() if m.get("stage") in RL_STAGES and _num(m.get("reward")) is not None]
    if not rows:
        return pd.DataFrame({"x": [], "reward": []})
    frame = pd.DataFrame({"step": [r.get("step", 0) for r in rows], "seconds": [r.get("time") for r in rows],
                          "reward": [float(r["reward"]) for r in rows]})  # fmt: skip
    frame["answers"] = frame["step"] * answers_per_step(run)
    if relative:
        frame["reward"] = frame["reward"] - frame["reward"].iloc[0]
    return frame.rename(columns={x: "x"})[["x", "reward"]]
