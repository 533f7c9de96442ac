"""A real LSP client (pygls's) driving the real sidecar process over stdio, for the benchmarks.

pygls's `start_io` pipes the server's stderr without reading it, so a chatty server would block
once the pipe fills; here stderr goes to a log file instead.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.io_ import run_async
from pygls.lsp.client import LanguageClient

SERVER_COMMAND = [sys.executable, "-m", "llmstep_lsp", "serve", "--stdio"]
STATUS_NOTIFICATION = "llmstep/status"
REQUEST_TIMEOUT_S = 300  # generous (a loaded machine), but a dead server must not hang the suite


# What the benchmark reads: code-action literals with versioned edits (the server answers a client
# that declares less with less, as LSP asks).
CAPABILITIES = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(
        apply_edit=True, workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)
    ),
    text_document=types.TextDocumentClientCapabilities(
        code_action=types.CodeActionClientCapabilities(
            code_action_literal_support=types.ClientCodeActionLiteralOptions(
                types.ClientCodeActionKindOptions([types.CodeActionKind.QuickFix])
            ),
            is_preferred_support=True,
        )
    ),
)


class BenchClient:
    def __init__(self, log_path: Path) -> None:
        self.client = LanguageClient("llmstep-bench", "1")
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[Any]] = []

        # Received and dropped (pygls logs unhandled ones); the timings do not depend on them.
        for method in (
            STATUS_NOTIFICATION,
            types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
            types.WINDOW_SHOW_MESSAGE,
            types.WINDOW_LOG_MESSAGE,
        ):
            self.client.feature(method)(_ignore)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, root: Path, options: dict[str, Any]) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *SERVER_COMMAND,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=env,
            )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.client.protocol.set_writer(self.process.stdin)
        self._tasks.append(
            asyncio.create_task(
                run_async(
                    stop_event=self.client._stop_event,
                    reader=self.process.stdout,
                    protocol=self.client.protocol,
                )
            )
        )
        initialize = self.client.initialize_async(
            types.InitializeParams(
                capabilities=CAPABILITIES,
                root_uri=root.as_uri(),
                initialization_options=options,
            )
        )
        await asyncio.wait_for(initialize, REQUEST_TIMEOUT_S)
        self.client.initialized(types.InitializedParams())

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 30)
            self.client.exit(None)
            assert self.process is not None
            await asyncio.wait_for(self.process.wait(), 30)
        finally:
            if self.process is not None and self.process.returncode is None:
                self.process.kill()
                await self.process.wait()
            self.client._stop_event.set()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def open(self, path: Path, text: str, language_id: str = "lean4") -> str:
        uri = path.as_uri()
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)
            )
        )
        return uri

    def replace(self, uri: str, version: int, text: str) -> None:
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    async def code_actions(self, uri: str, line: int, character: int) -> list[Any]:
        position = types.Position(line=line, character=character)
        request = self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=position, end=position),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        result = await asyncio.wait_for(request, REQUEST_TIMEOUT_S)
        return list(result or [])

    async def inline_completions(self, uri: str, line: int, character: int) -> list[Any]:
        request = self.client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
            )
        )
        result = await asyncio.wait_for(request, REQUEST_TIMEOUT_S)
        if isinstance(result, types.InlineCompletionList):
            return list(result.items)
        return list(result or [])

    async def suggest_report(self, uri: str, line: int) -> Any:
        """`$/llmstep/suggest`: the structured report (with the per-stage timings)."""
        request = self.client.protocol.send_request_async(
            "$/llmstep/suggest", {"textDocument": {"uri": uri}, "position": {"line": line, "character": 0}}
        )
        return await asyncio.wait_for(request, REQUEST_TIMEOUT_S)


def _ignore(params: Any) -> None:
    pass


async def timed(request: Any) -> tuple[float, Any]:
    """(milliseconds, result) of one awaited round trip."""
    started = time.perf_counter()
    result = await request
    return (time.perf_counter() - started) * 1000, result
