"""The Runs tab's Export section: what to keep of the picked run (adapter, merged model, card, recipe), a button,
and the zip to download — for the run's owner or the teacher (``lab.access``), as Stop is.

The work is :func:`lab.export.zip_export`, which imports torch only when it merges a model; this module imports
none. Labels are page labels (``L``); messages are text keys, shown in the visitor's language.
"""

from __future__ import annotations

import gradio as gr

from lab import LabError, access, export, runs
from lab.texts import t
from lab.ui.common import user_errors
from lab.ui.lang import L

__all__ = ["build_export_section", "export_as", "export_on_page", "export_run", "parts_text"]


def export_as(run_id: str | None, what: list[str] | None, who: access.Identity) -> str:
    """Export ``what`` of run ``run_id`` for ``who`` (its owner or the teacher, else ``LabError``, nothing written);
    returns the path of the zip."""
    if not run_id:
        raise LabError("ui.export.pick_first")
    items = export.parse_what(what or [])
    run = runs.get(run_id)
    if not access.may_touch(who, run.owner):
        raise LabError("export.not_yours", run_id=run_id)
    return str(export.zip_export(run_id, items))


def parts_text(what: list[str] | str | None) -> str:
    """The exported parts in the visitor's language, with the Export checkboxes' labels ("LoRA adapter, Model card
    + curve"), not their ids.

    >>> parts_text(["card", "adapter"])
    'LoRA adapter, Model card + curve'
    """
    return t("runs.list_joiner").join(t(f"ui.export.what.{w}") for w in export.parse_what(what))


@user_errors
def export_run(run_id: str, what: list[str], request: gr.Request) -> str:
    """API (``gradio_client``): export ``what`` (``adapter``, ``merged``, ``card``, ``recipe``) of run ``run_id`` as
    one zip — its owner or the teacher, as on the page. A refusal is an error for the caller (the page's button
    shows it in its status line instead: :func:`export_on_page`)."""
    path = export_as(run_id, what, access.identify(request))
    gr.Info(t("ui.export.done", run_id=run_id, what=parts_text(what)))
    return path


@user_errors  # anything but a refusal: an error toast, never a traceback
def export_on_page(run_id: str | None, what: list[str], request: gr.Request) -> tuple[str | None, str]:
    """The page's button: (the zip, the status line). A refusal goes to the status line, where it stays until the
    next click (a toast fades, and an error would leave the file box empty with a bare "Error" badge), and the
    file box is emptied: no earlier zip reads as this click's."""
    try:
        path = export_as(run_id, what, access.identify(request))
    except LabError as e:
        gr.Warning(e.text())
        return None, f"⚠ {e.text()}"
    done = t("ui.export.done", run_id=run_id, what=parts_text(what))
    gr.Info(done)
    return path, f"✓ {done}"


def build_export_section(picker: gr.Dropdown) -> None:
    """The accordion under the picked run: checkboxes, the button, a status line and the zip; the same action as
    the ``export_run`` API endpoint (a hidden button's: it raises for a refused caller)."""
    with gr.Accordion(L("ui.export.title"), open=False):
        gr.Markdown(L("ui.export.intro"))
        with gr.Row(equal_height=True):
            what = gr.CheckboxGroup([(L(f"ui.export.what.{w}"), w) for w in export.WHAT], value=["adapter", "card"],
                                    label=L("ui.export.what"), scale=4)  # fmt: skip
            button = gr.Button(L("ui.export.button"), scale=1)
        status = gr.Markdown()
        zipped = gr.File(label=L("ui.export.file"), interactive=False, height=80)
    button.click(export_on_page, [picker, what], [zipped, status], api_visibility="private", concurrency_limit=1,
                 concurrency_id="export_run")  # fmt: skip
    gr.Button(visible=False).click(export_run, [picker, what], zipped, api_name="export_run", concurrency_limit=1,
                                   concurrency_id="export_run")  # fmt: skip
