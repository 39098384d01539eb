"""Graders written for OpenAI — the examples of its graders guide and RFT cookbook — score here as documented.

Each spec below is OpenAI's JSON as its documentation writes it (field names, templates, formula operators); the
expected scores are worked out by hand from the documented semantics.
"""

from __future__ import annotations

import json

import pytest

from lab.grading import build_grader, explain

# The graders guide's python example: fuzzy match with rapidfuzz, 0..1.
RAPIDFUZZ = {
    "type": "python",
    "name": "fuzzy_python",
    "image_tag": "2025-05-08",
    "source": (
        "from rapidfuzz import fuzz, utils\n\n"
        "def grade(sample, item) -> float:\n"
        '    output_text = sample["output_text"]\n'
        '    reference_answer = item["reference_answer"]\n'
        "    return fuzz.WRatio(output_text, reference_answer, processor=utils.default_process) / 100.0\n"
    ),
}

# The guide's multi grader over structured output: {{sample.output_json.<field>}} against the item's fields.
NAME_AND_EMAIL = {
    "type": "multi",
    "graders": {
        "name": {"name": "name_grader", "type": "text_similarity", "input": "{{sample.output_json.name}}",
                 "reference": "{{item.name}}", "evaluation_metric": "fuzzy_match"},
        "email": {"name": "email_grader", "type": "string_check", "input": "{{sample.output_json.email}}",
                  "reference": "{{item.email}}", "operation": "eq"},
    },
    "calculate_output": "(name + email) / 2",
}  # fmt: skip


def test_the_guides_rapidfuzz_python_grader(python_graders):
    from rapidfuzz import fuzz, utils

    reward = build_grader(RAPIDFUZZ)
    outputs = ["Paris", "paris!", "It is Lyon"]
    scores = reward(outputs, reference_answer=["Paris"] * 3)
    expected = [fuzz.WRatio(o, "Paris", processor=utils.default_process) / 100 for o in outputs]
    assert scores == pytest.approx(expected) and scores[0] == scores[1] == 1.0 and scores[2] < 1


def test_a_multi_of_python_graders_with_the_power_operator(python_graders):
    exact = {"type": "python", "source": "def grade(sample, item):\n"
             "    return float(sample['output_text'].strip() == item['reference_answer'])\n"}  # fmt: skip
    short = {"type": "python", "source": "import numpy as np\ndef grade(sample, item):\n"
             "    return float(np.clip(1 - len(sample['output_text'].split()) / 10, 0, 1))\n"}  # fmt: skip
    spec = {"type": "multi", "name": "exact_and_short", "graders": {"exact": exact, "short": short},
            "calculate_output": "exact * short^2"}  # fmt: skip
    scores = build_grader(spec)(["Paris", "Paris is the capital"], reference_answer=["Paris", "Paris"])
    assert scores == pytest.approx([0.9**2, 0.0])


def test_structured_output_fields_in_a_multi():
    reward = build_grader(NAME_AND_EMAIL)
    outputs = [json.dumps({"name": "Ada Lovelace", "email": "ada@example.org"}),
               json.dumps({"name": "Ada Lovelace", "email": "ada@example.com"}), "not JSON"]  # fmt: skip
    items = {"name": ["Ada Lovelace"] * 3, "email": ["ada@example.org"] * 3}
    scores = reward(outputs, **items)
    assert scores[:2] == [1.0, 0.5]  # fuzzy_match of the same name is 1; eq on the email 1 or 0
    assert scores[2] is None  # no output_json to read fields from: no score, and the why says so
    assert "output_json" in explain(NAME_AND_EMAIL, "not JSON", {"name": "Ada", "email": "a@b"})[1]


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("a + b - c", 1.5),
        ("a * b / (c + 1)", 0.5),
        ("a ^ 2", 0.25),
        ("b - 2 * a ^ 2", 0.5),  # ^ binds tighter than * and -
        ("2 ^ 3 ^ 2 / 512", 1.0),  # right-associative: 2 ^ 9, and tighter than /
        ("-a ^ 2", -0.25),  # unary minus binds looser than ^, as in maths (and Python's **)
        ("min(a, b) + max(a, c)", 1.0),
        ("abs(c - a) + floor(a + 0.7) + ceil(a)", 2.5),
        ("exp(log(a)) + sqrt(a ^ 2)", 1.0),
    ],
)
def test_formulas_with_every_documented_operator(formula, expected):
    graders = {"a": {"type": "contains_answer"}, "b": {"type": "length", "max_words": 8}, "c": {"type": "exact_match"}}
    spec = {"type": "multi", "graders": graders, "calculate_output": formula}
    # "Paris, of course." against "Paris": a = 0.5 (contains it, says more), b = 1 (3 words ≤ 8), c = 0 (not exact)
    assert build_grader(spec)(["Paris, of course."], answer=["Paris"]) == [pytest.approx(expected)]
