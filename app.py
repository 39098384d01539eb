"""The lab's web app: ``python app.py`` (or ``make run``) serves it on http://127.0.0.1:7860.

Set ``GRADIO_SERVER_NAME=0.0.0.0`` to listen on every interface (Spaces sets it); ``LAB_HOME`` picks the data folder.
"""

import contextlib
import os

with contextlib.suppress(ImportError):  # on a ZeroGPU Space, spaces must come before anything touches CUDA
    import spaces  # noqa: F401

from lab import cpu, runs
from lab.ui import build_demo, grader_switch, launch_options

demo = build_demo()

if __name__ == "__main__":
    cpu.clear_flag()  # a flag left by a killed app would keep workers on one thread fewer (lab/cpu.py)
    runs.start_next()  # runs that were waiting when the app stopped: the queue goes on
    print(grader_switch.status_markdown().replace("**", ""))  # probes the kernel sandbox once: python graders
    demo.queue(default_concurrency_limit=4).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        ssr_mode=False,  # the page comes from Python, so lab.ui.lang.PageLanguage can give it the chosen language
        **launch_options(),
    )
