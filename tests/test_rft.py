"""RFT end to end on the tiny model (learns: rewards logged, LoRA changed, base untouched) and on the embedded one."""

from __future__ import annotations

import hashlib
import json

import pytest
from safetensors.torch import load_file

from lab import runs

FUZZY = {"type": "text_similarity", "name": "fuzzy", "evaluation_metric": "fuzzy_match",
         "input": "{{sample.output_text}}", "reference": "{{item.answer}}"}  # fmt: skip


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rft_on_tiny_learns_and_writes_the_run_folder(fresh_home, tiny_model, tmp_path):
    base_hash = _sha(tiny_model / "model.safetensors")
    config = {
        "model": "tiny",
        "steps": 3,
        "warmup": True,
        "warmup_epochs": 0.2,
        "num_generations": 4,
        "max_completion_length": 8,
        "valid_size": 6,
        "eval_every": 1,
        "eval_subset": 3,
        "learning_rate": 0.05,
        "graders": [FUZZY, {"type": "length", "name": "brevity", "max_words": 3}],
    }
    run = runs.create("rft", config, tmp_path / "run")
    summary = runs.execute(run)

    assert run.status()["state"] == "done"
    metrics = run.metrics()
    grpo = [m for m in metrics if m["stage"] == "grpo" and "reward" in m]
    assert len(grpo) == 3 and all("rewards/fuzzy/mean" in m for m in grpo)
    assert any(m["stage"] == "sft" and "loss" in m for m in metrics)
    # the live curve: the base model's score (stage "base"), then RL's start = the model after the SFT warm-up
    assert [m["step"] for m in metrics if m["stage"] == "grpo" and "valid_reward" in m] == [0, 1, 2, 3]
    assert [m["step"] for m in metrics if m["stage"] == "base" and "valid_reward" in m] == [0]
    samples = run.samples()
    assert samples and {"prompt", "completion", "reward", "scores", "group", "advantage"} <= set(samples[0])
    # every answer of a step is there, in groups of num_generations answers to one question, with TRL's advantage:
    # (reward − group mean) / (group std + 1e-4), so it sums to ~0 in a group and its sign follows reward − mean
    step1 = [s for s in samples if s["step"] == 1]
    assert len(step1) == 2 * 4 and [s["group"] for s in step1] == [0, 0, 0, 0, 1, 1, 1, 1]
    for g in (0, 1):
        group = [s for s in step1 if s["group"] == g]
        assert len({s["prompt"] for s in group}) == 1
        mean = sum(s["reward"] for s in group) / 4
        assert sum(s["advantage"] for s in group) == pytest.approx(0.0, abs=1e-3)
        for s in group:
            assert s["advantage"] == pytest.approx(0.0, abs=1e-3) or (s["advantage"] > 0) == (s["reward"] > mean)
    assert any(abs(s["advantage"]) > 0.1 for s in samples), "graded answers differ somewhere: some advantage is not 0"

    adapter = load_file(run.adapter_dir / "adapter_model.safetensors")
    assert adapter and all("lora_" in k for k in adapter), "the adapter holds LoRA weights only"
    lora_b = [v for k, v in adapter.items() if "lora_B" in k]
    assert any(v.abs().sum() > 0 for v in lora_b), "LoRA B starts at zero: training must have moved it"
    assert _sha(tiny_model / "model.safetensors") == base_hash, "the base weights are untouched"

    assert summary == json.loads((run.dir / "summary.json").read_text())
    for stage in ("before", "after_sft", "after"):
        assert set(summary[stage]) >= {"valid_reward", "accuracy", "graders"}
        assert 0.0 <= summary[stage]["accuracy"] <= 1.0
    assert summary["method"] == "rft" and summary["model"] == "tiny" and summary["train_seconds"] > 0
    assert len(summary["examples"]) == 6 and {"before", "after", "after_sft"} <= set(summary["examples"][0])
    rl_start = next(m for m in metrics if m["stage"] == "grpo" and m["step"] == 0 and "valid_reward" in m)
    subset = summary["examples"][:3]  # eval_subset = 3: the first held-out rows
    assert rl_start["valid_reward"] == pytest.approx(sum(e["after_sft_reward"] for e in subset) / 3)
    assert "partial" not in summary and summary["split_note"] is None  # 97 train / 6 held-out: no small-file note


def test_a_stopped_rft_run_keeps_what_it_measured(fresh_home, tiny_model, tmp_path, monkeypatch):
    """Stopped during GRPO: summary.json still holds the before and after-SFT numbers, marked partial."""
    from lab.methods import rft

    def stop_now(*args, **kwargs):
        raise runs.RunStopped()

    monkeypatch.setattr(rft, "make_grpo_trainer", stop_now)
    config = {"model": "tiny", "steps": 2, "warmup_epochs": 0.2, "num_generations": 2, "max_completion_length": 4,
              "valid_size": 4, "eval_subset": 2}  # fmt: skip
    run = runs.create("rft", config, tmp_path / "run")
    runs.execute(run)
    assert run.status()["state"] == "stopped"
    summary = run.summary()
    assert summary["partial"] is True and summary["reached"] == "after_sft"
    assert 0.0 <= summary["before"]["accuracy"] <= 1.0 and 0.0 <= summary["after_sft"]["accuracy"] <= 1.0
    assert summary["valid_size"] == 4 and "after" not in summary


@pytest.mark.slow
def test_rft_on_the_embedded_model_improves_the_format(fresh_home, tmp_path):
    """One short real run on SmolLM2-135M: a brief SFT warm-up teaches the bare-answer format."""
    config = {"steps": 2, "num_generations": 4, "valid_size": 12, "eval_every": 0, "max_train_rows": 48,
              "warmup_epochs": 1.0}  # fmt: skip
    run = runs.create("rft", config, tmp_path / "run")
    summary = runs.execute(run)
    assert summary["before"]["accuracy"] <= 0.1  # the base model answers in sentences
    assert summary["after_sft"]["accuracy"] > summary["before"]["accuracy"]
    assert any("reward" in m for m in run.metrics() if m["stage"] == "grpo")


def test_a_dry_run_samples_and_grades_without_rl(fresh_home, tiny_model, tmp_path):
    config = {"model": "tiny", "warmup": True, "warmup_epochs": 0.1, "num_generations": 4, "max_completion_length": 6,
              "valid_size": 6, "dry_run": True, "graders": [{"type": "length", "name": "brevity", "max_words": 3}]}
    run = runs.create("rft", config, tmp_path / "dry")
    summary = runs.execute(run)
    assert run.status()["state"] == "done" and summary["dry_run"] is True
    assert summary["questions"] == 4 and len(summary["rewards"]) == 16 and len(summary["groups"]) == 4
    assert all(len(g["answers"]) == 4 for g in summary["groups"])
    from lab.methods import dry_run

    # the share of same-score groups and the verdict follow from the groups the dry run shows
    same = [len({a["reward"] for a in g["answers"]}) == 1 for g in summary["groups"]]
    assert summary["zero_std_share"] == pytest.approx(sum(same) / 4)
    assert summary["verdict"] == dry_run.verdict(summary["zero_std_share"], summary["std"])
    assert all(a["reward"] == sum(a["scores"].values()) for g in summary["groups"] for a in g["answers"])
    assert any(m["stage"] == "sft" for m in run.metrics()), "GRPO would start after the warm-up: the dry run warms up"
    assert not any(m["stage"] == "grpo" for m in run.metrics())
    assert not (run.adapter_dir / "adapter_config.json").exists()
    from lab import results

    assert run.id not in [r.id for r in results.finished()], "a dry run is no result of the class"
