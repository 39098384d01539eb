"""The events around one run on screen, written once for every tab that shows a run: Train starts one, a picker
shows one, Stop stops it, and a ``gr.Timer`` polls its folder into the view.

``RunControls(view)`` holds the per-browser state (the run being watched and what the poller last saw, see
``lab.ui.runs_view.render``) and the timer. The timer ticks only while the watched run is queued or running: the
tick that sees it end turns it off, and Train / picking a run / Stop turn it on: an idle page polls nothing, and a
page watching a run takes from the worker's CPU only what its curves need. Each method wires one event with the
``api_name`` the tab gives it, so ``gradio_client`` callers keep their endpoint names. A tab wires only the controls
it has (the RFT and RLHF tabs: train, stop, poll; the Runs tab: show, stop, poll). Every message is a text key,
shown in the visitor's language when the event answers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import gradio as gr

from lab import LabError, access, runs
from lab.texts import t
from lab.ui import runs_view
from lab.ui.common import format_seconds, user_errors

__all__ = ["RunControls", "stop_as"]


def stop_as(run_id: str, who: access.Identity) -> tuple[bool, dict]:
    """Stop run ``run_id`` for ``who``: its owner or the teacher (else ``LabError``, nothing changes). Returns
    ``(whether it was waiting or training, the status it is in now)``; a finished run keeps its state."""
    run = runs.get(run_id)
    if not access.may_touch(who, run.owner):
        raise LabError("access.run_not_yours", run_id=run_id)
    status = run.status()
    if status.get("state") not in runs_view.ACTIVE:
        return False, status
    return True, runs.stop(run_id)


class RunControls:
    """Train / show / Stop / poll for one :class:`~lab.ui.runs_view.RunView`; build it where its timer may sit."""

    def __init__(self, view: runs_view.RunView) -> None:
        self.view = view
        self.run_state = gr.State(None)  # the id of the run this browser watches
        self.seen_state = gr.State(None)  # what the poller last read (runs_view.render skips what did not change)
        self.timer = gr.Timer(runs_view.POLL_SECONDS)  # on at first, for the watch below; off once nothing is active

    def _show(self, run_id: str | None) -> tuple:
        """``(timer, run id, seen, *values)``: the timer on and the whole view filled from the run's folder."""
        return gr.Timer(active=True), run_id, *runs_view.render(self.view, run_id, None, force=True)

    @staticmethod
    def _timer_after(seen: dict) -> Any:
        """The timer's update after a tick that left ``seen``: off when the watched run is not active, else as is.
        A tick that sees its run waiting also makes sure the queue moves (an app that reaped the last worker does
        it already; this covers one that did not, e.g. after a restart)."""
        if seen.get("state") == runs.WAITING:
            runs.start_next()
        return gr.skip() if seen.get("state") in runs_view.ACTIVE else gr.Timer(active=False)

    def train(self, button: gr.Button, start: Callable[..., str], inputs: Any, *, api_name: str, **kwargs) -> None:
        """Train: ``start`` (its parameters are the endpoint's; it may take ``progress=gr.Progress()``) checks the
        form, starts a run and returns its id; the view then watches that run. ``kwargs`` go to ``button.click``
        (``inputs_kwargs`` for the knobs)."""

        @user_errors
        @functools.wraps(start)  # Gradio reads the parameters (and the progress tracker) from start's signature
        def start_and_show(*args: Any, **values: Any) -> tuple:
            run_id = start(*args, **values)
            position, wait = runs.queue_place(runs.get(run_id))
            if position:
                gr.Info(t("ui.run.waiting", run_id=run_id, position=position, wait=format_seconds(wait or 0)))
            else:
                gr.Info(t("ui.run.started", run_id=run_id, seconds=f"{runs_view.POLL_SECONDS:g}"))
            return self._show(run_id)

        outputs = [self.timer, self.run_state, self.seen_state, *self.view.outputs()]
        # a spinner on the status card only: no progress text over every plot and table (the check takes a moment)
        kwargs.setdefault("show_progress_on", self.view.status)
        kwargs.setdefault("show_progress", "minimal")
        button.click(start_and_show, inputs, outputs, api_name=api_name, **kwargs)

    def show(self, picker: gr.Dropdown, *, api_name: str) -> None:
        """A picked run (by id) fills the view; an unknown id is an error the user reads."""

        @user_errors
        def view_run(run_id: str | None):
            if run_id:
                runs.get(run_id)  # a clear error for an unknown id
            return self._show(run_id)

        outputs = [self.timer, self.run_state, self.seen_state, *self.view.outputs()]
        picker.change(view_run, picker, outputs, api_name=api_name)

    def stop(self, button: gr.Button, *, api_name: str, no_run: str) -> Any:
        """Stop the watched run (``no_run``: the text key of the message when there is none, shown in the visitor's
        language; a plain message is shown as it is) and show it as it stopped; returns the event (a tab may chain
        ``.then``)."""

        @user_errors
        def stop_run(run_id: str | None, request: gr.Request):
            if not run_id:
                raise LabError(no_run)  # a key: user_errors shows it in the visitor's language
            was_active, status = stop_as(run_id, access.identify(request))
            if not was_active:  # say so: a click that does nothing silently looks broken
                state = runs_view.state_label(status.get("state") or "?")
                gr.Warning(t("ui.stop.finished", run_id=run_id, state=state))
            else:
                gr.Info(t("ui.stop.stopped", run_id=run_id), duration=3)
            return gr.Timer(active=True), *runs_view.render(self.view, run_id, None, force=True)  # ticks to "stopped"

        outputs = [self.timer, self.seen_state, *self.view.outputs()]
        return button.click(stop_run, self.run_state, outputs, api_name=api_name)

    def poll(self, *, api_name: str, watch: str | None = None) -> None:
        """Every tick, refresh what changed in the watched run's folder. With ``watch`` (a method), the first tick
        after the page opened picks that method's run if one is training (so a reload keeps showing it)."""
        outputs = [self.timer, self.seen_state, *self.view.outputs()]

        def poll(run_id: str | None, seen: dict | None):
            if run_id is None and seen is None:  # first tick after the page opened: watch a run that is training
                active = runs.active_run()
                run_id = active.id if active and active.config().get("method") == watch else None
            seen, *values = runs_view.render(self.view, run_id, seen)
            return self._timer_after(seen), run_id, seen, *values

        def refresh(run_id: str | None, seen: dict | None):
            seen, *values = runs_view.render(self.view, run_id, seen)
            return self._timer_after(seen), seen, *values

        fn, outputs = (poll, [self.timer, self.run_state, *outputs[1:]]) if watch else (refresh, outputs)
        self.timer.tick(
            fn, [self.run_state, self.seen_state], outputs, show_progress="hidden", concurrency_limit=None,
            api_visibility="undocumented", api_name=api_name,
        )  # fmt: skip
