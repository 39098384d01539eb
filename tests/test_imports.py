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
