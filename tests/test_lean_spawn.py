"""Starting the Lean server must never freeze the sidecar, and Lean must die with it.

The model loads in a thread while the first Lean file opens and Lean is started. A `preexec_fn`
made Popen run every Python `os.register_at_fork` hook; filelock's (imported by transformers)
deadlocked with the model thread, and Popen blocked the event loop, and with it the whole server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from llmstep_lsp.lean import transport
from tests.conftest import REPO


async def test_spawning_lean_runs_no_python_fork_hooks(tmp_path: Path) -> None:
    """`os.register_at_fork` hooks (filelock has some) deadlocked with the model thread."""
    calls: list[str] = []
    os.register_at_fork(before=lambda: calls.append("before"))
    lean = transport.LeanTransport(["true"], str(tmp_path), lambda *args: None)
    await lean.start()
    await lean.close(grace_s=1)
    assert calls == []


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux only")
def test_lean_dies_with_a_killed_sidecar(tmp_path: Path) -> None:
    pid_file = tmp_path / "lean.pid"
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.path.insert(0, {str(REPO)!r})
        from llmstep_lsp.lean.transport import LeanTransport

        async def main():
            lean = LeanTransport(["sleep", "60"], {str(tmp_path)!r}, lambda *a: None)
            await lean.start()
            open({str(pid_file)!r}, "w").write(str(lean._process.pid))
            await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    sidecar = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the sidecar did not start Lean"
            time.sleep(0.05)
        lean = psutil.Process(int(pid_file.read_text()))  # its start time tells a reused pid apart
    finally:
        sidecar.kill()  # SIGKILL: no cleanup code runs in the sidecar
        sidecar.wait()
    deadline = time.monotonic() + 30
    while _alive(lean):
        assert time.monotonic() < deadline, "Lean outlived the killed sidecar"
        time.sleep(0.05)


def test_starting_lean_while_the_model_loads_never_blocks(tiny_model: Path) -> None:
    """With `preexec_fn` this froze up to 2 runs in 3 here (the test then times out). It was flaky
    (1 run in 8) only because a loader thread that raised never ended the loop."""
    script = textwrap.dedent(
        f"""
        import asyncio, faulthandler, sys, threading
        faulthandler.dump_traceback_later(60, exit=True)  # a hang shows where it is
        sys.path.insert(0, {str(REPO)!r})
        from llmstep_lsp.lean.transport import LeanTransport

        loaded = threading.Event()

        def load():
            # Whatever the import does (CPython 3.11 once raised "AST constructor recursion depth
            # mismatch" importing in a thread), it ends the loop: what is tested is that spawning
            # never blocks while another thread imports, not that the import succeeds.
            try:
                import transformers
                transformers.AutoModelForCausalLM.from_pretrained({str(tiny_model)!r})
            finally:
                loaded.set()

        async def main():
            threading.Thread(target=load, daemon=True).start()
            started = 0
            while not loaded.is_set():
                lean = LeanTransport(["true"], "/", lambda *a: None)
                await lean.start()
                await lean.close(grace_s=1)
                started += 1
            print("started", started)

        asyncio.run(main())
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=90, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 0


def _alive(process: psutil.Process) -> bool:
    """Running, and the same process (pids wrap at 32768 here, and the suite starts thousands); a
    zombie (killed, not yet reaped by init) counts as dead."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
