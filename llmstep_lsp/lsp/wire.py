"""What the editor sent, read into our shapes: `executeCommand` arguments, content changes, and
the editor's answer to our `workspace/applyEdit`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from llmstep_lsp.text.documents import Change
from llmstep_lsp.text.lines import Position

log = logging.getLogger(__name__)


def uri_and_line(arguments: Any, command: str) -> tuple[str, int]:
    """`[uri, line]` from executeCommand arguments, with a clear error for anything else."""
    if (
        isinstance(arguments, list | tuple)
        and len(arguments) >= 2
        and isinstance(arguments[0], str)
        and isinstance(arguments[1], int)
    ):
        return arguments[0], arguments[1]
    raise JsonRpcInvalidParams(f"{command} takes [uri, line] (0-based line), got {arguments!r}")


def as_change(event: types.TextDocumentContentChangeEvent) -> Change:
    """An lsprotocol change event as the document store takes it."""
    if isinstance(event, types.TextDocumentContentChangePartial):
        start, end = event.range.start, event.range.end
        return Position(start.line, start.character), Position(end.line, end.character), event.text
    return event.text


def log_apply_result(future: asyncio.Future[types.ApplyWorkspaceEditResult]) -> None:
    """Log the editor's answer to our `workspace/applyEdit` (we cannot do more than say it)."""
    if future.cancelled() or future.exception() is not None:
        log.warning("the editor did not answer workspace/applyEdit: %r", future)
    elif not future.result().applied:
        log.info("the editor refused the proof edit: %s", future.result().failure_reason)
