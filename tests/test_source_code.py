"""The Learn tab's source code: the article's tf.js snippets are cut from it, their Keras ports run and show what
the snippets really do (a supervised fit on a constant input: the same answer for every question), the TRL code is
read from lab/methods, and every text key is in both languages."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest

from lab import LabError, texts
from lab.learn import source_code as sc

METHODS = ("rlhf", "rft")


@pytest.fixture(scope="module")
def reports() -> dict[str, dict]:
    return {method: sc.run_port(method) for method in METHODS}


def test_the_snippets_are_cut_verbatim_from_the_article():
    article = sc.ARTICLE.read_text(encoding="utf-8")
    for method, snippet in sc.ARTICLE_SNIPPETS.items():
        assert "tf.sequential" in snippet and "model.fit" in snippet, method
        assert snippet.startswith("import * as tf from '@tensorflow/tfjs';"), method
        assert snippet.strip() in article, method
    assert "rlOptimize(feedbackData);" in sc.ARTICLE_SNIPPETS["rlhf"] and "taskData" not in sc.ARTICLE_SNIPPETS["rlhf"]
    assert sc.ARTICLE_SNIPPETS["rft"].rstrip().endswith("rftOptimize(taskData);")


@pytest.mark.parametrize("method", METHODS)
def test_each_port_fits_two_examples_for_ten_epochs_and_answers_every_question_alike(reports, method):
    report = reports[method]
    assert len(report["losses"]) == 2 * 10  # one fit per example, in order, 10 epochs each
    losses = [report["losses"][:10], report["losses"][10:]]
    assert all(math.isfinite(x) and x > 0 for x in report["losses"])
    # it does fit something: within each fit the loss of the example it is shown goes down
    assert all(fit[-1] < fit[0] for fit in losses), losses

    predictions = report["predictions"]
    assert len(predictions) >= 4  # the snippet's own questions and others
    first = next(iter(predictions.values()))
    for question, p in predictions.items():
        assert len(p) == 2 and abs(sum(p) - 1) < 1e-5, question
        # the constant "tokenizer": the network cannot tell questions apart (fails if a port starts reading input)
        assert max(abs(a - b) for a, b in zip(p, first, strict=True)) < 1e-6, question
    assert report["identical_for_all_questions"] is True
    assert 0 < report["seconds"] < report["wall_seconds"]


def test_rft_loss_falls_while_fitting_and_the_second_example_undoes_the_first(reports):
    losses = reports["rft"]["losses"]
    first_fit, second_fit = losses[:10], losses[10:]
    assert first_fit[-1] < first_fit[0]  # fitting [1, 0]: the loss falls
    # the same input with the opposite label: the second fit starts worse than the first ended, and ends worse than
    # the whole run began — fitting a constant input in order only chases the latest label
    assert second_fit[0] > first_fit[-1]
    assert second_fit[-1] > first_fit[0]


def test_the_snippets_own_questions_are_among_those_predicted(reports):
    assert {"地球是平的吗?", "向小白简述量子物理学."} <= set(reports["rlhf"]["predictions"])
    assert {"湖南的省份是哪里?", "三体是谁写的?"} <= set(reports["rft"]["predictions"])


@pytest.mark.parametrize("method", METHODS)
def test_each_fix_is_marked_in_its_port_in_order(method):
    marked = [int(n) for n in re.findall(r"# FIX (\d+):", sc.PORT_SOURCES[method])]
    assert marked == list(range(1, len(sc.FIXES[method]) + 1))


def test_every_fix_and_paragraph_key_is_in_both_languages():
    keys = {key for fixes in sc.FIXES.values() for key in fixes} | set(sc.WHAT_IT_DOES.values())
    for language in ("en", "zh"):
        table = texts.table(language)
        missing = sorted(key for key in keys if not table.get(key, "").strip())
        assert not missing, f"{language}: {missing}"


def test_trl_lines_are_the_lab_own_trainer_code():
    assert "GRPOTrainer(" in sc.TRL_LINES["rft"] and "reward_funcs" in sc.TRL_LINES["rft"]
    assert "RewardTrainer(" in sc.TRL_LINES["rlhf"]
    assert "GRPOTrainer" in sc.TRL_LINES["rlhf"] and "RLOOTrainer" in sc.TRL_LINES["rlhf"]
    assert "KTOTrainer" in sc.TRL_LINES["kto_dpo"] and "DPOTrainer" in sc.TRL_LINES["kto_dpo"]
    for file, function, _ in (spec for specs in sc.TRL_SOURCES.values() for spec in specs):
        assert f"# {file}\ndef {function}(" in "\n".join(sc.TRL_LINES.values())


def test_run_port_errors_are_lab_errors():
    with pytest.raises(LabError, match="no port named 'ppo'"):
        sc.run_port("ppo")
    with pytest.raises(LabError, match="did not finish within 0.5 s"):
        sc.run_port("rft", timeout=0.5)


def test_the_module_imports_no_torch_or_keras():
    code = "import sys, lab.learn.source_code; assert not {'torch', 'keras'} & set(sys.modules), sys.modules.keys()"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=sc.ROOT)
