"""End to end (fake Lean): the text Lean gets is the editor's, and edits touch only the tactic.

Issue 14's cases: Unicode line-separator lookalikes and incremental sync, random edit sequences
against the reference model, trailing comments kept by quick fixes and ghost text, the goal of an
empty line after a finished bullet, a URI no file can have, and clients that take fewer shapes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import attrs
import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp_helpers import (
    TWO_EQ_TWO_TACTICS,
    TWO_EQ_TWO_TITLES,
    bullets_script,
    code_actions_at,
    edit_of,
    inline_at,
    open_document,
    record_applied_edits,
    start_session,
)
from tests.support.lsp_text import apply_edit, apply_utf16, line_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def client(client: LanguageClient) -> LanguageClient:
    """The shared client (`tests/support/lsp_client.py`), applying and recording edits."""
    client.applied = record_applied_edits(client)  # type: ignore[attr-defined]
    return client


def lean_text(state: Path, uri: str) -> str | None:
    """The text Lean last received for `uri` (didOpen or a full-text didChange)."""
    text = None
    for line in (state / "received.jsonl").read_text().split("\n")[:-1]:  # not splitlines: U+2028
        message: dict[str, Any] = json.loads(line)
        params = message.get("params") or {}
        if message.get("method") == "textDocument/didOpen" and params["textDocument"]["uri"] == uri:
            text = params["textDocument"]["text"]
        elif message.get("method") == "textDocument/didChange" and params["textDocument"]["uri"] == uri:
            text = params["contentChanges"][-1]["text"]
    return text


def change(
    client: LanguageClient, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str
) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(*start), types.Position(*end)), text=text
                )
            ],
        )
    )


SEPARATED = (
    "-- a note\u2028with a line separator\x85and a NEL\r\n"
    "theorem two_eq_two : 2 = 2 := by\r\n"
    "  sorry -- second comment\u2029still the comment\r\n"
)


async def test_line_separator_lookalikes_keep_lean_and_the_quick_fix_on_the_editors_line(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="", automationTactics=TWO_EQ_TWO_TACTICS)
    uri = open_document(client, lean_project / "Separated.lean", SEPARATED)
    editor = SEPARATED
    change(client, uri, 2, (0, 2), (0, 2), "!")  # one incremental edit in the first comment
    editor = apply_utf16(editor, (0, 2), (0, 2), "!")
    actions = await code_actions_at(client, uri, 2, 2)
    assert [a.title for a in actions] == TWO_EQ_TWO_TITLES
    edit, version = edit_of(actions[0])
    assert version == 2
    after = apply_edit(editor, edit)
    assert line_of(after, 2) == "  rfl -- second comment\u2029still the comment"
    assert after.replace("  rfl", "  sorry") == editor  # nothing else changed
    assert lean_text(fake_state, uri) == editor  # byte for byte, CRLF and all
    ghost = await inline_at(client, uri, 2, 2)
    assert line_of(apply_edit(editor, ghost.items[0]), 2) == "  rfl -- second comment\u2029still the comment"


HEAD = "theorem two_eq_two : 2 = 2 := by\n  sorry\n\n"
PIECES = ["\n", "\r", "\r\n", "\u2028", "\x85", "\x0c", "\t", "\ufeff", "𝓝", "x", "-- c", "ab"]


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_edits_reach_lean_as_the_editor_has_them(
    client: LanguageClient, lean_project: Path, fake_state: Path, seed: int
) -> None:
    """Edits (in and out of range, reversed) below the proof; then a suggestion request, which
    reads the goal through the mirror, and Lean's copy must be the reference model's text."""
    rng = random.Random(seed)
    await start_session(client, lean_project, fake_state, model="", automationTactics=TWO_EQ_TWO_TACTICS)
    editor = HEAD + "".join(rng.choice(PIECES) for _ in range(20))
    uri = open_document(client, lean_project / "Random.lean", editor)
    first = 3  # edits stay below the proof so that its goal stays readable
    for version in range(2, 42):
        start = (rng.randint(first, first + 8), rng.randint(0, 12))
        end = (rng.randint(first, first + 8), rng.randint(0, 12))
        text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 3)))
        change(client, uri, version, start, end, text)
        editor = apply_utf16(editor, start, end, text)
    actions = await code_actions_at(client, uri, 1, 2)
    assert [a.title for a in actions] == TWO_EQ_TWO_TITLES
    assert lean_text(fake_state, uri) == editor


@pytest.mark.parametrize(
    ("line", "after"),
    [
        (
            "theorem two_eq_two : 2 = 2 := by sorry -- one line",
            "theorem two_eq_two : 2 = 2 := by rfl -- one line",
        ),
        ("theorem two_eq_two : 2 = 2 := by sorry", "theorem two_eq_two : 2 = 2 := by rfl"),
    ],
)
async def test_a_proof_on_the_declarations_own_line_gets_suggestions(
    client: LanguageClient, lean_project: Path, fake_state: Path, line: str, after: str
) -> None:
    """This was "not a tactic position"."""
    await start_session(client, lean_project, fake_state, model="", automationTactics=TWO_EQ_TWO_TACTICS)
    text = line + "\n"
    uri = open_document(client, lean_project / "OneLine.lean", text)
    actions = await code_actions_at(client, uri, 0, len(line))
    assert [a.title for a in actions] == TWO_EQ_TWO_TITLES
    edit, _ = edit_of(actions[0])
    assert line_of(apply_edit(text, edit), 0) == after


async def test_positions_outside_lsps_range_are_clamped_not_dropped(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    """A `didChange` with a negative line or a column past 2^31 was dropped: the copy drifted."""
    await start_session(client, lean_project, fake_state, model="", automationTactics=TWO_EQ_TWO_TACTICS)
    editor = HEAD + "-- tail"
    uri = open_document(client, lean_project / "Clamped.lean", editor)
    edits = [((3, 5), (3, 2**40), "!"), ((-1, 4), (0, 0), "-- start\n"), ((9, -3), (2**33, 0), "\n")]
    for version, (start, end, text) in enumerate(edits, start=2):
        with attrs.validators.disabled():  # lsprotocol refuses to build what a client may send
            change(client, uri, version, start, end, text)
        editor = apply_utf16(editor, start, end, text)
    assert editor == "-- start\n" + HEAD + "-- ta!\n"
    actions = await code_actions_at(client, uri, 2, 2)
    assert [a.title for a in actions] == TWO_EQ_TWO_TITLES
    assert lean_text(fake_state, uri) == editor


BULLETS = (
    "theorem and_intro (p q : Prop) (hp : p) (hq : q) : p ∧ q := by\n  constructor\n  · exact hp\n    \n"
)


async def test_an_empty_line_after_a_finished_bullet_gets_the_outer_goal(
    client: LanguageClient, lean_project: Path, fake_state: Path, tmp_path: Path
) -> None:
    script = bullets_script(tmp_path)
    await start_session(
        client, lean_project, fake_state, script=script, model="", automationTactics=["exact hp", "exact hq"]
    )
    # The editor copied the bullet's indentation onto the new line: inside the finished bullet.
    uri = open_document(client, lean_project / "Bullets.lean", BULLETS)
    actions = await code_actions_at(client, uri, 3, 4)
    assert [a.title for a in actions] == ["Try this: exact hq (closes goal)"]
    edit, _ = edit_of(actions[0])
    assert line_of(apply_edit(BULLETS, edit), 3) == "  exact hq"


async def test_a_uri_no_file_can_have_gets_nothing_and_breaks_nothing(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(client, lean_project, fake_state, model="", automationTactics=TWO_EQ_TWO_TACTICS)
    bad = lean_project.as_uri() + "/Bad%00Name.lean"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(bad, "lean4", 1, HEAD))
    )
    assert await code_actions_at(client, bad, 1, 2) == []
    good = open_document(client, lean_project / "Good.lean", HEAD)
    assert [a.title for a in await code_actions_at(client, good, 1, 2)] == TWO_EQ_TWO_TITLES
    change(client, bad, 2, (1, 2), (1, 7), "simp")
    assert await code_actions_at(client, bad, 1, 2) == []
    assert [a.title for a in await code_actions_at(client, good, 1, 2)] == TWO_EQ_TWO_TITLES
    assert client.messages == []  # no popup, let alone a repeating one
    assert lean_text(fake_state, bad) is None  # Lean never heard of it


def plain_client() -> types.ClientCapabilities:
    """A client that declares nothing optional (LSP 3.0-era shapes only)."""
    return types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(apply_edit=True),
        text_document=types.TextDocumentClientCapabilities(code_action=types.CodeActionClientCapabilities()),
    )


async def test_a_client_without_code_action_literals_gets_commands_that_apply_the_edit(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    await start_session(
        client,
        lean_project,
        fake_state,
        model="",
        automationTactics=TWO_EQ_TWO_TACTICS,
        capabilities=plain_client(),
    )
    text = HEAD.replace("  sorry", "  sorry -- keep me")
    uri = open_document(client, lean_project / "Plain.lean", text)
    position = types.Position(1, 2)
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(uri), types.Range(position, position), types.CodeActionContext([])
        )
    )
    assert result and all(isinstance(a, types.Command) for a in result)
    assert [a.title for a in result] == TWO_EQ_TWO_TITLES
    first = result[0]
    assert isinstance(first, types.Command)
    await client.workspace_execute_command_async(types.ExecuteCommandParams(first.command, first.arguments))
    (applied,) = client.applied  # type: ignore[attr-defined]
    # No versioned documentChanges: the client did not declare them.
    assert applied.edit.document_changes is None and applied.edit.changes is not None
    (edit,) = applied.edit.changes[uri]
    assert line_of(apply_edit(text, edit), 1) == "  rfl -- keep me"


async def test_a_client_without_versioned_edits_or_preferred_actions_gets_neither(
    client: LanguageClient, lean_project: Path, fake_state: Path
) -> None:
    capabilities = plain_client()
    assert capabilities.text_document is not None
    capabilities.text_document.code_action = types.CodeActionClientCapabilities(
        code_action_literal_support=types.ClientCodeActionLiteralOptions(
            types.ClientCodeActionKindOptions([types.CodeActionKind.QuickFix])
        )
    )
    await start_session(
        client,
        lean_project,
        fake_state,
        model="",
        automationTactics=TWO_EQ_TWO_TACTICS,
        capabilities=capabilities,
    )
    uri = open_document(client, lean_project / "Plain.lean", HEAD)
    actions = await code_actions_at(client, uri, 1, 2)
    assert [a.title for a in actions] == TWO_EQ_TWO_TITLES
    assert all(a.is_preferred is None for a in actions)
    edit = actions[0].edit
    assert edit is not None and edit.document_changes is None and edit.changes is not None
    assert line_of(apply_edit(HEAD, edit.changes[uri][0]), 1) == "  rfl"
