"""Export a run (lab.export): adapter, merged model, model card and a plain TRL recipe that trains the same run.

One short real RFT run on the tiny model is exported whole once per module; the exported ``train.py`` then runs on its
own in a subprocess (CPU, ``--max_steps 1``) and must log the same TRL metric keys as the lab's run did.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lab import LabError, access, export, runs
from lab.__main__ import main

LENGTH = {"type": "length", "name": "brevity", "max_words": 3}
CONFIG = {
    "model": "tiny", "steps": 2, "warmup": True, "warmup_epochs": 0.1, "num_generations": 2,
    "max_completion_length": 4, "valid_size": 4, "eval_every": 1, "eval_subset": 2,
    "graders": [{"type": "contains_answer", "name": "partial_credit"}, LENGTH],
}  # fmt: skip
LAB_ONLY_KEYS = {"stage", "step", "time", "valid_reward", "valid_accuracy"}
"""What the lab's metrics.jsonl rows add to TRL's logs (lab.methods.common.RunCallback, the live validation)."""


@pytest.fixture(scope="module")
def done_run(lab_home, tiny_model, tmp_path_factory) -> runs.Run:
    run = runs.create("rft", CONFIG, tmp_path_factory.mktemp("export") / "run", owner="v:alice")
    runs.execute(run)
    assert run.status()["state"] == "done"
    return run


@pytest.fixture(scope="module")
def exported(done_run, tmp_path_factory) -> Path:
    return export.export(done_run, "adapter,merged,card,recipe", tmp_path_factory.mktemp("out") / "all")


def _stopped_copy(run: runs.Run, folder: Path) -> runs.Run:
    """The run as a stopped run leaves it: config, metrics and a partial summary, no adapter (lab.methods.rft keeps
    the adapter only at the end; tests/test_rft.py checks a real stopped run's summary)."""
    folder.mkdir()
    for name in ("config.json", "metrics.jsonl"):
        shutil.copy(run.dir / name, folder / name)
    stopped = runs.Run(folder)
    stopped.set_status(state="stopped", method="rft")
    summary = {k: v for k, v in run.summary().items() if k in ("method", "model", "task", "before", "after_sft")}
    stopped.write_summary({**summary, "partial": True, "reached": "after_sft", "train_size": 99, "valid_size": 4})
    return stopped


# --- what comes out ------------------------------------------------------------------------------------------------
def test_the_adapter_is_the_runs_peft_adapter_and_loads(done_run, exported, tiny_model):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (exported / "adapter" / name).read_bytes() == (done_run.adapter_dir / name).read_bytes()
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model), exported / "adapter")
    assert model.peft_config["default"].r == 16


def test_the_merged_model_gives_the_logits_of_base_plus_adapter(exported, tiny_model):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert (exported / "merged" / "model.safetensors").is_file()
    tokenizer = AutoTokenizer.from_pretrained(exported / "merged")
    ids = tokenizer("What is the opposite of hot?", return_tensors="pt").input_ids
    merged = AutoModelForCausalLM.from_pretrained(exported / "merged").eval()
    base = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    with torch.no_grad():
        plain = base(ids).logits
        with_adapter = PeftModel.from_pretrained(base, exported / "adapter").eval()(ids).logits
        folded = merged(ids).logits
    assert torch.allclose(folded, with_adapter, atol=1e-5, rtol=1e-4)
    assert not torch.equal(folded, plain), "the adapter was trained: merging it changes the model"


def test_the_card_has_the_measured_numbers_and_its_curve(done_run, exported):
    card = (exported / "README.md").read_text(encoding="utf-8")
    summary = done_run.summary()
    assert card.startswith("---\n") and "library_name: peft" in card and "grpo" in card
    for stage in ("before", "after_sft", "after"):
        assert f"{summary[stage]['valid_reward']:.3f}" in card and f"{summary[stage]['accuracy']:.3f}" in card
        for value in summary[stage]["graders"].values():
            assert f"{value:.3f}" in card
    assert "| before | after SFT | after RL |" in card and "`brevity`" in card and '"max_words": 3' in card
    assert "![training curve](curve.svg)" in card
    svg = (exported / "curve.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and svg.count("<polyline") == 2  # GRPO's reward and the held-out reward


def test_the_recipe_holds_the_runs_split_and_hyperparameters(done_run, exported):
    recipe = exported / "recipe"
    assert {p.name for p in recipe.iterdir()} == {"train.py", "train.jsonl", "valid.jsonl", "accelerate.yaml",
                                                  "zero3.yaml", "README.md"}  # fmt: skip
    summary = done_run.summary()
    train = [json.loads(line) for line in (recipe / "train.jsonl").read_text().splitlines()]
    valid = [json.loads(line) for line in (recipe / "valid.jsonl").read_text().splitlines()]
    assert (len(train), len(valid)) == (summary["train_size"], summary["valid_size"])
    assert [r["question"] for r in valid] == [e["question"] for e in summary["examples"]]
    script = (recipe / "train.py").read_text()
    for line in ("num_generations=2,", "max_completion_length=4,", "gradient_accumulation_steps=2,", "r=16,",
                 "lora_alpha=32,", "max_steps=2,", "learning_rate=5e-05,"):  # fmt: skip
        assert line in script
    assert "'brevity'" in script and "from lab.grading import build_grader" in script
    assert "import lab\n" not in script and script.count("from lab") == 2  # the graders only (twice: the fallback)
    readme = (recipe / "README.md").read_text()
    for command in ("python train.py", "--config_file zero3.yaml train.py", "--num_machines 2", "trl vllm-serve",
                    "--use_vllm --vllm_mode server"):  # fmt: skip
        assert command in readme
    assert "distributed_type: DEEPSPEED" in (recipe / "zero3.yaml").read_text()
    assert "num_processes: 1" in (recipe / "accelerate.yaml").read_text()


def _trl_keys(rows: list[dict], ignore: set[str]) -> set[str]:
    """The keys TRL logged: finite numbers only, as RunCallback keeps them."""
    return {k for row in rows for k, v in row.items()
            if k not in ignore and isinstance(v, int | float) and math.isfinite(v)}  # fmt: skip


def test_the_exported_train_py_runs_alone_and_logs_the_labs_trl_metrics(done_run, exported, tmp_path):
    """``python train.py --max_steps 1`` from the recipe folder, in a fresh interpreter on the CPU, the lab found
    only through the script's own LAB_CHECKOUT: the SFT warm-up and one GRPO step log the keys the lab's SFT and GRPO
    stages logged (loss, grad_norm, learning_rate, num_tokens, entropy, mean_token_accuracy, completions/*,
    rewards/<grader>/*, reward, reward_std, frac_reward_zero_std, clip_ratio/*, step_time, epoch, the train_*
    totals)."""
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(CUDA_VISIBLE_DEVICES="", HF_HUB_OFFLINE="1", HF_DATASETS_CACHE=str(tmp_path / "datasets"))
    proc = subprocess.run([sys.executable, "train.py", "--max_steps", "1", "--output_dir", str(out)],
                          cwd=exported / "recipe", env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    logged = {"sft": json.loads((out / "sft" / "trainer_state.json").read_text())["log_history"],
              "grpo": json.loads((out / "trainer_state.json").read_text())["log_history"]}  # fmt: skip
    assert (out / "adapter_model.safetensors").is_file() and (out / "sft" / "adapter_model.safetensors").is_file()
    lab = {stage: [m for m in done_run.metrics() if m["stage"] == stage] for stage in logged}
    for stage in logged:
        ours, theirs = _trl_keys(lab[stage], LAB_ONLY_KEYS), _trl_keys(logged[stage], {"step"})
        assert theirs == ours, f"{stage}: only the lab {ours - theirs}, only train.py {theirs - ours}"
    assert {"rewards/brevity/mean", "rewards/partial_credit/mean", "reward", "loss"} <= _trl_keys(logged["grpo"], {""})
    assert max(row["step"] for row in logged["grpo"]) == 1, "--max_steps 1 overrode the run's 2 steps"
    # the same model, data, seed and SFT hyperparameters: the warm-up's first step is the lab's
    assert logged["sft"][0]["loss"] == pytest.approx(next(m["loss"] for m in lab["sft"] if "loss" in m), rel=1e-4)


# --- what is refused -----------------------------------------------------------------------------------------------
def test_a_stopped_run_without_adapter_exports_no_adapter_but_its_card(done_run, tmp_path):
    stopped = _stopped_copy(done_run, tmp_path / "stopped")
    for what in ("adapter", "merged", "card,merged"):
        with pytest.raises(LabError, match="no LoRA adapter") as e:
            export.export(stopped, what, tmp_path / "x")
        assert e.value.key == "export.no_adapter"
    assert not (tmp_path / "x").exists()
    card = (export.export(stopped, "card", tmp_path / "card") / "README.md").read_text()
    assert "stopped before the end" in card and "after RL" not in card


def test_bad_requests_are_lab_errors_and_write_nothing(done_run, tmp_path):
    with pytest.raises(LabError, match="unknown export item 'weights'"):
        export.export(done_run, "adapter,weights", tmp_path / "x")
    with pytest.raises(LabError, match="nothing to export"):
        export.parse_what([])
    with pytest.raises(LabError, match="no run 'nope'"):
        export.find_run("nope")
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    with pytest.raises(LabError, match="not an empty folder"):
        export.export(done_run, "card", full)
    assert [p.name for p in full.iterdir()] == ["keep.txt"]
    running = _stopped_copy(done_run, tmp_path / "running")
    running.set_status(state="running", pid=os.getpid())
    with pytest.raises(LabError, match="once it has finished"):
        export.export(running, "card", tmp_path / "x")
    dry = _stopped_copy(done_run, tmp_path / "dry")
    dry.set_status(state="done")
    (dry.dir / "config.json").write_text(json.dumps({"method": "rft", "config": {**CONFIG, "dry_run": True}}))
    with pytest.raises(LabError, match="is a dry run"):
        export.export(dry, "recipe", tmp_path / "x")
    rlhf = tmp_path / "rlhf"
    rlhf.mkdir()
    (rlhf / "config.json").write_text(json.dumps({"method": "rlhf", "config": {"route": "dpo"}}))
    runs.Run(rlhf).set_status(state="done", method="rlhf")
    with pytest.raises(LabError, match="recipe export is for RFT runs for now") as e:
        export.export(rlhf, "recipe", tmp_path / "x")
    assert e.value.values["route"] == "dpo"
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.*"))


def test_push_offline_or_without_a_token_or_hub_is_refused_before_any_work(done_run, tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LabError, match="offline|switched off") as e:
        export.export(done_run, "card", tmp_path / "x", push="someone/run")
    assert e.value.key == "export.push.offline" and not (tmp_path / "x").exists()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(LabError, match="no Hugging Face token"):
        export.export(done_run, "card", tmp_path / "x", push="someone/run")
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises(LabError, match="does not answer") as e:
        export.export(done_run, "card", tmp_path / "x", push="someone/run")
    assert e.value.key == "export.push.unreachable" and not (tmp_path / "x").exists()
    with pytest.raises(LabError, match="not a Hub repo id"):
        export.export(done_run, "card", tmp_path / "x", push="no slash")


# --- the CLI and the page ------------------------------------------------------------------------------------------
def test_cli_export_exit_codes(done_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["export", str(done_run.dir), "--what", "card,recipe", "--out", str(tmp_path / "ok")]) == 0
    assert "exported card, recipe of run run" in capsys.readouterr().out
    assert (tmp_path / "ok" / "README.md").is_file() and (tmp_path / "ok" / "recipe" / "train.py").is_file()
    stopped = _stopped_copy(done_run, tmp_path / "stopped")
    bad = [
        (["export", str(done_run.dir), "--what", "adapter,bogus", "--out", str(tmp_path / "a")], "'bogus'"),
        (["export", "no-such-run", "--out", str(tmp_path / "b")], "no run 'no-such-run'"),
        (["export", str(stopped.dir), "--what", "adapter", "--out", str(tmp_path / "c")], "no LoRA adapter"),
        (["export", str(done_run.dir), "--what", "card", "--out", str(tmp_path / "d"), "--push", "me/x"], "HF_HUB"),
    ]
    for argv, message in bad:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_run_id_lookup_and_the_pages_export_for_owner_or_teacher(done_run, tmp_path, monkeypatch):
    from lab.ui import export_view

    home = tmp_path / "home"
    (home / "runs").mkdir(parents=True)
    monkeypatch.setenv("LAB_HOME", str(home))
    shutil.copytree(done_run.dir, home / "runs" / "20240101-000000-rft-abcd", ignore=shutil.ignore_patterns("adapter"))
    assert export.find_run("20240101-000000-rft-abcd").dir == home / "runs" / "20240101-000000-rft-abcd"
    with pytest.raises(LabError, match="only they or the teacher may export it"):
        export_view.export_as("20240101-000000-rft-abcd", ["card"], access.Identity("v:bob", "bob"))
    with pytest.raises(LabError, match="pick a finished run first"):
        export_view.export_as(None, ["card"], access.Identity("v:alice", "alice"))
    for who in (access.Identity("v:alice", "alice"), access.Identity("v:bob", "bob", teacher=True)):
        path = export_view.export_as("20240101-000000-rft-abcd", ["card"], who)
        with zipfile.ZipFile(path) as z:
            assert {"README.md", "curve.svg"} <= set(z.namelist())


def test_the_runs_tab_has_the_export_endpoint():
    import lab.ui
    from lab.ui import export_view

    demo = lab.ui.build_demo()
    fns = {fn.api_name: fn.fn for fn in demo.fns.values()}
    assert "export_run" in fns and inspect.unwrap(fns["export_run"]) is inspect.unwrap(export_view.export_run)


def test_the_recipe_of_a_two_process_run_launches_two_with_the_same_global_batch(done_run, tmp_path):
    """The process count is part of the run: the recipe's accelerate.yaml has it and its GRPOConfig splits the
    step as the run did (lab.distributed.split_batch: 2 questions × 2 answers over 2 processes)."""
    two = tmp_path / "two"
    shutil.copytree(done_run.dir, two, ignore=shutil.ignore_patterns("adapter", "trainer*"))
    spec = json.loads((two / "config.json").read_text())
    spec["config"]["num_processes"] = 2
    (two / "config.json").write_text(json.dumps(spec))
    recipe = export.export(two, "recipe", tmp_path / "out") / "recipe"
    accelerate = (recipe / "accelerate.yaml").read_text()
    assert "num_processes: 2" in accelerate and 'distributed_type: "MULTI_GPU"' in accelerate
    script = (recipe / "train.py").read_text()
    assert "per_device_train_batch_size=2," in script and "gradient_accumulation_steps=1," in script
    assert "accelerate launch --config_file accelerate.yaml train.py" in (recipe / "README.md").read_text()


def test_an_rlhf_runs_card_has_its_persona_win_rate_and_policy_curve(tmp_path, tiny_model):
    """An RLHF run's folder as lab.methods.rlhf.train leaves it (summary fields, the DPO stage's logged loss)."""
    folder = tmp_path / "rlhf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"method": "rlhf", "config": {"route": "dpo", "model": "tiny"}}))
    run = runs.Run(folder)
    run.set_status(state="done", method="rlhf")
    for step, loss in enumerate([0.69, 0.55, 0.41], start=1):
        run.log_metrics({"stage": "dpo", "step": step, "loss": loss})
    side = lambda rm, words: {"rm_score": rm, "mean_words": words, "complete": 1.0, "liked": 0.25}  # noqa: E731
    run.write_summary({
        "method": "rlhf", "algorithm": "dpo", "model": "tiny", "persona": "concise", "win_rate": 0.625,
        "heldout_prompts": 8, "before": side(-1.25, 31.0), "after": side(0.5, 12.0), "steps": 3,
        "feedback": {"given": None, "ratings_used": 40, "pairs_used": 57}, "config": {"route": "dpo", "beta": 0.1},
    })  # fmt: skip
    card = (export.export(run, "card", tmp_path / "out") / "README.md").read_text()
    for text in ("RLHF: DPO", "`concise`", "0.625", "-1.250", "0.500", "31.0", "12.0", "57 pairs", "- dpo"):
        assert text in card, text
    svg = (tmp_path / "out" / "curve.svg").read_text()
    assert svg.count("<polyline") == 1 and "DPO loss" in svg


def test_a_run_that_sampled_with_vllm_exports_a_recipe_that_does_too(done_run, tmp_path):
    """``generation`` (lab.methods.common.generation_kwargs): the summary says how the run sampled; a vLLM run's
    recipe asks TRL for vLLM in colocate mode as the run did, a generate() run's (this CPU run's) does not."""
    assert done_run.summary()["generation"] == "transformers"
    plain = export.export(done_run, "recipe", tmp_path / "plain") / "recipe" / "train.py"
    assert "use_vllm" not in plain.read_text()
    gpu_run = tmp_path / "gpu"
    shutil.copytree(done_run.dir, gpu_run, ignore=shutil.ignore_patterns("adapter", "trainer*"))
    summary = json.loads((gpu_run / "summary.json").read_text())
    (gpu_run / "summary.json").write_text(json.dumps({**summary, "generation": "vllm"}))
    script = (export.export(gpu_run, "recipe", tmp_path / "out") / "recipe" / "train.py").read_text()
    assert "use_vllm=True," in script and "vllm_mode='colocate'," in script


def test_the_export_names_its_parts_in_the_visitors_language():
    from lab.texts import speaking
    from lab.ui import export_view

    assert export_view.parts_text(["card", "adapter"]) == "LoRA adapter, Model card + curve"
    with speaking("zh"):
        assert export_view.parts_text(["card", "adapter"]) == "LoRA 适配器、模型卡 + 曲线"


def test_a_refused_export_stays_on_the_page_and_the_api_still_raises(fresh_home, monkeypatch):
    """The page's button puts the refusal in its status line and empties the file box (an error would leave a big
    box with an "Error" badge once the toast fades); the ``export_run`` endpoint still raises for the caller."""
    import gradio as gr

    from lab.ui import export_view

    monkeypatch.setenv("LAB_ADMIN_TOKEN", "tok")  # public: a call without the teacher's identity is a visitor's
    run = runs.create("rft", {"model": "tiny", "steps": 1}, owner="v:alice")
    path, status = export_view.export_on_page(run.id, ["card"], None)
    assert path is None and status.startswith("⚠") and "only they or the teacher may export it" in status
    with pytest.raises(gr.Error, match="only they or the teacher may export it"):
        export_view.export_run(run.id, ["card"], None)
