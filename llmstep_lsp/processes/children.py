"""The processes the sidecar starts (the Lean server, REPL processes): one way to start them, one
way to end them, and nothing of theirs outlives the sidecar.

Each child runs under a *guardian*, a small fresh interpreter that leads the child's own session and
process group:

    llmstep-lsp ─ guardian (python -I -S, new session, group leader) ─ lake serve ─ lean --server ─ …

- `kill_group` SIGKILLs the whole group: `lake serve`, `lean --server` and every `lean --worker`.
- SIGKILLed, the sidecar runs no code at all. The guardian holds PR_SET_PDEATHSIG (Linux): the kernel
  sends it SIGTERM when the sidecar dies, and it SIGKILLs its whole group, itself included. PDEATHSIG
  alone reaches only the direct child, and a grandchild that ignores its closed pipe (a busy Lean
  worker) would live on; the guardian is what takes the group down.
- The child holds PR_SET_PDEATHSIG=SIGKILL towards the guardian, so a SIGKILLed guardian (a test,
  the OOM killer) takes the child with it; the sidecar then sees the child's pipes close.
- Not `preexec_fn`: that runs Python in the forked sidecar and, worse, every `os.register_at_fork`
  hook there; filelock's (imported by transformers) deadlocked with the thread loading the model and
  froze the server (2 runs in 3 in a standalone repro). The guardian is a fresh interpreter without
  site-packages, so its own fork runs no such hook.

Every group started is remembered until it is killed, so the sidecar's exit paths
(`lsp/lifecycle.py`) can end all of them without asking the objects that own them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
from collections.abc import Sequence

log = logging.getLogger(__name__)

# argv: parent pid, the executable, its arguments. The child's exit code (128 + signal number for a
# signal) becomes the guardian's, so the sidecar can report it.
_GUARDIAN = """\
import ctypes, os, signal, sys
libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
ENDING = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
def end_group(signum, frame):
    os.killpg(0, signal.SIGKILL)
for s in ENDING:
    signal.signal(s, end_group)
if libc is not None:
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: the sidecar died
if os.getppid() != int(sys.argv[1]):
    sys.exit("llmstep-lsp exited before its child started")
guardian = os.getpid()
child = os.fork()
if child == 0:
    for s in ENDING:
        signal.signal(s, signal.SIG_DFL)
    if libc is not None:
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: the guardian died
    if os.getppid() != guardian:
        os._exit(1)
    try:
        os.execv(sys.argv[2], sys.argv[2:])
    except OSError as err:
        sys.stderr.write(f"llmstep-lsp: cannot run {sys.argv[2]}: {err}\\n")
        os._exit(127)
os.close(0)  # the child alone holds the pipes: its exit closes them
os.close(1)
_, status = os.waitpid(child, 0)
code = os.waitstatus_to_exitcode(status)
os._exit(code if code >= 0 else 128 - code)
"""

_groups: set[int] = set()
"""Process groups started and not yet killed (their guardians' pids): the sidecar's, process-wide."""


def find_executable(command: str, cwd: str) -> str | None:
    """`command` as a path (relative ones from `cwd`), or found on PATH; None if there is none."""
    if os.sep in command:
        path = os.path.join(cwd, command)
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return shutil.which(command)


async def spawn(executable: str, args: Sequence[str], cwd: str, limit: int) -> asyncio.subprocess.Process:
    """Start `executable args…` in `cwd` under a guardian, with piped stdin, stdout and stderr
    (`limit`: the longest line, in bytes, the stream readers accept).

    The returned process is the guardian: its pid is the group's id, its exit code the child's.
    Raises OSError when the guardian cannot be started; a child that cannot be executed exits 127
    with the reason on stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        "-c",
        _GUARDIAN,
        str(os.getpid()),
        executable,
        *args,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        limit=limit,
    )
    _groups.add(process.pid)
    return process


def kill_group(pid: int) -> None:
    """SIGKILL the process group `pid` (a `spawn`ed guardian's pid) and forget it; never raises."""
    _groups.discard(pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def kill_all() -> int:
    """SIGKILL every group `spawn` started that is not killed yet; returns how many there were.
    Synchronous and signal-safe enough for the sidecar's last moments."""
    groups = list(_groups)
    for pid in groups:
        kill_group(pid)
    return len(groups)
