"""Browser smoke test: the real app in a subprocess, driven by headless Chromium as a student would use it.

RFT tab: picks a bundled task set, sees its preview, grades an answer in the playground, starts a run on the tiny
model and stops it, then finds the run in the Runs tab. RLHF tab: chats with the tiny model (``LAB_CHAT_MODEL``),
gets a streamed answer and rates it with a thumb up, which the live counts show. At 1280×800: tiny RFT and DPO
runs from the page, Compare and the Runs tab show their answers side by side with nothing out of sight
(``lab.browser.hidden_fields``). Skipped only when /usr/bin/chromium is missing (``make test`` installs it).
"""

from __future__ import annotations

import pytest

from lab.browser import CHROMIUM, launch_options, serve_app

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is missing: run `make test`")


@pytest.fixture
def app_url(fresh_home):
    """The app served from a subprocess on a free port, with LAB_HOME set to a fresh folder."""
    try:
        with serve_app(fresh_home, {"LAB_CHAT_MODEL": "tiny"}, timeout_s=60) as url:
            yield url
    except RuntimeError as exc:
        if "did not start" not in str(exc):
            raise
        pytest.fail(str(exc))


def test_rft_tab_in_a_browser(app_url, fresh_home):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options())
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        page.goto(app_url)
        expect(page.get_by_role("tab", name="Learn: RLHF vs RFT")).to_be_visible()  # the first tab
        page.get_by_role("tab", name="RFT: reference answers + graders").click()

        # the tab renders: the four RFT steps and the bundled task's preview
        expect(page.get_by_text("RLHF vs RFT lab").first).to_be_visible()
        expect(page.locator(".step-cards").get_by_text("Initial SFT", exact=True)).to_be_visible()
        expect(page.get_by_text("Using bundled task set")).to_be_visible()

        # pick bundled task sets: their preview tables appear
        page.get_by_label("Bundled task set").click()
        page.get_by_role("option", name="capitals", exact=True).click()
        expect(page.get_by_text("Using bundled task set capitals")).to_be_visible()
        page.get_by_label("Bundled task set").click()
        page.get_by_role("option", name="opposites", exact=True).click()
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
        browser = p.chromium.launch(**launch_options())
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


# ------------------------------------------------------------------ what a teacher sees at 1280×800: it all fits

LONG = ("The capital of France is Paris, a city on the Seine that has been the country's political and cultural "
        "centre for centuries; it hosts the government, the Louvre and about two million people. ") * 3
WORD = "Supercalifragilisticexpialidocious" * 5  # one very long word: it must wrap, not widen its column


def _knob(page, label: str, value) -> None:
    """Type a value into a knob (a slider's number box or a plain box) on the visible tab."""
    box = page.get_by_label(f"number input for {label}", exact=True).locator("visible=true")
    if not box.count():
        box = page.get_by_label(label, exact=True).locator("visible=true")
    box.fill(str(value))
    box.press("Enter")


def _long_answer_runs() -> tuple[str, str]:
    """Two finished run folders (RFT, RLHF) whose answers are long: written as a worker writes them, not trained."""
    from lab import runs

    rft = runs.create("rft", {"task": "capitals", "model": "tiny"})
    rft.set_status(state="done", stage="done", step=2, max_steps=2, started=1.0, ended=9.0)
    example = {"question": "What is the capital of France? Answer with one word.", "reference": "Paris",
               "before": LONG, "before_reward": 0.5, "after_sft": f"{WORD} Paris", "after_sft_reward": 0.5,
               "after": "Paris", "after_reward": 1.0}  # fmt: skip
    rft.write_summary({"method": "rft", "model": "tiny", "task": "capitals", "before": {"accuracy": 0.0},
                       "after": {"accuracy": 1.0}, "examples": [example] * 3})  # fmt: skip
    rlhf = runs.create("rlhf", {"route": "dpo", "feedback": "store", "model": "tiny"})
    rlhf.set_status(state="done", stage="done", step=2, max_steps=2, started=1.0, ended=9.0)
    example = {"prompt": "Why is the sky blue?", "base": LONG, "tuned": f"Sunlight scatters. {WORD}", "base_rm": -0.4,
               "tuned_rm": 0.9, "verdict": "tuned", "base_complete": False, "tuned_complete": True}  # fmt: skip
    rlhf.write_summary({"method": "rlhf", "algorithm": "dpo", "model": "tiny", "persona": "concise",
                        "win_rate": 1.0, "before": {"rm_score": -0.4}, "after": {"rm_score": 0.9},
                        "examples": [example] * 3})  # fmt: skip
    return rft.id, rlhf.id


def _pick_run(page, run_id: str) -> None:
    page.get_by_label("Run", exact=True).click()
    page.get_by_role("option", name=run_id).click()


def test_answers_side_by_side_fit_at_1280(app_url, fresh_home):
    """Tiny RFT and DPO runs started from the page, then Compare and the Runs tab: every view shows one card per
    prompt whose answers, scores and verdicts are all inside a 1280×800 window (``lab.browser.hidden_fields``).
    What needs no training (runs with long answers, the RLHF knobs, a harmless click) is checked while one trains."""
    from playwright.sync_api import expect, sync_playwright

    from lab.browser import VIEWPORT, error_badges, hidden_fields, launch_options
    from lab.feedback import FeedbackStore

    store = FeedbackStore(fresh_home / "feedback.sqlite")  # enough pairs for DPO, as if people had rated
    for i in range(12):
        store.add_pair(f"Question number {i}?", f"Yes {i}.", f"{LONG} {i}", model="tiny", session="s")
    long_rft, long_rlhf = _long_answer_runs()
    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options())
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(20_000)
        page.goto(app_url)
        page.get_by_role("tab", name="RFT: reference answers + graders").click()

        # RFT: a tiny run from the page; the status card speaks in words and its elapsed time ticks
        page.get_by_text("Advanced options").click()
        _knob(page, "Model", "tiny")
        for label, value in (("GRPO steps", 1), ("Held-out questions", 3), ("Validate every N steps", 0)):
            _knob(page, label, value)
        page.get_by_label("SFT warm-up first (step 2)").uncheck()  # quicker; the long-answer run has that column
        page.get_by_role("button", name="Train", exact=True).click()
        status = page.locator(".run-card").first
        expect(status.locator(".elapsed")).to_be_visible(timeout=30_000)
        expect(status.locator(".stage-note")).not_to_be_empty()

        # meanwhile, the Runs tab: runs with long answers wrap and fold; Stop on a finished run says so
        page.get_by_role("tab", name="Runs").click()
        page.get_by_role("button", name="Refresh list").click()
        for run_id in (long_rft, long_rlhf):
            _pick_run(page, run_id)
            expect(page.locator("#runs-answers .answer-card").first).to_contain_text("Supercalifragilistic")
            assert hidden_fields(page, "#runs-answers") == []
            assert page.locator("#runs-answers details.fold").count() == 3  # the long base answer folds
        page.get_by_role("button", name="Stop this run").click()
        expect(page.get_by_text("has already finished").first).to_be_visible()

        # and the RLHF tab: the knobs show each route's real defaults; a harmless click leaves no red "Error"
        page.get_by_role("tab", name="RLHF: human ratings → reward model → RL").click()
        steps = page.get_by_label("number input for Policy steps", exact=True)
        expect(steps).to_have_value("12")
        page.get_by_label("KTO (thumbs)").check()
        expect(steps).to_have_value("24")
        page.get_by_label("DPO (pairs)").check()
        expect(steps).to_have_value("12")
        page.get_by_label("Your message").fill("Hi")  # the chat loads the model in the app: Compare starts sooner
        page.get_by_role("button", name="Send", exact=True).click()
        page.get_by_role("tab", name="Two answers: which is better?").click()
        page.get_by_role("button", name="A is better").click()
        expect(page.get_by_text("sample two answers first").first).to_be_visible()
        assert error_badges(page, ".pair-answer") == 0
        page.get_by_text("More knobs").click()
        _knob(page, "Base model to tune", "tiny")
        for label, value in (("Policy steps", 1), ("Held-out prompts", 3), ("Judged answer length (tokens)", 6),
                             ("Reward model epochs", 1), ("Batch size (KTO/DPO)", 4)):  # fmt: skip
            _knob(page, label, value)

        # the RFT run's results: one card per held-out question, everything inside the window
        page.get_by_role("tab", name="RFT: reference answers + graders").click()
        expect(status.locator(".badge")).to_have_text("done", timeout=90_000)
        expect(page.locator("#rft-answers .answer-card")).to_have_count(3)
        assert hidden_fields(page, "#rft-answers") == []

        # RLHF: a tiny DPO run on the store's pairs
        page.get_by_role("tab", name="RLHF: human ratings → reward model → RL").click()
        page.get_by_role("button", name="Train", exact=True).locator("visible=true").click()
        status = page.locator(".run-card").locator("visible=true").first
        expect(status.locator(".badge")).to_have_text("done", timeout=90_000)
        dpo_run = status.locator("code").inner_text()
        expect(page.locator("#rlhf-answers .answer-card")).to_have_count(3)
        assert hidden_fields(page, "#rlhf-answers") == []

        # Compare: the two finished runs answer their held-out prompts, base | run A | run B
        page.get_by_role("tab", name="Compare: RLHF vs RFT").click()
        page.get_by_role("button", name="Refresh runs").locator("visible=true").click()
        page.get_by_role("button", name="Held-out prompts of A and B").click()
        expect(page.get_by_label("Prompts (one per line)")).not_to_have_value("")
        _knob(page, "Max answer length (tokens)", 16)
        page.get_by_role("button", name="Compare", exact=True).click()
        expect(page.locator("#compare-answers .answer-card").first).to_be_visible(timeout=60_000)
        assert page.locator("#compare-answers .answer-card").first.locator(".answer-field").count() == 3
        assert hidden_fields(page, "#compare-answers") == []

        # Runs: the DPO run shows its cards there too
        page.get_by_role("tab", name="Runs").click()
        page.get_by_role("button", name="Refresh list").click()
        _pick_run(page, dpo_run)
        expect(page.locator("#runs-answers .answer-card")).to_have_count(3)
        expect(page.locator("#runs-answers .answer-card").first).not_to_contain_text("Supercalifragilistic")
        assert hidden_fields(page, "#runs-answers") == []
        browser.close()


def test_the_page_in_chinese(app_url, fresh_home):
    """A Chinese browser (zh-CN) reads the page in Chinese — labels (gr.I18n) and text made at run time (the Learn
    table, a dry run's verdict) — and the language switch turns it to English and back."""
    from playwright.sync_api import expect, sync_playwright

    from lab.browser import VIEWPORT

    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options())
        context = browser.new_context(locale="zh-CN", viewport=VIEWPORT)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(app_url)
        expect(page.get_by_text("RLHF 与 RFT 实验室").first).to_be_visible()
        tabs = [t.inner_text() for t in page.get_by_role("tab").all()]
        assert tabs[:5] == ["学习：RLHF 与 RFT", "RFT：参考答案 + 评分器", "RLHF：人类评分 → 奖励模型 → 强化学习",
                            "运行记录", "对比：RLHF 与 RFT"]  # fmt: skip
        # the Learn table is made at page load in the visitor's language: the article's words, what is missing
        table = page.locator("#learn-table")
        expect(table).to_contain_text("高质量任务数据和参考答案")
        expect(table).to_contain_text("还没有已完成的 RFT 运行")
        expect(page.get_by_role("button", name="▶ 课堂引导演示：先 RFT，再 RLHF")).to_be_visible()
        # a pipeline button takes the student to the RFT tab; its labels and run-time text are Chinese too
        page.get_by_role("button", name="① 数据").click()
        expect(page.get_by_label("内置任务集")).to_be_visible()
        shown = page.locator("#lab-tabs").locator(
            "label:visible, button:visible, [data-testid='block-info']:visible, .prose:visible, .label-wrap:visible"
        ).all_inner_texts()  # the page's own words; the task's rows (English data) are not checked
        english = _english_words(" ".join(shown))
        assert len(shown) > 20 and not english, f"English words on the Chinese page: {english[:20]}"
        # a dry run on the tiny model (no warm-up: quicker): its verdict comes in Chinese
        page.get_by_text("高级选项").first.click()
        _knob(page, "模型", "tiny")
        page.get_by_label("先做 SFT 预热（第 2 步）").uncheck()
        page.get_by_text("训练之前：试运行，看看 GRPO 会看到什么").click()
        page.get_by_role("button", name="试运行：GRPO 会看到什么？", exact=True).click()
        expect(page.locator(".dry-verdict")).to_contain_text("平坦", timeout=120_000)  # tiny: every score the same
        # the switch: English, remembered across a reload; then back
        page.locator("#lab-language").get_by_text("English").click()
        expect(page.get_by_text("RLHF vs RFT lab").first).to_be_visible()
        page.reload()
        expect(page.get_by_role("tab", name="Learn: RLHF vs RFT")).to_be_visible()
        page.locator("#lab-language").get_by_text("中文").click()
        expect(page.get_by_role("tab", name="学习：RLHF 与 RFT")).to_be_visible()
        browser.close()


# words of three or more Latin letters that are page text, not data: model, grader, task names and acronyms are data
_DATA_WORDS = {
    "RLHF", "RFT", "GRPO", "RLOO", "SFT", "LoRA", "KL", "DPO", "KTO", "PPO", "TRL", "JSON", "JSONL", "CSV", "API",
    "OpenAI", "SmolLM2", "Instruct", "embedded", "tiny", "opposites", "capitals", "zh_arithmetic", "zh_capitals",
    "zh_opposites", "partial_credit", "contains_answer", "exact_match", "token", "tokens", "Hub", "beta", "epoch",
    "epochs", "top", "min", "max", "cold", "answer", "question", "word", "country", "type", "name", "input",
    "reference", "item", "sample", "output_text", "float", "score", "text_similarity", "fuzzy_match", "python",
    "csv", "jsonl", "json", "messages", "system", "developer", "user", "string_check", "multi", "regex", "length",
    "numeric", "label_model", "score_model", "reference_answer", "prompt", "query", "instruction", "problem", "ideal",
    "target", "solution", "expected", "output", "zh_", "seed", "Seed", "Adam", "AdamW",
}  # fmt: skip


def _english_words(text: str) -> list[str]:
    import re

    return [w for w in re.findall(r"[A-Za-z][A-Za-z_]{2,}", text) if w not in _DATA_WORDS and not w.isupper()]
