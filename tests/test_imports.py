"""The torch-free side stays torch-free: the UI, the run registry and the methods' Configs import no torch.

The trainer modules (``lab.methods.rft``, ``rlhf``, ``reward_model``, ``rl``, ``preference``, ``common``) import
torch/TRL/PEFT at their top; only the worker process (``lab.methods.train``) and functions the UI calls on demand
import them. Checked in a fresh interpreter, since this test process has imported torch long ago.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ui_runs_and_configs_import_no_torch_even_when_the_demo_is_built():
    code = (
        "import sys\n"
        "import lab.methods, lab.methods.rft_config, lab.methods.rlhf_config, lab.runs, lab.ui\n"
        "assert 'torch' not in sys.modules, 'importing the UI side imported torch'\n"
        "lab.ui.build_demo()\n"
        "assert 'torch' not in sys.modules, 'building the demo imported torch'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Every ``lab`` module → the ``lab`` modules it imports (top level and inside functions), and every private
    name (``_x``) one module takes from another."""
    import ast

    files = {}
    for path in sorted((ROOT / "lab").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def owner(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    edges, private = {m: set() for m in files}, []
    for module, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges[module] |= {owner(a.name) for a in node.names if a.name.startswith("lab")}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("lab"):
                for a in node.names:
                    target = f"{node.module}.{a.name}"
                    edges[module].add(target if target in files else owner(node.module))
                    if target not in files and a.name.startswith("_"):
                        private.append(f"{module}: from {node.module} import {a.name}")
        # a package's submodule may import the package itself (its __init__ only re-exports)
        edges[module] = {t for t in edges[module] if t and t != module and not module.startswith(t + ".")}
    return edges, private


def test_no_import_cycles_and_no_private_names_across_modules():
    edges, private = _import_graph()
    assert len(edges) > 40 and sum(map(len, edges.values())) > 100  # the scan sees the whole package
    assert not private, private
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            assert state.get(target) != 1, f"import cycle: {' → '.join(path + [module, target])}"
            if target not in state:
                visit(target, path + [module])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [])
