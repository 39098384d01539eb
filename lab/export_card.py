"""The model card of an export (``lab.export``): a Hugging Face ``README.md`` and its curve, ``curve.svg``.

The card says what the run was — method, data, graders (RFT) or persona and feedback (RLHF), every option of its
config — and what it measured: the before / after numbers of ``summary.json`` (RFT: held-out reward, exact match
and each grader, before, after the SFT warm-up and after RL; RLHF: reward-model score, words, finished answers,
liked by the persona, and the win rate). The curve is drawn here as SVG from ``metrics.jsonl`` — a polyline per
series on the run's one time line — so no browser (plotly's image export needs Chrome) and no plotting library is
needed. The card is an English document, as cards on the Hub are. Also the helpers the recipe shares: the templates
of ``lab/export_templates/`` (:func:`fill`) and a model's Hub id (:func:`hub_id`). No torch here.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime
from pathlib import Path

from lab import runs

__all__ = ["TEMPLATES", "base_name", "curve_svg", "fill", "hub_id", "run_method", "write_card"]

TEMPLATES = Path(__file__).resolve().parent / "export_templates"
"""The card's and the recipe's templates: text with ``{{name}}`` placeholders."""


def run_method(run: runs.Run) -> tuple[str, dict]:
    """``(method, options)`` of a run's ``config.json``."""
    spec = run.config()
    return spec.get("method", ""), spec.get("config", {})


def base_name(run: runs.Run) -> str:
    """The model name the run trained on (``embedded`` when the config left it out)."""
    return run_method(run)[1].get("model") or (run.summary() or {}).get("model") or "embedded"


def fill(template: str, **values: object) -> str:
    """``{{name}}`` → its value in a template of :data:`TEMPLATES`; a placeholder without a value is a bug."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    text = re.sub(r"\{\{(\w+)\}\}", lambda m: str(values[m.group(1)]), text)
    return text


def hub_id(model: str) -> str | None:
    """The Hub id a model name stands for (``embedded`` → SmolLM2-135M-Instruct), ``None`` for a local model."""
    from lab import models

    if model == models.EMBEDDED:
        return models.EMBEDDED_REPO
    if model == models.TINY or Path(model).expanduser().is_dir() or model.count("/") != 1:
        return None
    return model


def _num(x: object) -> str:
    return "–" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(_num(v) for v in row) + " |" for row in rows])


def _results(summary: dict) -> tuple[str, str]:
    """``(what was held out, the before/after table)`` of an RFT or RLHF summary."""
    if summary.get("method") == "rlhf":
        rows = [[label, summary.get("before", {}).get(k), summary.get("after", {}).get(k)]
                for k, label in (("rm_score", "reward-model score"), ("mean_words", "words per answer"),
                                 ("complete", "finished answers"), ("liked", "liked by the persona"))]  # fmt: skip
        table = _table(["", "base", "tuned"], rows)
        if summary.get("win_rate") is not None:
            table += f"\n\nWin rate of the tuned model against the base (ties count half): {summary['win_rate']:.3f}"
        return f"prompts ({summary.get('heldout_prompts', '?')})", table
    stages = [k for k in ("before", "after_sft", "after") if summary.get(k)]
    names = {"before": "before", "after_sft": "after SFT", "after": "after RL"}
    graders = sorted({g for k in stages for g in summary[k].get("graders", {})})
    rows = [["reward (sum of graders)", *(summary[k].get("valid_reward") for k in stages)],
            ["exact match", *(summary[k].get("accuracy") for k in stages)]]  # fmt: skip
    rows += [[f"grader `{g}`", *(summary[k].get("graders", {}).get(g) for k in stages)] for g in graders]
    table = _table(["", *(names[k] for k in stages)], rows)
    if summary.get("partial"):
        table += "\n\nThe run was stopped before the end: these are the numbers it measured before it stopped."
    return f"questions ({summary.get('valid_size', '?')})", table


def _curve_series(run: runs.Run) -> list[tuple[str, list[tuple[float, float]]]]:
    """The card's curve: GRPO's reward and the held-out reward (RFT), or the policy's loss / reward (RLHF), on the
    run's one time line (``lab.plots.metrics_frame``: each stage goes on where the one before ended)."""
    from lab.plots import metrics_frame

    frame = metrics_frame(run.metrics())
    wanted = [("grpo", "reward", "reward of the sampled answers"), ("base", "valid_reward", "held-out reward"),
              ("grpo", "valid_reward", "held-out reward"), ("rl", "reward", "reward (reward model)"),
              ("kto", "loss", "KTO loss"), ("dpo", "loss", "DPO loss"), ("sft", "loss", "SFT loss")]  # fmt: skip
    series: dict[str, list[tuple[float, float]]] = {}
    for stage, key, label in wanted:
        if key not in frame.columns:
            continue
        rows = frame[(frame["stage"] == stage) & frame[key].notna()]
        points = [(float(x), float(y)) for x, y in zip(rows["x"], rows[key], strict=True) if math.isfinite(y)]
        if points:
            series.setdefault(label, []).extend(points)
    if "reward of the sampled answers" in series or "held-out reward" in series:
        series.pop("SFT loss", None)  # another scale: the RFT card shows rewards
    return list(series.items())


def curve_svg(series: list[tuple[str, list[tuple[float, float]]]], title: str = "", width: int = 640,
              height: int = 320) -> str:  # fmt: skip
    """A line chart as SVG text: one polyline per ``(label, [(x, y), …])``, axes with ticks, a legend.

    >>> svg = curve_svg([("reward", [(0, 0.0), (1, 0.5), (2, 1.0)])], "GRPO")
    >>> svg.startswith("<svg") and "<polyline" in svg and "reward" in svg
    True
    >>> "no points" in curve_svg([])
    True
    """
    colors = ["#6366f1", "#f97316", "#10b981", "#ef4444", "#0ea5e9", "#a855f7"]
    left, right, top, bottom = 56, 16, 32, 64
    w, h = width - left - right, height - top - bottom
    points = [p for _, pts in series for p in pts]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{_esc(title)}</text>']  # fmt: skip
    if not points:
        return "\n".join([*out, f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no points</text>',
                          "</svg>"])  # fmt: skip
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    sx = lambda x: left + (x - x0) / (x1 - x0) * w  # noqa: E731
    sy = lambda y: top + h - (y - y0) / (y1 - y0) * h  # noqa: E731
    out.append(f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#94a3b8"/>')
    for i in range(5):
        yv, xv = y0 + (y1 - y0) * i / 4, x0 + (x1 - x0) * i / 4
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{sy(yv):.1f}" y2="{sy(yv):.1f}" stroke="#e2e8f0"/>')
        out.append(f'<text x="{left - 6}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.3g}</text>')
        out.append(f'<text x="{sx(xv):.1f}" y="{top + h + 16}" text-anchor="middle">{xv:.3g}</text>')
    out.append(f'<text x="{left + w / 2}" y="{top + h + 32}" text-anchor="middle">step</text>')
    for i, (label, pts) in enumerate(series):
        color = colors[i % len(colors)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in sorted(pts))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>')
        for x, y in pts:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{color}"/>')
        lx = left + i * 200
        out.append(f'<rect x="{lx}" y="{height - 18}" width="12" height="4" fill="{color}"/>')
        out.append(f'<text x="{lx + 16}" y="{height - 13}">{_esc(label)}</text>')
    return "\n".join([*out, "</svg>"])


def _esc(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _method_text(method: str, cfg: dict, summary: dict) -> tuple[str, str, str, str]:
    """``(method name, what it did, data, (graders or persona) title and text)`` for the card."""
    if method == "rlhf":
        route, fb = summary.get("algorithm") or cfg.get("route") or "rm-rl", summary.get("feedback") or {}
        name = {"rm-rl": f"RLHF: reward model + {summary.get('rl_algorithm') or 'GRPO'}", "kto": "RLHF: KTO",
                "dpo": "RLHF: DPO"}.get(route, route)  # fmt: skip
        text = {
            "rm-rl": "A reward model (TRL `RewardTrainer`) learned the rater's taste from preference pairs; the "
            "policy was trained against it with RL and a KL leash to the base model.",
            "kto": "TRL `KTOTrainer` learned straight from the thumbs up / down, no reward model.",
            "dpo": "TRL `DPOTrainer` learned straight from the preference pairs, no reward model.",
        }.get(route, "")
        data = (f"Feedback: {fb.get('given') or 'simulated by the persona'}; {fb.get('ratings_used', '?')} ratings "
                f"and {fb.get('pairs_used', '?')} pairs used.")  # fmt: skip
        persona = summary.get("persona") or cfg.get("persona")
        return name, text, data, f"Persona\n\n{f'`{persona}`' if persona else 'none (human feedback)'}"
    steps = summary.get("steps") or cfg.get("steps")
    warm = cfg.get("warmup", True)
    text = ((f"An SFT warm-up on the reference answers (TRL `SFTTrainer`, {summary.get('sft_seconds', '?')} s), "
             "then " if warm else "") +
            f"{steps} steps of GRPO (TRL `GRPOTrainer`) on the same LoRA adapter: for each question several "
            "answers were sampled and graded, and the better-graded ones made more likely.")  # fmt: skip
    task = Path(str(summary.get("task") or cfg.get("task") or "opposites")).name
    data = (f"Task `{task}`: {summary.get('train_size', '?')} training questions, "
            f"{summary.get('valid_size', '?')} held out" + (f" (`{Path(cfg['valid_task']).name}`)."
                                                            if cfg.get("valid_task") else "."))  # fmt: skip
    if summary.get("split_note"):
        data += f"\n\n{summary['split_note']}"
    graders = cfg.get("graders") or (summary.get("config") or {}).get("graders") or []
    spec = json.dumps(graders, indent=2, ensure_ascii=False) if graders else "the lab's default grader"
    return "RFT (GRPO against graders)", text, data, f"Graders\n\n```json\n{spec}\n```"


def write_card(run: runs.Run, dest: Path, items: tuple) -> None:
    from huggingface_hub import ModelCard, ModelCardData

    summary, (method, cfg) = run.summary() or {}, run_method(run)
    base = base_name(run)
    hub = hub_id(base)
    if hub is None:  # a local model: the card names its folder
        from lab import models

        base = str(models.resolve(base).resolve())
    name, text, data, judges = _method_text(method, cfg, summary)
    judges_title, judges_text = judges.split("\n\n", 1)
    heldout, results = _results(summary)
    series = _curve_series(run)
    curve = ""
    if series:
        (dest / "curve.svg").write_text(curve_svg(series, f"run {run.id}"), encoding="utf-8")
        curve = "## Training curve\n\n![training curve](curve.svg)"
    settings = summary.get("config") or cfg
    hyper = _table(["option", "value"], [[f"`{k}`", f"`{json.dumps(v, ensure_ascii=False)}`"]
                                         for k, v in settings.items() if k != "graders"])  # fmt: skip
    contents = ["`README.md` (this card)"] + (["`curve.svg`"] if series else [])
    contents += [f"`{w}/`" for w in items if w in ("adapter", "merged", "recipe")]
    created = datetime.fromtimestamp(run.config().get("created") or time.time()).strftime("%Y-%m-%d %H:%M")
    body = fill(
        "card.md", title=f"{run.id}: {name}", base=hub or base, method=name, run_id=run.id, created=created,
        method_text=text, data_text=data, judges_title=judges_title, judges_text=judges_text, hyperparameters=hyper,
        heldout=heldout, results=results, curve=curve, contents="Files: " + ", ".join(contents) + ".",
    )  # fmt: skip
    meta = ModelCardData(base_model=hub, library_name="peft", pipeline_tag="text-generation",
                         tags=["trl", "peft", "lora", "rlhf-rft-lab", method or "run"] +
                              ([cfg.get("route") or "rm-rl"] if method == "rlhf" else ["grpo"]))  # fmt: skip
    ModelCard(f"---\n{meta.to_yaml()}\n---\n\n{body}").save(dest / "README.md")
