"""Each method's Config is the one schema of its options: one validation for the UI, the API, the CLI and the worker
(a bad option gets the same message from each), old names kept, and every field with a level is a knob."""

from __future__ import annotations

import dataclasses
import importlib
import socket
from dataclasses import dataclass, field

import gradio as gr
import pytest

from lab import LabError, methods, runs
from lab.__main__ import build_parser, main
from lab.methods import rft_config, rlhf_config
from lab.methods.schema import knob_names
from lab.ui import build_demo
from lab.ui import rft_actions as act
from lab.ui import rlhf_actions as ract
from lab.ui.common import field_key, knob_components
from lab.ui.lang import resolve

SPECS = act.specs_json([{"type": "exact_match"}])


@pytest.fixture(scope="module")
def client():
    """The app served on a free port, and a gradio_client talking to it."""
    from gradio_client import Client

    demo = build_demo()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.queue().launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    finally:
        demo.close()


def _ui_message(fn, *args) -> str:
    with pytest.raises(LabError) as e:
        fn(*args)
    return str(e.value)


def _cli_message(argv: list[str], capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ")
    return err.removeprefix("error: ")


def _api_message(client, *args, api_name: str, **kwargs) -> str:
    with pytest.raises(Exception) as e:  # gradio_client's AppError carries the gr.Error text
        client.predict(*args, api_name=api_name, **kwargs)
    return str(e.value)


# (what is wrong, the UI action's arguments, the CLI's arguments, the API's endpoint, arguments and knobs)
SAME_EVERYWHERE = {
    "rft: an empty model name": (
        "rft: model must not be empty ('embedded', 'tiny', a local folder or a hub id.)",
        (act.start_run, "capitals", SPECS, {**act.defaults(), "model": ""}),
        ["rft", "--data", "capitals", "--model", ""],
        ("/train", (SPECS,), {"model": ""}),
    ),
    "rlhf: dpo with a batch of one": (
        "dpo: batch_size must be at least 2 (KTO estimates its KL within a batch)",
        (ract.start_run, "dpo", {**ract.defaults(), "batch_size": 1}),
        ["rlhf", "--route", "dpo", "--set", "batch_size=1"],
        ("/train_rlhf", ("dpo",), {"batch_size": 1}),
    ),
}


@pytest.mark.parametrize("case", list(SAME_EVERYWHERE))
def test_a_bad_config_gets_the_same_message_from_the_ui_the_api_and_the_cli(case, client, fresh_home, tmp_path,
                                                                            capsys):  # fmt: skip
    message, (fn, *args), argv, (endpoint, api_args, knobs) = SAME_EVERYWHERE[case]
    assert _ui_message(fn, *args) == message
    assert _cli_message([*argv, "--out", str(tmp_path / "run")], capsys) == message
    assert _api_message(client, *api_args, api_name=endpoint, **knobs) == message
    assert not runs.list_runs() and not (tmp_path / "run").exists(), "refused before a folder or a worker exists"


def test_values_the_knobs_cannot_show_are_refused_the_same_by_ui_and_cli(client, fresh_home, tmp_path, capsys):
    """Outside a slider's range the API answers with Gradio's bounds check; the UI action and the CLI, which have
    no slider, get the Config's message (and so does the worker, for a config.json written by hand)."""
    cases = [
        ("rft: steps must be at least 1 (got 0)", (act.start_run, "capitals", SPECS, {"steps": 0}),
         ["rft", "--steps", "0"], ("rft", {"steps": 0})),
        ("rlhf: beta must be > 0 for rm-rl (the KL leash to the base model); got 0.0",
         (ract.start_run, "rm-rl", {"beta": 0}), ["rlhf", "--set", "beta=0"], ("rlhf", {"beta": 0})),
    ]  # fmt: skip
    for message, (fn, *args), argv, (method, config) in cases:
        assert _ui_message(fn, *args) == message
        assert _cli_message([*argv, "--out", str(tmp_path / "run")], capsys) == message
        with pytest.raises(LabError) as e:
            methods.train(method, config, run=None)  # the worker: refused before any model loads
        assert str(e.value) == message
    assert "less than minimum value 1" in _api_message(client, SPECS, api_name="/train", steps=0)
    assert "less than minimum value 0.001" in _api_message(client, "rm-rl", api_name="/train_rlhf", beta=0)
    assert not runs.list_runs() and not (tmp_path / "run").exists()


def test_options_from_text_forms_and_old_names_are_read_one_way():
    typed = methods.normalize("rft", {"steps": "3", "warmup": "false", "graders": '[{"type": "exact_match"}]',
                                      "learning_rate": 0.001, "task": "capitals"})  # fmt: skip
    assert typed == {"steps": 3, "warmup": False, "graders": [{"type": "exact_match"}], "learning_rate": 0.001,
                     "task": "capitals"}  # fmt: skip
    assert methods.normalize("rft", {"steps": 2.0}) == {"steps": 2}, "a form's float becomes the field's int"
    with pytest.raises(LabError, match=r"rft: steps must be a number \(got 'abc'\)"):
        methods.make_config("rft", {"steps": "abc"})
    with pytest.raises(LabError, match="rft: warmup must be true or false"):
        methods.make_config("rft", {"warmup": "maybe"})
    with pytest.raises(LabError, match="rlhf: unknown option.*stepz"):
        methods.normalize("rlhf", {"stepz": 3})
    # the RLHF route was called "method" before: old run folders and command lines keep working
    assert methods.make_config("rlhf", {"method": "dpo"}).route == "dpo"
    assert methods.normalize("rlhf", {"method": "kto", "steps": "4"}) == {"route": "kto", "steps": 4}
    with pytest.raises(LabError, match="route or its old name method, not both"):
        methods.make_config("rlhf", {"method": "dpo", "route": "kto"})
    assert rlhf_config.route_of({"method": "dpo"}) == "dpo" and rlhf_config.route_of({"route": "kto"}) == "kto"
    assert build_parser().parse_args(["rlhf", "--method", "dpo"]).route == "dpo"
    assert build_parser().parse_args(["rlhf", "--route", "kto"]).route == "kto"
    assert methods.normalize("rlhf", {"feedback": "null", "persona": "concise"})["feedback"] is None


def test_runs_store_current_names_and_cli_set_needs_key_value(fresh_home, tmp_path, capsys):
    run = runs.create("rlhf", {"method": "dpo", "model": "tiny", "steps": "3"})
    assert run.config()["config"] == {"route": "dpo", "model": "tiny", "steps": 3}
    assert _cli_message(["rft", "--set", "steps", "--out", str(tmp_path / "r")], capsys).startswith("--set takes")
    assert "unknown option(s) stepz" in _cli_message(["rft", "--set", "stepz=3", "--out", str(tmp_path / "r")],
                                                     capsys)  # fmt: skip


@pytest.mark.parametrize("config_cls", [rft_config.Config, rlhf_config.Config])
def test_every_field_with_a_level_is_a_knob_built_from_its_metadata(config_cls):
    with gr.Blocks():
        knobs = knob_components(config_cls)
    assert tuple(knobs) == knob_names(config_cls) and knobs, "one component per field with a level, in field order"
    defaults = config_cls()
    for f in dataclasses.fields(config_cls):
        m = f.metadata
        assert m.get("help"), f"{f.name} has no help"
        if "level" not in m:
            assert f.name not in knobs
            continue
        knob = knobs[f.name]
        assert resolve(knob.label) == m["label"] and knob.value == getattr(defaults, f.name), f.name
        assert resolve(knob.info) == m.get("info", m["help"]), f.name  # the page's hint, in English here
        if isinstance(knob, gr.Slider):  # a slider shows part of the valid range, never more
            assert m.get("min", -float("inf")) <= knob.minimum and knob.maximum <= m.get("max", float("inf")), f.name
        elif isinstance(knob, gr.Number):
            assert (knob.minimum, knob.maximum) == (m.get("min"), m.get("max")), f.name


@pytest.mark.parametrize("module", ["rft_config", "rl_config", "reward_model_config", "preference_config",
                                    "rlhf_config"])  # fmt: skip
def test_every_field_has_its_words_as_keys_in_both_languages(module):
    """The page shows a knob's label and hint through ``config.<NAME>.<field>.<part>`` keys (ui_knobs.json): each
    English text is the field's metadata, so the metadata stays the one place a knob's English is written."""
    from lab import texts

    config_cls = importlib.import_module(f"lab.methods.{module}").Config
    for f in dataclasses.fields(config_cls):
        for part in ("label", "help", "info"):
            if part in f.metadata:
                key = field_key(config_cls, f.name, part)
                assert texts.t(key, "en") == f.metadata[part], key
                assert all(key in texts.table(lang) for lang in texts.LANGUAGES), key


def test_adding_a_knob_is_adding_a_field():
    @dataclass
    class Extended(rft_config.Config):
        group_size_note: int = field(default=3, metadata={
            "help": "A new option.", "label": "A new knob", "level": "advanced", "min": 1,
        })  # fmt: skip

    with gr.Blocks():
        knobs = knob_components(Extended)
    assert list(knobs)[-1] == "group_size_note" and isinstance(knobs["group_size_note"], gr.Number)
    assert resolve(knobs["group_size_note"].label) == "A new knob" and knobs["group_size_note"].minimum == 1
    assert Extended.from_dict({"group_size_note": "5"}).group_size_note == 5
    with pytest.raises(LabError, match=r"rft: group_size_note must be at least 1 \(got 0\)"):
        Extended.from_dict({"group_size_note": 0})


def test_a_small_file_is_split_in_the_open():
    """16 rows and the default 40 held out: half kept for training, and a note that says what the run can show."""
    from lab.methods.rft_config import Config

    n_train, n_valid, note = Config().split_sizes(16)
    assert (n_train, n_valid) == (8, 8)
    assert "16 rows: 8 to train on, 8 held out" in note and "asks for 40" in note and "12.5 points" in note
    assert Config(valid_size=4).split_sizes(16)[:2] == (12, 4)
    assert Config().split_sizes(103) == (63, 40, None)
