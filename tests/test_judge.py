"""Model graders (score_model, label_model) on a local judge: schema, reply parsing, batched judging, GRPO curves."""

from __future__ import annotations

import copy

import pytest

from lab import LabError, runs
from lab.grading import build_grader, explain, judge, parse_spec, validate_spec

SCORE = {
    "type": "score_model", "name": "judge", "model": "embedded", "range": [0, 10],
    "input": [{"role": "system", "content": "You grade answers."},
              {"role": "user", "content": "Reference: {{item.answer}}\nAnswer: {{sample.output_text}}\nScore 0-10."}],
}  # fmt: skip
LABEL = {
    "type": "label_model", "name": "verdict", "labels": ["correct", "incorrect"], "passing_labels": ["correct"],
    "input": [{"role": "user", "content": [{"type": "input_text", "text": "Is {{sample.output_text}} right?"}]}],
}  # fmt: skip


def with_(spec: dict, **changes) -> dict:
    spec = copy.deepcopy(spec)
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


@pytest.fixture
def replies(monkeypatch):
    """The judge answers with these replies, in order (no model is loaded); the conversations it got are kept."""
    state = {"replies": [], "calls": []}

    def fake(model, conversations, params):
        state["calls"].append((model, conversations, params))
        return [state["replies"][i % len(state["replies"])] for i in range(len(conversations))]

    monkeypatch.setattr(judge, "_generate", fake)
    return state


# ---------------------------------------------------------------------------------------------------- schema


def test_openai_shaped_specs_validate():
    validate_spec(SCORE, {"answer"})
    validate_spec(LABEL)
    validate_spec(with_(SCORE, model="gpt-4o-mini", pass_threshold=7,
                        sampling_params={"temperature": 1, "top_p": 0.9, "seed": 42, "max_completions_tokens": 16,
                                         "reasoning_effort": "low"}))  # fmt: skip
    validate_spec(
        {
            "type": "score_model",
            "input": [
                {
                    "type": "message",
                    "role": "developer",
                    "content": {"type": "input_text", "text": "{{sample.output_text}}"},
                }
            ],
        }
    )  # model and range have defaults
    nested = {"type": "multi", "graders": {"j": SCORE, "e": {"type": "exact_match"}}, "calculate_output": "j + e"}
    validate_spec(nested)
    assert parse_spec(SCORE) == SCORE


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (with_(SCORE, input=None), "input: missing; a score_model grader needs this field"),
        (with_(SCORE, input="Grade it"), "input: must be a non-empty list of messages"),
        (with_(SCORE, input=[]), "input: must be a non-empty list of messages"),
        (with_(SCORE, input=["hi"]), "input[0]: a message must be an object"),
        (with_(SCORE, input=[{"role": "robot", "content": "x"}]), "input[0].role: 'robot' is not one of system"),
        (with_(SCORE, input=[{"content": "x"}]), "input[0].role: missing"),
        (with_(SCORE, input=[{"role": "user", "content": "x", "name": "n"}]), "input[0].name: unknown field"),
        (with_(SCORE, input=[{"role": "user", "content": 3}]), "input[0].content: a message's content is a string"),
        (
            with_(SCORE, input=[{"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}]),
            "input[0].content[0].type: content of type 'input_image' is not supported",
        ),
        (with_(SCORE, input=[{"role": "user", "content": "{{item.nope}}"}]), "input[0].content: {{item.nope}}"),
        (with_(SCORE, input=[{"role": "user", "content": "{{sample.output}}"}]), "input[0].content: sample has"),
        (with_(SCORE, range=[1, 0]), "range: the low end 1 must be below the high end 0"),
        (with_(SCORE, range="0-1"), "range: must be [low, high]"),
        (with_(SCORE, range=[0, 10], pass_threshold=11), "pass_threshold: must be a number from 0 to 10"),
        (with_(SCORE, sampling_params={"temperature": 3}), "sampling_params.temperature: must be a number from 0"),
        (with_(SCORE, sampling_params={"top_k": 3}), "sampling_params.top_k: unknown field"),
        (with_(SCORE, sampling_params={"top_p": 0}), "sampling_params.top_p: must be a number above 0"),
        (with_(SCORE, sampling_params={"max_completions_tokens": 0}), "sampling_params.max_completions_tokens"),
        (with_(SCORE, sampling_params={"reasoning_effort": "max"}), "sampling_params.reasoning_effort: 'max'"),
        (with_(SCORE, sampling_params=[]), "sampling_params: must be an object"),
        (with_(SCORE, model="not a model"), "model: 'not a model' is no model the judge can load"),
        (with_(SCORE, model=4), "model: must be a string"),
        (with_(SCORE, labels=["a"]), "labels: unknown field for a score_model grader"),
        (with_(LABEL, range=[0, 1]), "range: unknown field for a label_model grader"),
        (with_(LABEL, labels=[]), "labels: must be a non-empty list"),
        (with_(LABEL, labels=["correct", "Correct"]), "labels[1]: the label 'Correct' is listed twice"),
        (with_(LABEL, labels=["ok", ""]), "labels[1]: a label must be a non-empty string"),
        (with_(LABEL, passing_labels=["maybe"]), "passing_labels[0]: 'maybe' is not one of the labels"),
        (with_(LABEL, passing_labels=None), "passing_labels: missing"),
        (
            {
                "type": "multi",
                "graders": {"j": with_(SCORE, input=[{"role": "x", "content": ""}])},
                "calculate_output": "j",
            },
            "graders.j.input[0].role: 'x' is not one of",
        ),
    ],
)
def test_bad_model_grader_specs_name_the_json_path(spec, message):
    with pytest.raises(LabError) as e:
        validate_spec(spec, {"answer"})
    assert str(e.value).startswith(message), str(e.value)


def test_a_missing_column_in_every_row_is_an_error_but_a_missing_value_is_no_score(replies):
    replies["replies"] = ["5"]
    reward = build_grader(SCORE)
    with pytest.raises(LabError, match="no field 'answer'"):
        reward(["Paris"], reference=["Paris"])
    assert reward(["Paris", "Rome"], answer=["Paris", None]) == [5.0, None]
    assert len(replies["calls"][-1][1]) == 1, "a row without its value is not sent to the judge"
    assert "no score" in reward.last_whys[1] and reward.judge_errors == 0


# ---------------------------------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ('{"result": 0.7, "steps": []}', 0.7),
        ('Here you go:\n```json\n{"steps": [{"description": "d", "conclusion": "c"}], "result": 1}\n```', 1.0),
        ('{"result": "0.25"}', 0.25),
        ('{"score": 3} so 4', 3.0),  # no "result": the first number of the text
        ("I give it 8/10.", 8.0),
        ("-2", -2.0),
        ("Great answer!", None),
        ('{"result": null, "steps": []}', None),
        ("", None),
    ],
)
def test_parse_score(reply, value):
    assert judge.parse_score(reply)[0] == value


def test_parse_score_keeps_the_steps():
    assert judge.parse_score('{"result": 1, "steps": [{"description": "a"}]}') == (1.0, [{"description": "a"}])


@pytest.mark.parametrize(
    ("reply", "label"),
    [
        ("correct", "correct"),
        ("The answer is Incorrect.", "incorrect"),
        ('{"result": "CORRECT", "steps": []}', "correct"),
        ("incorrect, not correct", "incorrect"),  # the first named
        ("correctly done", None),  # a whole word only
        ("", None),
    ],
)
def test_parse_label(reply, label):
    assert judge.parse_label(reply, ["correct", "incorrect"]) == label


def test_scores_are_clipped_and_a_reply_without_a_number_is_zero_and_an_error(replies):
    replies["replies"] = ['{"result": 7, "steps": []}', "42", "-3", "No idea, sorry."]
    spec = with_(SCORE, range=[0, 10], pass_threshold=6)
    reward = build_grader(spec)
    logged = []
    scores = reward(["a", "b", "c", "d"], answer=["x"] * 4, log_metric=lambda k, v: logged.append((k, v)))
    assert scores == [7.0, 10.0, 0.0, 0.0]
    assert reward.judge_errors == 1 and logged == [("judge_errors/judge", 1.0)]
    whys = reward.last_whys
    assert whys[0] == 'score_model (judge: embedded): reply "{\\"result\\": 7, \\"steps\\": []}" → 7.0 (pass at 6)'
    assert whys[1] == 'score_model (judge: embedded): reply "42" → 42 clipped to range [0, 10] → 10.0 (pass at 6)'
    assert "-3 clipped to range [0, 10] → 0.0 (fail at 6)" in whys[2]
    assert whys[3].endswith("has no number → 0.0 (judge error)")
    # what the judge was asked: the rendered messages, with the item's and the sample's values
    model, conversations, params = replies["calls"][0]
    assert conversations[1] == [{"role": "system", "content": "You grade answers."},
                                {"role": "user", "content": "Reference: x\nAnswer: b\nScore 0-10."}]  # fmt: skip
    assert model == "embedded" and params == {}


def test_label_model_passes_on_a_passing_label_and_errs_on_none(replies):
    replies["replies"] = ["Correct.", "incorrect", "It depends."]
    reward = build_grader(LABEL)
    assert reward(["a", "b", "c"]) == [1.0, 0.0, 0.0]
    assert reward.judge_errors == 1
    assert reward.last_whys[0].startswith("label_model (judge: embedded): reply \"Correct.\" → label 'correct'")
    assert reward.last_whys[2].endswith("names none of correct, incorrect → 0.0 (judge error)")
    assert replies["calls"][0][1][0] == [{"role": "user", "content": "Is a right?"}]  # a text part's text


def test_developer_messages_go_to_the_judge_as_system(replies):
    replies["replies"] = ["1"]
    spec = with_(LABEL, input=[{"role": "developer", "content": "Judge."}, {"role": "user", "content": "x"}])
    build_grader(spec)(["a"])
    assert [m["role"] for m in replies["calls"][0][1][0]] == ["system", "user"]


def test_errors_of_judges_inside_a_multi_are_counted(replies):
    replies["replies"] = ["nothing"]
    spec = {"type": "multi", "name": "mix", "graders": {"j": SCORE, "e": {"type": "exact_match"}},
            "calculate_output": "j + e"}  # fmt: skip
    reward = build_grader(spec)
    logged = []
    assert reward(["Paris", "Rome"], answer=["Paris", "Paris"], log_metric=lambda k, v: logged.append((k, v))) == [
        1.0, 0.0]  # fmt: skip
    assert logged == [("judge_errors/mix", 2.0)] and "has no number" in reward.last_whys[0]


def test_an_openai_model_name_maps_to_the_default_judge_with_a_note(replies):
    replies["replies"] = ["0.5"]
    score, why = explain(with_(SCORE, model="gpt-4o-mini", range=[0, 1]), "Paris", {"answer": "Paris"})
    assert score == 0.5 and why.startswith('score_model (judge: embedded ← gpt-4o-mini): reply "0.5"')
    assert replies["calls"][0][0] == "gpt-4o-mini"
    assert judge.judge_name("o4-mini") == ("embedded", "o4-mini")
    assert judge.judge_name("HuggingFaceTB/SmolLM2-360M-Instruct") == ("HuggingFaceTB/SmolLM2-360M-Instruct", None)


# ---------------------------------------------------------------------------------------------------- real judge


def test_a_real_batched_judge_on_the_tiny_model(tiny_model, monkeypatch, capsys):
    """The tiny random model as the default judge: one batched generate, one score per row, errors counted, and the
    note for an OpenAI name printed once."""
    import torch

    monkeypatch.setattr(judge, "DEFAULT_JUDGE", str(tiny_model))
    calls = []
    real = judge._answer_batch

    def spy(model, tokenizer, conversations, kwargs):
        calls.append((len(conversations), kwargs))
        return real(model, tokenizer, conversations, kwargs)

    monkeypatch.setattr(judge, "_answer_batch", spy)
    spec = with_(SCORE, model="gpt-4o", sampling_params={"temperature": 0, "max_completions_tokens": 6})
    reward = build_grader(spec)
    answers = ["Paris", "Rome", "Paris", "Berlin, a city", "Madrid"]  # two identical rows: judged once (greedy)
    rng = torch.random.get_rng_state()
    scores = reward(answers, answer=["Paris"] * 5)
    assert torch.equal(rng, torch.random.get_rng_state()), "the judge does not move the policy's random state"
    assert len(scores) == 5 and all(0.0 <= s <= 10.0 for s in scores)
    assert calls == [(4, {"max_new_tokens": 6, "do_sample": False, "temperature": None, "top_p": None,
                          "top_k": None})]  # fmt: skip
    assert scores[0] == scores[2] and reward.last_whys[0] == reward.last_whys[2]
    errors = sum("(judge error)" in w for w in reward.last_whys)
    assert reward.judge_errors == errors and all("← gpt-4o): reply" in w for w in reward.last_whys)
    assert capsys.readouterr().out.count("'gpt-4o' is an OpenAI model") == 1
    reward(answers, answer=["Paris"] * 5)
    assert "OpenAI model" not in capsys.readouterr().out, "the note is printed once per process"
    assert judge.load(str(tiny_model)) is judge.load(str(tiny_model)), "the judge is loaded once and kept"

    # sampling with a seed: the same replies again, each row sampled (no dedupe)
    sampled = with_(spec, sampling_params={"temperature": 1.0, "seed": 3, "max_completions_tokens": 6})
    first = build_grader(sampled)
    first(answers, answer=["Paris"] * 5)
    again = build_grader(sampled)
    again(answers, answer=["Paris"] * 5)
    assert first.last_whys == again.last_whys and calls[-1][0] == 5 and calls[-1][1]["do_sample"] is True


def test_grpo_logs_judge_errors_per_step_and_the_judges_why_in_the_samples(fresh_home, tiny_model, tmp_path):
    judge_spec = with_(LABEL, model="tiny", sampling_params={"max_completions_tokens": 4})
    config = {
        "model": "tiny", "steps": 2, "warmup": False, "num_generations": 2, "max_completion_length": 4,
        "valid_size": 2, "eval_every": 0, "graders": [judge_spec, {"type": "exact_match", "name": "exact_match"}],
    }  # fmt: skip
    run = runs.create("rft", config, tmp_path / "run")
    runs.execute(run)
    assert run.status()["state"] == "done"
    grpo = [m for m in run.metrics() if m["stage"] == "grpo" and "reward" in m]
    assert len(grpo) == 2
    for row in grpo:  # next to the judge's mean score, how many of the step's 4 replies named no label
        assert {"rewards/verdict/mean", "rewards/exact_match/mean", "judge_errors/verdict", "step_time"} <= set(row)
        assert 0 <= row["judge_errors/verdict"] <= 4
    samples = run.samples()
    assert samples and all(s["why"]["verdict"].startswith("label_model (judge: tiny): reply") for s in samples)
    assert all("exact_match" not in s["why"] for s in samples)


def test_the_judge_presets_and_the_teaching_case_validate_on_a_bundled_task():
    import json

    from lab import data
    from lab.grading import PRESETS
    from lab.grading.specs import JUDGE_HACK_FILE

    fields = set(data.load_task("capitals").column_names)
    judges = {name: spec for name, spec in PRESETS.items() if spec["type"] in judge.KINDS}
    assert {spec["type"] for spec in judges.values()} == {"score_model", "label_model"}
    for spec in judges.values():
        validate_spec(spec, fields)
    hack = PRESETS["judge that padding fools (teaching)"]
    assert hack == json.loads(JUDGE_HACK_FILE.read_text(encoding="utf-8")) == parse_spec(str(JUDGE_HACK_FILE))
    assert hack["range"] == [0, 10] and hack["sampling_params"]["temperature"] == 0


def test_judge_errors_show_on_the_per_grader_curves():
    from lab import plots

    rows = [{"stage": "grpo", "step": s, "rewards/judge/mean": r, "judge_errors/judge": e, "rewards/exact/mean": 0.5}
            for s, r, e in ((1, 0.2, 12.0), (2, 0.4, 8.0))]  # fmt: skip
    fig = plots.grader_figure(rows)
    errors = [d for d in fig.data if d.yaxis == "y2"]
    assert len(errors) == 1 and list(errors[0].y) == [12.0, 8.0] and "judge errors" in errors[0].name
    assert fig.layout.yaxis2.overlaying == "y"
    assert all(d.yaxis != "y2" for d in plots.grader_figure([{k: v for k, v in r.items() if "judge_errors" not in k}
                                                             for r in rows]).data)  # fmt: skip
