"""Benchmark: the guided class demo through the browser, as a new user in a Chinese browser takes it.

``python -m lab bench --what guided --out guided.json`` — a fresh ``LAB_HOME`` (the one-time model preparation is
timed apart), the app started, headless Chromium at 1280×800 with ``locale="zh-CN"`` and the page's defaults:

1. the Learn tab: press *Guided class demo* (▶ 课堂引导演示); wait until the article's table has no missing cell
   (the page refreshes it while the runs train) — **the demo's wall time**, and each run's own time;
2. the filled table (screenshot, in Chinese and in English), its numbers (the runs' headlines);
3. Compare: the RFT and RLHF reward curves overlaid, relative to each run's start (what the plot drew);
4. what *What GRPO sees* browses for the RFT run: its answers in groups with their advantages.

The ``LAB_HOME`` is kept, so the finished demo can be walked through afterwards.

Screenshots go to ``<out>.shots/``. Numbers, never pass/fail.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from lab import browser, results, runs
from lab.bench_lesson import prepare

__all__ = ["bench_guided"]

DEMO_MINUTES = 25  # a demo longer than this is reported as not finished


def _shot(page, shots: Path | None, name: str, selector: str | None = None) -> None:
    if shots is None:
        return
    target = page.locator(selector).first if selector else page
    target.screenshot(path=str(shots / f"{name}.png"))


def bench_guided(out_file: str | None = None, locale: str = "zh-CN") -> dict[str, Any]:
    """The guided demo through the browser; see the module docstring."""
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="lab-guided-"))
    shots = Path(f"{out_file}.shots") if out_file else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"lab_home": str(home), "locale": locale, "wall_seconds": {}}
    out["wall_seconds"]["prepare"] = prepare(home)
    os.environ["LAB_HOME"] = str(home)  # this process reads the app's run folders (lab.results, lab.runs)
    with browser.serve_app(home, {"LAB_CHAT_MODEL": ""}) as url, sync_playwright() as p:
        chromium = p.chromium.launch(**browser.launch_options())
        context = chromium.new_context(locale=locale, viewport=browser.VIEWPORT)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(url)
        page.locator("#learn-table").wait_for()
        out["missing_cells_before"] = page.locator("#learn-table td.missing").count()
        t0 = time.time()
        page.locator("button", has_text="▶").first.click()  # the guided demo (its label starts with ▶)
        deadline = t0 + DEMO_MINUTES * 60
        while time.time() < deadline and page.locator("#learn-table td.missing").count() > 0:
            time.sleep(5)
        out["wall_seconds"]["guided_demo"] = round(time.time() - t0, 1)
        out["missing_cells_after"] = page.locator("#learn-table td.missing").count()
        _shot(page, shots, f"learn_table_{locale}", "#learn-table")
        finished = results.finished()
        out["runs"] = []
        for run in finished:
            s = run.status()
            row = results.headline(run)
            row["run_seconds"] = round((s.get("ended") or 0) - (s.get("started") or 0), 1)
            row["queued_to_end_seconds"] = round((s.get("ended") or 0) - run.config().get("created", 0), 1)
            out["runs"].append(row)
        out["all_done"] = sorted(r["kind"] for r in out["runs"]) == ["rft", "rlhf"]
        # the same table in English: a second visitor with an English browser
        en = chromium.new_context(locale="en-US", viewport=browser.VIEWPORT).new_page()
        en.goto(url)
        en.locator("#learn-table").wait_for()
        en.wait_for_timeout(1500)
        _shot(en, shots, "learn_table_en-US", "#learn-table")
        # Compare: the two reward curves overlaid, relative to each run's start
        page.locator("#lab-tabs button[role=tab]").nth(4).click()
        page.wait_for_timeout(3000)
        out["compare_curve_traces"] = page.locator("#lab-tabs .js-plotly-plot .scatterlayer .trace").count()
        _shot(page, shots, "compare_curves", ".js-plotly-plot >> visible=true")
        chromium.close()
    rft = next((r for r in finished if results.kind_of(r.summary() or {}) == "rft"), None)
    if rft is not None:  # what "What GRPO sees" browses: every answer of each step with its group and advantage
        rows = [s for s in rft.samples() if "advantage" in s]
        out["groups"] = {"answers": len(rows), "steps": len({s["step"] for s in rows}),
                         "nonzero_advantages": sum(1 for s in rows if s["advantage"])}  # fmt: skip
    runs_here = runs.list_runs()
    out["runs_created"] = len(runs_here)
    return out
