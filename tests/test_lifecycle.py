"""How the sidecar ends, as the OS and the editor see it: exit codes, what is left in /proc, what is
written to stderr; and the LSP lifecycle rules (shutdown, exit, a second initialize)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.conftest import fake_lean_command
from tests.fake_lean.wire import LeanWire
from tests.lsp_helpers import TWO_EQ_TWO_TITLES, proof_line
from tests.support.processes import alive, live_pids_mentioning, wait_until_none_mention
from tests.support.sidecar import (
    initialize_params,
    notifications,
    open_file,
    start_sidecar,
    suggest,
    wait_for_file,
)

pytestmark = pytest.mark.e2e

INVALID_REQUEST = -32600


async def shutdown_then_exit(sidecar: LeanWire, editor: asyncio.subprocess.Process) -> None:
    assert (await sidecar.call("shutdown", None, timeout=60))["result"] is None
    await sidecar.notify("exit")


async def exit_alone(sidecar: LeanWire, editor: asyncio.subprocess.Process) -> None:
    await sidecar.notify("exit")


async def close_stdin(sidecar: LeanWire, editor: asyncio.subprocess.Process) -> None:
    assert sidecar.proc.stdin is not None
    sidecar.proc.stdin.close()


def send(signum: int) -> Callable[[LeanWire, asyncio.subprocess.Process], Awaitable[None]]:
    async def kill(sidecar: LeanWire, editor: asyncio.subprocess.Process) -> None:
        sidecar.proc.send_signal(signum)

    return kill


async def editor_dies(sidecar: LeanWire, editor: asyncio.subprocess.Process) -> None:
    """The editor is gone, but its pipe to the sidecar stays open (this test holds it, as another
    process that inherited it would): only `processId` says the editor is dead."""
    editor.kill()
    await editor.wait()


KILL_MODES = [
    pytest.param(shutdown_then_exit, 0, id="shutdown+exit"),
    pytest.param(exit_alone, 1, id="exit-without-shutdown"),
    pytest.param(close_stdin, 1, id="stdin-closed"),
    pytest.param(send(signal.SIGTERM), 128 + signal.SIGTERM, id="SIGTERM"),
    pytest.param(send(signal.SIGINT), 128 + signal.SIGINT, id="SIGINT"),
    pytest.param(send(signal.SIGHUP), 128 + signal.SIGHUP, id="SIGHUP"),
    pytest.param(editor_dies, 1, id="editor-process-died"),
    pytest.param(send(signal.SIGKILL), -signal.SIGKILL, id="SIGKILL"),
]


@pytest.mark.parametrize(("end", "code"), KILL_MODES)
async def test_nothing_outlives_the_sidecar(
    lean_project: Path,
    fake_state: Path,
    end: Callable[[LeanWire, asyncio.subprocess.Process], Awaitable[None]],
    code: int,
) -> None:
    """Lean runs a busy worker that ignores its pipe and SIGTERM/SIGHUP/SIGINT; whichever way the
    sidecar ends, no process of Lean's is left (looked up in /proc by the state dir they all carry)."""
    editor = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(600)")
    sidecar = await start_sidecar(lean_project, fake_state, "--busy-worker", process_id=editor.pid)
    try:
        await open_file(sidecar, lean_project / "Examples.lean")  # starts Lean
        worker = int(await wait_for_file(fake_state / "workers.log"))
        lean = int(await wait_for_file(fake_state / "starts.log"))
        assert alive(worker) and alive(lean)
        await end(sidecar, editor)
        assert await sidecar.wait_exit(timeout=60) == code
        left = await asyncio.to_thread(wait_until_none_mention, str(fake_state), 30)
        assert left == [], f"left running: {left} (worker {worker}, Lean {lean})"
        assert "Traceback" not in sidecar.stderr_text, sidecar.stderr_text[-3000:]
    finally:
        if editor.returncode is None:
            editor.kill()
            await editor.wait()
        await sidecar.close()
        for pid in live_pids_mentioning(str(fake_state)):  # only after a failure: never leak
            os.kill(pid, signal.SIGKILL)


async def test_exit_while_suggestions_compute_is_quiet(lean_project: Path, fake_state: Path) -> None:
    """Was 9.9 MB of "I/O operation on closed file" tracebacks on stderr."""
    sidecar = await start_sidecar(lean_project, fake_state, "--latency-ms", "30000")
    try:
        path = lean_project / "Examples.lean"
        uri = await open_file(sidecar, path)
        line = proof_line(path.read_text(), "two_eq_two", 1)
        asking = asyncio.ensure_future(suggest(sidecar, uri, line))
        await sidecar.wait_until(lambda: any(s["state"] == "working" for s in statuses(sidecar)), 60)
        before = sidecar.stderr_text.count("\n")
        await sidecar.notify("exit")
        assert await sidecar.wait_exit(timeout=60) == 1
        after = sidecar.stderr_text.splitlines()[before:]
        assert "I/O operation on closed file" not in sidecar.stderr_text
        assert "Traceback" not in sidecar.stderr_text
        assert len(after) <= 4, after  # why it exits, the work it abandons, the groups it killed
        assert any("abandoned on exit: " in line and "_compute" in line for line in after), after
        asking.cancel()
        assert await asyncio.to_thread(wait_until_none_mention, str(fake_state), 30) == []
    finally:
        await sidecar.close()


async def test_requests_after_shutdown_are_invalid_and_exit_then_says_0(
    lean_project: Path, fake_state: Path
) -> None:
    sidecar = await start_sidecar(lean_project, fake_state)
    try:
        path = lean_project / "Examples.lean"
        uri = await open_file(sidecar, path)
        assert (await sidecar.call("shutdown", None, timeout=60))["result"] is None
        late = await suggest(sidecar, uri, proof_line(path.read_text(), "two_eq_two", 1), timeout=30)
        assert late["error"]["code"] == INVALID_REQUEST, late
        again = await sidecar.call("shutdown", None, timeout=30)
        assert again["error"]["code"] == INVALID_REQUEST, again
        await sidecar.notify("exit")
        assert await sidecar.wait_exit(timeout=60) == 0
    finally:
        await sidecar.close()


async def test_a_second_initialize_is_refused_and_changes_nothing(
    lean_project: Path, fake_state: Path, tmp_path: Path
) -> None:
    sidecar = await start_sidecar(lean_project, fake_state)
    try:
        other_state = tmp_path / "other-state"
        other_state.mkdir()
        options = {"leanCommand": fake_lean_command(other_state), "model": "", "automationTactics": ["rfl"]}
        again = await sidecar.call("initialize", initialize_params(lean_project, options, None), timeout=30)
        assert again["error"]["code"] == INVALID_REQUEST, again
        path = lean_project / "Examples.lean"
        uri = await open_file(sidecar, path)
        answer = await suggest(sidecar, uri, proof_line(path.read_text(), "two_eq_two", 1))
        titles = [s["title"] for s in answer["result"]["suggestions"]]
        assert titles == TWO_EQ_TWO_TITLES
        assert (fake_state / "starts.log").exists(), "the first settings' Lean serves"
        assert not (other_state / "starts.log").exists(), "the second initialize changed the settings"
        assert (await sidecar.call("shutdown", None, timeout=60))["result"] is None
        await sidecar.notify("exit")
        assert await sidecar.wait_exit(timeout=60) == 0
    finally:
        await sidecar.close()


def statuses(sidecar: LeanWire) -> list[dict[str, str]]:
    return [p for p in notifications(sidecar, "llmstep/status") if isinstance(p, dict)]
