"""How the sidecar ends, and that nothing it started outlives it.

The LSP specification (3.17, "Shutdown Request", "Exit Notification", `InitializeParams.processId`):
- `exit` ends the server with code 0 if `shutdown` was received before, else 1;
- the server should exit when the process `processId` (the editor) is no longer alive;
- after `shutdown`, requests fail with InvalidRequest (`lsp/pygls_fixes.py` answers them).

The sidecar also ends when its input closes (the editor is gone), and on SIGTERM, SIGINT and SIGHUP
(128 + the signal number, as shells report it). Every path runs `terminate`: one log line for the
reason, one for the work it abandons, every child process group killed (`processes/children.py`), logs
flushed, then `os._exit`. Not `sys.exit`: unwinding would cancel every task in flight, and each
would try to log or answer through a stdout the exit already closed ("I/O operation on closed
file", thousands of tracebacks), and the thread blocked reading stdin would keep the interpreter
alive for as long as another process holds that pipe open.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import NoReturn

import psutil
from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.server import JsonRPCServer

from llmstep_lsp.processes import children

log = logging.getLogger(__name__)

CLIENT_POLL_S = 1.0
"""How often the editor's process is looked at (its death is noticed within this many seconds)."""
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
WORK_PREFIX = "SuggestionEngine."
"""Tasks running coroutines of the engine are the work an exit abandons (reported, not awaited)."""


class Lifecycle:
    """The sidecar's exit paths. `install_signal_handlers` once at start; `watch_client` with the
    `processId` from `initialize`; `shutdown_received` set by the `shutdown` handler."""

    def __init__(self) -> None:
        self.shutdown_received = False
        self._watcher: asyncio.Task[None] | None = None

    @property
    def exit_code(self) -> int:
        """What `exit` (or the end of input) exits with: 0 after `shutdown`, else 1 (LSP spec)."""
        return 0 if self.shutdown_received else 1

    def install_signal_handlers(self) -> None:
        """SIGTERM, SIGINT, SIGHUP end the sidecar through `terminate` (main thread only)."""
        for signum in ENDING_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.terminate(128 + signum, f"{signal.Signals(signum).name} received")

    def watch_client(self, pid: int | None) -> None:
        """Exit once the editor's process `pid` is gone (polled every CLIENT_POLL_S seconds; the
        process's start time is compared too, so a reused pid does not count as the editor).
        None (a client that was not started by another process) is not watched. Needs a running loop."""
        if pid is None or self._watcher is not None:
            return
        try:
            process = psutil.Process(pid)
        except psutil.Error:
            self.terminate(1, f"the editor's process {pid} (processId) is not running")
        self._watcher = asyncio.get_running_loop().create_task(self._watch(process), name="client-watch")

    async def _watch(self, process: psutil.Process) -> None:
        # Polled: another process's exit has no event to wait on (it is not our child).
        while True:
            await asyncio.sleep(CLIENT_POLL_S)
            if not _running(process):
                break
        self.terminate(1, f"the editor's process {process.pid} (processId) exited")

    def terminate(self, code: int, reason: str) -> NoReturn:
        """Kill every child process group, flush the logs and exit the process with `code`."""
        log.info("exiting with code %d: %s", code, reason)
        if abandoned := _abandoned_work():
            log.info("abandoned on exit: %s", abandoned)
        killed = children.kill_all()
        if killed:
            log.info("killed %d child process group(s)", killed)
        logging.shutdown()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os._exit(code)


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _abandoned_work() -> str:
    """'2 × _compute, 1 × search_proof' for the engine's unfinished tasks ('' if none)."""
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # no running loop (a signal before the server started)
        return ""
    names = collections.Counter(
        name.removeprefix(WORK_PREFIX)
        for task in tasks
        if not task.done() and (name := getattr(task.get_coro(), "__qualname__", "")).startswith(WORK_PREFIX)
    )
    return ", ".join(f"{count} × {name}" for name, count in names.most_common())


def serve_stdio(server: JsonRPCServer, lifecycle: Lifecycle) -> NoReturn:
    """Serve LSP on stdin/stdout until an exit path ends the process (never returns).

    pygls's `start_io`, except that the end of input goes through `terminate`: its exit code is the
    one `exit` would have given, and nothing is unwound (see the module docstring)."""

    async def serve() -> None:
        # One dedicated thread reads stdin; it may stay blocked there until `os._exit`.
        reader = StdinAsyncReader(sys.stdin.buffer, ThreadPoolExecutor(1, thread_name_prefix="stdin"))
        server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
        try:
            await run_async(
                stop_event=threading.Event(),
                reader=reader,
                protocol=server.protocol,
                logger=log,
                error_handler=server.report_server_error,
            )
        except OSError as err:  # stdin unreadable
            lifecycle.terminate(lifecycle.exit_code, f"cannot read from the editor: {err}")
        # Still inside the loop: `asyncio.run` never gets to cancel (and so wake) the tasks in flight.
        lifecycle.terminate(lifecycle.exit_code, "the editor closed our input")

    asyncio.run(serve())
    raise AssertionError("unreachable: serve() ends the process")
