"""The program a python grader runs in: ``python -I sandbox_child.py``, one process per batch of answers.

It imports nothing of the lab (only the standard library, ``landlock`` and ``pyseccomp``), so that this file is the
whole of what stands between the grader and the machine. :mod:`lab.grading.sandbox` starts it with an empty
environment, in a fresh temporary folder, as its own session, and sends one JSON object on stdin::

    {"source": ..., "samples": [...], "items": [...], "limits": {...}, "read": [paths], "write": path}

Before any user code exists in the process, in this order (each step fails closed: if one cannot be applied the
child grades nothing and says why):

1. **Landlock** (the kernel's file-system sandbox, unprivileged, Linux ≥ 5.13): from now on this process and its
   threads may *read* only beneath ``read`` (the Python installation: standard library, site-packages, shared
   libraries) and read and write only beneath ``write`` (its own temporary folder). Every other path — the lab's
   runs and ratings, ``/etc``, ``/proc``, ``/home`` — is refused by the kernel, whatever the code does: ``open``,
   numpy, pandas, ctypes calling libc, or raw syscalls.
2. **seccomp** (a system-call filter, installed with libseccomp): no sockets, no new processes (``fork``,
   ``vfork``, ``clone`` without ``CLONE_THREAD``, ``clone3``, ``execve``), no ``ptrace`` or reading other
   processes' memory, no signals to other processes, no namespaces, mounts, keyrings, BPF, io_uring or kernel
   modules, no path-based ``truncate``. Threads stay allowed (numpy and friends use them).
3. **rlimits**: CPU seconds, 2 GB of address space (OpenAI's memory limit; allocation bombs fail with
   ``MemoryError`` or ``NULL``), a file-size cap for what it writes in its own folder, 64 file descriptors, no
   core dumps.
4. A Python audit hook that turns the blocked process and network calls into readable errors ("subprocess.Popen
   is not allowed in a grader") — convenience only: the kernel is the boundary.

Then it compiles the source, calls ``grade(sample, item)`` for each pair and writes one JSON line per sample to
stdout (``[index, score, error]``); ``print`` output goes nowhere.
"""

import errno
import json
import math
import os
import resource
import sys

_MAX_ERROR = 300
_out = sys.stdout.buffer


def _emit(i, score, error):
    _out.write(json.dumps([i, score, error]).encode("ascii") + b"\n")
    _out.flush()


def _describe(e):
    """``line N: Type: message`` with the grader's own line (the second frame of the traceback)."""
    tb, depth, line = e.__traceback__, 0, None
    while tb is not None and depth < 2:
        line, tb, depth = tb.tb_lineno, tb.tb_next, depth + 1
    where = f"line {line}: " if depth == 2 else ""
    return (where + type(e).__name__ + ": " + str(e))[:_MAX_ERROR]


def _landlock(landlock, read, write):
    """Allow reading beneath ``read`` and everything beneath ``write``; the kernel refuses the rest."""
    FSAccess, ruleset = (
        landlock.FSAccess,
        landlock.Ruleset(),
    )  # handles every file-system right this kernel's Landlock ABI knows
    for path in read:
        ruleset.allow(path, rules=FSAccess.READ_FILE | FSAccess.READ_DIR)
    ruleset.allow(write)
    ruleset.apply()  # also sets no_new_privs, which seccomp needs too


# System calls refused with EPERM. The first group must resolve on every architecture the lab runs on.
_REQUIRED = (
    "socket",
    "socketpair",
    "connect",
    "bind",
    "listen",
    "accept4",
    "execve",
    "execveat",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kill",
    "tkill",
    "unshare",
    "setns",
    "mount",
    "truncate",
)
_OPTIONAL = ("accept", "fork", "vfork", "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "rt_sigqueueinfo",
             "rt_tgsigqueueinfo", "umount2", "pivot_root", "chroot", "bpf", "perf_event_open", "userfaultfd",
             "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key",
             "name_to_handle_at", "open_by_handle_at", "init_module", "finit_module", "delete_module", "kexec_load",
             "kexec_file_load", "reboot", "swapon", "swapoff", "iopl", "ioperm", "personality", "quotactl", "acct",
             "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog", "kcmp", "process_madvise",
             "fanotify_init", "sethostname", "setdomainname", "mknod", "mknodat", "vhangup")  # fmt: skip
_CLONE_THREAD = 0x00010000


def _seccomp(sc):
    """Install the filter above with ``pyseccomp`` (``sc``): everything else is allowed."""
    deny, me = sc.ERRNO(errno.EPERM), os.getpid()
    f = sc.SyscallFilter(defaction=sc.ALLOW)  # other architectures' syscalls (int 0x80, x32) kill the process
    for name in _REQUIRED:
        f.add_rule(deny, name)
    for name in _OPTIONAL:
        try:
            f.add_rule(deny, name)
        except (RuntimeError, ValueError, OSError):  # not a syscall of this architecture
            pass
    # a new process is clone() without CLONE_THREAD; a thread is clone() with it
    f.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
    # clone3 passes its flags in memory the filter cannot read: ENOSYS makes glibc fall back to clone()
    f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    # tgkill only to this process (raise() and abort() use it)
    f.add_rule(deny, "tgkill", sc.Arg(0, sc.NE, me))
    f.load()


def _rlimits(limits):
    cpu, mem, fsize = int(limits["cpu_seconds"]), int(limits["memory_bytes"]), int(limits["file_bytes"])
    for res, value in ((resource.RLIMIT_CPU, (cpu, cpu + 1)), (resource.RLIMIT_AS, (mem, mem)),
                       (resource.RLIMIT_FSIZE, (fsize, fsize)), (resource.RLIMIT_NOFILE, (64, 64)),
                       (resource.RLIMIT_CORE, (0, 0))):  # fmt: skip
        resource.setrlimit(res, value)


_BLOCKED_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                   "os.forkpty", "pty.spawn", "os.kill", "os.killpg", "socket.__new__", "socket.connect",
                   "socket.bind", "socket.getaddrinfo", "socket.gethostbyname", "sys.remote_exec")  # fmt: skip


def _hook(event, args, _blocked=frozenset(_BLOCKED_EVENTS)):
    if event in _blocked:
        raise PermissionError(f"{event} is not allowed in a grader (no processes, no network)")


def _grade_all(source, samples, items):
    try:
        namespace = {"__name__": "grader"}
        exec(compile(source, "<grader>", "exec"), namespace)
        grade = namespace.get("grade")
        if not callable(grade):
            raise NameError("the source does not define grade(sample, item)")
    except BaseException as e:
        message = "loading the grader failed: " + _describe(e)
        for i in range(len(samples)):
            _emit(i, None, message)
        return
    for i in range(len(samples)):
        try:
            r = grade(samples[i], items[i])
            if isinstance(r, bool):
                r = float(r)
            if not isinstance(r, int | float):
                _emit(i, None, f"grade() returned {type(r).__name__}, expected a number"[:_MAX_ERROR])
                continue
            r = float(r)
            if not math.isfinite(r):
                _emit(i, None, f"grade() returned {r!r}, expected a finite number")
                continue
            _emit(i, r, None)
        except BaseException as e:
            _emit(i, None, _describe(e))


def main():
    payload = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    samples, items = payload["samples"], payload["items"]
    try:
        # imported first: pyseccomp finds libseccomp with ldconfig, which Landlock would refuse to run
        import landlock
        import pyseccomp

        _landlock(landlock, payload["read"], payload["write"])
        _seccomp(pyseccomp)
        _rlimits(payload["limits"])
        sys.addaudithook(_hook)
    except BaseException as e:  # fail closed: no isolation, no grading
        message = f"SANDBOX-SETUP: {type(e).__name__}: {(str(e).splitlines() or [''])[0]}"
        for i in range(max(len(samples), 1)):
            _emit(i, None, message[:_MAX_ERROR])
        os._exit(3)
    source = payload.pop("source")
    del payload

    class _Sink:
        def write(self, s):
            return len(s)

        def flush(self):
            pass

        def isatty(self):
            return False

    sys.stdout = sys.stderr = _Sink()
    _grade_all(source, samples, items)
    _out.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
