"""Run folders and the worker process that fills them.

Everything the lab trains is a *run*: a folder ``LAB_HOME/runs/<id>/`` (or any ``--out`` folder) holding

    config.json    what the user asked for: {"method": "rft", "config": {...}}
    status.json    state (waiting → queued → running → done | stopped | failed), stage, step/max_steps, pid, times,
                   error
    metrics.jsonl  one JSON object per logged step (TrainerCallback.on_log), at least "step" and the logged values
    samples.jsonl  prompt, completion, reward (and each grader's score) per step or per eval
    adapter/       the PEFT LoRA adapter when the run finishes
    summary.json   the before/after numbers the results view and the CLI print
    log.txt        the worker's stdout/stderr

The UI and the CLI only *read* these folders. Training happens in a separate process started with
``python -m lab worker <run dir>`` (``accelerate launch`` for several processes: :mod:`lab.distributed`):
the UI thread never waits on torch. Stop writes the run's ``stop`` file: at its next step end the run saves a TRL
checkpoint (so it can be continued) and ends; one that does not reach a step end within a few seconds gets a signal
(a handler raises ``RunStopped`` between two torch ops; SIGKILL follows if even that does not end it). It keeps
everything it logged, and a crash or an out-of-memory kill fails that one run only.
One run trains at a time (a lock file guards the check-and-spawn); a Train while one is training **waits** in a
queue (state ``waiting``, first come first served; the teacher may move one to the front) and starts when the one
before it ends — the app that reaps a worker starts the next, and an app that starts picks the queue up again, so a
restart never forgets it. Caps: ``LAB_MAX_WAITING`` runs in the queue (default 20) and ``LAB_MAX_WAITING_PER_VISITOR``
per owner (default 1); a run longer than ``LAB_MAX_RUN_SECONDS`` (default 30 min on a public deployment, none
locally) is stopped with that reason. A run whose worker died with the app (no final state, no live process)
shows as ``interrupted``.

A failed run's ``status.json`` has its ``error`` in English and, for a message of :mod:`lab.texts`, its
``error_key`` and ``error_values``, so a page can show it in the visitor's language.

This module imports no torch: it is safe to use from the UI.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lab import LabError, distributed, gpu, lab_home
from lab.texts import t

FINAL_STATES = ("done", "stopped", "failed", "interrupted")
WAITING = "waiting"
"""In the queue: no worker yet."""
STOP_GRACE_SECONDS = 4.0
STOP_COOPERATIVE_SECONDS = 8.0
"""How long Stop waits for the run's next step end (where it saves a checkpoint and stops) before a signal."""


_thread_lock = threading.Lock()  # see _locked


class RunStopped(BaseException):
    """Raised inside the worker when the user presses Stop (a BaseException, so no ``except Exception`` eats it)."""


def runs_dir() -> Path:
    path = lab_home() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a line being written right now is skipped
                rows.append(json.loads(line))
    return rows


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    tmp.replace(path)  # atomic: readers never see half a file


def _error(key: str | None, message: str, values: dict[str, Any]) -> dict[str, Any]:
    """The status fields of a failure: ``error`` (English), and ``error_key``/``error_values`` when it has a key."""
    return {"error": message, "error_key": key, "error_values": values} if key else {"error": message}


def _keyed_error(key: str, **values: Any) -> dict[str, Any]:
    return _error(key, t(key, **values), values)


def _proc_start(pid: int) -> str | None:
    """The kernel's start time of a process (clock ticks since boot): with the pid, it names a process uniquely."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int | None, start: str | None = None) -> bool:
    """True when ``pid`` is alive, not a zombie, and (when ``start`` is known) the same process, not a recycled pid."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    with contextlib.suppress(OSError, IndexError):  # a zombie (exited, not yet reaped) is not alive
        if Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].startswith("Z"):
            return False
    return start is None or _proc_start(pid) in (None, start)


@dataclass
class Run:
    """One run folder. Cheap to create; every accessor reads the files afresh.

    ``main`` is False in the other processes of a distributed run (:mod:`lab.distributed`): they read the folder
    but every write below does nothing there, so the main process is its one writer."""

    dir: Path
    main: bool = True

    @property
    def id(self) -> str:
        return self.dir.name

    # --- reading -------------------------------------------------------------------------------------------------
    def config(self) -> dict:
        return _read_json(self.dir / "config.json", {})

    @property
    def owner(self) -> str:
        """The visitor id of who started the run ("" for runs of the CLI and from before owners were kept)."""
        return str(self.config().get("owner") or "")

    def status(self) -> dict:
        """The status, with ``running`` turned into ``interrupted`` when its worker is gone."""
        status = _read_json(self.dir / "status.json", {"state": "unknown"})
        if status.get("state") in ("queued", "running") and not _pid_alive(status.get("pid"), status.get("pid_start")):
            # allow a just-spawned worker a moment to write its pid
            if time.time() - status.get("updated", 0) > 10:
                status["state"] = "interrupted"
        return status

    def metrics(self) -> list[dict]:
        return _read_jsonl(self.dir / "metrics.jsonl")

    def samples(self) -> list[dict]:
        return _read_jsonl(self.dir / "samples.jsonl")

    def summary(self) -> dict | None:
        return _read_json(self.dir / "summary.json")

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(FileNotFoundError):
            return (self.dir / "log.txt").read_text(encoding="utf-8", errors="replace")[-chars:]
        return ""

    @property
    def adapter_dir(self) -> Path:
        return self.dir / "adapter"

    # --- writing (worker side) -------------------------------------------------------------------------------------
    def stop_requested(self) -> bool:
        """Has Stop been pressed for this run? A file of its own (``stop``), which no status update can overwrite."""
        return (self.dir / "stop").exists()

    def set_status(self, **fields: Any) -> dict:
        status = _read_json(self.dir / "status.json", {})
        if not self.main:
            return status
        status.update(fields, updated=time.time())
        _write_json(self.dir / "status.json", status)
        return status

    def log_metrics(self, row: dict) -> None:
        if not self.main:
            return
        with open(self.dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False, default=float) + "\n")

    def log_samples(self, rows: list[dict]) -> None:
        if not self.main:
            return
        with open(self.dir / "samples.jsonl", "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, default=float) + "\n")

    def write_summary(self, summary: dict) -> None:
        if self.main:
            _write_json(self.dir / "summary.json", summary)


def create(method: str, config: dict, out: str | Path | None = None, owner: str = "") -> Run:
    """Make a run folder with its config and a ``queued`` status. ``out`` picks the folder (CLI ``--out``);
    ``owner`` is the visitor id of who started it (``lab.access``: they and the teacher may stop it).

    The method's Config checks ``config`` first (``lab.methods.normalize``): a bad option is a ``LabError`` before
    any folder or worker exists, whoever asked (the UI, the API, the CLI); ``config.json`` keeps current names.
    """
    from lab import methods

    config = methods.normalize(method, config)
    if out is None:
        run_id = f"{datetime.now():%Y%m%d-%H%M%S}-{method}-{secrets.token_hex(2)}"
        folder = runs_dir() / run_id
    else:
        folder = Path(out).expanduser().resolve()
        if folder.exists() and any(folder.iterdir()):
            raise LabError("runs.out_not_empty", folder=folder)
    folder.mkdir(parents=True, exist_ok=True)
    run = Run(folder)
    spec = {"method": method, "config": config, "created": time.time(), "owner": owner}
    _write_json(folder / "config.json", spec)
    run.set_status(state="queued", method=method, created=time.time())
    return run


def get(run_id: str) -> Run:
    folder = Path(run_id) if os.sep in run_id else runs_dir() / run_id
    if not (folder / "config.json").exists():
        raise LabError("runs.no_run", run_id=run_id, folder=runs_dir())
    return Run(folder)


def list_runs() -> list[Run]:
    """All runs under LAB_HOME/runs, newest first."""
    return sorted(
        (Run(p) for p in runs_dir().iterdir() if (p / "config.json").exists()),
        key=lambda r: r.config().get("created", 0),
        reverse=True,
    )


def active_run() -> Run | None:
    """The run that is training (its worker starting or running), if any."""
    active, _ = _queue(_statuses())
    return active[0] if active else None


def waiting_runs() -> list[Run]:
    """The queue, in the order the runs will start: the teacher's ``order`` first, then first come first served."""
    return [run for run, _ in _queue(_statuses())[1]]


def _statuses() -> list[tuple[Run, dict]]:
    """Every run with its status, newest first: one read of each folder."""
    return [(run, run.status()) for run in list_runs()]


def _queue(statuses: list[tuple[Run, dict]]) -> tuple[tuple[Run, dict] | None, list[tuple[Run, dict]]]:
    """``(the training run, the waiting runs in start order)`` of one :func:`_statuses` listing."""
    active = next(((r, st) for r, st in statuses if st.get("state") in ("queued", "running")), None)
    waiting = [(r, st) for r, st in statuses if st.get("state") == WAITING]
    waiting.sort(key=lambda item: (item[1].get("order", 0), item[1].get("created", 0)))
    return active, waiting


def queue_place(run: Run) -> tuple[int | None, float | None]:
    """``(position, seconds until it starts)`` of a waiting ``run`` from one look at the runs folder; ``(None,
    None)`` when it is not waiting. Position 1 starts next. The wait is rough: what the training run has left (a
    typical run of its method less its elapsed time, or its current stage's ETA when that is longer) and a typical
    run of each method ahead of it (the median of the finished runs of that method here, else 5 minutes)."""
    statuses = _statuses()
    active, waiting = _queue(statuses)
    ids = [r.id for r, _ in waiting]
    if run.id not in ids:
        return None, None
    position = ids.index(run.id) + 1
    seen = _typical_seconds(statuses)
    typical = lambda method: seen(method) or 300.0  # noqa: E731  (5 minutes for a method never finished here)
    wait = 0.0
    if active is not None:
        st = active[1]
        left = typical(st.get("method") or "") - (time.time() - (st.get("started") or time.time()))
        wait += max(0.0, left, float(st.get("eta_seconds") or 0.0))
    for _, st in waiting[: position - 1]:
        wait += typical(st.get("method") or "")
    return position, wait


def _typical_seconds(statuses: list[tuple[Run, dict]]) -> Callable[[str], float | None]:
    """``typical(method)``: the median seconds of this LAB_HOME's finished runs of ``method``, ``None`` if none (a
    dry run is not one: it trains no RL)."""
    finished: dict[str, list[float]] = {}
    for run, st in statuses:
        if st.get("state") == "done" and st.get("ended") and st.get("started"):
            if run.config().get("config", {}).get("dry_run"):
                continue
            finished.setdefault(st.get("method") or "", []).append(st["ended"] - st["started"])

    def typical(method: str) -> float | None:
        times = sorted(finished.get(method, []))
        return times[len(times) // 2] if times else None

    return typical


def queue_position(run: Run) -> int | None:
    """1 for the next run to start, 2 for the one after; ``None`` when ``run`` is not waiting."""
    return queue_place(run)[0]


def expected_wait_seconds(run: Run) -> float | None:
    """Roughly how long until a waiting ``run`` starts (see :func:`queue_place`); ``None`` when it is not waiting."""
    return queue_place(run)[1]


def _cap(name: str, default: int) -> int:
    try:
        return max(0, int(os.environ.get(name, default)))
    except ValueError:
        return default


def max_run_seconds() -> float | None:
    """``LAB_MAX_RUN_SECONDS`` (0 = none); unset: 30 minutes on a public deployment, none locally."""
    from lab import access

    raw = os.environ.get("LAB_MAX_RUN_SECONDS")
    if raw is None:
        return 1800.0 if access.public() else None
    try:
        return float(raw) or None
    except ValueError:
        return None


# --- starting and stopping ---------------------------------------------------------------------------------------
_children: dict[str, subprocess.Popen] = {}


def start(method: str, config: dict, owner: str = "", waiting_allowance: int = 0, teacher: bool = False) -> Run:
    """Create a run (``owner``: who started it) and start its worker, or queue it (``waiting``) while another run
    trains. Refuses (``LabError``, nothing created) beyond the queue's caps; ``waiting_allowance`` more waiting
    runs of this owner are allowed for a request that starts several runs at once (the guided demo: two). On a
    public deployment the options only the teacher may change (more processes, an accelerate config) need
    ``teacher`` (the caller's identity, from the server)."""
    from lab import access, methods

    if not teacher and access.public():
        names = methods.teacher_options(method, config)
        if names:  # named by their knobs' labels in the visitor's language, with the names the CLI and API use
            labels = [methods.option_label(method, name) for name in names]
            raise LabError("runs.teacher_options", names=t("runs.list_joiner").join(labels))
    with _locked():  # two users pressing Train at once: one starts, the other waits behind it
        statuses = _statuses()
        if gpu.zero_gpu():  # the whole run must fit one ZeroGPU call
            seconds, cap = gpu.run_seconds(_typical_seconds(statuses)(method)), gpu.max_call_seconds()
            if seconds > cap:
                raise LabError("runs.zerogpu_too_long", seconds=seconds, cap=cap)
        active, queued = _queue(statuses)
        waiting = [r for r, _ in queued]
        busy = active is not None or bool(waiting)
        if busy:
            total, per_owner = _cap("LAB_MAX_WAITING", 20), _cap("LAB_MAX_WAITING_PER_VISITOR", 1)
            if len(waiting) >= total:
                raise LabError("runs.queue_full", cap=total)
            mine = [r for r in waiting if owner and r.owner == owner]
            if owner and len(mine) >= per_owner + waiting_allowance:
                raise LabError("runs.queue_full_visitor", cap=per_owner, run_id=mine[0].id)
        run = create(method, config, owner=owner)
        if busy:
            run.set_status(state=WAITING, stage="waiting")
        else:
            _spawn(run, statuses)
    return run


@contextlib.contextmanager
def _locked():
    """The queue's lock: a thread lock within this process, a POSIX record lock between processes (the app, the
    CLI). Record locks are not inherited by a forked child (ZeroGPU runs each GPU call in one), so a fork taken
    while a thread holds the lock cannot keep it for ever, as a ``flock`` would."""
    with _thread_lock, open(runs_dir() / ".lock", "w") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        yield


def _spawn(run: Run, statuses: list[tuple[Run, dict]]) -> None:
    """Start ``run``'s worker process (the caller holds the lock, has read the runs' ``statuses`` and checked that
    nothing else trains); on ZeroGPU, a thread of this process that trains inside one ``@spaces.GPU`` call
    (:mod:`lab.gpu`), sized from those statuses."""
    if gpu.zero_gpu():
        seconds = gpu.run_seconds(_typical_seconds(statuses)(run.config().get("method", "")))
        run.set_status(state="queued", pid=os.getpid(), pid_start=_proc_start(os.getpid()), in_process=True,
                       gpu_seconds=seconds)  # fmt: skip
        threading.Thread(target=_execute_on_gpu, args=(run, seconds), name=f"run-{run.id}", daemon=True).start()
        return
    log = open(run.dir / "log.txt", "ab")
    launch = distributed.launch_prefix(run.config().get("config", {}))  # python, or accelerate launch for several
    proc = subprocess.Popen(
        [*launch, "-m", "lab", "worker", str(run.dir), "--parent-pid", str(os.getpid())],
        env=_worker_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: Stop can kill it and anything it spawned
        cwd=Path(__file__).resolve().parent.parent,
    )
    log.close()
    run.set_status(state="queued", pid=proc.pid, pid_start=_proc_start(proc.pid), pgid=proc.pid)
    _children[run.id] = proc
    threading.Thread(target=_reap, args=(run, proc), daemon=True).start()


def _worker_env() -> dict[str, str]:
    """A worker's environment: this process's, and trackio's folder beside the lab's runs (``report_to="trackio"``;
    TRL imports trackio, which reads ``TRACKIO_DIR`` once) unless the user chose one."""
    return {**os.environ, "TRACKIO_DIR": os.environ.get("TRACKIO_DIR") or str(lab_home() / "trackio")}


def start_next() -> Run | None:
    """Start the first waiting run if nothing trains (after a run ends, and when the app starts); returns it."""
    with _locked():
        statuses = _statuses()
        active, waiting = _queue(statuses)
        if active is not None or not waiting:
            return None
        run = waiting[0][0]
        _spawn(run, statuses)
        return run


def move_to_front(run_id: str) -> int:
    """The teacher's reorder: ``run_id`` starts next. Returns its new position (1)."""
    run = get(run_id)
    with _locked():
        waiting = _queue(_statuses())[1]
        if run.id not in [r.id for r, _ in waiting]:
            raise LabError("runs.not_waiting", run_id=run_id, state=run.status().get("state"))
        run.set_status(order=min(st.get("order", 0) for _, st in waiting) - 1)
    return queue_position(run) or 1


def _reap(run: Run, proc: subprocess.Popen) -> None:
    """Wait for a worker; if it died without writing a final state (killed, out of memory), mark it failed."""
    code = proc.wait()
    _children.pop(run.id, None)
    status = _read_json(run.dir / "status.json", {})
    if status.get("state") not in FINAL_STATES and run.stop_requested():
        run.set_status(state="stopped", ended=time.time())  # stopped before its handler was in place
    elif status.get("state") not in FINAL_STATES:
        if code == -signal.SIGKILL:
            error = _keyed_error("runs.worker_killed_oom", signal=-code)
        elif code < 0:
            error = _keyed_error("runs.worker_killed", signal=-code)
        else:
            error = _keyed_error("runs.worker_exited", code=code)
        run.set_status(state="failed", **error, ended=time.time())
    elif code and status.get("world_size", 1) > 1 and status.get("state") == "stopped" and not run.stop_requested():
        # a process of a distributed run died (killed, out of memory): accelerate stopped the others, and the main
        # one wrote "stopped" — but nobody pressed Stop: the run failed, with what accelerate said
        lines = [ln for ln in run.log_tail(6000).splitlines() if "exitcode" in ln or "Error" in ln]
        detail = (lines[-1].strip() if lines else "")[:300]
        run.set_status(state="failed", **_keyed_error("runs.process_failed", code=code, detail=detail))
    with contextlib.suppress(Exception):  # the queue moves on, whatever happened to this one
        if run.dir.parent == runs_dir():  # (the same LAB_HOME: tests switch it under a reaper thread)
            start_next()


def _train_in_call(run: Run, seconds: int) -> dict:
    return execute(run)


def _call_seconds(run: Run, seconds: int) -> int:
    return seconds  # spaces keeps one wrapper per function: the length of each call comes from its arguments


def _execute_on_gpu(run: Run, seconds: int) -> None:
    """Train ``run`` in this process inside one ZeroGPU call; whatever happens, the queue moves on."""
    try:
        if run.stop_requested():
            run.set_status(state="stopped", ended=time.time())
        else:
            gpu.on_gpu(_train_in_call, duration=_call_seconds)(run, seconds)
    except BaseException:  # execute wrote "failed" with its message; a ZeroGPU abort may not have
        if _read_json(run.dir / "status.json", {}).get("state") not in FINAL_STATES:
            run.set_status(state="failed", **_keyed_error("runs.crashed", error_type="ZeroGPU", error=traceback
                           .format_exc(limit=1).strip().splitlines()[-1]), ended=time.time())  # fmt: skip
    with contextlib.suppress(Exception):
        if run.dir.parent == runs_dir():
            start_next()


def stop(run_id: str) -> dict:
    """Stop a run within a few seconds; what it logged stays. A waiting run leaves the queue. Returns the final
    status."""
    run = get(run_id)
    status = run.status()
    if status.get("state") == WAITING:
        with _locked():
            status = run.status()  # the queue may have started it meanwhile: then it is stopped below
            if status.get("state") == WAITING:
                run.set_status(state="stopped", stage="cancelled in the queue", ended=time.time())
                return run.status()
    if status.get("state") not in ("queued", "running"):
        return status
    pid, start = status.get("pid"), status.get("pid_start")
    (run.dir / "stop").write_text(str(time.time()))
    run.set_status(stop_requested=time.time())
    if status.get("in_process"):  # a ZeroGPU run in this process: its trainer stops at its next step
        deadline = time.time() + STOP_GRACE_SECONDS
        while time.time() < deadline and run.status().get("state") not in FINAL_STATES:
            time.sleep(0.1)
        return run.status()
    deadline = time.time() + STOP_COOPERATIVE_SECONDS  # its next step end: a checkpoint, then "stopped"
    while time.time() < deadline and _pid_alive(pid, start) and run.status().get("state") not in FINAL_STATES:
        time.sleep(0.1)
    if _pid_alive(pid, start) and run.status().get("state") not in FINAL_STATES:
        with contextlib.suppress(ProcessLookupError):
            if status.get("world_size", 1) > 1:  # accelerate's launcher and every process it started
                os.killpg(status.get("pgid") or pid, signal.SIGTERM)
            else:
                os.kill(pid, signal.SIGTERM)  # the worker's handler raises RunStopped and writes "stopped"
        deadline = time.time() + STOP_GRACE_SECONDS
        while time.time() < deadline and _pid_alive(pid, start):
            time.sleep(0.1)
        if _pid_alive(pid, start):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    if _read_json(run.dir / "status.json", {}).get("state") not in FINAL_STATES:
        run.set_status(state="stopped", ended=time.time())
    return run.status()


# --- the worker side ---------------------------------------------------------------------------------------------
def _watch_parent(parent_pid: int | None) -> None:
    """If the app that started us dies, stop: the run then shows as interrupted, as the user expects. A process of
    a distributed run is accelerate's child (in a session of its own): it also ends when accelerate's launcher is
    gone (killed by Stop), and watches the app by its pid."""
    parent = os.getppid()
    while True:
        time.sleep(1.0)
        if os.getppid() != parent or (parent_pid and parent != parent_pid and not _pid_alive(parent_pid)):
            os._exit(3)


def execute(run: Run, parent_pid: int | None = None) -> dict:
    """Train one run in *this* process (the worker, or the CLI in the foreground). Returns the summary."""
    from lab import methods

    def on_term(signum, frame):
        raise RunStopped()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
    if parent_pid or distributed.world_size() > 1:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    spec = run.config()
    world = distributed.world_size()
    if world > 1:  # one of accelerate's processes: the launcher's pid stays the run's; only rank 0 writes
        run = Run(run.dir, main=distributed.is_main())
        run.set_status(state="running", world_size=world, started=time.time(), stage="loading")
    else:
        run.set_status(state="running", pid=os.getpid(), pid_start=_proc_start(os.getpid()), started=time.time(),
                       stage="loading")  # fmt: skip
    cap = max_run_seconds() if parent_pid else None  # a worker of the app; the CLI in the foreground has no cap
    timer = None
    if cap and run.main:

        def time_is_up() -> None:
            run.set_status(stop_reason=t("runs.time_cap", seconds=round(cap)))
            if world > 1:  # every process of the run, and accelerate's launcher
                os.killpg(os.getpgid(0), signal.SIGTERM)
            else:
                os.kill(os.getpid(), signal.SIGTERM)

        timer = threading.Timer(cap, time_is_up)
        timer.daemon = True
        timer.start()
    try:
        summary = methods.train(spec["method"], spec.get("config", {}), run)
    except RunStopped:
        reason = run.status().get("stop_reason")
        if run.status().get("state") == "failed":  # another process of a distributed run crashed: it said why
            pass
        elif world > 1 and not run.stop_requested() and not reason:  # accelerate stopped us: another process died
            run.set_status(state="failed", ended=time.time(), **_keyed_error("runs.peer_died"))
        else:
            run.set_status(state="stopped", ended=time.time(), **({"error": reason} if reason else {}))
        print(reason or t("runs.stopped_by_user"), flush=True)
        return run.summary() or {}
    except LabError as exc:
        Run(run.dir).set_status(state="failed", **_error(exc.key, str(exc), exc.values), ended=time.time())
        print(t("cli.error", error=exc), flush=True)
        raise
    except BaseException as exc:
        traceback.print_exc()
        # any process that crashes fails the run with its message (the others are then stopped by accelerate)
        error = _keyed_error("runs.crashed", error_type=type(exc).__name__, error=str(exc))
        Run(run.dir).set_status(state="failed", ended=time.time(), **error)
        raise
    finally:
        if timer is not None:
            timer.cancel()
    run.set_status(state="done", ended=time.time(), stage="done")
    return summary


def execute_foreground(run: Run) -> dict:
    """The CLI's run, in the foreground: :func:`execute` in this process, or — for several processes or an
    accelerate config — ``accelerate launch`` of the worker, its output on this terminal. Returns the summary;
    a failed run raises its ``LabError`` (exit 2) or a ``RuntimeError`` with its message."""
    launch = distributed.launch_prefix(run.config().get("config", {}))
    if len(launch) == 1:  # the CLI's one run, here: trackio's folder set before TRL imports it, for this run only
        chosen = os.environ.get("TRACKIO_DIR")  # (left set, it would follow a later run of this process elsewhere)
        os.environ["TRACKIO_DIR"] = _worker_env()["TRACKIO_DIR"]
        try:
            return execute(run)
        finally:
            if chosen is None:
                os.environ.pop("TRACKIO_DIR", None)
    subprocess.run([*launch, "-m", "lab", "worker", str(run.dir)], cwd=Path(__file__).resolve().parent.parent,
                   env=_worker_env())  # fmt: skip
    status = run.status()
    if status.get("state") == "failed":
        if status.get("error_key"):
            raise LabError(status["error_key"], **(status.get("error_values") or {}))
        raise RuntimeError(status.get("error") or status)
    return run.summary() or {}


def wait(run: Run, timeout: float | None = None, poll: float = 0.5) -> dict:
    """Block until a run reaches a final state (tests and the CLI use this; the UI polls instead)."""
    deadline = None if timeout is None else time.time() + timeout
    while True:
        status = run.status()
        if status.get("state") in FINAL_STATES:
            return status
        if deadline is not None and time.time() > deadline:
            raise TimeoutError(t("runs.wait_timeout", run_id=run.id, state=status.get("state"), timeout=timeout))
        time.sleep(poll)
