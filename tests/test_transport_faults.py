"""The Lean transport when the pipe to Lean breaks while Lean is talking to us."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from llmstep_lsp.lean.transport import LeanTransport

# Waits for its stdin to close, then sends a server request (which we answer by writing to it).
_LEAN_ASKING_AFTER_STDIN_CLOSED = """\
import sys, time
sys.stdin.buffer.read()
body = b'{"jsonrpc":"2.0","id":0,"method":"workspace/semanticTokens/refresh"}'
sys.stdout.buffer.write(b"Content-Length: %d\\r\\n\\r\\n" % len(body) + body)
sys.stdout.buffer.flush()
time.sleep(1)
"""


async def test_a_server_request_on_a_broken_pipe_marks_lean_dead_without_a_stray_exception(
    tmp_path: Path,
) -> None:
    transport = LeanTransport([sys.executable, "-c", _LEAN_ASKING_AFTER_STDIN_CLOSED], str(tmp_path), print)
    await transport.start()
    assert transport._process is not None and transport._process.stdin is not None
    transport._process.stdin.close()  # as if Lean's stdin broke
    reader = transport._tasks[0]
    await asyncio.wait_for(asyncio.gather(reader, return_exceptions=True), 30)
    assert reader.exception() is None  # else asyncio logs "Task exception was never retrieved"
    assert not transport.alive
    await transport.close(grace_s=0.5)
