"""Helpers for end-to-end tests that drive the real server process through pytest-lsp."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import fake_lean_command


async def start_session(
    client: LanguageClient,
    project: Path,
    state: Path,
    *knobs: str,
    model: Path | str | None = None,
    position_encodings: list[str] | None = None,
    script: Path | None = None,
    capabilities: types.ClientCapabilities | None = None,
    **settings: Any,
) -> types.InitializeResult:
    capabilities = capabilities or pytest_lsp.client_capabilities("visual-studio-code")
    if position_encodings is not None:
        capabilities.general = types.GeneralClientCapabilities(position_encodings=position_encodings)
    options = {
        "leanCommand": fake_lean_command(state, *knobs, **({"script": script} if script else {})),
        **({} if model is None else {"model": str(model)}),
        "goalTimeoutS": 20,
        "verifyTimeoutS": 20,
        "codeActionWaitMs": 60000,  # tests of the wait budget set their own
        **settings,
    }
    return await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=project.as_uri(),
            initialization_options=options,
        )
    )


# On `two_eq_two` the fake closes the goal with rfl, simp and decide; positivity has no rule there.
TWO_EQ_TWO_TACTICS = ["rfl", "positivity", "simp", "decide"]
TWO_EQ_TWO_TITLES = [
    "Try this: rfl (closes goal)",
    "Try this: simp (closes goal)",
    "Try this: decide (closes goal)",
]


def open_document(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="lean4", version=version, text=path.read_text() if text is None else text
            )
        )
    )
    return uri


def open_examples(client: LanguageClient, lean_project: Path) -> tuple[str, str]:
    """Open the example project's `Examples.lean` as the editor does: its text and URI."""
    path = lean_project / "Examples.lean"
    return path.read_text(), open_document(client, path)


async def code_actions_at(
    client: LanguageClient, uri: str, line: int, character: int = 0
) -> list[types.CodeAction]:
    position = types.Position(line=line, character=character)
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=position, end=position),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


async def inline_at(
    client: LanguageClient, uri: str, line: int, character: int
) -> types.InlineCompletionList:
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        )
    )
    assert isinstance(result, types.InlineCompletionList)
    return result


async def suggest_report(client: LanguageClient, uri: str, line: int) -> Any:
    """`$/llmstep/suggest` at `line`: the report of the final result (pytest-lsp makes the JSON
    named tuples), or of the latest snapshot if the wait budget ran out first."""
    params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": 0}}
    return await client.protocol.send_request_async("$/llmstep/suggest", params)


def proof_line(text: str, theorem: str, offset: int) -> int:
    """0-based index of the line `offset` lines below `theorem <name>`."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"theorem {theorem} "))
    return start + offset


def edit_of(action: types.CodeAction) -> tuple[types.TextEdit, int | None]:
    assert action.edit is not None and action.edit.document_changes
    change = action.edit.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit)
    edit = change.edits[0]
    assert isinstance(edit, types.TextEdit)
    return edit, change.text_document.version


def record_applied_edits(client: LanguageClient) -> list[types.ApplyWorkspaceEditParams]:
    """Make `client` apply every `workspace/applyEdit` the server sends (as an editor does) and
    return the list they are recorded in."""
    applied: list[types.ApplyWorkspaceEditParams] = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    return applied


def bullets_script(directory: Path) -> Path:
    """A fake-Lean script (in `directory`) for `and_intro (p q : Prop) (hp : p) (hq : q) : p ∧ q`:
    `constructor` opens `case left ⊢ p` and `case right ⊢ q`, which `exact hp` / `exact hq` close."""
    context = "p q : Prop\nhp : p\nhq : q\n"
    script = directory / "bullets.json"
    left, right = "case left\n" + context + "⊢ p", "case right\n" + context + "⊢ q"
    tactics = {
        context + "⊢ p ∧ q": {"constructor": [left, right]},
        left: {"exact hp": []},
        right: {"exact hq": []},
    }
    script.write_text(json.dumps({"declarations": {"and_intro": [context + "⊢ p ∧ q"]}, "tactics": tactics}))
    return script
