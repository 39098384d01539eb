"""RLHF: pairs and their split, too little data, simulated feedback, and one short real run per route on the tiny
model (rm-rl, kto, dpo: each logs a loss, moves its LoRA and leaves the base untouched), plus rm-rl on SmolLM2."""

from __future__ import annotations

import hashlib
import json

import pytest
from safetensors.torch import load_file

from lab import LabError, runs
from lab.feedback import FeedbackStore
from lab.methods import make_config
from lab.methods.reward_model import check_pairs, dedupe_pairs, split_pairs

# Short answers are chosen; the prompts are not in assets/prompts.txt, so none is a held-out prompt.
LONG = "Well, that is a long story, and I will tell it to you from the very beginning, slowly."
TINY_RUN = {
    "model": "tiny", "steps": 2, "heldout": 4, "answer_tokens": 6, "max_completion_length": 6,
    "num_generations": 4, "eval_every": 1, "eval_subset": 2, "rm_epochs": 1.0, "batch_size": 4,
    "learning_rate": 0.05,
}  # fmt: skip


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _feedback_file(path, n: int = 12):
    rows = []
    for i in range(n):
        prompt = f"Question number {i}?"
        rows.append({"prompt": prompt, "chosen": f"Yes {i}.", "rejected": f"{LONG} {i}"})
        rows.append({"prompt": prompt, "completion": f"No {i}.", "label": True})
        rows.append({"prompt": prompt, "completion": f"{LONG} No {i}.", "label": False})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _lora_moved(adapter_dir) -> bool:
    weights = load_file(adapter_dir / "adapter_model.safetensors")
    return any(v.abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)


def test_pairs_dedupe_split_by_prompt_and_too_little_data():
    pairs = [{"prompt": f"p{i % 6}", "chosen": f"a{i}", "rejected": "b"} for i in range(12)]
    assert len(dedupe_pairs(pairs + pairs[:3])) == 12
    train, heldout = split_pairs(pairs, 0.25, seed=1)
    assert len(train) + len(heldout) == 12 and heldout
    assert not {p["prompt"] for p in train} & {p["prompt"] for p in heldout}, "a held-out prompt is never trained on"
    assert split_pairs(pairs, 0.25, seed=1) == (train, heldout), "seeded"
    check_pairs(pairs)
    with pytest.raises(LabError, match="5 preference pair.*3 more"):
        check_pairs(pairs[:5], 8)


def test_rlhf_config_refuses_bad_options():
    with pytest.raises(LabError, match="method"):
        make_config("rlhf", {"method": "ppo"}).check()
    with pytest.raises(LabError, match="beta"):
        make_config("rlhf", {"beta": 0}).check()
    with pytest.raises(LabError, match="persona"):
        make_config("rlhf", {"persona": "grumpy"}).check()
    with pytest.raises(LabError, match="unknown option"):
        make_config("rlhf", {"stepz": 3})


def test_too_few_pairs_fails_with_how_many_more(fresh_home, tiny_model, tmp_path):
    feedback = _feedback_file(tmp_path / "fb.jsonl", n=2)
    run = runs.create("rlhf", {**TINY_RUN, "feedback": str(feedback)}, tmp_path / "r")
    with pytest.raises(LabError, match=r"4 preference pair\(s\), at least 8 are needed — 4 more"):
        runs.execute(run)
    assert run.status()["state"] == "failed" and "4 more" in run.status()["error"]


def test_a_length_persona_pairs_only_what_it_can_see():
    """A cut-off answer loses to a finished one only when the finished one is visibly shorter; two cut-offs tie."""
    from lab.feedback.personas import pair_up, verdicts

    short, cut = "Paris.", "Well, that"
    assert pair_up("concise", "Capital?", LONG, short, a_complete=False) == (short, LONG)
    assert pair_up("concise", "Capital?", LONG, cut, b_complete=False) is None, "the visible cut part is shorter"
    assert pair_up("concise", "Capital?", LONG, cut, False, False) is None, "both cut off: unknown"
    assert pair_up("concise", "Capital?", LONG, short) == (short, LONG)
    assert pair_up("polite", "Capital?", "Thank you! Paris", short, a_complete=False) == ("Thank you! Paris", short)
    assert pair_up("concise", "Capital?", short, "") == (short, ""), "an empty answer is no short answer"
    # The win rate judges greedy answers the same way: filling the token budget with short words does not win.
    assert verdicts("concise", ["Q?"] * 3, ["ah ah ah", "ah ah ah", "Paris."], [LONG] * 3,
                    [False, True, True], [False, False, False]) == ["tie", "tuned", "tuned"]  # fmt: skip


def test_simulate_feedback_stores_persona_ratings_and_pairs(fresh_home, tiny_model):
    from lab import models
    from lab.methods.rlhf import simulate_feedback

    store = FeedbackStore()
    model, tokenizer = models.load_causal_lm("tiny")
    counts = simulate_feedback(
        "concise", "tiny", store, 8, ["Hi?", "Why?"], model=model, tokenizer=tokenizer, max_new_tokens=12
    )
    stats = store.stats()
    assert counts["ratings"] == stats["ratings"] == 8 and counts["pairs"] == stats["pairs"]
    assert counts["pairs"] + counts["ties"] == 2 * 6, "4 answers to each of 2 prompts: 6 comparisons each"
    assert stats["simulated"] == stats["ratings"] + stats["pairs"] and stats["human"] == 0
    assert set(store.ratings()["source"]) == {"simulated:concise"}


@pytest.mark.parametrize("method", ["rm-rl", "kto", "dpo"])
def test_each_route_on_tiny_learns_and_writes_the_run_folder(method, fresh_home, tiny_model, tmp_path):
    base_hash = _sha(tiny_model / "model.safetensors")
    feedback = _feedback_file(tmp_path / "fb.jsonl")
    run = runs.create("rlhf", {**TINY_RUN, "method": method, "feedback": str(feedback)}, tmp_path / "run")
    summary = runs.execute(run)

    assert run.status()["state"] == "done"
    metrics = run.metrics()
    policy_stage = "rl" if method == "rm-rl" else method
    losses = [m for m in metrics if m["stage"] == policy_stage and "loss" in m]
    assert len(losses) == 2, f"{method}: a loss per step"
    assert any(m["stage"] == "reward_model" and "loss" in m for m in metrics)
    assert [m for m in metrics if m["stage"] == "evaluate"][0]["win_rate"] == summary["win_rate"]
    if method == "rm-rl":
        assert all("reward" in m and "kl" in m and "completions/mean_length" in m for m in losses)
        assert [m["step"] for m in metrics if m["stage"] == "rl" and "win_rate" in m] == [0, 1]
        rl = [s for s in run.samples() if s["stage"] == "rl"]
        assert rl and all("completion" in s and "reward" in s for s in rl)
        groups: dict[tuple, list[float]] = {}  # whole groups of num_generations, with the advantage TRL gave each
        for s in rl:
            groups.setdefault((s["step"], s["group"]), []).append(s["advantage"])
        assert all(len(g) == TINY_RUN["num_generations"] for g in groups.values())
        assert all(sum(g) == pytest.approx(0.0, abs=1e-3) for g in groups.values())
    assert _lora_moved(run.adapter_dir), "LoRA B starts at zero: training must have moved it"
    assert (run.dir / "reward_model" / "adapter_config.json").exists()
    assert _sha(tiny_model / "model.safetensors") == base_hash, "the base weights are untouched"

    assert summary == json.loads((run.dir / "summary.json").read_text())
    assert summary["method"] == "rlhf" and summary["algorithm"] == method and summary["model"] == "tiny"
    assert summary["persona"] == "concise" and summary["steps"] == 2 and summary["train_seconds"] > 0
    assert 0.0 <= summary["win_rate"] <= 1.0 and summary["heldout_prompts"] == 4
    assert isinstance(summary["before"]["rm_score"], float) and isinstance(summary["after"]["rm_score"], float)
    rm = summary["reward_model"]
    assert rm["n_train_pairs"] + rm["n_heldout_pairs"] == 24, "12 clicked + 12 derived from thumbs"
    assert 0.0 <= rm["accuracy"] <= 1.0
    assert len(rm["chosen_scores"]) == len(rm["rejected_scores"]) == rm["n_heldout_pairs"]
    assert rm["scoring_only"] == (method != "rm-rl")
    assert len(summary["examples"]) == 4
    assert set(summary["examples"][0]) >= {"prompt", "base", "tuned", "base_rm", "tuned_rm", "verdict"}


def test_reward_model_loads_back_and_scores(fresh_home, tiny_model, tmp_path):
    from lab.methods import reward_model

    run = runs.create("rlhf", {}, tmp_path / "run")
    pairs = [{"prompt": f"Q{i}?", "chosen": "Yes.", "rejected": LONG} for i in range(10)]
    cfg = reward_model.Config(model="tiny", epochs=3, learning_rate=0.02)
    scorer, result = reward_model.fit(cfg, run, pairs)
    assert result["n_heldout_pairs"] == 2 and result["accuracy"] == 1.0, "an easy length preference is learned"
    again = reward_model.load(run.dir / "reward_model")
    prompts, answers = ["Q?", "Q?"], ["Yes.", LONG]
    assert again.score(prompts, answers) == pytest.approx(scorer.score(prompts, answers), abs=1e-4)
    trl_prompt, trl_completion = [{"role": "user", "content": "Q?"}], [{"role": "assistant", "content": "Yes."}]
    as_trl = scorer(prompts=[trl_prompt], completions=[trl_completion])
    assert as_trl == pytest.approx(scorer.score(["Q?"], ["Yes."]), abs=1e-4) and scorer.last[1] == ["Yes."]


@pytest.mark.slow
def test_rm_rl_on_the_embedded_model(fresh_home, tmp_path):
    """A short real run on SmolLM2-135M: the persona simulates feedback, reward model, 2 GRPO steps, verdicts.

    The ``number`` persona pairs any two answers with different counts of numbers, so 48 short answers surely give
    enough pairs; the concise persona's rules are tested above, and its full demo is the benchmark.
    """
    config = {"persona": "number", "simulate": 48, "simulate_tokens": 32, "heldout": 8, "answer_tokens": 24,
              "steps": 2, "num_generations": 4, "max_completion_length": 16, "rm_epochs": 1.0,
              "eval_every": 0}  # fmt: skip
    run = runs.create("rlhf", config, tmp_path / "run")
    summary = runs.execute(run)
    assert summary["feedback"]["simulated"]["ratings"] == 48
    assert summary["reward_model"]["n_train_pairs"] >= 6
    assert 0.0 <= summary["win_rate"] <= 1.0 and len(summary["examples"]) == 8
    assert any("reward" in m for m in run.metrics() if m["stage"] == "rl")
    assert _lora_moved(run.adapter_dir)
