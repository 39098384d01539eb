"""Layout checks of the app in a real browser, for tests and benchmarks (Playwright's sync API; the app never
imports this module).

The lesson's main output is answers side by side: a teacher must see every answer, its score and its verdict
without scrolling sideways. :func:`hidden_fields` measures that on the first card (``.answer-card``) of a view:
each answer (``.answer-field``), score (``.score-field``) and verdict (``.verdict-field``) whose box is not fully
inside the viewport horizontally, or is cut off by an ancestor that clips or scrolls (``overflow`` other than
``visible``), is named. ``[]`` means all of it can be read at that viewport (``VIEWPORT``, 1280×800).

>>> sorted(launch_options())
['args', 'executable_path']
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["ARGS", "CHROMIUM", "FIELDS", "VIEWPORT", "error_badges", "hidden_fields", "launch_options", "serve_app"]

ROOT = Path(__file__).resolve().parent.parent

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium (``make test`` installs it); Playwright drives it instead of downloading its own."""
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 800}
"""The laptop-sized viewport the layout is measured at."""
FIELDS = ".answer-field, .score-field, .verdict-field"
CARD = ".answer-card"

_MEASURE = """
(card, selector) => {
  const visible = (style) => style.overflowX === "visible" && style.overflowY === "visible";
  const name = (el) => {
    const kind = [...el.classList].find((c) => c.endsWith("-field")) || el.tagName.toLowerCase();
    const field = el.closest("[data-field]");
    const text = (el.getAttribute("data-field") || el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
    const owner = field && field !== el ? ` of '${field.getAttribute("data-field")}'` : "";
    return `${kind}${owner} '${text}'`;
  };
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of card.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) { out.push(`${name(el)}: not rendered`); continue; }
    const why = [];
    if (box.left < -0.5 || box.right > width + 0.5) {
      why.push(`x ${Math.round(box.left)}..${Math.round(box.right)} px outside the ${width} px viewport`);
    }
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (visible(style)) continue;
      const clip = a.getBoundingClientRect();
      const cutX = style.overflowX !== "visible" && (box.left < clip.left - 0.5 || box.right > clip.right + 0.5);
      const cutY = style.overflowY !== "visible" && (box.top < clip.top - 0.5 || box.bottom > clip.bottom + 0.5);
      if (cutX || cutY) {
        const tag = a.tagName.toLowerCase() + (a.id ? "#" + a.id : "") +
          (a.classList.length ? "." + [...a.classList].slice(0, 2).join(".") : "");
        why.push(`cut by ${tag} (overflow ${style.overflowX}/${style.overflowY})`);
        break;
      }
    }
    if (why.length) out.push(`${name(el)}: ${why.join("; ")}`);
  }
  return out;
}
"""


_SEEN = """
(el) => {
  for (let a = el; a; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.display === "none" || s.visibility === "hidden" || Number(s.opacity) === 0) return false;
  }
  const box = el.getBoundingClientRect();
  return box.width > 0 && box.height > 0;
}
"""


def launch_options() -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch``: the system chromium with the flags a container needs."""
    return {"executable_path": str(CHROMIUM), "args": list(ARGS)}


@contextlib.contextmanager
def serve_app(home: Path, env: dict[str, str] | None = None, timeout_s: float = 120) -> Iterator[str]:
    """``python app.py`` in a subprocess on a free loopback port with ``LAB_HOME=home`` (offline, no analytics,
    ``env`` on top); yields the page's URL once it answers, and stops the app on exit. Its output goes to
    ``home/app.log``; an app that does not start raises ``RuntimeError`` with the end of that log."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LAB_HOME": str(home), "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}  # fmt: skip
    log_path = Path(home) / "app.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.time() + timeout_s
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        tail = log_path.read_text(errors="replace")[-3000:]
                        raise RuntimeError(f"the app did not start ({log_path}):\n{tail}") from None
                    time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def hidden_fields(page, root_selector: str, card: str = CARD, fields: str = FIELDS) -> list[str]:
    """Descriptions of the fields of the first ``card`` under ``root_selector`` that cannot be read in full
    (see the module docstring); ``[]`` when all are visible. The card is scrolled into view first (vertically: a
    view lower on the page counts the same). With no card under the root, the one description says so.

    ``page`` is a Playwright ``Page``; ``card``/``fields`` select other markup (a table's first ``tr`` and its
    ``td``, say) for layouts measured the same way.
    """
    first = page.locator(root_selector).locator(card).first
    if not first.count():
        return [f"{root_selector}: no {card} to measure"]
    first.evaluate("(el) => el.scrollIntoView({block: 'start', inline: 'nearest'})")
    page.wait_for_timeout(100)  # let a smooth scroll settle
    return list(first.evaluate(_MEASURE, fields))


def error_badges(page, root_selector: str) -> int:
    """How many red "Error" badges (Gradio's status tracker after a failed event) a person sees under the root.
    Gradio keeps a hidden tracker in every component, so only the ones actually drawn (not transparent, not
    hidden) count."""
    badges = page.locator(root_selector).locator('[data-testid="status-tracker"] .error')
    return sum(1 for i in range(badges.count()) if badges.nth(i).evaluate(_SEEN))
