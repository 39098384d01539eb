"""Browser smoke test: the real app in a subprocess, driven by headless Chromium as a student would use it.

RFT tab: picks a bundled task set, sees its preview, grades an answer in the playground, starts a run on the tiny
model and stops it, then finds the run in the Runs tab. RLHF tab: chats with the tiny model (``LAB_CHAT_MODEL``),
gets a streamed answer and rates it with a thumb up, which the live counts show. Skipped only when
/usr/bin/chromium is missing (``make test`` installs it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]  # fmt: skip
ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing: run `make test`")


@pytest.fixture
def app_url(fresh_home):
    """The app served from a subprocess on a free port, with LAB_HOME set to a fresh folder."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LAB_HOME": str(fresh_home), "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False", "LAB_CHAT_MODEL": "tiny"}  # fmt: skip
    log = open(fresh_home / "app.log", "wb")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"the app did not start:\n{(fresh_home / 'app.log').read_text()[-3000:]}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_rft_tab_in_a_browser(app_url, fresh_home):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        page.goto(app_url)

        # the tab renders: the four RFT steps and the bundled task's preview
        expect(page.get_by_text("RLHF vs RFT lab").first).to_be_visible()
        expect(page.get_by_text("Initial SFT", exact=True)).to_be_visible()
        expect(page.get_by_text("Using bundled task set")).to_be_visible()

        # pick bundled task sets: their preview tables appear
        page.get_by_label("Bundled task set").click()
        page.get_by_role("option", name="capitals").click()
        expect(page.get_by_text("Using bundled task set capitals")).to_be_visible()
        page.get_by_label("Bundled task set").click()
        page.get_by_role("option", name="opposites").click()
        expect(page.get_by_text("Using bundled task set opposites")).to_be_visible()
        preview = page.get_by_role("grid", name="Preview (first 20 rows)")
        expect(preview).to_contain_text("cold")

        # grader playground: the default grader gives partial credit to a wordy right answer
        page.get_by_label("Model output").fill("It is cold, I think.")
        page.get_by_role("button", name="Grade", exact=True).click()
        expect(page.get_by_text("reward = 0.500")).to_be_visible()
        expect(page.get_by_role("grid", name="Scores")).to_contain_text("partial_credit")

        # train on the tiny model, then stop: the status card follows the run folder
        page.get_by_text("Advanced options").click()
        model = page.get_by_label("Model", exact=True)
        model.fill("tiny")
        model.press("Enter")
        page.get_by_role("button", name="Train", exact=True).click()
        status = page.locator(".run-card").first
        expect(status.locator(".badge")).to_have_text("running", timeout=30_000)
        page.get_by_role("button", name="Stop", exact=True).click()
        expect(status.locator(".badge")).to_have_text("stopped", timeout=15_000)

        # the Runs tab lists it
        page.get_by_role("tab", name="Runs").click()
        page.get_by_role("button", name="Refresh list").click()
        expect(page.get_by_role("grid", name="All runs")).to_contain_text("stopped")
        browser.close()
    assert list((fresh_home / "runs").glob("*/config.json"))


def test_rlhf_tab_in_a_browser(app_url, fresh_home):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        page.goto(app_url)
        page.get_by_role("tab", name="RLHF: human ratings → reward model → RL").click()

        # the tab renders: the four RLHF steps, the chat, the live counts (an empty store)
        expect(page.get_by_text("Human ratings", exact=True)).to_be_visible()
        expect(page.get_by_label("Model to chat with")).to_have_value("tiny: random test model")
        count = page.locator(".feedback-stats .n-ratings")
        expect(count).to_have_text("0")

        # a message gets a streamed answer from the tiny model
        page.get_by_label("Your message").fill("Name three colours.")
        page.get_by_role("button", name="Send", exact=True).click()
        answer = page.locator(".bot").last
        expect(answer).not_to_have_text("…", timeout=30_000)  # "…" until the first token
        expect(page.get_by_label("Your message")).to_have_value("")
        send = page.get_by_role("button", name="Send", exact=True)
        expect(send).to_be_enabled(timeout=30_000)  # off while the answer streams
        assert answer.inner_text().strip()

        # a thumb up is stored at once: the count goes up
        page.get_by_role("button", name="Like").last.click()
        expect(count).to_have_text("1")
        browser.close()
    from lab.feedback import FeedbackStore

    ratings = FeedbackStore(fresh_home / "feedback.sqlite").ratings()
    assert list(ratings["label"]) == [True] and ratings.iloc[0]["prompt"] == "Name three colours."
    assert ratings.iloc[0]["model"] == "tiny" and ratings.iloc[0]["completion"].strip()
