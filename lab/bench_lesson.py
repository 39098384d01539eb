"""``python -m lab bench --what lesson``: the default lesson driven in a real browser, as a teacher would run it.

The README's other numbers come from the command line; this part measures what a class sees. It starts the app on a
fresh ``LAB_HOME`` and drives it in headless Chromium (Debian's ``/usr/bin/chromium`` through Playwright; no
browser download) at a 1280×800 viewport, with every knob at the page's default:

1. **prepare** — the one-time conversion of the embedded model into the fresh ``LAB_HOME`` (``wall_seconds.prepare``),
   done before the app starts, as ``make run`` does on a new machine;
2. **RFT** — the RFT tab's Train with the default task and graders; from the click to the results shown
   (``wall_seconds.rft``); the run's ``summary.json`` gives ``rft.before`` / ``rft.after_sft`` / ``rft.after``
   (exact-match accuracy, 0–1) and ``rft.train_seconds``, and the page must show the after-RL accuracy;
3. **RLHF** — one chat message, its answer rated 👍, the default simulated ratings (``wall_seconds.simulate``),
   then Train with the defaults (``wall_seconds.rlhf``): ``rlhf.win_rate``, ``rlhf.rm_accuracy``,
   ``rlhf.rm_heldout_pairs``, ``rlhf.train_seconds``;
4. **Compare** — the two runs side by side on their held-out prompts (``wall_seconds.compare``);
5. **layout** — for the first card of RFT results, RLHF results, Compare and the Runs tab's view, the answer,
   score and verdict fields that are not fully visible (:func:`lab.browser.hidden_fields`):
   ``layout.hidden_columns`` must be 0 (``layout.hidden`` names them).

Screenshots of each view go to ``<out>.shots/`` when ``--out`` is given. Nothing here fails a build.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lab import browser, runs

ROOT = Path(__file__).resolve().parent.parent
TABS = {
    "rft": "RFT: reference answers + graders",
    "rlhf": "RLHF: human ratings → reward model → RL",
    "runs": "Runs",
    "compare": "Compare: RLHF vs RFT",
}
ANSWERS = {"rft": "#rft-answers", "rlhf": "#rlhf-answers", "compare": "#compare-answers", "runs": "#runs-answers"}
RUN_MINUTES = 15  # a run that takes longer than this is reported as not finished


def prepare(home: Path) -> float:
    """The one-time model preparation in the fresh LAB_HOME (the embedded GGUF → a plain folder), in seconds."""
    t = time.time()
    code = "from lab import models; models.resolve('embedded')"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "LAB_HOME": str(home)}, check=True)
    return round(time.time() - t, 1)


def _newest_run(home: Path, method: str, since: float = 0.0) -> Path | None:
    """The newest run folder of ``method`` under ``home``, created at ``since`` or later (``None`` if none)."""
    found = []
    for config in (home / "runs").glob("*/config.json"):
        spec = runs.Run(config.parent).config()
        if spec.get("method") == method and spec.get("created", 0) >= since:
            found.append((spec.get("created", 0), config.parent))
    return max(found)[1] if found else None


def _summary(folder: Path | None) -> dict:
    return (runs.Run(folder).summary() or {}) if folder else {}


def _wait_done(page, home: Path, method: str, clicked: float, timeout_s: float) -> str:
    """Wait until the run the click (at ``clicked``) started has a final state and the page's run card shows it;
    returns the state ('' on time-out). The run folder is watched, not the page: asking the page every second would
    cost its renderer a layout each time — CPU the training worker shares on 2 cores, and a teacher does not."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        folder = _newest_run(home, method, since=clicked - 1)
        state = runs.Run(folder).status().get("state") if folder else None
        if state in runs.FINAL_STATES:
            badge = page.locator(".run-card .badge").locator("visible=true").filter(has_text=state).first
            badge.wait_for(timeout=max(1.0, deadline - time.time()) * 1000)
            return state
        time.sleep(2)
    return ""


def _tab(page, name: str) -> None:
    page.get_by_role("tab", name=TABS[name]).click()
    page.wait_for_timeout(500)


def _shot(page, shots: Path | None, name: str) -> None:
    if shots is not None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=False)


def _rft(page, home: Path, out: dict, shots: Path | None) -> None:
    _tab(page, "rft")
    t = time.time()
    page.get_by_role("button", name="Train", exact=True).locator("visible=true").first.click()
    state = _wait_done(page, home, "rft", t, RUN_MINUTES * 60)
    folder = _newest_run(home, "rft")
    summary = _summary(folder)
    after = (summary.get("after") or {}).get("accuracy")
    if after is not None:  # the results are on the page: the after-RL accuracy as the results card writes it
        page.locator(ANSWERS["rft"]).locator(browser.CARD).first.wait_for(timeout=60_000)
    out["wall_seconds"]["rft"] = round(time.time() - t, 1)
    out["rft"] = {
        "state": state,
        "run": folder.name if folder else None,
        "before": (summary.get("before") or {}).get("accuracy"),
        "after_sft": (summary.get("after_sft") or {}).get("accuracy"),
        "after": after,
        "train_seconds": summary.get("train_seconds"),
        "valid_size": summary.get("valid_size"),
    }
    out["layout"]["hidden"]["rft"] = browser.hidden_fields(page, ANSWERS["rft"])
    _shot(page, shots, "rft_results")


def _rlhf(page, home: Path, out: dict, shots: Path | None) -> None:
    _tab(page, "rlhf")
    page.get_by_label("Your message").fill("Name three colours.")
    send = page.get_by_role("button", name="Send", exact=True)
    t = time.time()
    send.click()
    page.wait_for_timeout(500)
    send.wait_for(state="visible")
    deadline = time.time() + 120
    while not send.is_enabled() and time.time() < deadline:  # off while the answer streams
        page.wait_for_timeout(300)
    out["wall_seconds"]["chat"] = round(time.time() - t, 1)
    page.get_by_role("button", name="Like").last.click()

    t = time.time()
    page.get_by_role("button", name="Add simulated ratings").click()
    page.get_by_text(re.compile(r"rated \d+ answers")).first.wait_for(timeout=RUN_MINUTES * 60_000)
    out["wall_seconds"]["simulate"] = round(time.time() - t, 1)

    t = time.time()
    page.get_by_role("button", name="Train", exact=True).locator("visible=true").first.click()
    state = _wait_done(page, home, "rlhf", t, RUN_MINUTES * 60)
    folder = _newest_run(home, "rlhf")
    summary = _summary(folder)
    if summary.get("examples"):
        page.locator(ANSWERS["rlhf"]).locator(browser.CARD).first.wait_for(timeout=60_000)
    out["wall_seconds"]["rlhf"] = round(time.time() - t, 1)
    rm = summary.get("reward_model") or {}
    out["rlhf"] = {
        "state": state,
        "run": folder.name if folder else None,
        "win_rate": summary.get("win_rate"),
        "verdicts": summary.get("verdicts"),
        "rm_accuracy": rm.get("accuracy"),
        "rm_heldout_pairs": rm.get("n_heldout_pairs"),
        "train_seconds": summary.get("train_seconds"),
        "pairs_used": (summary.get("feedback") or {}).get("pairs_used"),
        "words": [(summary.get("before") or {}).get("mean_words"), (summary.get("after") or {}).get("mean_words")],
    }
    out["layout"]["hidden"]["rlhf"] = browser.hidden_fields(page, ANSWERS["rlhf"])
    _shot(page, shots, "rlhf_results")


def _pick(page, label: str, run_id: str | None) -> None:
    box = page.get_by_label(label, exact=True)
    box.click()
    page.get_by_role("option").filter(has_text=run_id or "").first.click()


def _compare(page, out: dict, shots: Path | None) -> None:
    _tab(page, "compare")
    page.get_by_role("button", name="Refresh runs").locator("visible=true").first.click()
    page.wait_for_timeout(1000)
    _pick(page, "Run A", out["rft"].get("run"))
    _pick(page, "Run B", out["rlhf"].get("run"))
    page.get_by_role("button", name="Held-out prompts of A and B").click()
    page.wait_for_timeout(1000)
    t = time.time()
    page.get_by_role("button", name="Compare", exact=True).click()
    page.locator(ANSWERS["compare"]).locator(browser.CARD).first.wait_for(timeout=RUN_MINUTES * 60_000)
    out["wall_seconds"]["compare"] = round(time.time() - t, 1)
    out["layout"]["hidden"]["compare"] = browser.hidden_fields(page, ANSWERS["compare"])
    _shot(page, shots, "compare")


def _runs(page, out: dict, shots: Path | None) -> None:
    _tab(page, "runs")
    page.get_by_role("button", name="Refresh list").click()
    page.wait_for_timeout(1000)
    _pick(page, "Run", out["rft"].get("run"))
    page.locator(ANSWERS["runs"]).locator(browser.CARD).first.wait_for(timeout=60_000)
    out["layout"]["hidden"]["runs"] = browser.hidden_fields(page, ANSWERS["runs"])
    _shot(page, shots, "runs")


def bench_lesson(model: str = "embedded", out_file: str | None = None) -> dict[str, Any]:
    """The default lesson through the browser; see the module docstring for what each number means."""
    from playwright.sync_api import sync_playwright

    if model != "embedded":
        print("bench lesson: the page's default model is the embedded one; --model is ignored", flush=True)
    home = Path(tempfile.mkdtemp(prefix="lab-lesson-"))
    shots = Path(f"{out_file}.shots") if out_file else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"lab_home": str(home), "wall_seconds": {}, "layout": {"hidden": {}}}
    out["wall_seconds"]["prepare"] = prepare(home)
    env = {"LAB_CHAT_MODEL": ""}  # the page's default chat model (the embedded one), whatever this shell sets
    with browser.serve_app(home, env) as url, sync_playwright() as p:
        t0 = time.time()
        chromium = p.chromium.launch(**browser.launch_options())
        page = chromium.new_page(viewport=browser.VIEWPORT)
        page.set_default_timeout(30_000)
        page.goto(url)
        steps = [lambda: _rft(page, home, out, shots), lambda: _rlhf(page, home, out, shots),
                 lambda: _compare(page, out, shots), lambda: _runs(page, out, shots)]  # fmt: skip
        for name, step in zip(("rft", "rlhf", "compare", "runs"), steps, strict=True):
            try:
                step()
            except Exception as exc:  # report what broke and go on: the other numbers still count
                out.setdefault("errors", []).append(f"{name}: {type(exc).__name__}: {exc}")
                _shot(page, shots, f"error_{name}")
        chromium.close()
    hidden = out["layout"]["hidden"]
    out["layout"]["hidden_columns"] = sum(len(v) for v in hidden.values()) if len(hidden) == 4 else None
    out["wall_seconds"]["lesson"] = round(time.time() - t0, 1)
    rft = out.get("rft") or {}
    if rft.get("after") is not None and rft.get("before") is not None:
        rft["gain"] = round(rft["after"] - rft["before"], 4)
    return out
