"""Keep what a run made, outside the lab: its LoRA adapter, the merged model, a model card, a plain TRL recipe.

``export(run, what, out, push=None)`` writes into the folder ``out`` (new or empty; built beside it and renamed into
place, so a failure leaves nothing half-written):

- ``adapter`` → ``adapter/``: the run's LoRA adapter as PEFT saved it (``adapter_config.json``,
  ``adapter_model.safetensors``) with the tokenizer; a stopped run's comes from its last checkpoint
  (:func:`adapter_folder`).
- ``merged`` → ``merged/``: the base model with the adapter folded in (PEFT ``merge_and_unload``), safetensors and
  tokenizer: loads with plain ``transformers``, no PEFT.
- ``card`` → ``README.md`` and ``curve.svg``: a Hugging Face model card (method, data, graders or persona,
  hyperparameters, the before/after numbers of ``summary.json``) and the training curve, an SVG drawn here from
  ``metrics.jsonl`` (no browser, no plotting library): :mod:`lab.export_card`.
- ``recipe`` → ``recipe/``: one readable ``train.py`` (TRL + PEFT) with the run's hyperparameters — taken from the
  functions the lab trains with (``lab.methods.rft.grpo_kwargs``, ``sft_kwargs``, ``lab.methods.common.lora_config``)
  — the run's train / held-out rows as JSONL, accelerate configs (one process; DeepSpeed ZeRO-3 on 8 GPUs) and a
  README with the commands for one GPU, 8 GPUs, several machines and vLLM in server mode. RFT runs only for now.

``push="owner/name"`` then uploads the folder to the Hugging Face Hub (``huggingface_hub``) when a token is set, and
refuses at once — before any work — when the Hub is offline (``HF_HUB_OFFLINE``), no token is set, or the Hub's
address does not answer within a few seconds.

The card and the recipe are English documents (as model cards and scripts on the Hub are); the messages are text
keys (``export.*``). Importing this module imports no torch: the UI calls it, the heavy parts import torch inside.
"""

from __future__ import annotations

import json
import os
import pprint
import re
import shutil
import socket
import tempfile
import textwrap
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlparse

from lab import LabError, runs
from lab.export_card import base_name, fill, hub_id, run_method, write_card

__all__ = [
    "WHAT", "adapter_folder", "check", "export", "find_run", "hub_url", "parse_what", "push_to_hub", "zip_export",
]  # fmt: skip

WHAT = ("adapter", "merged", "card", "recipe")
"""What an export may hold, in the order it is written."""
PUSH_TIMEOUT = 5.0
"""Seconds to wait for the Hub's address to answer before a push is refused as unreachable."""
_DEVICE_KEYS = ("output_dir", "bf16", "use_cpu")
"""Trainer arguments the lab sets from the machine it runs on: the recipe sets them from the machine it runs on."""


# --- what and which run --------------------------------------------------------------------------------------------
def parse_what(what: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"adapter,card"`` or ``["card", "adapter"]`` → the items in :data:`WHAT` order; an unknown one is refused.

    >>> parse_what("card, adapter"), parse_what(None)
    (('adapter', 'card'), ('adapter', 'merged', 'card', 'recipe'))
    """
    if what is None:
        return WHAT
    items = [w.strip() for w in (what.split(",") if isinstance(what, str) else what) if w and w.strip()]
    for item in items:
        if item not in WHAT:
            raise LabError("export.unknown_what", item=item, known=", ".join(WHAT))
    if not items:
        raise LabError("export.nothing", known=", ".join(WHAT))
    return tuple(w for w in WHAT if w in items)


def find_run(ref: str | Path) -> runs.Run:
    """A run folder (any folder with a ``config.json``), else a run id under ``LAB_HOME/runs``."""
    folder = Path(ref).expanduser()
    if (folder / "config.json").is_file():
        return runs.Run(folder.resolve())
    if str(ref) and "/" not in str(ref) and (runs.runs_dir() / str(ref) / "config.json").is_file():
        return runs.get(str(ref))
    raise LabError("export.no_run", run=ref, folder=runs.runs_dir())


def check(run: runs.Run, what: Iterable[str]) -> None:
    """Refuse (``LabError``) what cannot be exported from ``run``, before anything is written."""
    state = run.status().get("state", "unknown")
    if state not in runs.FINAL_STATES:
        raise LabError("export.active", run_id=run.id, state=state)
    if run_method(run)[1].get("dry_run"):
        raise LabError("export.dry_run", run_id=run.id)
    if {"adapter", "merged"} & set(what) and adapter_folder(run) is None:
        raise LabError("export.no_adapter", run_id=run.id, state=state, folder=run.adapter_dir)
    if "card" in what and not run.summary():
        raise LabError("export.no_summary", run_id=run.id, state=state)
    method, cfg = run_method(run)
    if "recipe" in what and method != "rft":
        raise LabError("export.recipe_rft_only", run_id=run.id, method=method, route=cfg.get("route") or "rm-rl")


# --- the export ----------------------------------------------------------------------------------------------------
def export(run: runs.Run | str | Path, what: str | Iterable[str] | None = None, out: str | Path | None = None,
           push: str | None = None) -> Path:  # fmt: skip
    """Write ``what`` (:data:`WHAT`, default all) of ``run`` (a Run, a folder or an id) into ``out`` (new or empty;
    default ``./<run id>-export``) and, with ``push``, upload it to that Hub repo. Returns the folder."""
    run = run if isinstance(run, runs.Run) else find_run(run)
    items = parse_what(what)
    check(run, items)
    out = Path(out or f"{run.id}-export").expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LabError("export.out_not_empty", folder=out)
    token = _push_ready(push, out) if push else None  # offline, no token, a bad repo id: refused before any work
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for item in items:
            _WRITERS[item](run, tmp, items)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if push:
        push_to_hub(out, push, token=token)
    return out


def zip_export(run_id: str, what: Iterable[str]) -> Path:
    """The export of ``what`` as one zip file in a fresh folder under the system's temp dir (where Gradio serves
    downloads from): what the Runs tab's Export button gives."""
    run = runs.get(run_id)
    folder = Path(tempfile.mkdtemp(prefix="lab-export-"))
    done = export(run, what, folder / f"{run.id}-export")
    zipped = Path(shutil.make_archive(str(done), "zip", root_dir=done))
    shutil.rmtree(done)  # the zip is what is served; a merged model is not kept twice
    return zipped


def adapter_folder(run: runs.Run) -> Path | None:
    """The run's LoRA adapter: ``adapter/`` of a finished run, else the one in its last GRPO checkpoint (a stopped
    run keeps one, ``lab.methods.run_options.checkpoint_every``); ``None`` when it has neither."""
    if (run.adapter_dir / "adapter_config.json").is_file():
        return run.adapter_dir
    found = sorted((run.dir / "trainer").glob("checkpoint-*/adapter_config.json"),
                   key=lambda p: int(p.parent.name.rpartition("-")[2]))  # fmt: skip
    return found[-1].parent if found else None


def _write_adapter(run: runs.Run, dest: Path, items: tuple) -> None:
    source = adapter_folder(run)
    shutil.copytree(
        source,
        dest / "adapter",
        ignore=shutil.ignore_patterns(
            "optimizer.pt", "scheduler.pt", "rng_*", "trainer_state.json", "training_args.bin"
        ),
    )


def _write_merged(run: runs.Run, dest: Path, items: tuple) -> None:
    """Base + adapter → ``merge_and_unload`` → safetensors, in fp32 on the CPU (the lab's CPU dtype)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lab import models

    base = AutoModelForCausalLM.from_pretrained(models.resolve(base_name(run)), dtype=torch.float32)
    source = adapter_folder(run)
    merged = PeftModel.from_pretrained(base, str(source)).merge_and_unload()
    merged.save_pretrained(dest / "merged", safe_serialization=True)
    AutoTokenizer.from_pretrained(source).save_pretrained(dest / "merged")


# --- the recipe ----------------------------------------------------------------------------------------------------
def _rft_split(run: runs.Run, cfg) -> tuple[list[dict], list[dict]]:
    """The run's training and held-out rows, split as ``lab.methods.rft.train`` split them (the task and seed of the
    run); checked against the sizes and held-out questions the run recorded, so a changed file is refused."""
    from lab import data
    from lab.methods.rft import held_out_file

    ds = data.load_task(cfg.task)
    own_valid = held_out_file(cfg)
    if own_valid is None:
        train_ds, valid_ds = data.split(ds, cfg.split_sizes(len(ds))[1], cfg.seed)
    else:
        train_ds, valid_ds = ds, own_valid
    if cfg.max_train_rows:
        train_ds = train_ds.select(range(min(cfg.max_train_rows, len(train_ds))))
    train, valid = [dict(r) for r in train_ds], [dict(r) for r in valid_ds]
    summary = run.summary() or {}
    asked = [e.get("question") for e in summary.get("examples") or []]
    sizes = (summary.get("train_size", len(train)), summary.get("valid_size", len(valid)))
    if sizes != (len(train), len(valid)) or (asked and asked != [r.get("question") for r in valid]):
        raise LabError("export.data_changed", run_id=run.id, task=cfg.task, n_train=len(train), n_valid=len(valid),
                       run_train=sizes[0], run_valid=sizes[1])  # fmt: skip
    return train, valid


def _literal(value: object) -> str:
    """A Python literal to read: a dict of options as ``dict(key=value, …)``, one per line; else ``pprint``'s.

    >>> print(_literal({"r": 16, "task_type": "CAUSAL_LM"}))
    dict(
        r=16,
        task_type='CAUSAL_LM',
    )
    """
    if isinstance(value, dict) and value and all(isinstance(k, str) and k.isidentifier() for k in value):
        return "dict(\n" + "".join(f"    {k}={v!r},\n" for k, v in value.items()) + ")"
    return pprint.pformat(value, width=110, sort_dicts=False)


def _write_recipe(run: runs.Run, dest: Path, items: tuple) -> None:
    from importlib import metadata

    from lab import distributed, models
    from lab.methods.common import lora_config
    from lab.methods.rft import grpo_kwargs, sft_kwargs
    from lab.methods.rft_config import Config

    cfg = Config.from_dict(run_method(run)[1])
    train, valid = _rft_split(run, cfg)
    cfg.prompts_per_step = min(cfg.prompts_per_step, len(train))  # as the run did
    folder = dest / "recipe"
    folder.mkdir()
    for name, rows in (("train.jsonl", train), ("valid.jsonl", valid)):
        lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (folder / name).write_text("".join(lines), encoding="utf-8")
    world = distributed.processes({"num_processes": getattr(cfg, "num_processes", 1)})  # the run's process count
    trainer_dir = str(run.dir / "trainer")  # as the run named it (a tracker's run name is the run's id)
    grpo = {k: v for k, v in grpo_kwargs(cfg, trainer_dir, world=world).items() if k not in _DEVICE_KEYS}
    if (run.summary() or {}).get("generation") == "vllm":  # the run sampled with vLLM (colocate): so does the script
        grpo.update(use_vllm=True, vllm_mode="colocate")
    sft = {k: v for k, v in sft_kwargs(cfg, trainer_dir, len(train)).items() if k not in _DEVICE_KEYS}
    lora = lora_config(cfg.lora_rank)
    defaults = type(lora)().to_dict()
    named = ("r", "lora_alpha", "lora_dropout", "target_modules", "task_type")
    lora_args = {k: v for k, v in lora.to_dict().items() if k in named or v != defaults.get(k)}
    lora_args = {k: sorted(v) if isinstance(v, set) else v for k, v in lora_args.items()}
    hub = hub_id(cfg.model)
    model = hub or str(models.resolve(cfg.model).resolve())
    note = ""
    if cfg.model == models.EMBEDDED:
        note = (
            f"The lab trained its embedded copy of {hub} (a Q4_1 GGUF, dequantized): its weights differ a little "
            f"from the Hub's. For the very same weights: --model_name_or_path {models.resolve(cfg.model).resolve()}"
        )
    elif hub is None:
        note = "A local folder: on another machine, pass --model_name_or_path (a folder or a hub id)."
    model_note = "".join(f"# {line}\n" for line in textwrap.wrap(note, 110))
    created = datetime.fromtimestamp(run.config().get("created") or time.time()).strftime("%Y-%m-%d %H:%M")
    script = fill(
        "rft_train.py.tmpl", lab_checkout=repr(str(Path(__file__).resolve().parents[1])), run_id=run.id,
        created=created, model=repr(model), model_note=model_note,
        graders=_literal(cfg.graders), lora=_literal(lora_args), warmup=cfg.warmup, sft=_literal(sft),
        grpo=_literal(grpo), warmup_note="" if cfg.warmup else " (off in this run: GRPO starts from the base)",
    )  # fmt: skip
    (folder / "train.py").write_text(script, encoding="utf-8")
    own = Path(getattr(cfg, "accelerate_config", "") or "").expanduser()
    if own.name and own.is_file():  # the run's own accelerate config: what it was launched with
        shutil.copy(own, folder / "accelerate.yaml")
    else:
        kind = "NO" if world == 1 else "MULTI_GPU"  # accelerate's DDP (gloo on a CPU), as the lab launches it
        (folder / "accelerate.yaml").write_text(fill("accelerate.yaml", processes=world, kind=kind), encoding="utf-8")
    (folder / "zero3.yaml").write_text(fill("zero3.yaml"), encoding="utf-8")
    per_step = cfg.prompts_per_step * cfg.num_generations
    try:
        eight = distributed.split_batch(cfg.prompts_per_step, cfg.num_generations, 8)
        same = (f"to keep the lab's {per_step} answers a step on 8 GPUs, add `--per_device_train_batch_size "
                f"{eight[0]} --gradient_accumulation_steps {eight[1]}`.")  # fmt: skip
    except LabError:
        same = (
            "8 processes cannot share the lab's step evenly: lower `gradient_accumulation_steps` or "
            "`per_device_train_batch_size` to see fewer answers a step (a multiple of `num_generations`)."
        )
    launch = "python train.py" if world == 1 else "accelerate launch --config_file accelerate.yaml train.py"
    how = (f"The run trained in one process: `{launch}` trains it again." if world == 1 else
           f"The run trained on {world} processes (`accelerate.yaml`): `{launch}` trains it again; `python "
           f"train.py` alone is one process that sees 1/{world} of the run's step unless you pass "
           f"`--per_device_train_batch_size {cfg.num_generations} --gradient_accumulation_steps "
           f"{cfg.prompts_per_step}`.")  # fmt: skip
    if getattr(cfg, "parent", ""):
        how += (
            f" This run continued run `{cfg.parent}` from its checkpoint: the recipe trains from the base model "
            "with this run's options, not the parent's steps before them."
        )
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("trl", "peft", "transformers", "datasets",
                                                                "accelerate"))  # fmt: skip
    readme = fill(
        "rft_readme.md", run_id=run.id, rank=cfg.lora_rank, model=model, exported=f"{datetime.now():%Y-%m-%d}",
        stages=("SFT warm-up, then " if cfg.warmup else "") + f"{cfg.steps} GRPO steps",
        graders=", ".join(f"`{g.get('name') or g.get('type')}`" for g in cfg.graders), n_train=len(train),
        n_valid=len(valid), versions=versions, model_note=note,
        prompts=cfg.prompts_per_step, generations=cfg.num_generations, global_batch=per_step,
        per_device=grpo["per_device_train_batch_size"], accumulation=grpo["gradient_accumulation_steps"],
        same_batch=same, how=how, world=world,
    )  # fmt: skip
    (folder / "README.md").write_text(readme, encoding="utf-8")


_WRITERS = {"adapter": _write_adapter, "merged": _write_merged, "card": write_card, "recipe": _write_recipe}


# --- the Hub -------------------------------------------------------------------------------------------------------
def _offline() -> bool:
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return flag in ("1", "true", "yes", "on") or (not flag and bool(constants.HF_HUB_OFFLINE))


def _push_ready(repo: str, folder: Path) -> str:
    """Refuse a push that cannot happen (bad repo id, offline, no token, the Hub's address silent) before any work;
    return the token."""
    import huggingface_hub
    from huggingface_hub import constants

    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo or "") or ".." in repo:
        raise LabError("export.push.bad_repo", repo=repo)
    if _offline():
        raise LabError("export.push.offline", repo=repo, folder=folder)
    token = os.environ.get("HF_TOKEN") or huggingface_hub.get_token()
    if not token:
        raise LabError("export.push.no_token", repo=repo)
    address = urlparse(constants.ENDPOINT)
    port = address.port or (443 if address.scheme == "https" else 80)
    try:
        socket.create_connection((address.hostname, port), timeout=PUSH_TIMEOUT).close()
    except OSError as e:
        raise LabError(
            "export.push.unreachable", repo=repo, endpoint=constants.ENDPOINT, error=e, folder=folder
        ) from None
    return token


def hub_url(repo: str) -> str:
    """The page of the Hub repo ``repo``."""
    from huggingface_hub import constants

    return f"{constants.ENDPOINT.rstrip('/')}/{repo}"


def push_to_hub(folder: str | Path, repo: str, token: str | None = None) -> str:
    """Upload ``folder`` to the Hub model repo ``repo`` (created when missing); returns the repo's URL."""
    from huggingface_hub import HfApi, constants

    folder = Path(folder)
    token = token or _push_ready(repo, folder)
    api = HfApi(endpoint=constants.ENDPOINT, token=token)
    try:
        url = api.create_repo(repo, repo_type="model", exist_ok=True)
        api.upload_folder(
            folder_path=folder, repo_id=repo, repo_type="model", commit_message=f"lab export of {folder.name}"
        )
    except Exception as e:  # network, permissions, quota: the message names it; the export stays on disk
        detail = str(e).splitlines()[0][:200] if str(e) else ""
        raise LabError("export.push.failed", repo=repo, folder=folder, error=type(e).__name__, detail=detail) from e
    return str(url)
