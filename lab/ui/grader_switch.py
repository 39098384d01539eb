"""The teacher's switch for python graders, in the Runs tab's teacher section, and its API endpoint.

Python graders run a visitor's code on the server (:mod:`lab.grading.sandbox`), so on a public deployment they are
off until the teacher turns them on here (or the Space sets ``LAB_PYTHON_GRADER=1``). The status line says whether
they are on and whether the kernel sandbox holds on this machine (probed once; where it does not, they stay off
whatever the switch says). Anyone can read the status; only the teacher can change it — on the page and through
the API (``/python_graders``), identity from the server.
"""

from __future__ import annotations

import os

import gradio as gr

from lab import LabError, access
from lab.grading import sandbox
from lab.texts import t
from lab.ui.common import user_errors
from lab.ui.lang import L


def status_markdown() -> str:
    """One line: on/off and why, and what the kernel sandbox is here."""
    found = sandbox.isolation()
    if os.environ.get("LAB_PYTHON_GRADER", "").strip() == "1":
        state = t("ui.sandbox.on_env")
    elif sandbox.switch_state()["enabled"]:
        state = t("ui.sandbox.on_teacher")
    else:
        state = t("ui.sandbox.off")
    kernel = (
        t("ui.sandbox.kernel_ok", layers=" + ".join(found.layers), seconds=found.seconds)
        if found.ok
        else t("ui.sandbox.kernel_missing", reason=found.reason)
    )
    packages = ", ".join(name for name, ok in sandbox.available_packages().items() if ok)
    return t("ui.sandbox.status", state=state, kernel=kernel, packages=packages)


def _set(enabled: bool, request: gr.Request) -> str:
    who = access.identify(request)
    access.require_teacher(who, t("ui.sandbox.action"))  # LabError for anyone else; nothing changes
    sandbox.set_switch(bool(enabled), by=who.visitor)
    return status_markdown()


@user_errors
def set_python_graders(enabled: bool, request: gr.Request) -> str:
    """API: turn python graders on or off for the whole lab (the teacher only); returns the status line."""
    return _set(enabled, request)


def _flip(enabled: bool, request: gr.Request) -> tuple[bool, str]:
    """The page's switch: a visitor who is not the teacher gets a warning and the switch back where it was."""
    try:
        _set(enabled, request)
    except LabError as e:
        gr.Warning(e.text())
    return sandbox.switch_state()["enabled"], status_markdown()


def section() -> None:
    """The switch and its status line (inside the teacher's accordion); the same action as an API endpoint."""
    with gr.Row(equal_height=True):
        switch = gr.Checkbox(label=L("ui.sandbox.switch"), value=lambda: sandbox.switch_state()["enabled"], scale=1)
        status = gr.Markdown(status_markdown)
    switch.input(_flip, switch, [switch, status], api_visibility="private")
    gr.api(set_python_graders, api_name="python_graders")
