"""An edit storm: thousands of incremental changes (UTF-16 ranges, astral characters) in a few seconds,
interleaved with code-action and inline-completion requests. The final version's suggestions are
right, Lean got the right final text, no Lean work was spent on superseded versions beyond what
the requests asked for, and the sidecar's memory stays flat."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from llmstep_lsp.text.encoding import utf16_len
from tests.lsp_helpers import (
    TWO_EQ_TWO_TACTICS,
    TWO_EQ_TWO_TITLES,
    code_actions_at,
    edit_of,
    open_document,
    proof_line,
    start_session,
)
from tests.support.processes import rss_kib, sidecar_of

pytestmark = pytest.mark.e2e

WARM_UP_CHANGES = 1000
STORM_CHANGES = 5000
REQUEST_EVERY = 25
RSS_SLACK_KIB = 8 * 1024  # the pygls leak fixed in lsp/pygls_fixes.py grew it by ~15 MiB here
LEAN_QUERIES = ("$/lean/plainGoal", "textDocument/waitForDiagnostics")


class Document:
    """The client's copy, edited the way an editor does: incremental changes in UTF-16 units."""

    def __init__(self, client: LanguageClient, uri: str, text: str) -> None:
        self.client, self.uri, self.text, self.version = client, uri, text, 1

    def replace(self, line: int, start: int, end: int, new: str) -> None:
        """Replace code points [start, end) of `line` (sent as UTF-16 columns)."""
        lines = self.text.split("\n")
        old = lines[line]
        self.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line=line, character=utf16_len(old[:start])),
                            end=types.Position(line=line, character=utf16_len(old[:end])),
                        ),
                        text=new,
                    )
                ],
            )
        )
        lines[line] = old[:start] + new + old[end:]
        self.text = "\n".join(lines)


def storm(document: Document, changes: int, ask: Callable[[int], None]) -> None:
    """Type and erase on a comment line full of astral characters (𝓝: two UTF-16 units each)."""
    line = 0
    for i in range(changes):
        current = document.text.split("\n")[line]
        if i % 3 == 2:
            document.replace(line, len(current) - 1, len(current), "")  # backspace
        else:
            document.replace(line, 3, 3, "𝓝" if i % 2 else "x")  # type after "-- "
        if i % REQUEST_EVERY == 0:
            ask(document.version)


async def test_an_edit_storm_ends_with_the_right_suggestions_and_flat_memory(
    client: LanguageClient,
    lean_project: Path,
    fake_state: Path,
    record_property: Callable[[str, object], None],
) -> None:
    await start_session(client, lean_project, fake_state, model="", automationTactics=TWO_EQ_TWO_TACTICS)
    path = lean_project / "Examples.lean"
    original = path.read_text()
    uri = open_document(client, path)
    document = Document(client, uri, original)
    document.replace(0, 0, 0, "-- 𝓝 storm\n")  # a comment line to type on; the rest shifts down one
    line = proof_line(document.text, "two_eq_two", 1)

    answers: list[tuple[int, asyncio.Task[object]]] = []

    def ask(version: int) -> None:
        position = types.Position(line=line, character=2)
        if len(answers) % 2:
            request = client.text_document_inline_completion_async(
                types.InlineCompletionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=position,
                    context=types.InlineCompletionContext(
                        trigger_kind=types.InlineCompletionTriggerKind.Invoked
                    ),
                )
            )
        else:
            request = client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=types.Range(start=position, end=position),
                    context=types.CodeActionContext(diagnostics=[]),
                )
            )
        answers.append((version, asyncio.ensure_future(request)))

    # Warm up (imports, caches, the Lean server) so the measured storm shows growth, not start-up.
    assert [a.title for a in await code_actions_at(client, uri, line, 2)] == TWO_EQ_TWO_TITLES
    storm(document, WARM_UP_CHANGES, ask)
    await asyncio.gather(*(task for _, task in answers))
    lean_pid = int((fake_state / "starts.log").read_text().split()[0])
    sidecar = sidecar_of(lean_pid)
    assert sidecar is not None
    rss_before = rss_kib(sidecar)
    sent_before = len((fake_state / "received.jsonl").read_text().splitlines())

    answers.clear()
    storm(document, STORM_CHANGES, ask)
    results = await asyncio.gather(*(task for _, task in answers))
    rss_after = rss_kib(sidecar)

    # Nothing answered during the storm may propose an edit for an older version than asked about.
    for (version, _), result in zip(answers, results, strict=True):
        for action in result if isinstance(result, list) else []:
            assert isinstance(action, types.CodeAction) and edit_of(action)[1] == version

    # The final version: the right suggestions, for that version.
    final = await code_actions_at(client, uri, line, 2)
    assert [a.title for a in final] == TWO_EQ_TWO_TITLES
    assert all(edit_of(a)[1] == document.version for a in final)

    messages = [json.loads(m) for m in (fake_state / "received.jsonl").read_text().splitlines()]
    storm_messages = messages[sent_before:]
    # Lean's copy of the user's file is exactly the client's final text.
    texts = [
        change["text"]
        for m in messages
        if m.get("method") == "textDocument/didChange" and m["params"]["textDocument"]["uri"] == uri
        for change in m["params"]["contentChanges"]
    ]
    assert texts[-1] == document.text
    forwarded = len([m for m in storm_messages if m.get("method") == "textDocument/didChange"])
    queries = len([m for m in storm_messages if m.get("method") in LEAN_QUERIES])
    # Every request during the storm saw its version superseded within the debounce: only the final
    # request may cost Lean queries (one goal read, then a diagnostics wait and a goal read a tactic,
    # and for each closing one the `#print axioms` probe: one more edit and diagnostics wait).
    closing = len(TWO_EQ_TWO_TITLES)
    assert queries <= 1 + 2 * len(TWO_EQ_TWO_TACTICS) + closing, (
        f"{queries} Lean queries for superseded versions"
    )
    assert forwarded <= STORM_CHANGES + 2 * (1 + len(TWO_EQ_TWO_TACTICS)) + closing
    growth = rss_after - rss_before
    record_property("storm_changes", STORM_CHANGES)
    record_property("storm_requests", len(answers))
    record_property("storm_did_change_forwarded_to_lean", forwarded)
    record_property("storm_lean_queries", queries)
    record_property("storm_rss_growth_kib", growth)
    print(
        f"edit storm: {STORM_CHANGES} changes, {len(answers)} requests, {forwarded} didChange forwarded to "
        f"Lean, {queries} Lean queries, sidecar RSS {rss_before} -> {rss_after} KiB"
    )
    assert growth < RSS_SLACK_KIB, f"the sidecar grew by {growth} KiB over {STORM_CHANGES} changes"
