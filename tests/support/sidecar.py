"""The sidecar as an editor starts it, driven over raw stdio: its exit code, stderr and children are
observable the way the OS sees them (pytest-lsp hides all three)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import REPO, fake_lean_command
from tests.fake_lean.wire import LeanWire
from tests.lsp_helpers import TWO_EQ_TWO_TACTICS

SIDECAR = [sys.executable, "-m", "llmstep_lsp", "serve", "--stdio"]


async def start_sidecar(
    project: Path, state: Path, *knobs: str, process_id: int | None = None, **settings: Any
) -> LeanWire:
    """A sidecar process, initialized (processId `process_id`) with the fake Lean (`knobs`) and no
    model; LeanWire answers its requests with null and records everything it sends."""
    process = await asyncio.create_subprocess_exec(
        *SIDECAR,
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "LLMSTEP_LOG_LEVEL": "INFO"},
    )
    sidecar = LeanWire(process)
    options = {
        "leanCommand": fake_lean_command(state, *knobs),
        "model": "",
        "automationTactics": TWO_EQ_TWO_TACTICS,
        "codeActionWaitMs": 60000,
        **settings,
    }
    answer = await sidecar.call("initialize", initialize_params(project, options, process_id), timeout=120)
    assert "result" in answer, answer
    await sidecar.notify("initialized", {})
    return sidecar


def initialize_params(project: Path, options: dict[str, Any], process_id: int | None) -> dict[str, Any]:
    return {
        "processId": process_id,
        "rootUri": project.as_uri(),
        "capabilities": {},
        "initializationOptions": options,
    }


async def open_file(sidecar: LeanWire, path: Path) -> str:
    uri = path.as_uri()
    text = await asyncio.to_thread(path.read_text)
    item = {"uri": uri, "languageId": "lean4", "version": 1, "text": text}
    await sidecar.notify("textDocument/didOpen", {"textDocument": item})
    return uri


async def suggest(sidecar: LeanWire, uri: str, line: int, timeout: float = 120) -> dict[str, Any]:
    """The whole `$/llmstep/suggest` response message (result or error)."""
    params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": 2}}
    return await sidecar.call("$/llmstep/suggest", params, timeout)


async def wait_for_file(path: Path, timeout_s: float = 60) -> str:
    """The file's text once it exists and is not empty (written by a fake: no event to wait on)."""
    deadline = time.monotonic() + timeout_s
    while not (text := await asyncio.to_thread(_text_if_any, path)):
        assert time.monotonic() < deadline, f"{path} was never written"
        await asyncio.sleep(0.05)
    return text


def _text_if_any(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def notifications(sidecar: LeanWire, method: str) -> list[Any]:
    return [m.get("params") for m in sidecar.messages if m.get("method") == method and "id" not in m]
