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
from lab.texts import counted
from lab.ui.common import user_errors
from lab.ui.lang import L

__all__ = ["build_continue_section", "continue_as", "continue_on_page", "continue_run", "started_text"]


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


def started_text(child_id: str, parent_id: str, steps: int) -> str:
    """What Continue says it did, in the visitor's language ("1 more step", "2 more steps").

    >>> started_text("b", "a", 1), started_text("b", "a", 2)
    ('run b continues a for 1 more step', 'run b continues a for 2 more steps')
    """
    return counted("ui.continue.started", int(steps), run_id=child_id, parent=parent_id, steps=int(steps))


@user_errors
def continue_run(run_id: str, steps: int, request: gr.Request) -> str:
    """API (``gradio_client``): continue run ``run_id`` for ``steps`` more GRPO steps — its owner or the teacher, as
    on the page; returns the new run's id. A refusal is an error for the caller (the page's button shows it in its
    status line instead: :func:`continue_on_page`)."""
    child = continue_as(run_id, steps, access.identify(request))
    gr.Info(started_text(child.id, run_id, steps))
    return child.id


@user_errors  # anything but a refusal: an error toast, never a traceback
def continue_on_page(run_id: str | None, steps: int, request: gr.Request) -> tuple[str, str]:
    """The page's button: (the new run's id, the status line). A refusal goes to the status line, where it stays
    until the next click (a toast fades, and an error would leave the box with a bare "Error" badge), and the box
    is emptied: no earlier id reads as the run this click started."""
    try:
        child = continue_as(run_id, steps, access.identify(request))
    except LabError as e:
        gr.Warning(e.text())
        return "", f"⚠ {e.text()}"
    done = started_text(child.id, run_id or "", steps)
    gr.Info(done)
    return child.id, f"✓ {done}"


def build_continue_section(picker: gr.Dropdown) -> None:
    """The accordion under the picked run: how many more steps, the button, the new run's id and a status line;
    the same action as the ``continue_run`` API endpoint (a hidden button's: it raises for a refused caller)."""
    with gr.Accordion(L("ui.continue.title"), open=False):
        gr.Markdown(L("ui.continue.intro"))
        with gr.Row(equal_height=True):
            steps = gr.Number(10, minimum=1, maximum=200, precision=0, label=L("ui.continue.steps"), scale=1)
            button = gr.Button(L("ui.continue.button"), scale=1)
            started = gr.Textbox(label=L("ui.continue.new_run"), interactive=False, scale=2)
        status = gr.Markdown()
    button.click(continue_on_page, [picker, steps], [started, status], api_visibility="private",
                 concurrency_limit=1, concurrency_id="continue_run")  # fmt: skip
    gr.Button(visible=False).click(continue_run, [picker, steps], started, api_name="continue_run",
                                   concurrency_limit=1, concurrency_id="continue_run")  # fmt: skip
