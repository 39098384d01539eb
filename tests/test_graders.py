"""Graders: normalization, the plain TRL reward functions, JSON specs (OpenAI schema + ours), validation, explain."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from lab import LabError
from lab.grading import (
    DEFAULT_SPEC,
    GRADER_FUNCTIONS,
    PRESETS,
    build_grader,
    contains_answer,
    exact_match,
    explain,
    fuzzy_match,
    is_exact,
    normalize,
    numeric_match,
    parse_spec,
    validate_spec,
)
from lab.messages import completion_text

OUT, ANS = "{{sample.output_text}}", "{{item.answer}}"


def sim(metric: str, **extra) -> dict:
    return {"type": "text_similarity", "name": metric, "input": OUT, "reference": ANS, "evaluation_metric": metric,
            **extra}  # fmt: skip


def grade(spec: dict, outputs: list[str], answers: list, **columns) -> list[float | None]:
    return build_grader(spec)(outputs, answer=answers, **columns)


# ---------------------------------------------------------------------------------------------- normalize / exact


@pytest.mark.parametrize(
    ("output", "reference", "same"),
    [
        ("Paris", "paris", True),
        ("  **Paris.** ", "Paris", True),
        ('"Paris"', "paris", True),
        ("The   capital", "the capital", True),
        ("ＰＡＲＩＳ！", "paris", True),  # full-width letters and punctuation (NFKC)
        ("北京。", "北京", True),
        ("「北京」", "北京", True),
        ("“上海”！", "上海", True),
        ("-5", "5", False),
        ("C++", "C", False),
        ("Paris is the capital", "Paris", False),
        ("巴黎是首都", "巴黎", False),
    ],
)
def test_is_exact_english_and_chinese(output, reference, same):
    assert is_exact(output, reference) is same


def test_normalize_keeps_inner_text_and_collapses_spaces():
    assert normalize("  The  Answer:\n 42. ") == "the answer: 42"
    assert normalize("**答案：北京**。") == "答案:北京"
    assert normalize(None) == ""


def test_completion_text_accepts_trl_shapes():
    assert completion_text("hi") == "hi"
    assert completion_text([{"role": "assistant", "content": "Paris"}]) == "Paris"
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "Pa"}, "ris"]}]) == "Paris"
    assert completion_text(None) == ""


# ---------------------------------------------------------------------------------------------- plain functions


def test_exact_match_and_contains_answer_partial_credit():
    outputs = ["Paris", "It is Paris.", "Parisian food", "Lyon", "首都是北京", "北京"]
    answers = ["paris", "paris", "paris", "paris", "北京", "北京"]
    assert exact_match(outputs, answer=answers) == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert contains_answer(outputs, answer=answers) == [1.0, 0.5, 0.0, 0.0, 0.5, 1.0]


def test_contains_answer_respects_number_boundaries():
    outputs = ["It is 4.", "14", "4.5", "4,000 people", "answer: 4"]
    assert contains_answer(outputs, answer=[4] * 5) == [0.5, 0.0, 0.0, 0.0, 0.5]


def test_contains_answer_gives_reward_variance_on_conversational_completions():
    completions = [[{"role": "assistant", "content": t}] for t in ["Paris", "I think Paris", "London"]]
    rewards = contains_answer(completions, answer=["Paris"] * 3, prompts=["q"] * 3, trainer_state=object())
    assert rewards == [1.0, 0.5, 0.0]


def test_numeric_match():
    outputs = ["3.1416", "about 3", "-12 degrees", "It costs $1,234.50", "no number", "first 1 then 42"]
    answers = ["3.14159", "3.14159", "-12", "1234.5", "7", "42"]
    assert numeric_match(outputs, answer=answers, tolerance=0.001) == [1.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    assert numeric_match(outputs[-1:], answer=["42"], position="last") == [1.0]
    assert numeric_match(["100"], answer=["101"], tolerance=0.01) == [1.0]
    assert numeric_match(["100"], answer=["102"], tolerance=0.01) == [0.0]
    assert numeric_match(["5"], answer=["five"]) == [None]  # a non-numeric reference: not applicable


def test_fuzzy_match_is_case_insensitive_ratio():
    a, b, c = fuzzy_match(["PARIS", "Pari", "xyz"], answer=["Paris"] * 3)
    assert a == 1.0 and 0.8 < b < 1.0 and c == 0.0


def test_grader_functions_dict_uses_trl_signature():
    assert {"contains_answer", "exact_match", "numeric_match", "fuzzy_match", "rouge_l", "bleu"} <= set(
        GRADER_FUNCTIONS
    )
    for name, fn in GRADER_FUNCTIONS.items():
        if name == "cosine":
            continue  # loads MiniLM; tested with the spec below
        rewards = fn(["42", "7"], answer=["42", "42"], prompts=["q", "q"], completion_ids=[[1], [2]])
        assert len(rewards) == 2 and rewards[0] == 1.0 and rewards[1] < 1.0, name


# ---------------------------------------------------------------------------------------------- OpenAI spec types


@pytest.mark.parametrize(
    ("operation", "expected"),
    [("eq", [1.0, 0.0, 0.0]), ("ne", [0.0, 1.0, 1.0]), ("like", [1.0, 0.0, 0.0]), ("ilike", [1.0, 1.0, 0.0])],
)
def test_string_check_operations(operation, expected):
    spec = {"type": "string_check", "name": "sc", "input": OUT, "reference": ANS, "operation": operation}
    assert grade(spec, ["Paris", "the city of paris", "Lyon"], ["Paris"] * 3) == expected


@pytest.mark.parametrize(
    "metric", ["fuzzy_match", "bleu", "gleu", "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l"]
)
def test_text_similarity_metrics_rank_answers(metric):
    reference = "the quick brown fox jumps over the lazy dog"
    same, close, far = grade(
        sim(metric), [reference, "the quick brown fox jumps over a dog", "bananas"], [reference] * 3
    )
    assert same == pytest.approx(1.0)
    assert 0.0 < close < 1.0, close
    assert far < 0.2 and far < close  # fuzzy_match still sees a few shared letters


def test_rouge_scores_chinese_text():
    # rouge_score's own tokenizer drops non-ASCII; ours splits CJK into characters
    scores = grade(sim("rouge_1"), ["巴黎是法国的首都", "香蕉"], ["法国首都是巴黎"] * 2)
    assert scores[0] > 0.7 and scores[1] == 0.0


def test_cosine_with_minilm_orders_by_meaning():
    same, related, unrelated = grade(
        sim("cosine"),
        ["Paris is the capital of France", "The French capital is Paris", "I like green bananas"],
        ["Paris is the capital of France"] * 3,
    )
    assert same == pytest.approx(1.0, abs=1e-4)
    assert related > 0.8 > 0.3 > unrelated >= 0.0


def test_pass_threshold_keeps_the_score_and_explain_says_pass_or_fail():
    spec = sim("fuzzy_match", pass_threshold=0.8)
    assert grade(spec, ["Pariss"], ["Paris"]) == [pytest.approx(0.909, abs=1e-3)]
    score, why = explain(spec, "Pariss", {"answer": "Paris"})
    assert score == pytest.approx(0.909, abs=1e-3) and "pass at 0.8" in why
    assert "fail at 0.8" in explain(spec, "Lyon", {"answer": "Paris"})[1]


def test_our_types_numeric_regex_length_and_shorthands():
    assert grade({"type": "numeric", "tolerance": 0.01}, ["about 99.5", "90"], ["100", "100"]) == [1.0, 0.0]
    regex = {"type": "regex", "pattern": r"\d+", "mode": "fullmatch"}
    assert grade(regex, ["42", "42 apples"], ["x", "x"]) == [1.0, 0.0]
    assert grade({**regex, "mode": "search"}, ["42", "42 apples"], ["x", "x"]) == [1.0, 1.0]
    assert grade({"type": "regex", "pattern": "^paris$", "ignore_case": True}, ["PARIS"], ["x"]) == [1.0]
    # brevity: 1.0 up to the limit, then linear decay to 0 at twice the limit
    brevity = {"type": "length", "max_words": 4}
    assert grade(brevity, ["one two", "one two three four five six", " ".join(["w"] * 9)], [""] * 3) == [1.0, 0.5, 0.0]
    assert grade({"type": "length", "min_chars": 10}, ["12345"], [""]) == [0.5]
    assert grade({"type": "length", "max_words": 2}, ["北京是首都"], [""]) == [0.0]  # each CJK character is a word
    assert grade({"type": "exact_match"}, ["Paris.", "paris is"], ["Paris"] * 2) == [1.0, 0.0]
    assert grade({"type": "contains_answer"}, ["Paris.", "paris is", "no"], ["Paris"] * 3) == [1.0, 0.5, 0.0]


# ---------------------------------------------------------------------------------------------- templates


def test_templates_read_any_column_nested_values_and_output_json():
    spec = {"type": "string_check", "input": "{{ sample.output_text }}", "reference": "{{item.meta.aliases[1]}}",
            "operation": "eq"}  # fmt: skip
    meta = [{"aliases": ["Paris", "City of Light"]}] * 2
    assert build_grader(spec)(["City of Light", "Paris"], meta=meta) == [1.0, 0.0]

    spec = {"type": "string_check", "input": "{{sample.output_json.city}}", "reference": "{{item.reference_answer}}",
            "operation": "eq"}  # fmt: skip
    rewards = build_grader(spec)(['{"city": "Paris"}', "Paris", '{"town": "Paris"}'], reference_answer=["Paris"] * 3)
    assert rewards == [1.0, None, None]  # not JSON / no such key: no score for that row

    spec = {"type": "string_check", "input": "Q: {{item.prompt}} A: {{sample.output_text}}", "reference": "A: 4",
            "operation": "like"}  # fmt: skip
    assert build_grader(spec)(["4", "5"], prompts=["2+2?", "2+2?"]) == [1.0, 0.0]  # TRL's prompts= is item.prompt


def test_missing_values_score_none_and_missing_columns_are_an_error():
    reward = build_grader({"type": "exact_match"})
    assert reward(["Paris", "Paris"], answer=["Paris", None]) == [1.0, None]
    with pytest.raises(LabError, match=r"item.answer.*no field 'answer'.*reference_answer"):
        reward(["Paris"], reference_answer=["Paris"])


def test_build_grader_ignores_kwargs_that_are_not_per_row_columns():
    reward = build_grader({"type": "contains_answer", "name": "my grader! v2"})
    assert reward.__name__ == "my_grader_v2"
    assert reward.spec["type"] == "contains_answer"
    got = reward(["Paris", "x"], answer=["Paris", "Paris"], trainer_state={"step": 3}, completion_ids=[[1], [2]],
                 log_extra=print, other=[1, 2, 3])  # fmt: skip
    assert got == [1.0, 0.0]
    assert build_grader({"type": "numeric"}).__name__ == "numeric"


# ---------------------------------------------------------------------------------------------- multi formulas


def test_multi_combines_sub_scores_with_a_safe_formula():
    spec = {
        "type": "multi", "name": "combo",
        "graders": {"answer": {"type": "contains_answer"}, "short": {"type": "length", "max_words": 3}},
        "calculate_output": "0.5 * answer + 0.5 * short",
    }  # fmt: skip
    assert grade(spec, ["Paris", "It is Paris", "the capital of France is Paris"], ["Paris"] * 3) == [
        1.0, 0.5 * 0.5 + 0.5 * 1.0, 0.5 * 0.5 + 0.5 * 0.0,
    ]  # fmt: skip
    spec["calculate_output"] = "min(answer, short) + (answer >= 1) * 0.5 - abs(-0.25) + clip(2)"
    assert grade(spec, ["Paris"], ["Paris"]) == [1.0 + 0.5 - 0.25 + 1.0]


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("2 ^ 3 ^ 2", 512.0),  # right-associative: 2 ^ (3 ^ 2), not (2 ^ 3) ^ 2 = 64
        ("a * 3 ^ 2", 9.0),  # tighter than *: a * 9
        ("(a * 3) ^ 2", 9.0),
        ("1 + a ^ 2 * 3", 4.0),
        ("4 ^ 0.5 / 2", 1.0),  # tighter than /
        ("-a ^ 2", -1.0),  # as in mathematics: -(a ^ 2)
        ("2 ^ -1", 0.5),
        ("a ^ 2 + 1 ^ 3", 2.0),
    ],
)
def test_caret_is_power_with_openai_precedence(formula, expected):
    spec = {"type": "multi", "graders": {"a": {"type": "exact_match"}}, "calculate_output": formula}
    assert grade(spec, ["Paris"], ["Paris"]) == [expected]  # a = 1 (exact match)
    validate_spec(spec)  # the spec's check accepts it (a refused formula raises LabError)


def test_multi_gives_none_for_math_errors_and_missing_parts():
    spec = {"type": "multi", "graders": {"a": {"type": "exact_match"}, "n": {"type": "numeric"}},
            "calculate_output": "a / (a - 1) + n"}  # fmt: skip
    assert grade(spec, ["1", "2"], ["1", "one"]) == [None, None]  # division by zero; n has no number to compare
    spec["calculate_output"] = "2.0 ** 10 ** 10 * a"  # overflows quickly instead of hanging
    assert grade(spec, ["1"], ["1"]) == [None]


@pytest.mark.parametrize(
    ("formula", "problem"),
    [
        ("__import__('os').system('true')", "not allowed"),
        ("a.__class__", "not allowed"),
        ("b + 1", "'b' is not one of the graders"),
        ("'x' * 3", "not allowed"),
        ("max(a, key=abs)", "not allowed"),
        ("a +", "is not a formula"),
        ("a ^^ 2", "is not a formula"),
        ("[a for a in ()]", "not allowed"),
    ],
)
def test_multi_formula_refuses_anything_but_arithmetic(formula, problem):
    spec = {"type": "multi", "graders": {"a": {"type": "exact_match"}}, "calculate_output": formula}
    with pytest.raises(LabError, match="calculate_output") as e:
        validate_spec(spec)
    assert problem in str(e.value)


# ---------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "multi", "graders": {"a": {"type": "string_check", "operation": "equals"}}, "calculate_output": "a"},
         "graders.a.operation: 'equals' is not one of eq, ne, like, ilike"),
        ({"type": "text_similarity", "evaluation_metric": "jaccard"}, "evaluation_metric: 'jaccard' is not one of"),
        ({"type": "text_similarity", "evaluation_metric": "meteor"}, "evaluation_metric: 'meteor' needs NLTK"),
        ({"type": "text_similarity"}, "evaluation_metric: missing"),
        ({"type": "string_check", "operation": "eq", "refrence": "x"}, "refrence: unknown field for a string_check"),
        ({"type": "label_model"}, "input: missing"),
        ({"type": "banana"}, "type: 'banana' is not one of string_check"),
        ({"type": "exact_match", "input": "{{output}}"}, "input: {{output}} is not a template"),
        ({"type": "exact_match", "reference": "{{sample.text}}"}, "reference: sample has output_text"),
        ({"type": "numeric", "tolerance": -1}, "tolerance: must be a number ≥ 0"),
        ({"type": "regex", "pattern": "(unclosed"}, "pattern: '(unclosed' is not a valid regular expression"),
        ({"type": "length"}, "needs at least one of min_words"),
        ({"type": "length", "min_words": 5, "max_words": 2}, "min_words: 5 is more than max_words"),
        ({"type": "length", "max_words": 2.5}, "max_words: must be a whole number"),
        ({"type": "multi", "graders": {}, "calculate_output": "1"}, "graders: must be an object of named graders"),
        ({"type": "multi", "graders": {"max": {"type": "exact_match"}}, "calculate_output": "1"}, "graders.max:"),
        ({"type": "python", "source": "def grade(sample, item):\n    return (\n"}, "source: python grader, line 2"),
        ({"type": "python", "source": "x = 1"}, "source: python grader: the source must define grade"),
        ([1, 2], "grader spec: must be a JSON object"),
    ],
)  # fmt: skip
def test_validation_errors_name_the_field(spec, message):
    with pytest.raises(LabError) as e:
        validate_spec(spec)
    assert message in str(e.value)


def test_validation_checks_item_fields_when_given():
    spec = {"type": "multi", "calculate_output": "x",
            "graders": {"x": {"type": "string_check", "operation": "eq", "reference": "{{item.answr}}"}}}  # fmt: skip
    validate_spec(spec)  # without the data's fields, any item field is fine
    with pytest.raises(LabError, match=r"graders.x.reference: \{\{item.answr\}\} names a field .*answer, prompt"):
        validate_spec(spec, {"prompt", "answer"})


# ---------------------------------------------------------------------------------------------- parse / explain


def test_parse_spec_from_text_file_and_errors(tmp_path):
    assert parse_spec(' {"type": "exact_match"} ') == {"type": "exact_match"}
    path = tmp_path / "grader.json"
    path.write_text(json.dumps(PRESETS["fuzzy"]), encoding="utf-8")
    assert parse_spec(str(path)) == PRESETS["fuzzy"]
    with pytest.raises(LabError, match=r"line 3, column 3: invalid JSON"):
        parse_spec('{\n  "type": "exact_match",\n  oops\n}')
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "string_check", "operation": "is"}', encoding="utf-8")
    with pytest.raises(LabError, match=r"bad.json: operation: 'is' is not one of"):
        parse_spec(str(bad))
    with pytest.raises(LabError, match="neither a JSON object"):
        parse_spec(str(tmp_path / "missing.json"))
    listed = tmp_path / "list.json"
    listed.write_text("[1]", encoding="utf-8")
    with pytest.raises(LabError, match="must be a JSON object"):
        parse_spec(str(listed))


def test_explain_says_why():
    spec = {"type": "string_check", "name": "eq", "input": OUT, "reference": ANS, "operation": "eq"}
    assert explain(spec, "paris", {"answer": "Paris"}) == (0.0, 'string_check eq: "paris" vs "Paris" → 0.0')
    score, why = explain({"type": "numeric", "tolerance": 0.01}, "about 99.5 km", {"answer": "100"})
    assert score == 1.0 and "99.5 vs 100" in why
    score, why = explain(PRESETS["multi: answer + brevity"], "The answer is Paris", {"answer": "Paris"})
    assert score == pytest.approx(0.8 * 0.5 + 0.2 * 1.0)
    assert why.splitlines() == [
        "multi: 0.8 * answer + 0.2 * brevity = 0.6",
        '  answer = 0.5: contains_answer: "The answer is Paris" contains "Paris" but says more → 0.5',
        "  brevity = 1.0: length: 4 words (max 8) → 1.0",
    ]
    with pytest.raises(LabError, match="item.answer"):
        explain({"type": "exact_match"}, "Paris", {"reference_answer": "Paris"})


def test_presets_are_valid_and_score_in_range(monkeypatch):
    monkeypatch.setenv("LAB_PYTHON_GRADER", "1")
    for name in ("partial credit (default)", "exact match", "fuzzy", "rouge-L", "cosine (MiniLM)", "numeric ±1%",
                 "brevity (≤ 8 words)", "multi: answer + brevity"):  # fmt: skip
        assert name in PRESETS
    assert DEFAULT_SPEC == PRESETS["partial credit (default)"] and DEFAULT_SPEC["type"] == "contains_answer"
    for name, spec in PRESETS.items():
        if spec["type"] in ("score_model", "label_model"):  # a model answers: tests/test_judge.py scores those
            continue
        validate_spec(spec, {"answer", "prompt"})
        rewards = build_grader(spec)(["42", "The answer is 42, I think", "x"], answer=["42", "42", "42"])
        assert all(r is not None and 0.0 <= r <= 1.0 and not math.isnan(r) for r in rewards), (name, rewards)
        assert rewards[0] == pytest.approx(1.0, abs=1e-4), (name, rewards)


def test_python_spec_runs_in_the_sandbox_only_when_enabled(monkeypatch):
    spec = PRESETS["python (needs LAB_PYTHON_GRADER=1)"]
    monkeypatch.delenv("LAB_PYTHON_GRADER", raising=False)
    with pytest.raises(LabError, match="LAB_PYTHON_GRADER=1"):
        build_grader(spec)
    monkeypatch.setenv("LAB_PYTHON_GRADER", "1")
    assert build_grader(spec)(["Paris", "Paris, France", "Lyon"], answer=["Paris"] * 3) == [1.0, 0.5, 0.0]
    score, why = explain({"type": "python", "source": "def grade(sample, item):\n    return 1 / 0\n"}, "x", {})
    assert score is None and "line 2: ZeroDivisionError" in why


def test_importing_graders_does_not_import_torch():
    code = "import sys, lab.grading; print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    assert out.split() == ["False", "False"]


# ---------------------------------------------------------------------------------------------- Chinese answers


def test_chinese_answers_score_like_their_english_counterparts():
    shapes = ["{}", "{}。", "**{}**", "“{}”！", "答案是{}", "首都是{}。", "答案：**{}**"]
    zh = [s.format("巴黎") for s in shapes] + ["伦敦", "不知道"]
    en = [s.format("Paris") for s in ["{}", "{}.", "**{}**", '"{}"!', "The answer is {}", "The capital is {}.",
                                      "Answer: **{}**"]] + ["London", "No idea"]  # fmt: skip
    default = build_grader(DEFAULT_SPEC)
    for grader in (exact_match, contains_answer, default):
        assert grader(zh, answer=["巴黎"] * len(zh)) == grader(en, answer=["Paris"] * len(en)), grader
    assert contains_answer(zh, answer=["巴黎"] * len(zh)) == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.0, 0.0]
    assert fuzzy_match(["巴黎。", "**巴黎**", "伦敦"], answer=["巴黎"] * 3) == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("task", ["zh_capitals", "zh_opposites"])
def test_bundled_chinese_tasks_grade_right_and_wrong_answers(task):
    from lab.data import load_task

    ds = load_task(task)
    answers = list(ds["answer"])
    wrong = [next(a for a in answers if ref not in a and a not in ref) for ref in answers]
    for grader in (exact_match, contains_answer, build_grader(DEFAULT_SPEC)):
        assert grader([f"{a}。" for a in answers], answer=answers) == [1.0] * len(answers), grader
        assert grader([f"**{a}**" for a in answers], answer=answers) == [1.0] * len(answers), grader
        assert grader(wrong, answer=answers) == [0.0] * len(answers), grader
    assert contains_answer([f"答案是“{a}”。" for a in answers], answer=answers) == [0.5] * len(answers)
    assert exact_match([f"答案是{a}" for a in answers], answer=answers) == [0.0] * len(answers)
