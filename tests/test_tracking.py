"""``report_to="trackio"``: a run also logs to trackio, locally, beside the lab's runs — off by default."""

from __future__ import annotations

import json
import os
import sqlite3

from lab import runs

TINY = {"model": "tiny", "steps": 2, "num_generations": 4, "warmup": False, "valid_size": 4, "eval_every": 0,
        "max_completion_length": 8}  # fmt: skip


def test_off_by_default_and_a_tracked_run_logs_trls_metrics_to_trackio(fresh_home, tiny_model, monkeypatch):
    monkeypatch.delenv("TRACKIO_DIR", raising=False)
    plain = runs.create("rft", TINY)
    runs.execute_foreground(plain)  # the CLI's run, in this process: trackio's folder is set for that run only
    assert "TRACKIO_DIR" not in os.environ  # (left behind, the next run would log to this home's folder)
    assert not (fresh_home / "trackio").exists()

    run = runs.start("rft", {**TINY, "report_to": "trackio"}, owner="v:alice")
    assert runs.wait(run, timeout=180)["state"] == "done", run.log_tail()
    db = sqlite3.connect(fresh_home / "trackio" / "rlhf-rft-lab.db")
    rows = db.execute("select step, metrics from metrics where run_name = ?", (run.id,)).fetchall()
    logged = {key for _, metrics in rows for key in json.loads(metrics)}
    assert {"train/loss", "train/reward"} <= logged, sorted(logged)  # the same TRL metrics as metrics.jsonl
    assert {step for step, _ in rows} >= {1, 2}
