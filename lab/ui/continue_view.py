"""The Runs tab's Continue section: N more steps of the picked run, as a new run linked to it.

A run keeps a TRL checkpoint (adapter, optimizer, scheduler, trainer state) every few steps, at its end and when it
is stopped (``lab.methods.run_options.checkpoint_every``). *Continue* starts a new run with the picked run's
config, ``parent`` set to it and ``steps`` the number asked for: it trains on from that checkpoint, its curve goes on
from the parent's last step, and the class table counts the pair once. Its owner or the teacher may continue a
run (``lab.access``), on the page and through the API (``/continue_run``). RFT runs only, for now.
"""

from __future__ import annotations

import gradio as gr

from lab import LabError, access, runs
from lab.texts import t
from lab.ui.common import user_errors
from lab.ui.lang import L

__all__ = ["build_continue_section", "continue_as", "continue_run"]


def continue_as(run_id: str | None, steps: int, who: access.Identity) -> runs.Run:
    """Start ``steps`` more steps of run ``run_id`` for ``who`` (its owner or the teacher); ``LabError`` (nothing
    started) for another visitor's run, a run that is not RFT or kept no checkpoint, or a bad step count."""
    if not run_id:
        raise LabError("ui.continue.pick_first")
    parent = runs.get(run_id)
    if not access.may_touch(who, parent.owner):
        raise LabError("ui.continue.not_yours", run_id=run_id)
    spec = parent.config()
    if spec.get("method") != "rft":
        raise LabError("ui.continue.rft_only", run_id=run_id)
    if parent.status().get("state") not in ("done", "stopped"):
        raise LabError("ui.continue.not_ended", run_id=run_id, state=parent.status().get("state"))
    if not any((parent.dir / "trainer").glob("checkpoint-*/trainer_state.json")):
        raise LabError("rft.continue.no_checkpoint", run_id=run_id)
    config = {**spec.get("config", {}), "parent": parent.id, "steps": int(steps), "dry_run": False}
    return runs.start("rft", config, owner=who.visitor, teacher=who.teacher)


@user_errors
def continue_run(run_id: str, steps: int, request: gr.Request) -> str:
    """API (``gradio_client``): continue run ``run_id`` for ``steps`` more GRPO steps — its owner or the teacher, as
    on the page; returns the new run's id."""
    child = continue_as(run_id, steps, access.identify(request))
    gr.Info(t("ui.continue.started", run_id=child.id, parent=run_id, steps=int(steps)))
    return child.id


def build_continue_section(picker: gr.Dropdown) -> None:
    """The accordion under the picked run: how many more steps, and the button."""
    with gr.Accordion(L("ui.continue.title"), open=False):
        gr.Markdown(L("ui.continue.intro"))
        with gr.Row(equal_height=True):
            steps = gr.Number(10, minimum=1, maximum=200, precision=0, label=L("ui.continue.steps"), scale=1)
            button = gr.Button(L("ui.continue.button"), scale=1)
            started = gr.Textbox(label=L("ui.continue.new_run"), interactive=False, scale=2)
    button.click(continue_run, [picker, steps], started, api_name="continue_run", concurrency_limit=1)
