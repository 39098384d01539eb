"""What GRPO sees: one step's groups — the answers to one question, each grader's score, the advantage each got.

GRPO samples ``num_generations`` answers per question (a *group*), scores them, and gives each answer the advantage
(score − the group's mean) / the group's std; the update makes answers with a positive advantage more likely and
those with a negative one less. A group whose answers all scored the same has std 0: every advantage is 0 and the
group teaches nothing (TRL logs the share of such groups as ``frac_reward_zero_std``).

The rows come from the run's ``samples.jsonl``: the RL stage writes every answer of a step with its ``group`` and
the ``advantage`` TRL computed (``lab.methods.common.trl_advantages``). This module only reads and draws them.
"""

from __future__ import annotations

from html import escape as esc

import gradio as gr

from lab import compare_plots, results
from lab.texts import t
from lab.ui import runs_view
from lab.ui.lang import L

__all__ = ["POLICY_STAGES", "build_groups_browser", "dry_run_html", "group_html", "groups_of", "steps_of"]

POLICY_STAGES = results.RL_STAGES
"""Stages whose samples are the policy's answers in groups (the RL stages)."""


def steps_of(samples: list[dict]) -> list[int]:
    """The RL steps that wrote groups (rows with a ``group``), in order.

    >>> steps_of([{"stage": "grpo", "step": 2, "group": 0}, {"stage": "grpo", "step": 1, "group": 0},
    ...           {"stage": "sft", "step": 5}])
    [1, 2]
    """
    return sorted({s.get("step", 0) for s in samples if s.get("stage") in POLICY_STAGES and "group" in s})


def groups_of(samples: list[dict], step: int) -> list[dict]:
    """The groups of one step: ``{"index", "prompt", "answers": [rows], "same": bool}`` (``same``: every answer
    scored the same — all advantages 0).

    >>> g = groups_of([{"stage": "grpo", "step": 1, "group": 0, "prompt": "q", "reward": 1.0, "advantage": 0.7},
    ...                {"stage": "grpo", "step": 1, "group": 0, "prompt": "q", "reward": 0.0, "advantage": -0.7}], 1)
    >>> [(x["index"], x["prompt"], len(x["answers"]), x["same"]) for x in g]
    [(0, 'q', 2, False)]
    """
    found: dict[int, dict] = {}
    for s in samples:
        if s.get("stage") in POLICY_STAGES and s.get("step") == step and "group" in s:
            g = found.setdefault(int(s["group"]), {"index": int(s["group"]), "prompt": s.get("prompt"), "answers": []})
            g["answers"].append(s)
    for g in found.values():
        rewards = [a.get("reward") for a in g["answers"]]
        g["same"] = len({round(r, 6) for r in rewards if isinstance(r, int | float)}) <= 1
    return [found[k] for k in sorted(found)]


def _num(value) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:+.2f}" if value else "0.00"


def group_html(group: dict | None) -> str:
    """One group as a table: the answers from most pushed up to most pushed down, each grader's score, the reward
    and the advantage as a bar (green: made more likely, red: less likely); a line that says why."""
    if not group:
        return f'<div class="groups-note">{esc(t("groups.none"))}</div>'
    answers = sorted(group["answers"], key=lambda a: -(a.get("advantage") or 0.0))
    graders = list(dict.fromkeys(k for a in answers for k in (a.get("scores") or {})))
    rewards = [a["reward"] for a in answers if isinstance(a.get("reward"), int | float)]
    mean = sum(rewards) / len(rewards) if rewards else 0.0
    scale = max((abs(a.get("advantage") or 0.0) for a in answers), default=0.0) or 1.0
    with_advantage = any(a.get("advantage") is not None for a in answers)  # a dry run's groups have none
    head = "".join(f"<th>{esc(g)}</th>" for g in graders)
    lines = []
    for a in answers:
        adv = a.get("advantage")
        width = 0 if adv is None else round(48 * abs(adv) / scale)
        side = "up" if (adv or 0) > 0 else "down" if (adv or 0) < 0 else "zero"
        bar = (f'<div class="adv adv-{side}"><span style="width:{width}%"></span><b>'
               f'{"?" if adv is None else _num(adv)}</b></div>')  # fmt: skip
        scores = "".join(f"<td>{_num((a.get('scores') or {}).get(g))}</td>" for g in graders)
        bar = f'<td class="adv-cell">{bar}</td>' if with_advantage else ""
        lines.append(f'<tr><td class="answer">{esc(str(a.get("completion") or ""))}</td>{scores}'
                     f'<td>{_num(a.get("reward"))}</td>{bar}</tr>')  # fmt: skip
    why = t("groups.same") if group["same"] else t("groups.why", mean=f"{mean:.2f}")
    advantage_head = f'<th>{esc(t("groups.advantage"))}</th>' if with_advantage else ""
    return (
        f'<div class="groups"><div class="groups-q"><b>{esc(t("groups.question"))}</b> {esc(str(group["prompt"]))}'
        f'</div><div class="groups-why {"same" if group["same"] else ""}">{esc(why)}</div>'
        f'<table><thead><tr><th>{esc(t("groups.answer"))}</th>{head}<th>{esc(t("groups.reward"))}</th>'
        f'{advantage_head}</tr></thead><tbody>{"".join(lines)}</tbody></table></div>'
    )


def dry_run_html(summary: dict) -> str:
    """A dry run's verdict in plain words (and the fixes to try when the scores are flat), its numbers, and each
    sampled group (answers and scores; no advantages: nothing was trained)."""
    verdict = summary.get("verdict", "flat")
    numbers = t("dry.numbers", n=len(summary.get("rewards") or []), questions=summary.get("questions", 0),
                k=summary.get("num_generations", 0), mean=f"{summary.get('mean', 0):.2f}",
                std=f"{summary.get('std', 0):.2f}", zero=f"{100 * summary.get('zero_std_share', 0):.0f} %",
                seconds=f"{summary.get('total_seconds', 0):.0f}",
                warmup=t("dry.after_warmup") if summary.get("warmup") else t("dry.no_warmup"))  # fmt: skip
    advice = "".join(f"<li>{esc(t(key))}</li>" for key in summary.get("advice") or [])
    groups = "".join(group_html({**g, "index": i, "same": g.get("std", 0) < 1e-6})
                     for i, g in enumerate(summary.get("groups") or []))  # fmt: skip
    return (f'<div class="dry dry-{verdict}"><div class="dry-verdict">{esc(t(f"dry.verdict.{verdict}"))}</div>'
            f'<div class="dry-numbers">{esc(numbers)}</div>{f"<ul>{advice}</ul>" if advice else ""}'
            f"{groups}</div>")  # fmt: skip


def _choices(samples: list[dict], step: int | None) -> tuple[list[int], list[tuple[str, int]]]:
    steps = steps_of(samples)
    groups = groups_of(samples, step) if step in steps else []
    labels = [(t("groups.choice", n=g["index"] + 1, same=t("groups.choice_same") if g["same"] else ""), g["index"])
              for g in groups]  # fmt: skip
    return steps, labels


def browse(run_id: str | None, step: float | None, group: int | None):
    """The browser's update: the curve of same-score groups, the step slider's range, the group picker and the
    chosen group's table."""
    run = runs_view.find_run(run_id)
    samples = run.samples() if run else []
    zero = compare_plots.zero_std_figure(run.metrics() if run else [])
    steps = steps_of(samples)
    if not steps:
        nothing = gr.Slider(minimum=0, maximum=1, value=0, interactive=False)
        return zero, nothing, gr.Dropdown([], value=None), group_html(None)
    step = int(step) if step in steps else steps[-1]
    _, labels = _choices(samples, step)
    ids = [i for _, i in labels]
    group = group if group in ids else (ids[0] if ids else None)
    chosen = next((g for g in groups_of(samples, step) if g["index"] == group), None)
    # one step so far: a range of one is not a slider Gradio accepts (minimum < maximum), so it shows 0..1, fixed
    low, high = (steps[0], steps[-1]) if len(steps) > 1 else (min(0, step), max(1, step))
    slider = gr.Slider(minimum=low, maximum=high, value=step, step=1, interactive=len(steps) > 1)
    return zero, slider, gr.Dropdown(labels, value=group), group_html(chosen)


def build_groups_browser(run_id: gr.State | gr.Dropdown | gr.Textbox, refresh_on=()) -> dict:
    """An accordion "What GRPO sees": the share of same-score groups per step, a step slider, a group picker and the
    group's table for the run whose id is in ``run_id``; it updates when ``run_id`` changes and on each event in
    ``refresh_on`` (e.g. a poll)."""
    with gr.Accordion(L("groups.title"), open=False):
        gr.Markdown(L("groups.intro"))
        zero = gr.Plot(label=L("compare_plots.zero_std.title"), elem_classes=["lab-plot"])
        with gr.Row():
            step = gr.Slider(0, 1, 0, step=1, label=L("groups.step"), interactive=False, scale=3)
            group = gr.Dropdown([], value=None, label=L("groups.group"), scale=2)
        table = gr.HTML(lambda: group_html(None), elem_classes=["groups-block"])  # at page load: visitor's language
    # the step the student picked, for the refreshes: they must not send the slider's own value, which can lie
    # outside the range the previous refresh gave it (Gradio refuses an out-of-range slider value before the call)
    picked = gr.State(None)
    outputs = [zero, step, group, table]
    for trigger in (run_id.change, *refresh_on):
        trigger(browse, [run_id, picked, group], outputs, api_visibility="private", show_progress="hidden")
    step.release(browse, [run_id, step, group], outputs, api_name="groups", show_progress="hidden").then(
        lambda value: value, step, picked, api_visibility="private", show_progress="hidden"
    )
    group.input(browse, [run_id, picked, group], outputs, api_visibility="private", show_progress="hidden")
    return {"zero": zero, "step": step, "group": group, "table": table}
