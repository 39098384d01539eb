"""Tests for ``lab.feedback.personas``: each simulated rater's rule, ties, win rates (ties count half), the helpers the
simulator uses, and the bundled prompt list."""

from __future__ import annotations

import pytest

from lab import LabError
from lab.feedback.personas import (
    PERSONAS,
    PROMPT_SETS,
    Persona,
    get,
    load_prompts,
    pair_up,
    rate_answers,
    split_prompts,
    verdicts,
    win_rate,
)

SHORT = "Paris."
LONG = " ".join(["word"] * 40)


def test_the_four_personas_exist_and_describe_themselves():
    assert {"concise", "polite", "chinese", "number"} <= set(PERSONAS)
    for name, persona in PERSONAS.items():
        assert isinstance(persona, Persona) and persona.name == name and persona.description


def test_concise():
    p = get("concise")
    assert p.likes("Q?", SHORT) and not p.likes("Q?", LONG)
    assert p.likes("Q?", " ".join(["w"] * 25)) and not p.likes("Q?", " ".join(["w"] * 26))
    assert p.prefer("Q?", SHORT, LONG) == 1 and p.prefer("Q?", LONG, SHORT) == -1
    assert p.prefer("Q?", "One two three.", "One two three four.") == 0  # within the margin: a tie
    assert p.likes("Q?", "这" * 20) and not p.likes("Q?", "这" * 30)  # each Chinese character is a word


def test_polite():
    p = get("polite")
    polite = "Certainly! I'm glad to help. Thank you for asking, and sorry for the wait."
    assert p.score("Q?", polite) == 4
    assert p.likes("Q?", "Of course: it is Paris.") and not p.likes("Q?", "Paris.")
    assert p.prefer("Q?", "Please try the soup.", "Try the soup.") == 1
    assert p.prefer("Q?", "Thanks!", "Please do.") == 0
    assert p.likes("Q?", "谢谢你的问题。") and p.score("Q?", "Pleased to meet you") == 0  # whole words only


def test_chinese():
    p = get("chinese")
    assert p.score("Q?", "巴黎。") > 0.5 and p.likes("Q?", "答案是巴黎")
    assert not p.likes("Q?", "Paris") and p.score("Q?", "") == 0.0
    assert p.prefer("Q?", "巴黎 is the capital", "Paris is the capital") == 1
    assert p.prefer("Q?", "巴黎", "巴黎。") == 0 and p.score("Q?", "巴黎！") == 1.0  # punctuation is ignored
    assert p.prefer("Q?", "巴黎是首都", "巴黎是首都 ok") == 1


def test_number():
    p = get("number")
    assert p.likes("Q?", "Boil it for 7 minutes.") and p.likes("Q?", "About three hundred.")
    assert p.likes("Q?", "需要五分钟。") and not p.likes("Q?", "Boil it until done.")
    assert p.prefer("Q?", "Two eggs.", "Some eggs.") == 1
    assert p.score("Q?", "1 2 3 4 5 6") == 3  # capped: more numbers are not ever better
    assert not p.likes("Q?", "Someone is done.")  # 'one' inside words is no number


def test_get_lists_the_names():
    assert get(" POLITE ") is PERSONAS["polite"] and get(PERSONAS["number"]) is PERSONAS["number"]
    with pytest.raises(LabError) as info:
        get("grumpy")
    assert "grumpy" in str(info.value) and all(name in str(info.value) for name in PERSONAS)


def test_win_rate_and_verdicts():
    prompts = ["a", "b", "c", "d"]
    tuned = ["Yes.", LONG, "Same answer here.", "Ok."]
    base = [LONG, "No.", "Same answer here.", LONG]
    assert verdicts("concise", prompts, tuned, base) == ["tuned", "base", "tie", "tuned"]
    assert win_rate("concise", prompts, tuned, base) == pytest.approx(2.5 / 4)
    assert win_rate("concise", prompts, base, base) == 0.5  # no change: every prompt a tie
    assert win_rate("concise", ["a"], [SHORT], [LONG]) == 1.0
    with pytest.raises(LabError, match="same length"):
        win_rate("concise", prompts, tuned, base[:3])
    with pytest.raises(LabError, match="no prompts"):
        win_rate("concise", [], [], [])


def test_rate_answers_and_pair_up():
    assert rate_answers("polite", ["Q?", "Q?"], ["Thank you!", "No."]) == [True, False]
    assert pair_up("number", "Q?", "Lots.", "42.") == ("42.", "Lots.")
    assert pair_up("number", "Q?", "42.", "Lots.") == ("42.", "Lots.")
    assert pair_up("number", "Q?", "Lots.", "Many.") is None
    with pytest.raises(LabError, match="answers: 1"):
        rate_answers("polite", ["Q?", "Q?"], ["Thank you!"])


def test_bundled_prompts():
    prompts = load_prompts()
    assert len(prompts) >= 120 and len(set(prompts)) == len(prompts)
    assert all(p and "\n" not in p and not p.startswith("#") for p in prompts)
    assert 3 <= sum(get("chinese").likes("", p) for p in prompts) < len(prompts) // 4  # a few in Chinese
    train, heldout = split_prompts(prompts)
    assert len(heldout) == 40 and len(train) == len(prompts) - 40 and not set(train) & set(heldout)
    assert split_prompts(prompts) == (train, heldout) and split_prompts(prompts, seed=1) != (train, heldout)


def test_load_prompts_from_a_file(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("# a comment\nFirst?\n\n  Second?  \nFirst?\n", encoding="utf-8")
    assert load_prompts(path) == ["First?", "Second?"]
    path.write_bytes(b"ok\ncaf\xe9\n")
    with pytest.raises(LabError, match="line 2"):
        load_prompts(path)
    with pytest.raises(LabError, match="not found"):
        load_prompts(tmp_path / "missing.txt")
    with pytest.raises(LabError, match="hold out"):
        split_prompts(["a", "b"], n_heldout=2)


def test_chinese_prompts_are_the_same_prompts_line_for_line():
    en, zh = load_prompts(), load_prompts("zh")
    assert load_prompts("en") == en and load_prompts(PROMPT_SETS["zh"]) == zh
    assert len(zh) == len(en) and len(set(zh)) == len(zh)  # a duplicate would be dropped and shift the order
    assert zh[0] == "解释一下什么是彩虹。" and zh[-1] == en[-1] == "讲一个关于猫的小故事。"
    assert sum(get("chinese").likes("", p) for p in zh) == len(zh) - 1  # all Chinese; one asks about "serendipity"
    _, heldout = split_prompts(zh)
    assert len(heldout) == 40 and [en.index(p) for p in split_prompts(en)[1]] == [zh.index(p) for p in heldout]


def test_personas_score_chinese_answers_as_they_score_english_ones():
    polite, number = get("polite"), get("number")
    assert polite.score("", "当然可以！很乐意帮忙，希望对你有帮助。") == polite.score(
        "", "Of course! Glad to help, hope this helps.") == 3  # fmt: skip
    assert polite.score("", "我申请了签证，收到了邀请函。") == 0  # 申请/邀请 ("apply"/"invite") are no courtesy
    assert polite.prefer("", "请稍等，谢谢！", "稍等。") == 1
    assert number.score("", "大约一百二十分钟。") == number.score("", "About 120 minutes.") == 1  # one number
    assert number.score("", "第一，先洗手。") == number.score("", "First, wash your hands.") == 1
    assert number.score("", "一些人一下就懂了。") == 0  # 一 alone is "one"/"a", no number
    assert number.prefer("", "需要三到五分钟。", "需要一会儿。") == 1
    assert get("concise").prefer("", "巴黎。", "法国的首都是巴黎，一座美丽的城市。") == 1
    assert get("chinese").prefer("", "巴黎。", "Paris.") == 1


def test_rlhf_config_takes_the_prompt_set_by_name():
    from lab import methods
    from lab.methods.rlhf_config import Config

    assert Config().prompts == "en" and Config(prompts="zh").prompts == "zh"
    assert methods.normalize("rlhf", {"prompts": " zh "}) == {"prompts": "zh"}  # what --set prompts=zh gives
    for bad in ("fr", "", "assets/prompts_zh.txt"):
        with pytest.raises(LabError, match=r"rlhf: prompts must be one of en, zh"):
            methods.make_config("rlhf", {"prompts": bad})
