"""Sharing the cores (``lab.cpu``): the app's flag while it generates, and a worker that leaves it a core."""

from __future__ import annotations

import time

import torch

from lab import cpu


def test_the_flag_stands_while_any_generation_runs(fresh_home):
    assert not cpu.flag_path().exists()
    with cpu.generating():
        with cpu.generating():  # a chat batch and a simulation at once
            assert cpu.flag_path().exists()
        assert cpu.flag_path().exists()
    assert not cpu.flag_path().exists()


def test_a_worker_uses_one_thread_fewer_while_the_app_generates(fresh_home, monkeypatch):
    before = torch.get_num_threads()
    layer = torch.nn.Linear(4, 4)
    try:
        torch.set_num_threads(2)
        cpu.share_with_generation(2)
        layer(torch.ones(1, 4))
        assert torch.get_num_threads() == 2
        with cpu.generating():
            time.sleep(cpu.LOOK_EVERY_SECONDS * 1.5)  # the hook looks at most this often
            layer(torch.ones(1, 4))
            assert torch.get_num_threads() == 1
        time.sleep(cpu.LOOK_EVERY_SECONDS * 1.5)
        layer(torch.ones(1, 4))
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("LAB_CHAT_THREADS", "3")
        assert cpu.chat_threads() == 3
    finally:
        cpu.state["threads"] = before
        torch.set_num_threads(before)
